import type { ChatStore } from "../state/chats";
import { textOf } from "../state/projection";

/** A polite live region: screen readers announce each new message from someone else. */
export function Announcer({ store }: { store: ChatStore }) {
  const m = store.announcement.value;
  const who = m ? store.nameOf(m.sender.user_id) : "";
  return (
    <div class="visually-hidden" aria-live="polite" role="log">
      {m ? `${who}: ${textOf(m.content) ?? ""}` : ""}
    </div>
  );
}
