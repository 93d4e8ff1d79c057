import { useComputed } from "@preact/signals";
import { useEffect, useLayoutEffect, useMemo, useRef, useState } from "preact/hooks";
import { formatDay, formatShortDate, formatTime, t } from "../i18n";
import type { Chat, ChatStore } from "../state/chats";
import { type Bubble as BubbleData, ConversationRows, sameDay } from "../state/projection";
import { Bubble, type BubbleActions } from "./Bubble";
import { isPhone } from "./ChatList";
import { Composer } from "./Composer";
import type { GroupsModel } from "../state/groups";
import { ChatMenu, ComposerNotice } from "./group/ChatMenu";
import { Avatar } from "./media/Avatar";
import { MediaContext } from "./media/context";
import { MediaTools } from "./media/MediaTools";
import { ForwardDialog } from "./Forward";
import { useVirtualList } from "./useVirtual";


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

export function Conversation({ store, groups, chat, onBack }: { store: ChatStore; groups: GroupsModel; chat: Chat; onBack: () => void }) {
  const memo = useMemo(() => new ConversationRows(), [chat]);
  const rows = useComputed(() =>
    memo.rows(chat.messages.value, chat.outbox.value, store.userId, chat.receipts.value, chat.failed.value),
  );
  const [replyTo, setReplyTo] = useState<BubbleData | null>(null);
  const [editing, setEditing] = useState<BubbleData | null>(null);
  const [forwarding, setForwarding] = useState<number | null>(null);
  const [, rerender] = useState(0);
  const all = rows.value;
  // Only the rows on screen are in the DOM (components/useVirtual.ts); older history is paged in near the top.
  const v = useVirtualList<HTMLOListElement>(
    all.map((r) => r.key),
    () => void store.loadOlder(chat.id).catch(() => undefined),
    (key) => key.startsWith("d"), // a day label moves up when older messages of its day come in
  );
  const list = v.ref;
  const shown = all.slice(v.range.start, v.range.end);
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


  const jumpTo = useRef<number | null>(null);
  useEffect(() => {
    const seq = jumpTo.current;
    if (seq === null) return;
    const el = list.current?.querySelector(`[data-seq="${seq}"]`);
    if (el) {
      jumpTo.current = null;
      el.scrollIntoView({ block: "center" });
      el.classList.add("flash");
      setTimeout(() => el.classList.remove("flash"), 1200);
    }
  });
  // A group member who is not my contact is called by their display name from the group (protocol 9.9).
  const memberName = (id: string) =>
    store.nameOf(id, chat.info.value.members.find((m) => m.user_id === id)) || (group ? groups.memberName(chat.id, id) : "");
  const nameOf = (id: string) => (id === store.userId ? t("chats.you") : memberName(id) || t("chats.unknown"));
  const canSend = group ? groups.canSend(chat.id) : "yes";
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
    forward: (b) => setForwarding(b.seq),
    react: (b, emoji) => void (b.seq !== null && store.react(chat.id, b.seq, emoji)),
    jump: (seq) => {
      jumpTo.current = seq;
      // The quoted message may be far back: page history in until it is here, then bring it on screen.
      void store.loadUntil(chat.id, seq).then((found) => {
        const row = found ? rows.peek().find((r) => r.kind === "bubble" && r.bubble.seq === seq) : undefined;
        if (row) v.reveal(row.key);
        else jumpTo.current = null;
        rerender((n) => n + 1); // re-render so the effect above runs
      });
    },
  };

  const env = useMemo(() => (store.media ? { media: store.media, chats: store } : null), [store]);
  return (
    <MediaContext.Provider value={env}>
    <section class="conversation" aria-labelledby="conv-title">
      <header class="conv-header">
        <button type="button" class="icon back" onClick={onBack} aria-label={t("conv.back")}>
          <span aria-hidden="true">‹</span>
        </button>
        <Avatar media={store.media} picture={store.peerOf(chat)?.picture} fallback={/\p{L}/u.exec(title)?.[0]?.toLocaleUpperCase() ?? "#"} />
        <div class="conv-title">
          <h2 id="conv-title" dir={isPhone(title) ? "ltr" : "auto"}>
            {title === "\u0000me" ? t("chats.me") : title || t("chats.unknown")}
          </h2>
          <p class={`typing${typing ? " is-typing" : ""}`} aria-live="polite" data-testid="typing">
            {status}
          </p>
        </div>
        <ChatMenu groups={groups} chats={store} chat={chat} />
      </header>
      <Safety store={store} chat={chat} />
      <ol
        class="messages"
        ref={list}
        aria-label={t("conv.messages")}
        tabIndex={0}
        aria-busy={chat.loadingOlder.value}
        onScroll={v.onScroll}
      >
        <li class="spacer" aria-hidden="true" style={{ blockSize: `${v.range.before}px` }} />
        {shown.map((row) =>
          row.kind === "day" ? (
            <li key={row.key} class="day" data-key={row.key}>
              <span>{dayLabel(row.ts)}</span>
            </li>
          ) : (
            <Bubble
              key={row.key}
              b={row.bubble}
              senderName={group && !row.bubble.mine ? memberName(row.bubble.senderId) || t("chats.unknown") : null}
              nameOf={nameOf}
              actions={actions}
            />
          ),
        )}
        <li class="spacer" aria-hidden="true" style={{ blockSize: `${v.range.after}px` }} />
      </ol>
      {forwarding !== null && (
        <ForwardDialog store={store} chatId={chat.id} seq={forwarding} onClose={() => setForwarding(null)} />
      )}
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
      {canSend !== "yes" ? (
        <ComposerNotice state={canSend} />
      ) : (
      <Composer
        key={`${chat.id}:${editing?.key ?? ""}`}
        initial={editing?.text ?? ""}
        onSend={(text) => {
          v.toBottom();
          if (editing?.seq) void store.edit(chat.id, editing.seq, text);
          else void store.sendText(chat.id, text, replyTo?.seq ?? undefined);
          setReplyTo(null);
          setEditing(null);
        }}
        onTyping={(state) => store.typingNow(chat.id, state)}
        tools={editing ? null : <MediaTools store={store} chat={chat} />}
      />
      )}
    </section>
    </MediaContext.Provider>
  );
}

