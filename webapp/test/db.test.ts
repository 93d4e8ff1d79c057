import "fake-indexeddb/auto";
import { describe, expect, it } from "vitest";
import { IdbStore } from "../src/net/db";
import { envelope } from "./fakes";

describe("IdbStore (IndexedDB)", () => {
  it("keeps auth, messages by (conversation, seq), the outbox in order, and wipes everything", async () => {
    const store = new IdbStore("t1");
    await store.setAuth({ token: "hh_x", user_id: "u1", device_id: "d1" });
    await store.putMessages([envelope("c1", 2), envelope("c1", 1), envelope("c1", 2, "ub", "again")]);
    await store.addOutbox({ id: "b", conversation_id: "c1", to: null, content: { type: "text", text: "b" }, created_at: 2 });
    await store.addOutbox({ id: "a", conversation_id: "c1", to: null, content: { type: "text", text: "a" }, created_at: 1 });
    await store.settleOutbox("a", envelope("c1", 3, "u1", "a"));
    const snap = await new IdbStore("t1").load(); // as after a reload
    expect(snap.auth?.token).toBe("hh_x");
    expect(snap.messages.map((m) => m.seq).sort()).toEqual([1, 2, 3]);
    expect(snap.outbox.map((e) => e.id)).toEqual(["b"]);
    await store.wipe();
    const empty = await new IdbStore("t1").load();
    expect(empty).toMatchObject({ auth: null, messages: [], outbox: [] });
  });
});
