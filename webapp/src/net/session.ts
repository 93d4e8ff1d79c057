// The WebSocket half of the protocol (docs/protocol.md sections 4, 6, 7, 8), as the client algorithm of 6.5:
//
//   on open:     send hello; after welcome resend every outbox entry (same ids, 6.4)
//   on deliver:  drop if (conversation_id, seq) is known; else store, then ack once stored (6.3)
//   on sent:     drop the outbox entry and keep the message with its seq, in one transaction
//   on synced:   catch-up is complete
//   on receipt:  hand the watermarks to the view models (ticks, unread counts)
//   on close:    reconnect with full-jitter backoff, except after 4400 and 4401 unauthorized/device_revoked
//
// No UI code here: the view models implement SessionListener. Everything the session learns goes through that
// one typed interface (no string-keyed event bus).
import { Backoff } from "./backoff";
import type { LocalStore, OutboxEntry } from "./db";
import {
  type ChatStateFrame,
  type ClientFrame,
  type Envelope,
  type PresenceFrame,
  type ReceiptFrame,
  type ServerFrame,
  type TypingFrame,
  type WelcomeFrame,
  PROTOCOL_VERSION,
  isFinalClose,
  parseFrame,
} from "./protocol";

/** The part of the browser's WebSocket the session uses, so tests can hand it a fake. */
export interface SocketLike {
  send(data: string): void;
  close(code?: number, reason?: string): void;
  onopen: ((ev: unknown) => void) | null;
  onmessage: ((ev: { data: unknown }) => void) | null;
  onclose: ((ev: { code: number; reason: string }) => void) | null;
  onerror: ((ev: unknown) => void) | null;
}
export type SocketFactory = (url: string) => SocketLike;

export interface Timers {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
  now(): number;
}
const realTimers: Timers = {
  setTimeout: (fn, ms) => globalThis.setTimeout(fn, ms),
  clearTimeout: (h) => globalThis.clearTimeout(h as ReturnType<typeof setTimeout>),
  now: () => Date.now(),
};

export type ConnState = "connecting" | "syncing" | "online" | "offline" | "stopped";
export interface ConnStatus {
  state: ConnState;
  /** When the next try is due (local ms), while offline. */
  retryAt: number | null;
  /** Why the session stopped for good: the user must act (update the app, or the account is suspended). */
  stopReason: "version" | "suspended" | null;
}

export interface SessionListener {
  status(status: ConnStatus): void;
  welcome(frame: WelcomeFrame): void;
  /** Messages this device did not have, in arrival order (not yet necessarily stored). */
  messages(messages: Envelope[]): void;
  sent(entry: OutboxEntry, message: Envelope): void;
  sendFailed(entry: OutboxEntry, code: string): void;
  receipt(frame: ReceiptFrame): void;
  typing(frame: TypingFrame): void;
  presence(frame: PresenceFrame): void;
  /** One of my chats was pinned, archived or muted, here or on another device (protocol 3.13a). */
  chatState?(frame: ChatStateFrame): void;
  synced(): void;
  /** The token was refused (revoked device, unknown token): forget it and everything with it. */
  loggedOut(): void;
}

/** Send errors after which resending the same frame can never succeed (protocol 4.5): give up on the entry. */
const PERMANENT_SEND_ERRORS = new Set([
  "bad_frame",
  "invalid_request",
  "content_too_large",
  "media_not_found",
  "not_member",
  "admins_only",
  "not_found",
]);

const HELLO_TIMEOUT_MS = 10000;
const PING_EVERY_MS = 25000;
const PONG_TIMEOUT_MS = 10000;

export interface SessionOptions {
  url: string;
  token: string;
  store: LocalStore;
  listener: SessionListener;
  socketFactory?: SocketFactory;
  timers?: Timers;
  backoff?: Backoff;
  /** Messages and outbox already on the device (from IndexedDB at start). */
  known?: Iterable<Envelope>;
  outbox?: Iterable<OutboxEntry>;
}

const key = (conversationId: string, seq: number) => `${conversationId}\u0000${seq}`;

