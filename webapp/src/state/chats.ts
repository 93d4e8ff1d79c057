// The signed-in device's chats as signals: what the session delivers (SessionListener) and what REST says
// about conversations and contacts, kept in memory and mirrored in IndexedDB. Views read the `Chat` signals
// and the computed list; they call the methods here, never the network directly.
import { batch, computed, signal, type ReadonlySignal, type Signal } from "@preact/signals";
import type { Api } from "../net/api";
import type { LocalStore, OutboxEntry } from "../net/db";
import type {
  ChatStateFrame,
  ChatStatePatch,
  Content,
  Contact,
  ConversationInfo,
  Envelope,
  Member,
  PresenceFrame,
  ReceiptFrame,
  TypingFrame,
  Watermark,
  WelcomeFrame,
} from "../net/protocol";
import type { ConnStatus, SessionListener } from "../net/session";
import { type MediaModel, summaryOf } from "./media";
import { applyState, changeState, compareRows, isMuted, mergeInfo, stateClock } from "./chatstate";
import { type ForwardResult, forwardMessage } from "./forward";
import { loadOlder, loadUntil } from "./history";
import { isModifier, isModifierContent, textOf, unreadCount } from "./projection";

const TYPING_TTL_MS = 6000;

export interface ChatDeps {
  me: string;
  api: Api;
  store: LocalStore;
  newId?: () => string;
  now?: () => number; // ms
}

/** What the model needs from the protocol session; the real one is net/session.ts. */
export interface Sender {
  send(entry: OutboxEntry): Promise<void>;
  read(conversationId: string, seq: number): void;
  typing(conversationId: string, state: "composing" | "paused"): void;
  watchPresence(userIds: string[]): void;
  forward?(id: string, source: Envelope, targets: ({ conversation_id: string } | { to: string })[]): boolean;
}

export interface Presence {
  status: "online" | "offline" | "hidden";
  lastSeen: number | null;
}

export class Chat {
  readonly info: Signal<ConversationInfo>;
  readonly messages = signal<Envelope[]>([]);
  readonly outbox = signal<OutboxEntry[]>([]);
  readonly receipts = signal<Record<string, Watermark>>({});
  readonly typing = signal<string[]>([]);
  readonly failed = signal<Record<string, string>>({});
  /** History paging (state/history.ts): a page is on its way; nothing older is left on the server. */
  readonly loadingOlder = signal(false);
  readonly historyDone = signal(false);
  /** For a chat started by phone number that has no conversation id yet: the other user. */
  draftTo: string | null = null;
  /** When the pinned/archived/muted state was last applied (chatstate.stateClock). */
  stateChange = 0;

  constructor(readonly id: string, info: ConversationInfo) {
    this.info = signal(info);
    this.receipts.value = Object.fromEntries(info.receipts.map((w) => [w.user_id, w]));
  }

  lastSeq(): number {
    const list = this.messages.peek();
    return list.length ? list[list.length - 1]!.seq : 0;
  }
}

export interface ChatRow {
  id: string;
  title: string;
  preview: string;
  previewMine: boolean;
  ts: number | null; // seconds
  unread: number;
  picture?: string | null; // the other member's profile picture (direct chats)
  pinnedAt: number | null; // protocol 3.13a
  muted: boolean;
}

function insertSorted(list: Envelope[], m: Envelope): Envelope[] {
  const next = list.slice();
  let i = next.length;
  while (i > 0 && next[i - 1]!.seq > m.seq) i--;
  if (i > 0 && next[i - 1]!.seq === m.seq) return list;
  next.splice(i, 0, m);
  return next;
}

function draftInfo(id: string, me: string, other: Member): ConversationInfo {
  return {
    conversation_id: id,
    kind: "direct",
    subject: null,
    last_seq: 0,
    members: [{ user_id: me, phone: null, display_name: "" }, other],
    last_message: null,
    receipts: [],
  };
}

