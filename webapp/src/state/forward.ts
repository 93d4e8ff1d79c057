// Forwarding (protocol 4.5 `forward`, 10.4): one frame copies a message into up to five chats; the server copies
// the stored content and counts the forwards. A message forwarded five times or more goes to one chat at a time.
import type { Envelope } from "../net/protocol";
import type { ChatStore } from "./chats";

export const MAX_TARGETS = 5;
export const MANY_TIMES = 5;

export type ForwardResult = "sent" | "offline" | "too_many" | "many_times_one_chat" | "not_found";

/** How many chats this message may go to in one forward. */
export function targetLimit(source: Pick<Envelope, "forward_count">): number {
  return (source.forward_count ?? 0) >= MANY_TIMES ? 1 : MAX_TARGETS;
}

export function forwardMessage(
  store: ChatStore,
  chatId: string,
  seq: number,
  targetIds: string[],
  newId: () => string,
): ForwardResult {
  const source = store.chats.peek().get(chatId)?.messages.peek().find((m) => m.seq === seq);
  if (!source || source.system) return "not_found";
  const unique = [...new Set(targetIds)];
  if (!unique.length || unique.length > MAX_TARGETS) return "too_many";
  if (unique.length > targetLimit(source)) return "many_times_one_chat";
  const targets: ({ conversation_id: string } | { to: string })[] = [];
  for (const id of unique) {
    const chat = store.chats.peek().get(id);
    if (!chat) return "not_found";
    targets.push(chat.draftTo ? { to: chat.draftTo } : { conversation_id: chat.id });
  }
  const sender = store.sender;
  if (!sender?.forward) return "offline";
  return sender.forward(`fw-${newId()}`, source, targets) ? "sent" : "offline";
}
