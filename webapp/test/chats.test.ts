import { describe, expect, it } from "vitest";
import type { Api } from "../src/net/api";
import type { OutboxEntry } from "../src/net/db";
import type { Contact, ConversationInfo } from "../src/net/protocol";
import { ChatStore, type Sender } from "../src/state/chats";
import { envelope, MemoryStore } from "./fakes";

const me = "uamira";
const info = (id: string, other = "ubassem"): ConversationInfo => ({
  conversation_id: id, kind: "direct", subject: null, last_seq: 0,
  members: [{ user_id: me, phone: "+201000000001", display_name: "Amira" }, { user_id: other, phone: "+201000000002", display_name: "Bassem" }],
  last_message: null, receipts: [],
});

class FakeSender implements Sender {
  sent: OutboxEntry[] = [];
  reads: [string, number][] = [];
  async send(e: OutboxEntry) { this.sent.push(e); }
  watchPresence() {}
  read(c: string, s: number) { this.reads.push([c, s]); }
  typing() {}
}

function setup(contacts: Contact[] = []) {
  const api = {
    conversations: async () => [info("c1")],
    contacts: async () => contacts,
    blocks: async () => [],
    addContacts: async (entries: { phone: string }[]) =>
      entries.map((e) => ({ phone: "+20" + e.phone.slice(1), name: "", user_id: e.phone === "01000000003" ? "uchadi" : null, display_name: null })),
  } as unknown as Api;
  const store = new MemoryStore();
  let n = 0;
  const chats = new ChatStore({ me, api, store, newId: () => `id${++n}`, now: () => 5000 });
  const sender = new FakeSender();
  chats.sender = sender;
  return { chats, sender, store };
}

describe("ChatStore", () => {
  it("lists chats by last activity with preview and unread counts; search filters", () => {
    const { chats } = setup([{ phone: "+201000000002", name: "Bassem (work)", user_id: "ubassem", display_name: "Bassem" }]);
    chats.hydrate([info("c1"), info("c2", "uchadi")], [envelope("c1", 1, "ubassem", "old"), { ...envelope("c2", 1, "uchadi", "newer"), ts: 1796043999 }], [], []);
    chats.contacts.value = [{ phone: "+201000000002", name: "Bassem (work)", user_id: "ubassem", display_name: "Bassem" }];
    expect(chats.rows.value.map((r) => [r.title, r.preview, r.unread])).toEqual([["Bassem", "newer", 1], ["Bassem (work)", "old", 1]]);
    chats.search.value = "work";
    expect(chats.rows.value.map((r) => r.id)).toEqual(["c1"]);
  });

  it("marks the open chat read only while the tab is visible", () => {
    const { chats, sender } = setup();
    chats.hydrate([info("c1")], [envelope("c1", 1), envelope("c1", 2)], [], []);
    chats.visible.value = false;
    chats.open("c1");
    expect(sender.reads).toEqual([]);
    chats.visible.value = true;
    chats.markRead();
    expect(sender.reads).toEqual([["c1", 2]]);
    expect(chats.rows.value[0]!.unread).toBe(0);
    chats.messages([envelope("c1", 3)]);
    expect(sender.reads.at(-1)).toEqual(["c1", 3]);
  });

  it("starts a chat by phone number as a draft that becomes the conversation on sent", async () => {
    const { chats, sender } = setup();
    chats.hydrate([], [], [], []);
    expect(await chats.startChat("01000000009", "")).toEqual({ ok: false, phone: "+201000000009" });
    const r = await chats.startChat("01000000003", "Chadi");
    expect(r).toEqual({ ok: true, id: "to:uchadi" });
    chats.open("to:uchadi");
    await chats.sendText("to:uchadi", "hi Chadi");
    expect(sender.sent[0]).toMatchObject({ id: "id1", to: "uchadi", conversation_id: null });
    expect(chats.openChat.value!.outbox.value).toHaveLength(1);
    chats.sent(sender.sent[0]!, { ...envelope("c9", 1, me, "hi Chadi"), id: "id1" });
    expect(chats.openId.value).toBe("c9");
    expect(chats.chats.value.has("to:uchadi")).toBe(false);
    expect(chats.openChat.value!.outbox.value).toEqual([]);
    expect(chats.openChat.value!.messages.value.map((m) => m.seq)).toEqual([1]);
  });

  it("rebuilds drafts and the outbox from what IndexedDB had", () => {
    const { chats } = setup();
    const queued: OutboxEntry = { id: "q", conversation_id: "c1", to: null, content: { type: "text", text: "queued" }, created_at: 9000 };
    chats.hydrate([info("c1")], [envelope("c1", 1)], [queued], []);
    expect(chats.rows.value[0]).toMatchObject({ preview: "queued", previewMine: true });
    expect(chats.chats.value.get("c1")!.outbox.value).toEqual([queued]);
  });

  it("sends replies, edits, deletions and reactions as messages that refer to a seq (5.3)", async () => {
    const { chats, sender } = setup();
    chats.hydrate([info("c1")], [envelope("c1", 4)], [], []);
    await chats.sendText("c1", "yes", 4);
    await chats.edit("c1", 4, "yes!");
    await chats.deleteForEveryone("c1", 4);
    await chats.react("c1", 4, "👍");
    expect(sender.sent.map((e) => e.content)).toEqual([
      { type: "text", text: "yes", reply_to: 4 },
      { type: "edit", target: 4, text: "yes!" },
      { type: "delete", target: 4 },
      { type: "reaction", target: 4, emoji: "👍" },
    ]);
    expect(chats.rows.value[0]!.preview).toBe("yes"); // modifiers are no preview
  });

  it("keeps watermarks from receipts, never going backwards", () => {
    const { chats } = setup();
    chats.hydrate([info("c1")], [], [], []);
    chats.receipt({ type: "receipt", conversation_id: "c1", user_id: "ubassem", delivered_seq: 5, read_seq: 4 });
    chats.receipt({ type: "receipt", conversation_id: "c1", user_id: "ubassem", delivered_seq: 3, read_seq: 2 });
    expect(chats.chats.value.get("c1")!.receipts.value.ubassem).toEqual({ user_id: "ubassem", delivered_seq: 5, read_seq: 4 });
  });
});