export class ChatStore implements SessionListener {
  readonly chats = signal<ReadonlyMap<string, Chat>>(new Map());
  readonly contacts = signal<Contact[]>([]);
  readonly connStatus = signal<ConnStatus>({ state: "connecting", retryAt: null, stopReason: null });
  readonly isSynced = signal(false);
  readonly search = signal("");
  readonly openId = signal<string | null>(null);
  /** The chat list shows the archive instead of the other chats (protocol 3.13a). */
  readonly showArchived = signal(false);
  /** Archived chats (count, and how many of them have unread messages), for the "Archived" entry. */
  readonly archived: ReadonlySignal<{ chats: number; unread: number }>;
  /** Set by the page: the tab is visible (document.visibilityState), so what is on screen is being read. */
  readonly visible = signal(true);
  readonly isLoggedOut = signal(false);
  /** The newest message from someone else, for a screen-reader announcement. */
  readonly announcement = signal<Envelope | null>(null);
  /** Presence of the users watched (the open chat's peer), from `presence` frames (protocol 8.2). */
  readonly presenceOf = signal<Record<string, Presence>>({});
  /** Whom I have blocked (protocol 3.18, 10.1). */
  readonly blocked = signal<ReadonlySet<string>>(new Set());
  /** Unread messages over all chats, for the page title. */
  readonly totalUnread: ReadonlySignal<number>;

  sender: Sender | null = null;
  /** Uploads of media messages (state/media.ts); set by the app model. */
  media: MediaModel | null = null;
  private readonly me: string;
  private readonly newId: () => string;
  private readonly now: () => number;
  private refreshTimer: ReturnType<typeof setTimeout> | null = null;
  private typingTimers = new Map<string, ReturnType<typeof setTimeout>>();

  readonly rows: ReadonlySignal<ChatRow[]>;
  readonly openChat: ReadonlySignal<Chat | null>;

  constructor(private readonly deps: ChatDeps) {
    this.me = deps.me;
    this.newId = deps.newId ?? (() => crypto.randomUUID());
    this.now = deps.now ?? (() => Date.now());
    this.rows = computed(() => this.computeRows());
    this.archived = computed(() => {
      let chats = 0;
      let unread = 0;
      for (const chat of this.chats.value.values()) {
        if (!chat.info.value.archived) continue;
        chats++;
        if (unreadCount(chat.messages.value, this.me, chat.receipts.value[this.me]?.read_seq ?? 0)) unread++;
      }
      return { chats, unread };
    });
    this.totalUnread = computed(() => {
      let n = 0;
      for (const chat of this.chats.value.values()) {
        if (chat.info.value.kind === "inbox") continue; // invitations are counted in the sidebar, not here
        n += unreadCount(chat.messages.value, this.me, chat.receipts.value[this.me]?.read_seq ?? 0);
      }
      return n;
    });
    this.openChat = computed(() => {
      const id = this.openId.value;
      return id ? (this.chats.value.get(id) ?? null) : null;
    });
  }

  get userId(): string {
    return this.me;
  }

  // -- loading ------------------------------------------------------------------------------------------------

  /** What IndexedDB had: shown at once, before any network. */
  hydrate(conversations: ConversationInfo[], messages: Envelope[], outbox: OutboxEntry[], contacts: Contact[]): void {
    batch(() => {
      this.contacts.value = contacts;
      const map = new Map<string, Chat>();
      for (const info of conversations) map.set(info.conversation_id, new Chat(info.conversation_id, info));
      const byConv = new Map<string, Envelope[]>();
      for (const m of messages) {
        const list = byConv.get(m.conversation_id) ?? [];
        list.push(m);
        byConv.set(m.conversation_id, list);
      }
      for (const [id, list] of byConv) {
        let chat = map.get(id);
        if (!chat) map.set(id, (chat = new Chat(id, this.placeholderInfo(id))));
        chat.messages.value = list.sort((a, b) => a.seq - b.seq);
      }
      for (const e of outbox) {
        const chat = e.conversation_id ? map.get(e.conversation_id) : e.to ? this.draftFor(map, e.to) : undefined;
        if (chat) chat.outbox.value = [...chat.outbox.value, e];
      }
      this.chats.value = map;
    });
  }

  /** Conversations and contacts from REST (after each welcome, and when an unknown conversation shows up). */
  async refresh(): Promise<void> {
    const askedAt = stateClock();
    const [infos, contacts, blocked] = await Promise.all([
      this.deps.api.conversations(),
      this.deps.api.contacts(),
      this.deps.api.blocks().catch(() => [...this.blocked.peek()]),
    ]);
    batch(() => {
      this.contacts.value = contacts;
      this.blocked.value = new Set(blocked);
      const map = new Map(this.chats.value);
      for (const info of infos) {
        // The inbox (group invitations, protocol 9.3) is kept, so that its messages are stored and acked, but it
        // is no row of the chat list: state/groups.ts shows the pending invitations instead.
        const chat = map.get(info.conversation_id);
        if (chat) {
          chat.info.value = mergeInfo(chat, info, askedAt);
          const merged = { ...chat.receipts.value };
          for (const w of info.receipts) merged[w.user_id] = maxWatermark(merged[w.user_id], w);
          chat.receipts.value = merged;
        } else {
          map.set(info.conversation_id, new Chat(info.conversation_id, info));
        }
      }
      this.chats.value = map;
    });
    await this.deps.store.putContacts(contacts);
    await this.persistInfos();
  }

