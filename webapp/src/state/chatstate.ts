// Pinned, archived and muted chats (protocol 3.13a): the server keeps them per member, so every device of mine
// shows the same list; a change made here or on another device arrives as a `chat_state` frame, and after a
// reconnect in GET /v1/conversations. Pure helpers and the one call; ChatStore wires them in.
import type { Api } from "../net/api";
import { ApiError } from "../net/api";
import type { ChatStateFrame, ChatStatePatch, ConversationInfo } from "../net/protocol";
import type { Chat } from "./chats";

export const MAX_PINNED = 3;
export type MuteChoice = "8h" | "1w" | "always";

type StateFields = Pick<ChatStateFrame, "pinned" | "pinned_at" | "archived" | "muted_until">;

/** Muted now? A time that has passed is not muted (the server says the same on the next read). */
export function isMuted(info: ConversationInfo, nowMs: number): boolean {
  const m = info.muted_until;
  return m === "always" || (typeof m === "number" && m * 1000 > nowMs);
}

export function muteUntil(choice: MuteChoice, nowMs: number): number | "always" {
  if (choice === "always") return "always";
  const hours = choice === "8h" ? 8 : 7 * 24;
  return Math.floor(nowMs / 1000) + hours * 3600;
}

// Every change applied here takes the next number: a REST refresh that was asked before a change and answers
// after it (its list says the old state) must not undo the change (see mergeInfo).
let changes = 0;
export const stateClock = (): number => changes;

export function applyState(chat: Chat, s: StateFields): void {
  const info = chat.info.peek();
  chat.info.value = { ...info, pinned: s.pinned, pinned_at: s.pinned_at, archived: s.archived, muted_until: s.muted_until };
  chat.stateChange = ++changes;
}

/** The info a refresh read, asked when stateClock() was `askedAt`: a chat state changed since then is kept. */
export function mergeInfo(chat: Chat, fresh: ConversationInfo, askedAt: number): ConversationInfo {
  if (chat.stateChange <= askedAt) return fresh;
  const now = chat.info.peek();
  return { ...fresh, pinned: now.pinned, pinned_at: now.pinned_at, archived: now.archived, muted_until: now.muted_until };
}

/** How the chat list orders: pinned first (most recently pinned on top), then by the newest message. */
export function compareRows(
  a: { id?: string; pinnedAt: number | null; ts: number | null },
  b: { id?: string; pinnedAt: number | null; ts: number | null },
): number {
  if (a.pinnedAt !== null || b.pinnedAt !== null) {
    if (a.pinnedAt === null) return 1;
    if (b.pinnedAt === null) return -1;
    if (a.pinnedAt !== b.pinnedAt) return b.pinnedAt - a.pinnedAt;
  }
  const byTime = (b.ts ?? 0) - (a.ts ?? 0);
  if (byTime !== 0) return byTime;
  // Chats whose last messages share a second keep one order, whatever order the chats were loaded in (a refresh
  // from the server rebuilds the map): rows do not swap places under the user's eyes.
  const x = a.id ?? "";
  const y = b.id ?? "";
  return x < y ? -1 : x > y ? 1 : 0;
}

/** Change the chat's state on the server; the answer is applied at once (the frame that follows says the
 * same). Null when done, else the error code (`pin_limit`: three chats are pinned already). */
export async function changeState(chat: Chat, api: Pick<Api, "chatState">, patch: ChatStatePatch): Promise<string | null> {
  if (chat.draftTo) return "not_member";
  try {
    applyState(chat, await api.chatState(chat.id, patch));
    return null;
  } catch (exc) {
    if (exc instanceof ApiError) return exc.code;
    return "network";
  }
}
