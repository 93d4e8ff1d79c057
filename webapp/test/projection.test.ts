import { describe, expect, it } from "vitest";
import type { Envelope } from "../src/net/protocol";
import { bubbles, tickFor, unreadCount, withDays } from "../src/state/projection";
import { envelope } from "./fakes";

const me = "uamira";
const mod = (seq: number, user: string, content: Record<string, unknown>): Envelope => ({
  ...envelope("c1", seq, user), content: content as Envelope["content"],
});

describe("ticks (protocol 7.2)", () => {
  const w = (user_id: string, delivered_seq: number, read_seq: number | null) => ({ user_id, delivered_seq, read_seq });
  it("goes one → two → blue with the other member's watermarks, ignoring my own", () => {
    expect(tickFor(3, me, { [me]: w(me, 9, 9) })).toBe("sent");
    expect(tickFor(3, me, { ub: w("ub", 3, 0) })).toBe("delivered");
    expect(tickFor(3, me, { ub: w("ub", 3, 3) })).toBe("read");
    expect(tickFor(3, me, { ub: w("ub", 2, null) })).toBe("sent");
    expect(tickFor(3, me, { ub: w("ub", 9, null) })).toBe("delivered"); // null read_seq: unknown, not unread
  });
  it("shows the outbox as a clock", () => {
    const b = bubbles([], [{ id: "o1", conversation_id: "c1", to: null, content: { type: "text", text: "hi" }, created_at: 5000 }], me, {});
    expect(b[0]).toMatchObject({ tick: "queued", seq: null, text: "hi", mine: true });
  });
});

describe("modifiers (protocol 5.3)", () => {
  it("applies edits and deletes by the author only, and reactions by anyone", () => {
    const list = [
      envelope("c1", 1, "ub", "hello"),
      mod(2, "ub", { type: "edit", target: 1, text: "hello!" }),
      mod(3, "uevil", { type: "edit", target: 1, text: "pwned" }),
      mod(4, "uevil", { type: "delete", target: 1 }),
      mod(5, me, { type: "reaction", target: 1, emoji: "👍" }),
      mod(6, "ub", { type: "reaction", target: 1, emoji: "👍" }),
      envelope("c1", 7, me, "second"),
      mod(8, me, { type: "delete", target: 7 }),
      mod(9, me, { type: "edit", target: 7, text: "too late" }),
    ];
    const b = bubbles(list, [], me, {});
    expect(b).toHaveLength(2);
    expect(b[0]).toMatchObject({ text: "hello!", edited: true, deleted: false, reactions: [{ emoji: "👍", count: 2 }] });
    expect(b[1]).toMatchObject({ deleted: true, text: null });
    expect(unreadCount(list, me, 0)).toBe(1); // only message 1: not modifiers, not mine
  });
  it("quotes the message a reply answers, as it reads now, and hides queued modifiers", () => {
    const list = [envelope("c1", 1, "ub", "question"), { ...envelope("c1", 2, me), content: { type: "text", text: "answer", reply_to: 1 } },
      mod(3, "ub", { type: "edit", target: 1, text: "question?" })];
    const queued = [{ id: "r", conversation_id: "c1", to: null, content: { type: "reaction", target: 1, emoji: "👍" }, created_at: 1 }];
    const b = bubbles(list, queued, me, {});
    expect(b).toHaveLength(2);
    expect(b[1]!.replyTo).toEqual({ seq: 1, senderId: "ub", text: "question?" });
  });
  it("shows content it does not know as unsupported, never as markup", () => {
    const b = bubbles([{ ...envelope("c1", 1), content: "ciphertext" }, mod(2, "ub", { type: "poll" })], [], me, {});
    expect(b.map((x) => x.unsupported)).toEqual([true, true]);
  });
});

describe("unread counts (3.13) and days", () => {
  it("counts others' messages after my read_seq", () => {
    const list = [envelope("c1", 1), envelope("c1", 2, me), envelope("c1", 3), envelope("c1", 4)];
    expect(unreadCount(list, me, 0)).toBe(3);
    expect(unreadCount(list, me, 3)).toBe(1);
  });
  it("puts a separator before the first message of each day", () => {
    const day = 86400;
    const list = [envelope("c1", 1), envelope("c1", 2), { ...envelope("c1", 3), ts: envelope("c1", 3).ts + day }];
    expect(withDays(bubbles(list, [], me, {})).map((r) => r.kind)).toEqual(["day", "bubble", "bubble", "day", "bubble"]);
  });
});