  private persistInfos(): Promise<void> {
    const infos: ConversationInfo[] = [];
    for (const chat of this.chats.value.values()) {
      if (chat.draftTo) continue;
      infos.push({ ...chat.info.peek(), receipts: Object.values(chat.receipts.peek()), last_message: null });
    }
    return this.deps.store.putConversations(infos);
  }

  private scheduleRefresh(): void {
    if (this.refreshTimer) return;
    this.refreshTimer = setTimeout(() => {
      this.refreshTimer = null;
      this.refresh().catch(() => undefined);
    }, 200);
  }

  private placeholderInfo(id: string): ConversationInfo {
    return { conversation_id: id, kind: "direct", subject: null, last_seq: 0, members: [], last_message: null, receipts: [] };
  }

  private draftFor(map: Map<string, Chat>, userId: string): Chat {
    const id = `to:${userId}`;
    let chat = map.get(id);
    if (!chat) {
      const contact = this.contacts.peek().find((c) => c.user_id === userId);
      chat = new Chat(id, draftInfo(id, this.me, { user_id: userId, phone: contact?.phone ?? null, display_name: contact?.display_name ?? "" }));
      chat.draftTo = userId;
      map.set(id, chat);
    }
    return chat;
  }

  // -- names ---------------------------------------------------------------------------------------------------

  /** The other member of a direct chat (null for groups, and for a chat with myself). */
  peerOf(chat: Chat): Member | null {
    const info = chat.info.value;
    if (info.kind !== "direct") return null;
    return info.members.find((m) => m.user_id !== this.me) ?? null;
  }

  nameOf(userId: string, member?: Member | null): string {
    const contact = this.contacts.value.find((c) => c.user_id === userId);
    return contact?.name || member?.display_name || contact?.display_name || member?.phone || contact?.phone || "";
  }

  /** "" when there is nothing to call it by (the view shows "Unknown"); "\u0000me" for a chat with myself. */
  titleOf(chat: Chat): string {
    const info = chat.info.value;
    if (info.kind === "group") return info.subject ?? "";
    const peer = this.peerOf(chat);
    if (!peer) return info.members.length === 1 ? "\u0000me" : "";
    return this.nameOf(peer.user_id, peer);
  }

  private computeRows(): ChatRow[] {
    const q = this.search.value.trim().toLocaleLowerCase();
    const rows: ChatRow[] = [];
    const archive = this.showArchived.value;
    const now = this.now();
    for (const chat of this.chats.value.values()) {
      if (Boolean(chat.info.value.archived) !== archive) continue;
      const messages = chat.messages.value;
      const outbox = chat.outbox.value;
      const title = this.titleOf(chat);
      const info = chat.info.value;
      let last: { text: string; mine: boolean; ts: number } | null = null;
      const pending = [...outbox].reverse().find((e) => !isModifierContent(e.content));
      if (pending) last = { text: textOf(pending.content) ?? summaryOf(pending.content), mine: true, ts: pending.created_at / 1000 };
      else {
        for (let i = messages.length - 1; i >= 0; i--) {
          const m = messages[i]!;
          if (isModifier(m) || m.system) continue;
          last = { text: textOf(m.content) ?? summaryOf(m.content), mine: m.sender.user_id === this.me, ts: m.ts };
          break;
        }
      }
      if (info.kind === "inbox") continue;
      if (!last && !messages.length && !chat.draftTo && info.kind === "direct") continue;
      const mine = chat.receipts.value[this.me];
      const unread = unreadCount(messages, this.me, mine?.read_seq ?? 0);
      const peerPhone = this.peerOf(chat)?.phone ?? "";
      if (q && !title.toLocaleLowerCase().includes(q) && !peerPhone.includes(q) && !(last?.text.toLocaleLowerCase().includes(q))) {
        continue;
      }
      rows.push({
        id: chat.id, title, preview: last?.text ?? "", previewMine: last?.mine ?? false, ts: last?.ts ?? null, unread,
        pinnedAt: info.pinned_at ?? null, muted: isMuted(info, now), picture: this.peerOf(chat)?.picture ?? null,
      });
    }
    return rows.sort(compareRows);
  }

