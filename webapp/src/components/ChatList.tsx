import { Avatar } from "./media/Avatar";
import { useLayoutEffect, useRef, useState } from "preact/hooks";
import { formatNumber, formatShortDate, formatTime, t } from "../i18n";
import type { ChatStore } from "../state/chats";
import { sameDay } from "../state/projection";
import { ArchiveEntry, ChatActions } from "./ChatActions";
import { visibleRange } from "./virtual";

const ROW = 68; // px; .chat-row has this fixed block size, so the list can render only what is on screen

export const isPhone = (s: string) => /^\+?[\d\s-]+$/.test(s);
const initial = (title: string) => /\p{L}/u.exec(title)?.[0]?.toLocaleUpperCase() ?? "#";

export function ChatList({ store, onOpen }: { store: ChatStore; onOpen: (id: string) => void }) {
  const rows = store.rows.value;
  const [scroll, setScroll] = useState({ top: 0, height: 800 });
  const list = useRef<HTMLUListElement>(null);
  useLayoutEffect(() => {
    const el = list.current;
    if (!el) return;
    const measure = () => setScroll({ top: el.scrollTop, height: el.clientHeight || 800 });
    measure();
    const observer = new ResizeObserver(measure);
    observer.observe(el);
    return () => observer.disconnect();
  }, [rows.length === 0]);
  const range = visibleRange(scroll.top, scroll.height, ROW, rows.length);
  const openId = store.openId.value;
  const now = Date.now() / 1000;
  return (
    <>
      <div class="search">
        <label for="chat-search" class="visually-hidden">
          {t("chats.search")}
        </label>
        <input
          id="chat-search"
          type="search"
          dir="auto"
          placeholder={t("chats.search")}
          value={store.search.value}
          onInput={(e) => (store.search.value = e.currentTarget.value)}
        />
      </div>
      <ArchiveEntry store={store} />
      {rows.length === 0 ? (
        <p class="empty">{store.search.value ? t("chats.noResults") : t("chats.empty")}</p>
      ) : (
        <ul
          class="chat-list"
          ref={list}
          aria-label={t("chats.list")}
          onScroll={(e) => setScroll({ top: e.currentTarget.scrollTop, height: e.currentTarget.clientHeight || 800 })}
        >
          {range.before > 0 && <li class="spacer" aria-hidden="true" style={{ blockSize: `${range.before}px` }} />}
          {rows.slice(range.start, range.end).map((row) => (
            <li key={row.id} class="chat-item">
              <button
                type="button"
                class={`chat-row${row.id === openId ? " open" : ""}`}
                aria-current={row.id === openId ? "true" : undefined}
                onClick={() => onOpen(row.id)}
                data-chat={row.id}
              >
                <Avatar media={store.media} picture={row.picture} fallback={initial(row.title)} />
                <span class="chat-main">
                  <span class="chat-top">
                    <span class="chat-title" dir={isPhone(row.title) ? "ltr" : "auto"}>
                      {row.title === "\u0000me" ? t("chats.me") : row.title || t("chats.unknown")}
                    </span>
                    {row.ts !== null && (
                      <span class="chat-time">{sameDay(row.ts, now) ? formatTime(row.ts) : formatShortDate(row.ts)}</span>
                    )}
                  </span>
                  <span class="chat-bottom">
                    <span class="chat-preview" dir="auto">
                      {row.previewMine ? `${t("chats.you")}: ` : ""}
                      {row.preview}
                    </span>
                    {row.pinnedAt !== null && (
                      <span class="chat-flag" role="img" aria-label={t("lists.pinned")} data-testid="pinned">
                        📌
                      </span>
                    )}
                    {row.muted && (
                      <span class="chat-flag" role="img" aria-label={t("lists.muted")} data-testid="muted">
                        🔇
                      </span>
                    )}
                    {row.unread > 0 && (
                      <span class="unread" aria-label={t("chats.unread", { count: row.unread })} data-testid="unread">
                        {formatNumber(row.unread)}
                      </span>
                    )}
                  </span>
                </span>
              </button>
              <ChatActions store={store} row={row} />
            </li>
          ))}
          {range.after > 0 && <li class="spacer" aria-hidden="true" style={{ blockSize: `${range.after}px` }} />}
        </ul>
      )}
    </>
  );
}