/** The stranger banner (protocol 10.2) and the blocked bar (10.1), with block, report and add-to-contacts. */
function Safety({ store, chat }: { store: ChatStore; chat: Chat }) {
  const peer = store.peerOf(chat);
  const [busy, setBusy] = useState(false);
  if (!peer) return null;
  const run = (fn: () => Promise<void>) => async () => {
    setBusy(true);
    try {
      await fn();
    } finally {
      setBusy(false);
    }
  };
  if (store.isBlocked(peer.user_id)) {
    return (
      <div class="safety" role="status" data-testid="blocked">
        <span>{t("safety.blocked")}</span>
        <button type="button" disabled={busy} onClick={run(() => store.unblock(chat))}>
          {t("safety.unblock")}
        </button>
      </div>
    );
  }
  if (!store.isStranger(chat)) return null;
  return (
    <div class="safety" role="region" aria-label={t("safety.title")} data-testid="stranger">
      <p>{t("safety.stranger")}</p>
      {peer.phone && (
        <p dir="ltr" class="hint">
          {peer.phone}
        </p>
      )}
      <div class="row">
        <button type="button" disabled={busy} onClick={run(() => store.block(chat, false))}>
          {t("safety.block")}
        </button>
        <button type="button" class="danger" disabled={busy} onClick={run(() => store.block(chat, true))}>
          {t("safety.report")}
        </button>
        {peer.phone && (
          <button type="button" class="primary" disabled={busy} onClick={run(() => store.addToContacts(chat, peer.display_name))}>
            {t("safety.add")}
          </button>
        )}
      </div>
    </div>
  );
}