  // -- actions from the views ------------------------------------------------------------------------------------

  open(id: string | null): void {
    this.openId.value = id;
    this.markRead();
    this.watchOpenPeer();
  }

  /** Watch the presence of the open chat's other member; subscribing again after each connect (8.2). */
  private watchOpenPeer(): void {
    const chat = this.openChat.peek();
    const peer = chat ? this.peerOf(chat) : null;
    this.sender?.watchPresence(peer ? [peer.user_id] : []);
  }

  /** Send what the user wrote: into the outbox (IndexedDB) first, then on the wire (protocol 6.4). */
  async sendText(chatId: string, text: string, replyTo?: number): Promise<void> {
    if (!text.trim()) return;
    await this.sendContent(chatId, { type: "text", text, ...(replyTo ? { reply_to: replyTo } : {}) });
  }

  /** Edit, delete for everyone, react (protocol 5.3): ordinary messages that refer to `target` by seq. */
  edit(chatId: string, target: number, text: string): Promise<void> {
    return text.trim() ? this.sendContent(chatId, { type: "edit", target, text }) : Promise.resolve();
  }
  deleteForEveryone(chatId: string, target: number): Promise<void> {
    return this.sendContent(chatId, { type: "delete", target });
  }
  react(chatId: string, target: number, emoji: string): Promise<void> {
    return this.sendContent(chatId, { type: "reaction", target, emoji });
  }

  /** A media message (state/media.ts) or a card (location, contact): `upload` is the file to send first. */
  sendRich(chatId: string, content: Content, upload?: OutboxEntry["upload"]): Promise<void> {
    return this.sendContent(chatId, content, upload);
  }

  private async sendContent(chatId: string, content: Content, upload?: OutboxEntry["upload"]): Promise<void> {
    const chat = this.chats.value.get(chatId);
    if (!chat || !this.sender) return;
    const entry: OutboxEntry = {
      id: this.newId(),
      conversation_id: chat.draftTo ? null : chat.id,
      to: chat.draftTo,
      content,
      created_at: this.now(),
      ...(upload ? { upload } : {}),
    };
    chat.outbox.value = [...chat.outbox.value, entry];
    await this.sender.send(entry); // held back by the session while `upload` is set
    if (upload) void this.media?.run(entry);
  }

  /** Forward message `seq` of `chatId` to up to five chats (protocol 4.5 `forward`, state/forward.ts). */
  forward(chatId: string, seq: number, targetIds: string[]): ForwardResult {
    return forwardMessage(this, chatId, seq, targetIds, this.newId);
  }

  /** Pin, archive, mute (protocol 3.13a); null when done, else the error code (`pin_limit`). */
  async setChatState(chatId: string, patch: ChatStatePatch): Promise<string | null> {
    const chat = this.chats.value.get(chatId);
    if (!chat) return "not_found";
    const err = await changeState(chat, this.deps.api, patch);
    if (!err) void this.persistInfos();
    return err;
  }

  isMuted(chat: Chat): boolean {
    return isMuted(chat.info.peek(), this.now());
  }

  /** Older history for a chat from the server (protocol 3.14), kept in IndexedDB; see state/history.ts. */
  loadOlder(chatId: string): Promise<number> {
    const chat = this.chats.value.get(chatId);
    return chat ? loadOlder(chat, this.deps) : Promise.resolve(0);
  }
  loadUntil(chatId: string, seq: number): Promise<boolean> {
    const chat = this.chats.value.get(chatId);
    return chat ? loadUntil(chat, seq, this.deps) : Promise.resolve(false);
  }

  typingNow(chatId: string, state: "composing" | "paused"): void {
    const chat = this.chats.value.get(chatId);
    if (chat && !chat.draftTo) this.sender?.typing(chatId, state);
  }

