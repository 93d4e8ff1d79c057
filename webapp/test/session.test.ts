import { describe, expect, it } from "vitest";
import { Backoff } from "../src/net/backoff";
import type { OutboxEntry } from "../src/net/db";
import type { Envelope } from "../src/net/protocol";
import { type ConnStatus, Session, type SessionListener } from "../src/net/session";
import { envelope, FakeSocket, flush, ManualTimers, MemoryStore } from "./fakes";

class Recorder implements SessionListener {
  statuses: ConnStatus[] = [];
  delivered: Envelope[] = [];
  settled: [OutboxEntry, Envelope][] = [];
  failed: [string, string][] = [];
  receipts: unknown[] = [];
  syncedCount = 0;
  loggedOutCount = 0;
  chatState?: (f: unknown) => void;
  status(s: ConnStatus) { this.statuses.push(s); }
  welcome() {}
  messages(m: Envelope[]) { this.delivered.push(...m); }
  sent(e: OutboxEntry, m: Envelope) { this.settled.push([e, m]); }
  sendFailed(e: OutboxEntry, code: string) { this.failed.push([e.id, code]); }
  receipt(r: unknown) { this.receipts.push(r); }
  typing() {}
  presence() {}
  synced() { this.syncedCount++; }
  loggedOut() { this.loggedOutCount++; }
}

function setup(opts: { outbox?: OutboxEntry[]; known?: Envelope[] } = {}) {
  const sockets: FakeSocket[] = [];
  const timers = new ManualTimers();
  const store = new MemoryStore();
  for (const e of opts.outbox ?? []) store.outbox.set(e.id, e);
  const listener = new Recorder();
  const session = new Session({
    url: "ws://test/v1/ws",
    token: "hh_t",
    store,
    listener,
    timers,
    backoff: new Backoff({ baseMs: 1000, capMs: 8000, random: () => 0.5 }),
    socketFactory: (url) => {
      const s = new FakeSocket(url);
      sockets.push(s);
      return s;
    },
    ...(opts.outbox ? { outbox: opts.outbox } : {}),
    ...(opts.known ? { known: opts.known } : {}),
  });
  const last = () => sockets[sockets.length - 1]!;
  const welcome = () => last().frame({ type: "welcome", v: 1, user_id: "uamira", device_id: "dme", server_time: 1 });
  return { session, sockets, timers, store, listener, last, welcome };
}

const entry = (id: string, conversation_id: string | null = "c1", to: string | null = null): OutboxEntry => ({
  id, conversation_id, to, content: { type: "text", text: id }, created_at: 1,
});

