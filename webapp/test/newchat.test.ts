import { describe, expect, it } from "vitest";
import type { Api } from "../src/net/api";
import { ChatStore } from "../src/state/chats";
import { badgeText } from "../src/components/notify";
import { envelope, MemoryStore } from "./fakes";

describe("new chat from contacts", () => {
  it("opens the existing chat with a contact, or a draft that is listed until the first message", () => {
    const chats = new ChatStore({ me: "ume", api: {} as Api, store: new MemoryStore() });
    chats.hydrate(
      [{ conversation_id: "c1", kind: "direct", subject: null, last_seq: 1, last_message: null, receipts: [],
        members: [{ user_id: "ume", phone: null, display_name: "" }, { user_id: "ubassem", phone: null, display_name: "B" }] }],
      [envelope("c1", 1)], [],
      [{ phone: "+201000000002", name: "Bassem", user_id: "ubassem", display_name: null },
       { phone: "+201000000003", name: "Chadi", user_id: "uchadi", display_name: null }],
    );
    expect(chats.chatWith("ubassem")).toBe("c1");
    const draft = chats.chatWith("uchadi");
    expect(draft).toBe("to:uchadi");
    expect(chats.chatWith("uchadi")).toBe(draft); // not a second draft
    expect(chats.rows.value.map((r) => r.title)).toContain("Chadi");
  });

  it("badges the icon with the count, 99+ past 99", () => {
    expect(badgeText(7)).toBe("7");
    expect(badgeText(100)).toBe("99+");
  });
});