  /** A new chat by phone number (national or E.164): discovery through POST /v1/contacts (3.11), then `to`. */
  async startChat(phone: string, name: string): Promise<{ ok: true; id: string } | { ok: false; phone: string }> {
    const [contact] = await this.deps.api.addContacts([{ phone, ...(name ? { name } : {}) }]);
    const fresh = await this.deps.api.contacts().catch(() => null);
    if (fresh) {
      this.contacts.value = fresh;
      void this.deps.store.putContacts(fresh);
    }
    if (!contact?.user_id) return { ok: false, phone: contact?.phone ?? phone };
    return { ok: true, id: this.chatWith(contact.user_id) };
  }

  /** The direct chat with a user (someone from my address book, GET /v1/contacts): the existing one, or a
   * draft that becomes a conversation with its first message. */
  chatWith(uid: string): string {
    for (const chat of this.chats.value.values()) {
      const info = chat.info.value;
      if (info.kind !== "direct") continue;
      const ids = info.members.map((m) => m.user_id);
      const isIt = uid === this.me ? ids.length === 1 && ids[0] === uid : ids.includes(uid);
      if (isIt || chat.draftTo === uid) return chat.id;
    }
    const map = new Map(this.chats.value);
    const chat = this.draftFor(map, uid);
    this.chats.value = map;
    return chat.id;
  }

  /** A direct chat started by someone not in my address book (protocol 10.2): show the stranger banner. */
  isStranger(chat: Chat): boolean {
    const peer = this.peerOf(chat);
    if (!peer || this.contacts.value.some((c) => c.user_id === peer.user_id)) return false;
    return chat.messages.value.some((m) => m.stranger === true && m.sender.user_id === peer.user_id);
  }

  isBlocked(userId: string): boolean {
    return this.blocked.value.has(userId);
  }

  /** Block the chat's other member, optionally reporting them with their latest messages as evidence (10.6). */
  async block(chat: Chat, report: boolean): Promise<void> {
    const peer = this.peerOf(chat);
    if (!peer) return;
    if (report) {
      const evidence = chat.messages.peek().filter((m) => m.sender.user_id === peer.user_id).slice(-20).map((m) => m.seq);
      await this.deps.api.report({ user_id: peer.user_id, conversation_id: chat.id, messages: evidence, block: true });
    } else {
      await this.deps.api.block(peer.user_id);
    }
    this.blocked.value = new Set([...this.blocked.peek(), peer.user_id]);
  }

  async unblock(chat: Chat): Promise<void> {
    const peer = this.peerOf(chat);
    if (!peer) return;
    await this.deps.api.unblock(peer.user_id);
    const next = new Set(this.blocked.peek());
    next.delete(peer.user_id);
    this.blocked.value = next;
  }

  /** Save the stranger's number in my address book (3.11), which ends the banner. */
  async addToContacts(chat: Chat, name: string): Promise<void> {
    const peer = this.peerOf(chat);
    if (!peer?.phone) return;
    await this.deps.api.addContacts([{ phone: peer.phone, ...(name ? { name } : {}) }]);
    const contacts = await this.deps.api.contacts();
    this.contacts.value = contacts;
    await this.deps.store.putContacts(contacts);
  }

  /** Mark what is on screen as read: the open chat, while the tab is visible (protocol 4.5 `read`). */
  markRead(): void {
    const chat = this.openChat.peek();
    if (!chat || chat.draftTo || !this.visible.peek()) return;
    const last = chat.lastSeq();
    const mine = chat.receipts.peek()[this.me];
    if (last <= (mine?.read_seq ?? 0)) return;
    chat.receipts.value = {
      ...chat.receipts.peek(),
      [this.me]: { user_id: this.me, delivered_seq: Math.max(mine?.delivered_seq ?? 0, last), read_seq: last },
    };
    this.sender?.read(chat.id, last);
  }

  // -- SessionListener ----------------------------------------------------------------------------------------

  status(status: ConnStatus): void {
    this.connStatus.value = status;
    if (status.state !== "online") this.isSynced.value = false;
  }

  welcome(_frame: WelcomeFrame): void {
    this.refresh().catch(() => undefined);
  }

  messages(messages: Envelope[]): void {
    batch(() => {
      let map: Map<string, Chat> | null = null;
      for (const m of messages) {
        let chat = (map ?? this.chats.value).get(m.conversation_id);
        if (!chat) {
          map ??= new Map(this.chats.value);
          const info = this.placeholderInfo(m.conversation_id);
          if (m.system && typeof m.content === "object" && m.content.event === "invitation") info.kind = "inbox";
          chat = new Chat(m.conversation_id, info);
          map.set(chat.id, chat);
          this.scheduleRefresh();
        }
        chat.messages.value = insertSorted(chat.messages.value, m);
        if (m.sender.user_id !== this.me && !isModifier(m) && this.isSynced.peek()) this.announcement.value = m;
        this.typingStopped(chat, m.sender.user_id);
      }
      if (map) this.chats.value = map;
      // In the same batch: a message into the open chat is never counted unread for a moment (the title, the
      // tab's icon and the chat list would each be computed and drawn twice).
      this.markRead();
    });
  }

