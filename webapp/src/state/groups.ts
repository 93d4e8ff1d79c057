// Groups and consent as view models (protocol 3.15-3.18, section 9): the group info of each group chat, what I
// may do in it (my role, announcement mode), invite links and join requests for admins, my pending invitations,
// joining by link, and block/report from any chat. The chats themselves stay in ChatStore; this model reads it
// (open chat, messages) and asks it to refresh when the server says something changed.
import { batch, effect, signal, type Signal } from "@preact/signals";
import { ApiError, type Api, type GroupSettings, type GroupView, type Invitation, type InviteLink, type JoinRequest, type Role } from "../net/api";
import type { Envelope } from "../net/protocol";
import type { Chat, ChatStore } from "./chats";

/** A group's info as I know it: null while unknown, "gone" once I am no longer a member (not_member). */
export type GroupState = GroupView | "gone" | null;

export interface CreateResult {
  id: string;
  added: string[];
  invited: string[];
}

/** The code in what the user pasted: a link `…/join/CODE`, `…#join=CODE`, or the bare code (protocol 3.16). */
export function parseJoinCode(input: string): string | null {
  const s = input.trim();
  if (!s) return null;
  const m = /\/join\/([A-Za-z0-9_-]{1,64})\/?(?:[?#].*)?$/.exec(s) ?? /[#?&]join=([A-Za-z0-9_-]{1,64})/.exec(s);
  if (m) return m[1]!;
  return /^[A-Za-z0-9_-]{1,64}$/.test(s) ? s : null;
}

/** The URL this client makes of a link code: the app's own route /join/CODE (any path is index.html). */
export function joinUrl(origin: string, code: string): string {
  return `${origin}/join/${code}`;
}

const ADMIN: ReadonlySet<Role> = new Set<Role>(["owner", "admin"]);
/** Events after which the group's info (members, roles, settings, subject) is no longer what I have. */
const CHANGES = new Set(["added", "removed", "left", "promoted", "demoted", "info_changed", "settings_changed", "joined"]);

function eventOf(m: Envelope): string | null {
  return m.system && typeof m.content === "object" && typeof m.content.event === "string" ? m.content.event : null;
}

export class GroupsModel {
  /** My pending invitations (3.17), newest last, reloaded when my inbox gets a message. */
  readonly invitations = signal<Invitation[]>([]);
  /** The group whose info panel is open, if any. */
  readonly infoOpen = signal<string | null>(null);
  /** Invite links and join requests of the group whose info panel is open (admins only). */
  readonly links = signal<InviteLink[]>([]);
  readonly requests = signal<JoinRequest[]>([]);
  /** Names of requesters (not members, so not in the group's info), from GET /v1/users/{id}. */
  readonly names = signal<Record<string, string>>({});
  private readonly views = new Map<string, Signal<GroupState>>();
  private readonly loading = new Map<string, Promise<void>>();

  constructor(
    private readonly api: Api,
    private readonly chats: ChatStore,
  ) {}

  /** Watch the chats: reload the open group's info after each group event in it, and the invitations after
   * each message in my inbox (9.3, 9.4). Returns the function that stops watching. */
  start(): () => void {
    let lastEvent = new Map<string, number>();
    let inboxCount = -1;
    const stopOpen = effect(() => {
      const chat = this.chats.openChat.value;
      if (!chat || chat.info.value.kind !== "group") return;
      const msgs = chat.messages.value;
      let seq = 0;
      for (let i = msgs.length - 1; i >= 0; i--) {
        const e = eventOf(msgs[i]!);
        if (e && CHANGES.has(e)) {
          seq = msgs[i]!.seq;
          break;
        }
      }
      const before = lastEvent.get(chat.id);
      if (before === seq && this.views.get(chat.id)?.peek() != null) return;
      lastEvent = new Map(lastEvent).set(chat.id, seq);
      void this.load(chat.id);
      if (before !== undefined && before !== seq) {
        void this.chats.refresh().catch(() => undefined); // new members' names for the bubbles
        if (this.infoOpen.peek() === chat.id) void this.loadAdmin(chat.id);
      }
    });
    const stopInbox = effect(() => {
      let n = 0;
      for (const chat of this.chats.chats.value.values()) if (chat.info.value.kind === "inbox") n += chat.messages.value.length;
      if (n !== inboxCount) {
        inboxCount = n;
        void this.loadInvitations();
      }
    });
    return () => {
      stopOpen();
      stopInbox();
    };
  }

  // -- group info --------------------------------------------------------------------------------------------

  viewOf(id: string): Signal<GroupState> {
    let v = this.views.get(id);
    if (!v) this.views.set(id, (v = signal<GroupState>(null)));
    return v;
  }

  /** GET /v1/groups/{id}; "gone" when I am not a member (any more). Concurrent calls share one request. */
  load(id: string): Promise<void> {
    const running = this.loading.get(id);
    if (running) return running;
    const p = this.api
      .group(id)
      .then((view) => {
        this.viewOf(id).value = view;
      })
      .catch((exc: unknown) => {
        if (exc instanceof ApiError && exc.code === "not_member") this.viewOf(id).value = "gone";
      })
      .finally(() => this.loading.delete(id));
    this.loading.set(id, p);
    return p;
  }

  private view(id: string): GroupView | null {
    const v = this.viewOf(id).value;
    return v && v !== "gone" ? v : null;
  }

  roleOf(id: string, userId = this.chats.userId): Role | null {
    return this.view(id)?.members.find((m) => m.user_id === userId)?.role ?? null;
  }
  isAdmin(id: string): boolean {
    const r = this.roleOf(id);
    return r !== null && ADMIN.has(r);
  }
  /** May I write in this group? Not once I left or was removed, and only admins in announcement mode (9.6).
   * Unknown (not loaded yet) counts as yes: the server refuses with `admins_only` anyway. */
  canSend(id: string): "yes" | "admins_only" | "not_member" {
    const v = this.viewOf(id).value;
    if (v === "gone") return "not_member";
    if (!v) return "yes";
    if (v.settings.only_admins_send && !this.isAdmin(id)) return "admins_only";
    return "yes";
  }
  /** May I change the subject and description (9.1, `only_admins_edit`)? */
  canEditInfo(id: string): boolean {
    const v = this.view(id);
    return v !== null && (!v.settings.only_admins_edit || this.isAdmin(id));
  }
  /** A member's name: my contact name for them, else their display name in the group. */
  memberName(id: string, userId: string): string {
    const m = this.view(id)?.members.find((x) => x.user_id === userId);
    return this.chats.nameOf(userId) || m?.display_name || this.names.value[userId] || "";
  }

  async saveInfo(id: string, change: { subject?: string; description?: string }): Promise<void> {
    await this.api.updateGroup(id, change);
    await this.load(id);
  }
  async setSetting(id: string, change: Partial<GroupSettings>): Promise<void> {
    await this.api.updateGroupSettings(id, change);
    await this.load(id);
  }
  async addMembers(id: string, userIds: string[]): Promise<{ added: string[]; invited: string[] }> {
    const r = await this.api.addMembers(id, userIds);
    await this.load(id);
    return { added: r.added, invited: r.invited };
  }
  async removeMember(id: string, userId: string): Promise<void> {
    await this.api.removeMember(id, userId);
    await this.load(id);
  }
  async setRole(id: string, userId: string, to: "admin" | "member"): Promise<void> {
    await this.api.setRole(id, userId, to);
    await this.load(id);
  }
  /** Leave the group, optionally reporting it with its last messages as evidence (3.15, 9.8). */
  async leave(id: string, report: boolean): Promise<void> {
    await this.api.leaveGroup(id, report);
    this.viewOf(id).value = "gone";
    if (this.infoOpen.peek() === id) this.infoOpen.value = null;
  }

  /** Create a group with the chosen people (9.2: each is added or invited, as their settings say). */
  async create(subject: string, description: string, memberIds: string[]): Promise<CreateResult> {
    const r = await this.api.createGroup(subject.trim(), description.trim(), memberIds);
    await this.chats.refresh().catch(() => undefined);
    return { id: r.conversation_id, added: r.added, invited: r.invited };
  }

  /** Find a user by phone number for a group (discovery, 3.11); null if the number is not on Hudhud. */
  async findByPhone(phone: string): Promise<{ user_id: string; phone: string } | null> {
    const [c] = await this.api.addContacts([{ phone: phone.trim() }]);
    const fresh = await this.api.contacts().catch(() => null);
    if (fresh) this.chats.contacts.value = fresh;
    return c?.user_id ? { user_id: c.user_id, phone: c.phone } : null;
  }

  // -- admins: links and requests (3.16) ----------------------------------------------------------------------

  /** Load the links and pending requests of a group I administer (nothing for other members). */
  async loadAdmin(id: string): Promise<void> {
    if (!this.isAdmin(id)) {
      batch(() => {
        this.links.value = [];
        this.requests.value = [];
      });
      return;
    }
    const [links, requests] = await Promise.all([this.api.inviteLinks(id), this.api.joinRequests(id)]);
    await this.learnNames(requests.map((r) => r.user_id));
    batch(() => {
      this.links.value = links;
      this.requests.value = requests;
    });
  }
  async createLink(id: string, opts: { expires_in?: number; max_uses?: number } = {}): Promise<InviteLink> {
    const link = await this.api.createInviteLink(id, opts);
    this.links.value = [...this.links.peek(), link];
    return link;
  }
  async revokeLink(id: string, code: string): Promise<void> {
    await this.api.revokeInviteLink(id, code);
    this.links.value = this.links.peek().filter((l) => l.code !== code);
  }
  async answerRequest(id: string, userId: string, approve: boolean): Promise<void> {
    await this.api.answerJoinRequest(id, userId, approve);
    this.requests.value = this.requests.peek().filter((r) => r.user_id !== userId);
    if (approve) await this.load(id);
  }

  /** Join with a pasted link or code: "joined" opens the group, "requested" waits for an admin (9.7). */
  async join(input: string): Promise<{ status: "joined" | "requested"; id: string } | { status: "invalid" }> {
    const code = parseJoinCode(input);
    if (!code) return { status: "invalid" };
    const r = await this.api.joinGroup(code);
    if (r.status === "joined") await this.opened(r.conversation_id);
    return { status: r.status, id: r.conversation_id };
  }

  // -- invitations (3.17, 9.3) --------------------------------------------------------------------------------

  async loadInvitations(): Promise<void> {
    let list: Invitation[];
    try {
      list = await this.api.invitations();
    } catch {
      return; // offline: keep what we had
    }
    await this.learnNames(list.map((i) => i.inviter_id));
    this.invitations.value = list;
  }

  /** Someone who is neither my contact nor in the group info I have: their profile's name (3.9), once. */
  private async learnNames(userIds: string[]): Promise<void> {
    const names = { ...this.names.peek() };
    const unknown = [...new Set(userIds)].filter((u) => !(u in names) && !this.chats.nameOf(u));
    if (!unknown.length) return;
    await Promise.all(
      unknown.map((u) => this.api.user(u).then((p) => void (names[u] = p.display_name || p.phone || ""), () => undefined)),
    );
    this.names.value = names;
  }

  /** A name for anyone: my contact name, else what their profile said. */
  personName(userId: string): string {
    return this.chats.nameOf(userId) || this.names.value[userId] || "";
  }
  /** Accept: I am a member now, and the group opens. */
  async accept(inv: Invitation): Promise<void> {
    const r = await this.api.answerInvitation(inv.invitation_id, true);
    this.invitations.value = this.invitations.peek().filter((i) => i.invitation_id !== inv.invitation_id);
    await this.opened(r?.conversation_id ?? inv.conversation_id);
  }
  async decline(inv: Invitation): Promise<void> {
    await this.api.answerInvitation(inv.invitation_id, false);
    this.invitations.value = this.invitations.peek().filter((i) => i.invitation_id !== inv.invitation_id);
  }

  private async opened(id: string): Promise<void> {
    await this.chats.refresh().catch(() => undefined);
    this.viewOf(id).value = null;
    void this.load(id);
    this.chats.open(id);
  }

  // -- blocking and reports from any chat (3.18, 10.1, 10.6) -------------------------------------------------

  /** Report a chat: a direct chat's other member with their latest messages as evidence (optionally blocking
   * them too), or a group as a whole with nobody named. */
  async report(chat: Chat, block: boolean): Promise<void> {
    const peer = this.chats.peerOf(chat);
    if (!peer) {
      await this.api.report({ conversation_id: chat.id });
      return;
    }
    if (block) return this.chats.block(chat, true);
    const evidence = chat.messages.peek().filter((m) => m.sender.user_id === peer.user_id && !m.system).slice(-20).map((m) => m.seq);
    await this.api.report({ user_id: peer.user_id, conversation_id: chat.id, messages: evidence });
  }

}
