import { describe, expect, it } from "vitest";
import type { Api } from "../src/net/api";
import type { ConversationInfo, Envelope } from "../src/net/protocol";
import { ChatStore } from "../src/state/chats";
import { targetLimit } from "../src/state/forward";
import { envelope, MemoryStore } from "./fakes";

const me = "uamira";
const info = (id: string, other: string): ConversationInfo => ({
  conversation_id: id, kind: "direct", subject: null, last_seq: 1,
  members: [{ user_id: me, phone: null, display_name: "" }, { user_id: other, phone: null, display_name: other }],
  last_message: null, receipts: [],
});

function setup(online = true) {
  const frames: [string, Envelope, unknown[]][] = [];
  const chats = new ChatStore({ me, api: {} as Api, store: new MemoryStore(), newId: () => "x1" });
  chats.sender = {
    send: async () => undefined, read: () => undefined, typing: () => undefined, watchPresence: () => undefined,
    forward: (id, source, targets) => {
      frames.push([id, source, targets]);
      return online;
    },
  };
  const ids = ["c1", "c2", "c3", "c4", "c5", "c6", "c7"];
  chats.hydrate(ids.map((c, i) => info(c, `u${i}`)), [envelope("c1", 1), { ...envelope("c1", 2), forward_count: 7 }], [], []);
  return { chats, frames };
}

describe("forward", () => {
  it("sends one forward frame with the source and each target, once each", () => {
    const { chats, frames } = setup();
    expect(chats.forward("c1", 1, ["c2", "c3", "c2"])).toBe("sent");
    expect(frames).toHaveLength(1);
    const [id, source, targets] = frames[0]!;
    expect(id).toBe("fw-x1");
    expect(source.seq).toBe(1);
    expect(targets).toEqual([{ conversation_id: "c2" }, { conversation_id: "c3" }]);
  });

  it("allows at most five chats, and one for a message forwarded many times", () => {
    const { chats, frames } = setup();
    expect(chats.forward("c1", 1, ["c2", "c3", "c4", "c5", "c6", "c7"])).toBe("too_many");
    expect(chats.forward("c1", 1, ["c2", "c3", "c4", "c5", "c6"])).toBe("sent");
    expect(chats.forward("c1", 2, ["c2", "c3"])).toBe("many_times_one_chat");
    expect(chats.forward("c1", 2, ["c2"])).toBe("sent");
    expect(targetLimit({ forward_count: 4 })).toBe(5);
    expect(targetLimit({ forward_count: 5 })).toBe(1);
    expect(chats.forward("c1", 99, ["c2"])).toBe("not_found");
    expect(frames).toHaveLength(2);
  });

  it("says offline when the socket is not ready, so the user can try again", () => {
    const { chats } = setup(false);
    expect(chats.forward("c1", 1, ["c2"])).toBe("offline");
  });
});