describe("Session (protocol 6.5)", () => {
  it("says hello first and resends the outbox, same ids, only after welcome", async () => {
    const t = setup({ outbox: [entry("a"), entry("b", null, "ubassem")] });
    t.session.start();
    t.last().open();
    expect(t.last().sent).toEqual([{ type: "hello", v: 1, token: "hh_t", ref: "hello" }]);
    t.welcome();
    const sends = t.last().sent.filter((f) => f.type === "send");
    expect(sends.map((f) => f.id)).toEqual(["a", "b"]);
    expect(sends[0]).toMatchObject({ conversation_id: "c1", ref: "s:a" });
    expect(sends[1]).toMatchObject({ to: "ubassem" });
    expect(sends[1]!.conversation_id).toBeUndefined();
  });

  it("keeps a message written while disconnected in the store before it goes out", async () => {
    const t = setup();
    t.session.start();
    await t.session.send(entry("late"));
    expect(t.store.outbox.has("late")).toBe(true);
    expect(t.last().types()).toEqual([]);
    t.last().open();
    t.welcome();
    expect(t.last().sent.filter((f) => f.type === "send").map((f) => f.id)).toEqual(["late"]);
  });

  it("acks a delivered message only after it is stored", async () => {
    const t = setup();
    t.session.start();
    t.last().open();
    t.welcome();
    let release!: () => void;
    t.store.gate = new Promise<void>((r) => (release = r));
    t.last().frame({ type: "deliver", ...envelope("c1", 1) });
    t.last().frame({ type: "deliver", ...envelope("c1", 2) });
    expect(t.listener.delivered.map((m) => m.seq)).toEqual([1, 2]); // shown at once
    await flush();
    expect(t.last().types()).not.toContain("ack");
    release();
    t.store.gate = null;
    await t.session.settled();
    const acks = t.last().sent.filter((f) => f.type === "ack");
    expect(acks.at(-1)).toEqual({ type: "ack", conversation_id: "c1", seq: 2 });
    expect(t.store.messages.size).toBe(2);
  });

  it("drops a redelivered message but acks it again", async () => {
    const t = setup({ known: [envelope("c1", 1)] });
    t.session.start();
    t.last().open();
    t.welcome();
    t.last().frame({ type: "deliver", ...envelope("c1", 1) });
    await t.session.settled();
    expect(t.listener.delivered).toEqual([]);
    expect(t.last().sent.filter((f) => f.type === "ack")).toEqual([{ type: "ack", conversation_id: "c1", seq: 1 }]);
  });

  it("settles the outbox on sent, ignores a second sent, and never acks its own seq", async () => {
    const t = setup({ outbox: [entry("a")] });
    t.session.start();
    t.last().open();
    t.welcome();
    const sent = { type: "sent", ref: "s:a", id: "a", conversation_id: "c1", seq: 7, ts: 5, duplicate: false };
    t.last().frame(sent);
    t.last().frame({ ...sent, duplicate: true });
    await flush();
    expect(t.listener.settled).toHaveLength(1);
    expect(t.listener.settled[0]![1]).toMatchObject({ conversation_id: "c1", seq: 7, sender: { user_id: "uamira", device_id: "dme" } });
    expect(t.store.outbox.size).toBe(0);
    expect(t.store.messages.get("c1/7")).toBeDefined();
    expect(t.last().types()).not.toContain("ack");
    // a reconnect resends nothing
    t.last().drop(1012, "server restarting");
    t.timers.advance(60000);
    t.last().open();
    t.welcome();
    expect(t.last().types()).not.toContain("send");
  });

  it("gives up on an entry after a permanent error, keeps it after a passing one", async () => {
    const t = setup({ outbox: [entry("a"), entry("b")] });
    t.session.start();
    t.last().open();
    t.welcome();
    t.last().frame({ type: "error", code: "not_member", message: "", ref: "s:a" });
    t.last().frame({ type: "error", code: "rate_limited", message: "", ref: "s:b", retry_after: 3 });
    await flush();
    expect(t.listener.failed).toEqual([["a", "not_member"]]);
    expect([...t.store.outbox.keys()]).toEqual(["b"]);
  });

  it("reconnects with backoff and reports when the next try is", () => {
    const t = setup();
    t.session.start();
    t.last().drop(1006);
    const offline = t.listener.statuses.at(-1)!;
    expect(offline.state).toBe("offline");
    expect(offline.retryAt).toBe(t.timers.now() + 500); // 0.5 × min(8000, 1000 × 2⁰)
    expect(t.sockets).toHaveLength(1);
    t.timers.advance(500);
    expect(t.sockets).toHaveLength(2);
    t.last().drop(1006);
    expect(t.listener.statuses.at(-1)!.retryAt).toBe(t.timers.now() + 1000); // the ceiling doubled
    t.session.retryNow();
    expect(t.sockets).toHaveLength(3);
  });

  it("waits at least the server's retry_after when it is busy at hello (1013), then backs off as usual", () => {
    const t = setup();
    t.session.start();
    t.last().frame({ type: "error", code: "unavailable", message: "busy", ref: null, retry_after: 7 });
    t.last().drop(1013);
    expect(t.listener.statuses.at(-1)!.retryAt).toBe(t.timers.now() + 7000);
    t.timers.advance(6999);
    expect(t.sockets).toHaveLength(1);
    t.timers.advance(1);
    expect(t.sockets).toHaveLength(2);
    t.last().drop(1006); // the hint was for that one time only
    expect(t.listener.statuses.at(-1)!.retryAt).toBe(t.timers.now() + 1000);
  });

  it("stops and forgets the token on 4401 device_revoked, and does not retry on 4400", () => {
    const t = setup();
    t.session.start();
    t.last().open();
    t.welcome();
    t.last().drop(4401, "device_revoked");
    expect(t.listener.loggedOutCount).toBe(1);
    t.timers.advance(10 * 60000);
    expect(t.sockets).toHaveLength(1);

    const u = setup();
    u.session.start();
    u.last().drop(4400, "unsupported_version");
    expect(u.listener.statuses.at(-1)).toMatchObject({ state: "stopped", stopReason: "version" });
    u.timers.advance(10 * 60000);
    expect(u.sockets).toHaveLength(1);
  });

  it("closes a socket that never says welcome, and one whose pong does not come", () => {
    const t = setup();
    t.session.start();
    t.last().open();
    t.timers.advance(10000);
    expect(t.sockets[0]!.closed).toMatchObject({ code: 4000 });
    t.sockets[0]!.drop(4000, "no welcome");
    t.timers.advance(1000);
    t.last().open();
    t.welcome();
    t.timers.advance(25000);
    expect(t.last().types()).toContain("ping");
    t.timers.advance(10000);
    expect(t.last().closed).toMatchObject({ code: 4000, reason: "no pong" });
  });

  it("sends read when ready, remembers it across a reconnect, and never goes backwards", () => {
    const t = setup();
    t.session.start();
    t.session.read("c1", 4); // not connected yet
    t.last().open();
    t.welcome();
    t.session.read("c1", 3);
    t.session.read("c1", 5);
    expect(t.last().sent.filter((f) => f.type === "read").map((f) => f.seq)).toEqual([4, 5]);
  });
});