export class Session {
  private ws: SocketLike | null = null;
  private ready = false; // welcome received on the current socket
  private readonly forwards = new Map<string, Envelope>(); // copy id -> the forwarded message
  private stopped = false;
  private retryTimer: unknown = null;
  private helloTimer: unknown = null;
  /** The server's `retry_after` on an error without `ref` (busy at hello, protocol 4.3): wait at least that. */
  private notBeforeMs = 0;
  private pingTimer: unknown = null;
  private pongTimer: unknown = null;
  private userId = "";
  private deviceId = "";

  private readonly known = new Set<string>();
  private readonly outbox = new Map<string, OutboxEntry>();
  /** Delivered messages waiting for their IndexedDB write, then their ack. */
  private pending: Envelope[] = [];
  private flushing: Promise<void> | null = null;
  /** Per conversation: the highest seq stored and not yet acked / already acked. */
  private readonly toAck = new Map<string, number>();
  private readonly acked = new Map<string, number>();
  private readonly reads = new Map<string, number>();

  private readonly store: LocalStore;
  private readonly listener: SessionListener;
  private readonly factory: SocketFactory;
  private readonly timers: Timers;
  private readonly backoff: Backoff;

  constructor(private readonly opts: SessionOptions) {
    this.store = opts.store;
    this.listener = opts.listener;
    this.factory = opts.socketFactory ?? ((url) => new WebSocket(url) as unknown as SocketLike);
    this.timers = opts.timers ?? realTimers;
    this.backoff = opts.backoff ?? new Backoff();
    for (const m of opts.known ?? []) this.known.add(key(m.conversation_id, m.seq));
    for (const e of opts.outbox ?? []) this.outbox.set(e.id, e);
  }

  get isReady(): boolean {
    return this.ready;
  }

  start(): void {
    this.stopped = false;
    this.connect();
  }

  /** Close for good (logout, or the page is going away). */
  stop(): void {
    this.stopped = true;
    this.clearTimers();
    this.ready = false;
    const ws = this.ws;
    this.ws = null;
    if (ws) {
      ws.onclose = ws.onmessage = ws.onopen = ws.onerror = null;
      ws.close(1000, "bye");
    }
  }

  /** Try again now instead of waiting for the backoff (the banner's button, or the browser came online). */
  retryNow(): void {
    if (this.stopped || this.ws) return;
    this.connect();
  }

  /** Queue a message: it is in IndexedDB before this resolves, and goes out now or after the next welcome. */
  async send(entry: OutboxEntry): Promise<void> {
    this.outbox.set(entry.id, entry);
    await this.store.addOutbox(entry);
    if (this.ready && this.outbox.has(entry.id)) this.sendEntry(entry);
  }

  /** Forward a stored message to up to five chats (protocol 4.5 `forward`): the server copies its content, so
   * only the ids go out. Not queued in the outbox: false when not connected (the user tries again). Each copy's
   * `sent` (id `<id>#<i>`) becomes a message of mine here, with the source's content. */
  forward(id: string, source: Envelope, targets: ({ conversation_id: string } | { to: string })[]): boolean {
    if (!this.ready) return false;
    targets.forEach((_, i) => this.forwards.set(`${id}#${i}`, source));
    this.frame({ type: "forward", id, source: { conversation_id: source.conversation_id, seq: source.seq }, targets, ref: `f:${id}` });
    return true;
  }

  /** The user has seen everything through `seq` (protocol 4.5 `read`); sent now or after the next welcome. */
  read(conversationId: string, seq: number): void {
    if ((this.reads.get(conversationId) ?? 0) >= seq) return;
    this.reads.set(conversationId, seq);
    if (this.ready) this.frame({ type: "read", conversation_id: conversationId, seq });
  }

  typing(conversationId: string, state: "composing" | "paused"): void {
    if (this.ready) this.frame({ type: "typing", conversation_id: conversationId, state });
  }

  watchPresence(userIds: string[]): void {
    if (this.ready) this.frame({ type: "presence_subscribe", user_ids: userIds.slice(0, 256) });
  }

  /** Resolves once every delivered message so far is stored and acked (tests, and before a reload). */
  async settled(): Promise<void> {
    while (this.flushing || this.pending.length) {
      if (!this.flushing) this.flush();
      await this.flushing;
    }
  }

  // -- connection -------------------------------------------------------------------------------------------

