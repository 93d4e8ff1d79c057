// ConversationRows (state/projection.ts) keeps the rows of an open chat between messages; whatever arrives, it
// must show exactly what computing everything again shows.
import { describe, expect, it } from "vitest";
import type { OutboxEntry } from "../src/net/db";
import type { Envelope, Watermark } from "../src/net/protocol";
import { bubbles, ConversationRows, unreadCount, withDays } from "../src/state/projection";
import { envelope } from "./fakes";

const me = "uamira";
const other = "ubassem";

function random(seed: number): () => number {
  let x = seed;
  return () => {
    x = (x * 1103515245 + 12345) % 2147483648;
    return x / 2147483648;
  };
}

describe("ConversationRows", () => {
  it("equals withDays(bubbles(...)) after every step of random histories", () => {
    for (let seed = 1; seed <= 30; seed++) {
      const rnd = random(seed);
      const memo = new ConversationRows();
      let messages: Envelope[] = [];
      let outbox: OutboxEntry[] = [];
      let receipts: Record<string, Watermark> = {};
      let seq = 0;
      let ts = 1764590000;
      for (let step = 0; step < 60; step++) {
        const r = rnd();
        const from = rnd() < 0.5 ? me : other;
        ts += rnd() < 0.1 ? 86400 : 60;
        if (r < 0.45) {
          seq++;
          const content: Envelope["content"] =
            rnd() < 0.2 && seq > 1 ? { type: "text", text: `re ${seq}`, reply_to: 1 + Math.floor(rnd() * (seq - 1)) } : { type: "text", text: `m${seq}` };
          messages = [...messages, { ...envelope("c1", seq, from), ts, content }];
        } else if (r < 0.6 && seq > 0) {
          seq++;
          const target = 1 + Math.floor(rnd() * (seq - 1));
          const kind = ["edit", "delete", "reaction"][Math.floor(rnd() * 3)]!;
          const content = kind === "reaction" ? { type: kind, target, emoji: "👍" } : kind === "edit" ? { type: kind, target, text: `edited ${seq}` } : { type: kind, target };
          messages = [...messages, { ...envelope("c1", seq, from), ts, content: content as Envelope["content"] }];
        } else if (r < 0.7) {
          outbox = [...outbox, { id: `o${step}`, conversation_id: "c1", to: null, content: { type: "text", text: `out ${step}` }, created_at: ts * 1000 }];
        } else if (r < 0.78 && outbox.length) {
          outbox = outbox.slice(1);
        } else if (r < 0.88) {
          // a watermark: the other member's (moves ticks) or mine (moves nothing here)
          const who = rnd() < 0.5 ? other : me;
          receipts = { ...receipts, [who]: { user_id: who, delivered_seq: seq, read_seq: rnd() < 0.5 ? seq : null } };
        } else if (messages.length > 2) {
          // older history paged in: the first messages arrive later
          const cut = 1 + Math.floor(rnd() * (messages.length - 1));
          const older = messages.slice(0, cut);
          const newer = messages.slice(cut);
          const step1 = withDays(bubbles(newer, outbox, me, receipts));
          expect(memo.rows(newer, outbox, me, receipts)).toEqual(step1);
          messages = [...older, ...newer];
        }
        expect(memo.rows(messages, outbox, me, receipts)).toEqual(withDays(bubbles(messages, outbox, me, receipts)));
      }
    }
  });

  it("does not rebuild the bubbles already shown when a plain message arrives", () => {
    const memo = new ConversationRows();
    const first = [envelope("c1", 1, other), envelope("c1", 2, me)];
    const a = memo.rows(first, [], me, {});
    const b = memo.rows([...first, envelope("c1", 3, other)], [], me, { [me]: { user_id: me, delivered_seq: 3, read_seq: 3 } });
    expect(b.length).toBe(a.length + 1);
    expect(b.slice(0, a.length)).toEqual(a);
    expect(b[1]).toBe(a[1]); // the same row objects: nothing recomputed
    // a modifier changes an earlier bubble: computed again
    const c = memo.rows([...first, envelope("c1", 3, other), { ...envelope("c1", 4, me), content: { type: "delete", target: 2 } }], [], me, {});
    expect(c.find((r) => r.kind === "bubble" && r.bubble.seq === 2)).toMatchObject({ bubble: { deleted: true } });
  });
});

describe("unreadCount", () => {
  it("counts back from the newest to my read watermark", () => {
    const list = [1, 2, 3, 4, 5].map((s) => envelope("c1", s, s === 4 ? me : other));
    expect(unreadCount(list, me, 0)).toBe(4);
    expect(unreadCount(list, me, 2)).toBe(2);
    expect(unreadCount(list, me, 5)).toBe(0);
  });
});
