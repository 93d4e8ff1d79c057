import { useState } from "preact/hooks";
import { t } from "../i18n";
import type { ChatRow, ChatStore } from "../state/chats";
import { type MuteChoice, muteUntil } from "../state/chatstate";

/** The "⋯" beside a chat in the list: pin, archive, mute (protocol 3.13a), the same on all my devices. */
export function ChatActions({ store, row }: { store: ChatStore; row: ChatRow }) {
  const [open, setOpen] = useState(false);
  const [error, setError] = useState("");
  const chat = store.chats.value.get(row.id);
  if (!chat || chat.draftTo) return null;
  const info = chat.info.value;
  const run = (patch: Parameters<ChatStore["setChatState"]>[1]) => async () => {
    const err = await store.setChatState(row.id, patch);
    setError(err === "pin_limit" ? t("lists.pinLimit") : err ? t("lists.failed") : "");
    if (!err) setOpen(false);
  };
  const mute = (choice: MuteChoice) => run({ muted_until: muteUntil(choice, Date.now()) });
  const id = `chat-actions-${row.id}`;
  return (
    <>
      <button
        type="button"
        class="chat-more"
        aria-label={t("lists.actions")}
        aria-expanded={open}
        aria-controls={open ? id : undefined}
        onClick={() => {
          setOpen(!open);
          setError("");
        }}
        data-testid="chat-more"
      >
        ⋯
      </button>
      {open && (
        <div class="row-menu" id={id} role="group" aria-label={t("lists.actions")}>
          {!info.archived && (
            <button type="button" onClick={run({ pinned: !info.pinned })}>
              {info.pinned ? t("lists.unpin") : t("lists.pin")}
            </button>
          )}
          <button type="button" onClick={run({ archived: !info.archived })}>
            {info.archived ? t("lists.unarchive") : t("lists.archive")}
          </button>
          {row.muted ? (
            <button type="button" onClick={run({ muted_until: null })}>
              {t("lists.unmute")}
            </button>
          ) : (
            <>
              <button type="button" onClick={mute("8h")}>
                {t("lists.mute8h")}
              </button>
              <button type="button" onClick={mute("1w")}>
                {t("lists.mute1w")}
              </button>
              <button type="button" onClick={mute("always")}>
                {t("lists.muteAlways")}
              </button>
            </>
          )}
          {error && (
            <p class="error" role="alert">
              {error}
            </p>
          )}
        </div>
      )}
    </>
  );
}

/** "Archived (n)" at the top of the chat list, or the way back from the archive. */
export function ArchiveEntry({ store }: { store: ChatStore }) {
  const { chats, unread } = store.archived.value;
  if (store.showArchived.value) {
    return (
      <button type="button" class="archive-entry" onClick={() => (store.showArchived.value = false)} data-testid="archive-back">
        <span aria-hidden="true" class="back-arrow">‹</span> {t("lists.archivedTitle")}
      </button>
    );
  }
  if (!chats) return null;
  return (
    <button type="button" class="archive-entry" onClick={() => (store.showArchived.value = true)} data-testid="archive-open">
      {t("lists.archived", { count: chats })}
      {unread > 0 && <span class="unread">{unread}</span>}
    </button>
  );
}