describe("Session: forward and chat state", () => {
  it("sends one forward frame only when connected; each copy's sent becomes my message with the count", async () => {
    const t = setup();
    const source = { ...envelope("c1", 4), forward_count: 2 };
    expect(t.session.forward("fw-1", source, [{ conversation_id: "c2" }, { to: "uchadi" }])).toBe(false);
    t.session.start();
    t.last().open();
    t.welcome();
    expect(t.session.forward("fw-1", source, [{ conversation_id: "c2" }, { to: "uchadi" }])).toBe(true);
    expect(t.last().sent.find((f) => f.type === "forward")).toEqual({
      type: "forward", id: "fw-1", source: { conversation_id: "c1", seq: 4 },
      targets: [{ conversation_id: "c2" }, { to: "uchadi" }], ref: "f:fw-1",
    });
    t.last().frame({ type: "sent", ref: "f:fw-1", id: "fw-1#1", conversation_id: "c9", seq: 7, ts: 5, duplicate: false });
    await flush();
    expect(t.listener.delivered).toEqual([
      { conversation_id: "c9", seq: 7, id: "fw-1#1", sender: { user_id: "uamira", device_id: "dme" }, ts: 5,
        content: source.content, forward_count: 3 },
    ]);
    expect((await t.store.load()).messages.map((m) => m.seq)).toEqual([7]);
    t.last().frame({ type: "sent", ref: "f:fw-1", id: "fw-1#1", conversation_id: "c9", seq: 7, ts: 5, duplicate: true });
    await flush();
    expect(t.listener.delivered).toHaveLength(1); // answered twice: once
  });

  it("hands chat_state frames to the listener", () => {
    const t = setup();
    const got: unknown[] = [];
    t.listener.chatState = (f: unknown) => void got.push(f);
    t.session.start();
    t.last().open();
    t.welcome();
    const frame = { type: "chat_state", conversation_id: "c1", pinned: true, pinned_at: 3, archived: false, muted_until: null };
    t.last().frame(frame);
    expect(got).toEqual([frame]);
  });
});
