import { useComputed } from "@preact/signals";
import { useEffect, useLayoutEffect, useRef, useState } from "preact/hooks";
import { formatDay, formatShortDate, formatTime, t } from "../i18n";
import type { Chat, ChatStore } from "../state/chats";
import { type Bubble as BubbleData, bubbles, sameDay, withDays } from "../state/projection";
import { Bubble, type BubbleActions } from "./Bubble";
import { isPhone } from "./ChatList";
import { Composer } from "./Composer";

const WINDOW = 150; // rows in the DOM at first; scrolling to the top adds more (docs/subsystems/web.md)

function dayLabel(ts: number): string {
  const now = Date.now() / 1000;
  if (sameDay(ts, now)) return t("conv.today");
  if (sameDay(ts, now - 86400)) return t("conv.yesterday");
  return formatDay(ts);
}

function lastSeenText(ts: number): string {
  const now = Date.now() / 1000;
  if (sameDay(ts, now)) return `${t("conv.today")} ${formatTime(ts)}`;
  if (sameDay(ts, now - 86400)) return `${t("conv.yesterday")} ${formatTime(ts)}`;
  return `${formatShortDate(ts)} ${formatTime(ts)}`;
}

export function Conversation({ store, chat, onBack }: { store: ChatStore; chat: Chat; onBack: () => void }) {
  const rows = useComputed(() =>
    withDays(bubbles(chat.messages.value, chat.outbox.value, store.userId, chat.receipts.value, chat.failed.value)),
  );
  const [limit, setLimit] = useState(WINDOW);
  const [replyTo, setReplyTo] = useState<BubbleData | null>(null);
  const [editing, setEditing] = useState<BubbleData | null>(null);
  const [, rerender] = useState(0);
  const list = useRef<HTMLOListElement>(null);
  const stick = useRef(true);
  const all = rows.value;
  const shown = all.length > limit ? all.slice(all.length - limit) : all;
  const title = store.titleOf(chat);
  const typing = chat.typing.value.length > 0;
  const group = chat.info.value.kind === "group";
  const peer = store.peerOf(chat);
  const presence = peer ? store.presenceOf.value[peer.user_id] : undefined;
  const status = typing
    ? t("conv.typing")
    : presence?.status === "online"
      ? t("conv.online")
      : presence?.status === "offline" && presence.lastSeen
        ? t("conv.lastSeen", { when: lastSeenText(presence.lastSeen) })
        : "";

  useEffect(() => setLimit(WINDOW), [chat.id]);
  const jumpTo = useRef<number | null>(null);
  useEffect(() => {
    const seq = jumpTo.current;
    if (seq === null) return;
    const el = list.current?.querySelector(`[data-seq="${seq}"]`);
    if (el) {
      jumpTo.current = null;
      stick.current = false;
      el.scrollIntoView({ block: "center" });
      el.classList.add("flash");
      setTimeout(() => el.classList.remove("flash"), 1200);
    }
  });
  const nameOf = (id: string) => (id === store.userId ? t("chats.you") : store.nameOf(id) || t("chats.unknown"));
  const actions: BubbleActions = {
    reply: (b) => {
      setEditing(null);
      setReplyTo(b);
    },
    edit: (b) => {
      setReplyTo(null);
      setEditing(b);
    },
    remove: (b) => void (b.seq !== null && store.deleteForEveryone(chat.id, b.seq)),
    react: (b, emoji) => void (b.seq !== null && store.react(chat.id, b.seq, emoji)),
    jump: (seq) => {
      jumpTo.current = seq;
      if (all.length > limit) setLimit(all.length); // the quoted message may be above the rendered window
      else rerender((n) => n + 1); // re-render so the effect above runs
      stick.current = false;
    },
  };
  useLayoutEffect(() => {
    const el = list.current;
    if (el && stick.current) el.scrollTop = el.scrollHeight;
  });

  return (
    <section class="conversation" aria-labelledby="conv-title">
      <header class="conv-header">
        <button type="button" class="icon back" onClick={onBack} aria-label={t("conv.back")}>
          <span aria-hidden="true">‹</span>
        </button>
        <div class="conv-title">
          <h2 id="conv-title" dir={isPhone(title) ? "ltr" : "auto"}>
            {title === "\u0000me" ? t("chats.me") : title || t("chats.unknown")}
          </h2>
          <p class={`typing${typing ? " is-typing" : ""}`} aria-live="polite" data-testid="typing">
            {status}
          </p>
        </div>
      </header>
      <ol
        class="messages"
        ref={list}
        aria-label={t("conv.messages")}
        tabIndex={0}
        onScroll={(e) => {
          const el = e.currentTarget;
          stick.current = el.scrollHeight - el.scrollTop - el.clientHeight < 40;
          if (el.scrollTop < 60 && all.length > limit) setLimit(limit + WINDOW);
        }}
      >
        {shown.map((row) =>
          row.kind === "day" ? (
            <li key={row.key} class="day">
              <span>{dayLabel(row.ts)}</span>
            </li>
          ) : (
            <Bubble
              key={row.key}
              b={row.bubble}
              senderName={group && !row.bubble.mine ? store.nameOf(row.bubble.senderId) || null : null}
              nameOf={nameOf}
              actions={actions}
            />
          ),
        )}
      </ol>
      {(replyTo || editing) && (
        <div class="compose-context" role="status">
          <span class="quote-text" dir="auto">
            {editing ? t("conv.editing") : t("conv.replyingTo", { name: nameOf(replyTo!.senderId) })}
            {": "}
            {(editing ?? replyTo)!.text ?? ""}
          </span>
          <button
            type="button"
            onClick={() => {
              setReplyTo(null);
              setEditing(null);
            }}
          >
            {t("conv.cancel")}
          </button>
        </div>
      )}
      <Composer
        key={`${chat.id}:${editing?.key ?? ""}`}
        initial={editing?.text ?? ""}
        onSend={(text) => {
          stick.current = true;
          if (editing?.seq) void store.edit(chat.id, editing.seq, text);
          else void store.sendText(chat.id, text, replyTo?.seq ?? undefined);
          setReplyTo(null);
          setEditing(null);
        }}
        onTyping={(state) => store.typingNow(chat.id, state)}
      />
    </section>
  );
}