  private connect(): void {
    this.clearTimers();
    this.ready = false;
    this.listener.status({ state: "connecting", retryAt: null, stopReason: null });
    let ws: SocketLike;
    try {
      ws = this.factory(this.opts.url);
    } catch {
      this.scheduleReconnect();
      return;
    }
    this.ws = ws;
    ws.onopen = () => {
      this.frame({ type: "hello", v: PROTOCOL_VERSION, token: this.opts.token, ref: "hello" });
    };
    ws.onmessage = (ev) => {
      const frame = parseFrame(ev.data);
      if (frame) this.handle(frame);
    };
    ws.onclose = (ev) => this.closed(ws, ev.code, ev.reason);
    ws.onerror = () => undefined; // a close always follows
    this.helloTimer = this.timers.setTimeout(() => ws.close(4000, "no welcome"), HELLO_TIMEOUT_MS);
  }

  private closed(ws: SocketLike, code: number, reason: string): void {
    if (ws !== this.ws) return;
    this.ws = null;
    this.ready = false;
    this.clearTimers();
    if (this.stopped) return;
    const final = isFinalClose(code, reason);
    if (final === "logged_out") {
      this.stopped = true;
      this.listener.status({ state: "stopped", retryAt: null, stopReason: null });
      this.listener.loggedOut();
      return;
    }
    if (final) {
      this.stopped = final === "version";
      this.listener.status({ state: "stopped", retryAt: null, stopReason: final });
      if (final === "suspended") this.scheduleReconnect(5 * 60000); // retry only rarely (4.4)
      return;
    }
    this.scheduleReconnect();
  }

  private scheduleReconnect(delay = this.backoff.next()): void {
    delay = Math.max(delay, this.notBeforeMs);
    this.notBeforeMs = 0;
    const retryAt = this.timers.now() + delay;
    this.listener.status({ state: "offline", retryAt, stopReason: null });
    this.retryTimer = this.timers.setTimeout(() => {
      this.retryTimer = null;
      if (!this.stopped) this.connect();
    }, delay);
  }

  private clearTimers(): void {
    for (const t of [this.retryTimer, this.helloTimer, this.pingTimer, this.pongTimer]) {
      if (t !== null) this.timers.clearTimeout(t);
    }
    this.retryTimer = this.helloTimer = this.pingTimer = this.pongTimer = null;
  }

  private frame(frame: ClientFrame): void {
    try {
      this.ws?.send(JSON.stringify(frame));
    } catch {
      // the socket is closing; its onclose reconnects and everything is resent from the outbox
    }
  }

  private keepalive(): void {
    this.pingTimer = this.timers.setTimeout(() => {
      this.frame({ type: "ping", ref: "keepalive" });
      const ws = this.ws;
      this.pongTimer = this.timers.setTimeout(() => ws?.close(4000, "no pong"), PONG_TIMEOUT_MS);
    }, PING_EVERY_MS);
  }

  // -- frames ---------------------------------------------------------------------------------------------------

  private handle(frame: ServerFrame): void {
    switch (frame.type) {
      case "welcome":
        this.timers.clearTimeout(this.helloTimer);
        this.helloTimer = null;
        this.ready = true;
        this.userId = frame.user_id;
        this.deviceId = frame.device_id;
        this.backoff.reset();
        this.listener.welcome(frame);
        this.listener.status({ state: "syncing", retryAt: null, stopReason: null });
        for (const entry of this.outbox.values()) this.sendEntry(entry);
        for (const [conversationId, seq] of this.reads) this.frame({ type: "read", conversation_id: conversationId, seq });
        this.scheduleAcks();
        this.keepalive();
        return;
      case "deliver":
        this.deliver(frame);
        return;
      case "sent":
        void this.sentFrame(frame);
        return;
      case "synced":
        this.listener.status({ state: "online", retryAt: null, stopReason: null });
        this.listener.synced();
        return;
      case "receipt":
        this.listener.receipt(frame);
        return;
      case "typing":
        this.listener.typing(frame);
        return;
      case "presence":
        this.listener.presence(frame);
        return;
      case "chat_state":
        this.listener.chatState?.(frame);
        return;
      case "pong":
        if (this.pongTimer !== null) this.timers.clearTimeout(this.pongTimer);
        this.pongTimer = null;
        this.keepalive();
        return;
      case "error":
        if (frame.ref == null && typeof frame.retry_after === "number") this.notBeforeMs = frame.retry_after * 1000;
        this.error(frame.code, frame.ref);
        return;
    }
  }

