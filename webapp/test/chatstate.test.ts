import { describe, expect, it } from "vitest";
import { ApiError, type Api } from "../src/net/api";
import type { ConversationInfo } from "../src/net/protocol";
import { ChatStore } from "../src/state/chats";
import { compareRows, isMuted, muteUntil } from "../src/state/chatstate";
import { envelope, MemoryStore } from "./fakes";

const me = "uamira";
const info = (id: string, other: string, extra: Partial<ConversationInfo> = {}): ConversationInfo => ({
  conversation_id: id, kind: "direct", subject: null, last_seq: 1,
  members: [{ user_id: me, phone: null, display_name: "Amira" }, { user_id: other, phone: null, display_name: other }],
  last_message: null, receipts: [], ...extra,
});

function setup(infos: ConversationInfo[], answer?: (id: string, patch: Record<string, unknown>) => unknown) {
  const calls: [string, unknown][] = [];
  const api = {
    chatState: async (id: string, patch: Record<string, unknown>) => {
      calls.push([id, patch]);
      return answer ? answer(id, patch) : { conversation_id: id, pinned: false, pinned_at: null, archived: false, muted_until: null, ...patch };
    },
  } as unknown as Api;
  const store = new MemoryStore();
  const chats = new ChatStore({ me, api, store, now: () => 1_000_000_000 });
  chats.hydrate(infos, infos.map((i, n) => ({ ...envelope(i.conversation_id, 1), ts: 100 + n })), [], []);
  return { chats, calls, store };
}

describe("chat state", () => {
  it("a refresh asked before a change and answered after it does not undo the change", async () => {
    let answer: (v: ConversationInfo[]) => void = () => undefined;
    const stale = [info("c1", "u1"), info("c2", "u2")];
    const api = {
      conversations: () => new Promise<ConversationInfo[]>((resolve) => (answer = resolve)),
      contacts: async () => [],
      blocks: async () => [],
    } as unknown as Api;
    const chats = new ChatStore({ me, api, store: new MemoryStore(), now: () => 1_000_000_000 });
    chats.hydrate(stale, stale.map((i, n) => ({ ...envelope(i.conversation_id, 1), ts: 100 + n })), [], []);
    const refreshing = chats.refresh(); // asked now: the server's list says nothing is pinned
    chats.chatState({ type: "chat_state", conversation_id: "c1", pinned: true, pinned_at: 500, archived: false, muted_until: null });
    answer(stale.map((i) => ({ ...i, subject: "fresh" })));
    await refreshing;
    expect(chats.rows.value.map((r) => [r.id, r.pinnedAt])).toEqual([["c1", 500], ["c2", null]]);
    expect(chats.chats.value.get("c1")!.info.value.subject).toBe("fresh"); // the rest of the answer is taken
    // A refresh asked after the change takes the server's word again.
    const again = chats.refresh();
    answer(stale);
    await again;
    expect(chats.rows.value[0]!.pinnedAt).toBeNull();
  });

  it("lists pinned chats first, most recently pinned on top, then by the newest message", () => {
    const { chats } = setup([
      info("c1", "u1"), info("c2", "u2", { pinned: true, pinned_at: 50 }), info("c3", "u3"),
      info("c4", "u4", { pinned: true, pinned_at: 60 }),
    ]);
    expect(chats.rows.value.map((r) => r.id)).toEqual(["c4", "c2", "c3", "c1"]);
    expect(compareRows({ pinnedAt: null, ts: 5 }, { pinnedAt: 1, ts: 1 })).toBeGreaterThan(0);
  });

  it("keeps chats whose last messages share a second in one order, however they were loaded", () => {
    const rows = ["c3", "c1", "c2"].map((id) => ({ id, pinnedAt: null, ts: 7 }));
    const sorted = (list: typeof rows) => [...list].sort(compareRows).map((r) => r.id);
    expect(sorted(rows)).toEqual(["c1", "c2", "c3"]);
    expect(sorted([...rows].reverse())).toEqual(["c1", "c2", "c3"]);
  });

  it("keeps archived chats out of the list and in the archive, with their count", () => {
    const { chats } = setup([info("c1", "u1"), info("c2", "u2", { archived: true })]);
    expect(chats.rows.value.map((r) => r.id)).toEqual(["c1"]);
    expect(chats.archived.value).toEqual({ chats: 1, unread: 1 });
    chats.showArchived.value = true;
    expect(chats.rows.value.map((r) => r.id)).toEqual(["c2"]);
  });

  it("a change goes to the server and shows at once; a frame from another device shows too", async () => {
    const { chats, calls, store } = setup([info("c1", "u1"), info("c2", "u2")]);
    expect(await chats.setChatState("c1", { archived: true })).toBeNull();
    expect(calls).toEqual([["c1", { archived: true }]]);
    expect(chats.rows.value.map((r) => r.id)).toEqual(["c2"]);
    chats.chatState({ type: "chat_state", conversation_id: "c2", pinned: false, pinned_at: null, archived: false, muted_until: "always" });
    expect(chats.rows.value[0]!.muted).toBe(true);
    await new Promise((r) => setTimeout(r, 0));
    const saved = (await store.load()).conversations.find((c) => c.conversation_id === "c2");
    expect(saved?.muted_until).toBe("always"); // kept for the next start
  });

  it("says pin_limit when three chats are pinned already, and changes nothing", async () => {
    const { chats } = setup([info("c1", "u1")], () => {
      throw new ApiError(409, "pin_limit", "at most 3");
    });
    expect(await chats.setChatState("c1", { pinned: true })).toBe("pin_limit");
    expect(chats.rows.value[0]!.pinnedAt).toBeNull();
  });

  it("mutes for 8 hours, a week or always; a mute that ran out is no mute", () => {
    const now = 1_700_000_000_000;
    expect(muteUntil("8h", now)).toBe(1_700_000_000 + 8 * 3600);
    expect(muteUntil("1w", now)).toBe(1_700_000_000 + 7 * 86400);
    expect(muteUntil("always", now)).toBe("always");
    expect(isMuted(info("c", "u", { muted_until: 1_700_000_001 }), now)).toBe(true);
    expect(isMuted(info("c", "u", { muted_until: 1_699_999_999 }), now)).toBe(false);
    expect(isMuted(info("c", "u", { muted_until: null }), now)).toBe(false);
    expect(isMuted(info("c", "u", { muted_until: "always" }), now)).toBe(true);
  });
});
