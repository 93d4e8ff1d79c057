// Settings → Privacy and Blocked contacts (protocol 3.4, 3.6, 3.18): my privacy settings as the server has
// them, and the people I blocked with a name to show for each.
import { signal } from "@preact/signals";
import type { Api, Me, PrivacyChange } from "../net/api";
import type { ChatStore } from "./chats";

export class PrivacyModel {
  readonly me = signal<Me | null>(null);
  /** Names of blocked users who are not in my contacts, from GET /v1/users/{id} (may be "" if they blocked me). */
  readonly names = signal<Record<string, string>>({});

  constructor(
    private readonly api: Api,
    private readonly chats: ChatStore,
  ) {}

  async load(): Promise<void> {
    const [me, blocked] = await Promise.all([this.api.me(), this.api.blocks()]);
    this.me.value = me;
    this.chats.blocked.value = new Set(blocked);
    const names: Record<string, string> = { ...this.names.peek() };
    await Promise.all(
      blocked
        .filter((id) => !this.chats.nameOf(id) && !(id in names))
        .map((id) =>
          this.api.user(id).then(
            (p) => void (names[id] = p.display_name || p.phone || ""),
            () => undefined,
          ),
        ),
    );
    this.names.value = names;
  }

  /** PATCH /v1/me/privacy with one change, shown at once; the answer (the new GET /v1/me) replaces it, and on
   * an error the old settings come back. */
  async set(change: PrivacyChange): Promise<void> {
    const before = this.me.peek();
    if (before) {
      const { phone, ...rest } = change;
      this.me.value = { ...before, ...rest, ...(phone ? { phone_privacy: phone } : {}) };
    }
    try {
      this.me.value = await this.api.updatePrivacy(change);
    } catch (exc) {
      this.me.value = before;
      throw exc;
    }
  }

  /** My contact name for them, else their name as a member of one of my chats, else their profile's. */
  nameOf(userId: string): string {
    const contact = this.chats.nameOf(userId);
    if (contact) return contact;
    for (const chat of this.chats.chats.value.values()) {
      const m = chat.info.value.members.find((x) => x.user_id === userId);
      if (m && (m.display_name || m.phone)) return m.display_name || m.phone!;
    }
    return this.names.value[userId] || "";
  }

  async unblock(userId: string): Promise<void> {
    await this.api.unblock(userId);
    const next = new Set(this.chats.blocked.peek());
    next.delete(userId);
    this.chats.blocked.value = next;
  }
}
