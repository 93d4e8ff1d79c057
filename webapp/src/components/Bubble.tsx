import { formatTime, type Key, t } from "../i18n";
import type { Bubble as BubbleData } from "../state/projection";
import { MessageText } from "./MessageText";
import { Ticks } from "./Ticks";

const EVENTS = new Set(["created", "added", "removed", "left", "promoted", "demoted", "info_changed", "settings_changed", "joined"]);

/** A group event (protocol 9.4) as one line; an event this version does not know is a neutral "group updated". */
function systemText(b: BubbleData, nameOf: (id: string) => string): string {
  const e = b.event;
  if (!e || !EVENTS.has(e.name)) return t("system.unknown");
  return t(`system.${e.name}` as Key, {
    actor: nameOf(e.actor),
    users: e.users.map(nameOf).join(", "),
    subject: e.subject ?? "",
  });
}

export function Bubble({ b, senderName, nameOf }: { b: BubbleData; senderName: string | null; nameOf: (id: string) => string }) {
  if (b.system) {
    return (
      <li class="system-message" data-seq={b.seq ?? undefined} dir="auto">
        {systemText(b, nameOf)}
      </li>
    );
  }
  return (
    <li class={`bubble ${b.mine ? "mine" : "theirs"}`} data-seq={b.seq ?? undefined} data-key={b.key}>
      {senderName && <div class="sender">{senderName}</div>}
      {b.forwarded && <div class="forwarded">{t("conv.forwarded")}</div>}
      <div class="text" dir="auto">
        {b.deleted ? (
          <em>{t("conv.deleted")}</em>
        ) : b.text !== null ? (
          <MessageText text={b.text} />
        ) : (
          <em>{t("conv.unsupported")}</em>
        )}
      </div>
      <div class="meta">
        {b.edited && <span class="edited">{t("conv.edited")}</span>}
        <time dateTime={new Date(b.ts * 1000).toISOString()}>{formatTime(b.ts)}</time>
        {b.tick && <Ticks tick={b.tick} />}
        {b.tick === "failed" && <span class="failed">{t("conv.failed", { code: b.failedCode ?? "" })}</span>}
      </div>
      {b.reactions.length > 0 && (
        <div class="reactions">
          {b.reactions.map((r) => (
            <span key={r.emoji}>
              {r.emoji}
              {r.count > 1 ? ` ${r.count}` : ""}
            </span>
          ))}
        </div>
      )}
    </li>
  );
}
