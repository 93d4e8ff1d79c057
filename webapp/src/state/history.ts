// History of any length (protocol 3.14): when the user scrolls back past the oldest message this device has,
// the next page comes from `GET /v1/conversations/{id}/messages?before=…` and is kept in IndexedDB like any
// delivered message, so it is there offline and after a reload. No ack: history is not the device's queue.
import { batch } from "@preact/signals";
import type { Api } from "../net/api";
import type { LocalStore } from "../net/db";
import type { Envelope } from "../net/protocol";
import type { Chat } from "./chats";

export const PAGE = 200;

export interface HistoryDeps {
  api: Pick<Api, "history">;
  store: Pick<LocalStore, "putMessages">;
}

/** Older messages first, each seq once (the page and what is here may overlap after a reconnect). */
export function mergeOlder(list: readonly Envelope[], older: readonly Envelope[]): Envelope[] {
  const seen = new Set(list.map((m) => m.seq));
  const fresh = older.filter((m) => !seen.has(m.seq));
  return fresh.length ? [...fresh, ...list].sort((a, b) => a.seq - b.seq) : list.slice();
}

/** One page older than what `chat` holds; how many messages it added. At most one request per chat at a time;
 * once the server has nothing older (a short page, or seq 1 reached) the chat is marked complete. */
export async function loadOlder(chat: Chat, deps: HistoryDeps, limit = PAGE): Promise<number> {
  if (chat.draftTo || chat.historyDone.peek() || chat.loadingOlder.peek()) return 0;
  const list = chat.messages.peek();
  const oldest = list.length ? list[0]!.seq : chat.info.peek().last_seq + 1;
  if (oldest <= 1) {
    chat.historyDone.value = true;
    return 0;
  }
  chat.loadingOlder.value = true;
  let page: Awaited<ReturnType<HistoryDeps["api"]["history"]>>;
  try {
    page = await deps.api.history(chat.id, oldest, limit);
  } finally {
    chat.loadingOlder.value = false;
  }
  const older = page.messages.filter((m) => m.seq < oldest && m.conversation_id === chat.id);
  const merged = mergeOlder(chat.messages.peek(), older);
  const added = merged.length - chat.messages.peek().length;
  batch(() => {
    if (added) chat.messages.value = merged;
    if (page.messages.length < limit || older.some((m) => m.seq <= 1)) chat.historyDone.value = true;
  });
  // Shown at once; the next page may be asked for before this one is on disk (their keys differ).
  if (older.length) await deps.store.putMessages(older);
  return added;
}

/** Page back until the message `seq` is here (a reply's quote far back) or nothing older is left. */
export async function loadUntil(chat: Chat, seq: number, deps: HistoryDeps, maxPages = 200): Promise<boolean> {
  for (let i = 0; i < maxPages; i++) {
    if (chat.messages.peek().some((m) => m.seq === seq)) return true;
    if (chat.historyDone.peek()) return false;
    if (chat.loadingOlder.peek()) {
      await new Promise((r) => setTimeout(r, 50));
      continue;
    }
    await loadOlder(chat, deps);
  }
  return chat.messages.peek().some((m) => m.seq === seq);
}
