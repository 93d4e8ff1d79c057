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

  /** PATCH /v1/me/privacy with one change; the answer is the new GET /v1/me. */
  async set(change: PrivacyChange): Promise<void> {
    this.me.value = await this.api.updatePrivacy(change);
  }

  nameOf(userId: string): string {
    return this.chats.nameOf(userId) || this.names.value[userId] || "";
  }

  async unblock(userId: string): Promise<void> {
    await this.api.unblock(userId);
    const next = new Set(this.chats.blocked.peek());
    next.delete(userId);
    this.chats.blocked.value = next;
  }
}
