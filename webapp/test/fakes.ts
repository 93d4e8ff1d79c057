// Fakes for unit tests: a socket the test plays the server on, manual timers, and an in-memory LocalStore whose
// writes can be held back (to prove that acks wait for storage).
import type { Auth, LocalStore, OutboxEntry, Snapshot } from "../src/net/db";
import type { Contact, ConversationInfo, Envelope } from "../src/net/protocol";
import type { SocketLike, Timers } from "../src/net/session";

export class FakeSocket implements SocketLike {
  sent: Record<string, unknown>[] = [];
  closed: { code?: number; reason?: string } | null = null;
  onopen: ((ev: unknown) => void) | null = null;
  onmessage: ((ev: { data: unknown }) => void) | null = null;
  onclose: ((ev: { code: number; reason: string }) => void) | null = null;
  onerror: ((ev: unknown) => void) | null = null;
  constructor(readonly url: string) {}
  send(data: string): void {
    this.sent.push(JSON.parse(data) as Record<string, unknown>);
  }
  close(code?: number, reason?: string): void {
    this.closed = { code, reason };
  }
  // the server's side
  open(): void {
    this.onopen?.({});
  }
  frame(f: Record<string, unknown>): void {
    this.onmessage?.({ data: JSON.stringify(f) });
  }
  drop(code = 1006, reason = ""): void {
    this.onclose?.({ code, reason });
  }
  types(): string[] {
    return this.sent.map((f) => String(f.type));
  }
}

export class ManualTimers implements Timers {
  t = 1_000_000;
  private queue: { at: number; fn: () => void; id: number }[] = [];
  private next = 1;
  setTimeout(fn: () => void, ms: number): unknown {
    const id = this.next++;
    this.queue.push({ at: this.t + ms, fn, id });
    return id;
  }
  clearTimeout(handle: unknown): void {
    this.queue = this.queue.filter((q) => q.id !== handle);
  }
  now(): number {
    return this.t;
  }
  advance(ms: number): void {
    const until = this.t + ms;
    for (;;) {
      this.queue.sort((a, b) => a.at - b.at);
      const first = this.queue[0];
      if (!first || first.at > until) break;
      this.queue.shift();
      this.t = first.at;
      first.fn();
    }
    this.t = until;
  }
  pending(): number {
    return this.queue.length;
  }
}

export class MemoryStore implements LocalStore {
  auth: Auth | null = null;
  messages = new Map<string, Envelope>();
  outbox = new Map<string, OutboxEntry>();
  conversations = new Map<string, ConversationInfo>();
  contacts: Contact[] = [];
  /** While set, putMessages waits for this promise: a slow disk. */
  gate: Promise<void> | null = null;
  writes = 0;

  async load(): Promise<Snapshot> {
    return {
      auth: this.auth,
      conversations: [...this.conversations.values()],
      messages: [...this.messages.values()],
      outbox: [...this.outbox.values()],
      contacts: this.contacts,
    };
  }
  async setAuth(auth: Auth): Promise<void> {
    this.auth = auth;
  }
  async putMessages(messages: Envelope[]): Promise<void> {
    if (this.gate) await this.gate;
    this.writes++;
    for (const m of messages) this.messages.set(`${m.conversation_id}/${m.seq}`, m);
  }
  async putConversations(conversations: ConversationInfo[]): Promise<void> {
    for (const c of conversations) this.conversations.set(c.conversation_id, c);
  }
  async putContacts(contacts: Contact[]): Promise<void> {
    this.contacts = contacts;
  }
  async addOutbox(entry: OutboxEntry): Promise<void> {
    this.outbox.set(entry.id, entry);
  }
  async settleOutbox(id: string, message: Envelope): Promise<void> {
    this.outbox.delete(id);
    this.messages.set(`${message.conversation_id}/${message.seq}`, message);
  }
  async dropOutbox(id: string): Promise<void> {
    this.outbox.delete(id);
  }
  async wipe(): Promise<void> {
    this.auth = null;
    this.messages.clear();
    this.outbox.clear();
    this.conversations.clear();
  }
}

export function envelope(conversation_id: string, seq: number, user_id = "ubassem", text = `m${seq}`): Envelope {
  return { conversation_id, seq, id: `x${seq}`, sender: { user_id, device_id: "d1" }, ts: 1796043542 + seq, content: { type: "text", text } };
}

export const flush = () => new Promise<void>((r) => setTimeout(r, 0));
