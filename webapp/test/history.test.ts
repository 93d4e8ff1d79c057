import { describe, expect, it } from "vitest";
import type { ConversationInfo, Envelope } from "../src/net/protocol";
import { Chat } from "../src/state/chats";
import { loadOlder, loadUntil, mergeOlder, PAGE } from "../src/state/history";
import { envelope, MemoryStore } from "./fakes";

const info: ConversationInfo = {
  conversation_id: "c1", kind: "direct", subject: null, last_seq: 1000, members: [], last_message: null, receipts: [],
};

/** A server with messages 1..last of c1, answering GET …/messages like protocol 3.14 (oldest first, < before). */
function server(last: number, hidden: Set<number> = new Set()) {
  const calls: [number | undefined, number][] = [];
  const all = Array.from({ length: last }, (_, i) => envelope("c1", i + 1)).filter((m) => !hidden.has(m.seq));
  const api = {
    history: async (_id: string, before?: number, limit = 50) => {
      calls.push([before, limit]);
      const older = all.filter((m) => before === undefined || m.seq < before);
      return { messages: older.slice(Math.max(0, older.length - limit)), receipts: [] };
    },
  };
  return { api, calls };
}

function chatWith(seqs: number[]): Chat {
  const chat = new Chat("c1", info);
  chat.messages.value = seqs.map((s) => envelope("c1", s));
  return chat;
}

describe("history paging", () => {
  it("asks for the page before the oldest message here and keeps it, in order, in the store", async () => {
    const { api, calls } = server(1000);
    const store = new MemoryStore();
    const chat = chatWith([901, 902, 1000]);
    expect(await loadOlder(chat, { api, store }, 100)).toBe(100);
    expect(calls).toEqual([[901, 100]]);
    const seqs = chat.messages.value.map((m) => m.seq);
    expect(seqs[0]).toBe(801);
    expect(seqs.slice(99, 103)).toEqual([900, 901, 902, 1000]);
    const stored = (await store.load()).messages.map((m: Envelope) => m.seq);
    expect(stored).toHaveLength(100);
    expect(chat.historyDone.value).toBe(false);
  });

  it("stops at the first message: a short page marks the chat complete and nothing more is asked", async () => {
    const { api, calls } = server(150);
    const chat = chatWith([120]);
    const store = new MemoryStore();
    expect(await loadOlder(chat, { api, store }, 100)).toBe(100);
    expect(await loadOlder(chat, { api, store }, 100)).toBe(19);
    expect(chat.historyDone.value).toBe(true);
    expect(chat.messages.value[0]!.seq).toBe(1);
    expect(await loadOlder(chat, { api, store }, 100)).toBe(0);
    expect(calls).toHaveLength(2);
  });

  it("asks nothing when seq 1 is already here, and one request at a time", async () => {
    const { api, calls } = server(10);
    const store = new MemoryStore();
    const done = chatWith([1, 2]);
    expect(await loadOlder(done, { api, store })).toBe(0);
    expect(done.historyDone.value).toBe(true);
    const chat = chatWith([9]);
    const [a, b] = await Promise.all([loadOlder(chat, { api, store }), loadOlder(chat, { api, store })]);
    expect(a + b).toBe(8);
    expect(calls).toHaveLength(1);
  });

  it("an empty page (everything older is hidden from me) ends paging", async () => {
    const { api } = server(300, new Set(Array.from({ length: 199 }, (_, i) => i + 1)));
    const chat = chatWith([250]);
    expect(await loadOlder(chat, { api, store: new MemoryStore() }, 100)).toBe(50); // 200..249
    expect(chat.historyDone.value).toBe(true);
  });

  it("pages back until a quoted message far back is here", async () => {
    const { api, calls } = server(1000);
    const chat = chatWith([1000]);
    expect(await loadUntil(chat, 42, { api, store: new MemoryStore() })).toBe(true);
    expect(chat.messages.value.some((m) => m.seq === 42)).toBe(true);
    expect(calls.length).toBe(Math.ceil((1000 - 42) / PAGE));
    expect(await loadUntil(chatWith([1, 5]), 3, { api, store: new MemoryStore() })).toBe(false);
  });

  it("merges a page that overlaps what is here without doubles", () => {
    const list = [3, 4, 5].map((s) => envelope("c1", s));
    expect(mergeOlder(list, [1, 2, 3].map((s) => envelope("c1", s))).map((m) => m.seq)).toEqual([1, 2, 3, 4, 5]);
  });
});