  sent(entry: OutboxEntry, message: Envelope): void {
    batch(() => {
      let chat = this.chats.value.get(message.conversation_id);
      const source = entry.conversation_id ? chat : entry.to ? this.chats.value.get(`to:${entry.to}`) : undefined;
      if (!chat) {
        // The first message of a chat started by phone number: the draft becomes the conversation.
        const map = new Map(this.chats.value);
        const info = source ? { ...source.info.peek(), conversation_id: message.conversation_id } : this.placeholderInfo(message.conversation_id);
        chat = new Chat(message.conversation_id, info);
        map.set(chat.id, chat);
        this.chats.value = map;
        this.scheduleRefresh();
      }
      if (source && source !== chat) {
        chat.outbox.value = [...chat.outbox.value, ...source.outbox.peek().filter((e) => e.id !== entry.id)];
        const map = new Map(this.chats.value);
        map.delete(source.id);
        this.chats.value = map;
        if (this.openId.peek() === source.id) this.openId.value = chat.id;
      }
      chat.outbox.value = chat.outbox.value.filter((e) => e.id !== entry.id);
      chat.messages.value = insertSorted(chat.messages.value, message);
    });
  }

  sendFailed(entry: OutboxEntry, code: string): void {
    for (const chat of this.chats.value.values()) {
      if (chat.outbox.peek().some((e) => e.id === entry.id)) chat.failed.value = { ...chat.failed.peek(), [entry.id]: code };
    }
  }

  receipt(frame: ReceiptFrame): void {
    const chat = this.chats.value.get(frame.conversation_id);
    if (!chat) return;
    const w: Watermark = { user_id: frame.user_id, delivered_seq: frame.delivered_seq, read_seq: frame.read_seq };
    chat.receipts.value = { ...chat.receipts.peek(), [w.user_id]: maxWatermark(chat.receipts.peek()[w.user_id], w) };
    void this.persistInfos();
  }

  typing(frame: TypingFrame): void {
    const chat = this.chats.value.get(frame.conversation_id);
    if (!chat || frame.user_id === this.me) return;
    const k = `${chat.id} ${frame.user_id}`;
    const old = this.typingTimers.get(k);
    if (old) clearTimeout(old);
    if (frame.state === "paused") {
      this.typingStopped(chat, frame.user_id);
      return;
    }
    if (!chat.typing.peek().includes(frame.user_id)) chat.typing.value = [...chat.typing.peek(), frame.user_id];
    // `composing` expires by itself: the server never sends `paused` on its own (protocol 8.1).
    this.typingTimers.set(k, setTimeout(() => this.typingStopped(chat, frame.user_id), TYPING_TTL_MS));
  }

  private typingStopped(chat: Chat, userId: string): void {
    if (chat.typing.peek().includes(userId)) chat.typing.value = chat.typing.peek().filter((u) => u !== userId);
  }

  presence(frame: PresenceFrame): void {
    this.presenceOf.value = { ...this.presenceOf.peek(), [frame.user_id]: { status: frame.status, lastSeen: frame.last_seen } };
  }

  chatState(frame: ChatStateFrame): void {
    const chat = this.chats.value.get(frame.conversation_id);
    if (!chat) {
      this.scheduleRefresh(); // a chat this device has not loaded yet: the server's list has its state
      return;
    }
    applyState(chat, frame);
    void this.persistInfos();
  }

  synced(): void {
    this.isSynced.value = true;
    this.markRead();
    this.watchOpenPeer();
  }

  loggedOut(): void {
    this.isLoggedOut.value = true;
  }
}

function maxWatermark(a: Watermark | undefined, b: Watermark): Watermark {
  if (!a) return b;
  const read = a.read_seq === null ? b.read_seq : b.read_seq === null ? a.read_seq : Math.max(a.read_seq, b.read_seq);
  return { user_id: b.user_id, delivered_seq: Math.max(a.delivered_seq, b.delivered_seq), read_seq: read };
}
