import { useState } from "preact/hooks";
import { formatTime, t } from "../i18n";
import type { Bubble as BubbleData } from "../state/projection";
import { groupEventText } from "./group/events";
import { MediaBody } from "./media/MediaBody";
import { MessageText } from "./MessageText";
import { Ticks } from "./Ticks";

/** What the user can do with a message; the conversation view wires these to the model. */
export interface BubbleActions {
  reply(b: BubbleData): void;
  edit(b: BubbleData): void;
  remove(b: BubbleData): void;
  react(b: BubbleData, emoji: string): void;
  jump(seq: number): void;
  forward?(b: BubbleData): void;
}

const QUICK = ["👍", "❤️", "😂"];

function Menu({ b, actions, close }: { b: BubbleData; actions: BubbleActions; close: () => void }) {
  const act = (fn: () => void) => () => {
    fn();
    close();
  };
  return (
    <div class="actions-menu">
      {QUICK.map((emoji) => (
        <button
          key={emoji}
          type="button"
          aria-label={t("conv.react", { emoji })}
          aria-pressed={b.myReaction === emoji}
          onClick={act(() => actions.react(b, b.myReaction === emoji ? "" : emoji))}
        >
          {emoji}
        </button>
      ))}
      <button type="button" onClick={act(() => actions.reply(b))}>
        {t("conv.reply")}
      </button>
      {b.text !== null && (
        <button type="button" onClick={act(() => void navigator.clipboard?.writeText(b.text ?? ""))}>
          {t("conv.copy")}
        </button>
      )}
      {actions.forward && b.seq !== null && !b.deleted && (
        <button type="button" onClick={act(() => actions.forward!(b))}>
          {t("lists.forward")}
        </button>
      )}
      {b.mine && b.text !== null && (
        <button type="button" onClick={act(() => actions.edit(b))}>
          {t("conv.edit")}
        </button>
      )}
      {b.mine && (
        <button type="button" class="danger" onClick={act(() => actions.remove(b))}>
          {t("conv.delete")}
        </button>
      )}
    </div>
  );
}

export function Bubble({
  b,
  senderName,
  nameOf,
  actions,
}: {
  b: BubbleData;
  senderName: string | null;
  nameOf: (id: string) => string;
  actions: BubbleActions;
}) {
  const [menu, setMenu] = useState(false);
  if (b.system) {
    return (
      <li class="system-message" data-seq={b.seq ?? undefined} data-key={b.key} dir="auto">
        {groupEventText(b, nameOf)}
      </li>
    );
  }
  return (
    <li class={`bubble ${b.mine ? "mine" : "theirs"}`} data-seq={b.seq ?? undefined} data-key={b.key}>
      {senderName && <div class="sender">{senderName}</div>}
      {b.replyTo && !b.deleted && (
        <button type="button" class="quote" onClick={() => actions.jump(b.replyTo!.seq)}>
          <span class="quote-name">{b.replyTo.senderId ? nameOf(b.replyTo.senderId) : ""}</span>
          <span class="quote-text" dir="auto">
            {b.replyTo.senderId ? (b.replyTo.text ?? t("conv.quoteDeleted")) : t("lists.quoteEarlier")}
          </span>
        </button>
      )}
            {b.forwarded && <div class="forwarded">{b.forwardCount >= 5 ? t("lists.forwardedMany") : t("conv.forwarded")}</div>}
      {!b.deleted && b.text === null && b.content && !b.unsupported ? (
        <MediaBody content={b.content} entry={b.entry} mine={b.mine} />
      ) : (
      <div class="text" dir="auto">
        {b.deleted ? (
          <em>{t("conv.deleted")}</em>
        ) : b.text !== null ? (
          <MessageText text={b.text} />
        ) : (
          <em>{t("conv.unsupported")}</em>
        )}
      </div>
      )}
      <div class="meta">
        {b.seq !== null && !b.deleted && (
          <button type="button" class="more" aria-label={t("conv.actions")} aria-expanded={menu} onClick={() => setMenu(!menu)}>
            ⋯
          </button>
        )}
        {b.edited && <span class="edited">{t("conv.edited")}</span>}
        <time dateTime={new Date(b.ts * 1000).toISOString()}>{formatTime(b.ts)}</time>
        {b.tick && <Ticks tick={b.tick} />}
        {b.tick === "failed" && <span class="failed">{t("conv.failed", { code: b.failedCode ?? "" })}</span>}
      </div>
      {menu && <Menu b={b} actions={actions} close={() => setMenu(false)} />}
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