  private deliver(frame: Envelope & { type: "deliver" }): void {
    const { type: _type, ...message } = frame;
    const k = key(message.conversation_id, message.seq);
    if (this.known.has(k)) {
      // A redelivery after a reconnect (our ack had not arrived): already stored, so it may be acked again.
      this.noteStored(message.conversation_id, message.seq);
      this.scheduleAcks();
      return;
    }
    this.known.add(k);
    this.pending.push(message);
    this.listener.messages([message]);
    if (!this.flushing) this.flush();
  }

  /** Store the delivered messages in one IndexedDB transaction, then ack them (never before: protocol 6.3). */
  private flush(): void {
    this.flushing = (async () => {
      while (this.pending.length) {
        const batch = this.pending;
        this.pending = [];
        try {
          await this.store.putMessages(batch);
        } catch {
          // Not stored: forget we saw them so the redelivery after the next connect is taken in again.
          for (const m of batch) this.known.delete(key(m.conversation_id, m.seq));
          continue;
        }
        for (const m of batch) this.noteStored(m.conversation_id, m.seq);
        this.scheduleAcks();
      }
    })().finally(() => {
      this.flushing = null;
    });
  }

  private noteStored(conversationId: string, seq: number): void {
    if (seq > (this.toAck.get(conversationId) ?? 0)) this.toAck.set(conversationId, seq);
  }

  private scheduleAcks(): void {
    if (!this.ready) return; // sent after the next welcome's redelivery instead
    for (const [conversationId, seq] of this.toAck) {
      if (seq > (this.acked.get(conversationId) ?? 0)) {
        this.frame({ type: "ack", conversation_id: conversationId, seq });
        this.acked.set(conversationId, seq);
      }
    }
    this.toAck.clear();
  }

  private sendEntry(entry: OutboxEntry): void {
    if (entry.upload) return; // its file is still uploading (state/media.ts sends it again when finished)
    const frame: ClientFrame = { type: "send", id: entry.id, content: entry.content, ref: "s:" + entry.id };
    if (entry.media?.length) frame.media = entry.media;
    if (entry.conversation_id) frame.conversation_id = entry.conversation_id;
    else if (entry.to) frame.to = entry.to;
    this.frame(frame);
  }

  private async sentFrame(frame: Extract<ServerFrame, { type: "sent" }>): Promise<void> {
    const entry = this.outbox.get(frame.id);
    const forwarded = this.forwards.get(frame.id);
    if (!entry && forwarded) {
      this.forwards.delete(frame.id);
      const copy: Envelope = {
        conversation_id: frame.conversation_id,
        seq: frame.seq,
        id: frame.id,
        sender: { user_id: this.userId, device_id: this.deviceId },
        ts: frame.ts,
        content: forwarded.content,
        forward_count: (forwarded.forward_count ?? 0) + 1,
      };
      this.known.add(key(copy.conversation_id, copy.seq));
      await this.store.putMessages([copy]).catch(() => undefined);
      this.listener.messages([copy]);
      return;
    }
    if (!entry) return; // answered twice (resent before the first `sent`): the first one settled it
    this.outbox.delete(frame.id);
    const message: Envelope = {
      conversation_id: frame.conversation_id,
      seq: frame.seq,
      id: frame.id,
      sender: { user_id: this.userId, device_id: this.deviceId },
      ts: frame.ts,
      content: entry.content,
    };
    this.known.add(key(message.conversation_id, message.seq));
    try {
      await this.store.settleOutbox(entry.id, message);
    } catch {
      // Kept in IndexedDB's outbox: the resend after a reload gets `duplicate: true` and settles it then.
    }
    this.listener.sent(entry, message);
  }

  private error(code: string, ref: string | number | null): void {
    if (typeof ref === "string" && ref.startsWith("s:")) {
      const entry = this.outbox.get(ref.slice(2));
      if (entry && PERMANENT_SEND_ERRORS.has(code)) {
        this.outbox.delete(entry.id);
        void this.store.dropOutbox(entry.id);
        this.listener.sendFailed(entry, code);
      }
      // rate_limited, new_chat_limit, internal_error …: kept, resent after the next connect
    }
  }
}
