import { describe, expect, it } from "vitest";
import { ApiError, type Api, type GroupView, type Invitation, type Me } from "../src/net/api";
import type { ConversationInfo, Envelope } from "../src/net/protocol";
import { ChatStore } from "../src/state/chats";
import { GroupsModel, joinUrl, parseJoinCode } from "../src/state/groups";
import { PrivacyModel } from "../src/state/privacy";
import { envelope, flush, MemoryStore } from "./fakes";

const me = "uamira";

const groupInfo = (id: string): ConversationInfo => ({
  conversation_id: id, kind: "group", subject: "Book club", last_seq: 1,
  members: [{ user_id: me, phone: null, display_name: "Amira" }, { user_id: "ubassem", phone: null, display_name: "Bassem" }],
  last_message: null, receipts: [],
});
const directInfo = (id: string): ConversationInfo => ({
  conversation_id: id, kind: "direct", subject: null, last_seq: 0,
  members: [{ user_id: me, phone: null, display_name: "Amira" }, { user_id: "udave", phone: "+201000000004", display_name: "Dave" }],
  last_message: null, receipts: [],
});

const system = (conversation_id: string, seq: number, content: Record<string, unknown>): Envelope => ({
  conversation_id, seq, id: `s${seq}`, sender: { user_id: String(content.actor ?? ""), device_id: "" }, ts: 1796043542 + seq,
  content: { type: "system", ...content } as Envelope["content"], system: true,
});

/** A fake server for the group endpoints: one group g1 where I am a member; every call is recorded. */
function setup() {
  const calls: [string, ...unknown[]][] = [];
  const view: GroupView = {
    conversation_id: "g1", subject: "Book club", description: "", created_by: "ubassem",
    settings: { only_admins_send: true, only_admins_edit: false, approve_joins: false },
    members: [{ user_id: "ubassem", role: "owner", display_name: "Bassem" }, { user_id: me, role: "member", display_name: "Amira" }],
  };
  let member = true;
  let invitations: Invitation[] = [];
  let conversations: ConversationInfo[] = [groupInfo("g1"), directInfo("d1")];
  let privacy: Me = { user_id: me, phone: "+201000000001", display_name: "Amira", about: "", last_seen: "contacts", read_receipts: true };
  const api = {
    conversations: async () => conversations,
    contacts: async () => [],
    blocks: async () => ["udave"],
    group: async (id: string) => {
      calls.push(["group", id]);
      if (!member) throw new ApiError(403, "not_member", "not a member");
      return structuredClone(view);
    },
    inviteLinks: async (id: string) => (calls.push(["links", id]), []),
    createInviteLink: async (id: string, opts: unknown) => (calls.push(["createLink", id, opts]), { code: "k1", conversation_id: id, expires_at: null, max_uses: null, uses: 0 }),
    revokeInviteLink: async (id: string, code: string) => void calls.push(["revokeLink", id, code]),
    joinRequests: async (id: string) => (calls.push(["requests", id]), [{ user_id: "uzed", created_at: 1 }]),
    user: async (id: string) => ({ user_id: id, phone: null, display_name: ({ uzed: "Zed", ubassem: "Bassem" } as Record<string, string>)[id] ?? "", about: "" }),
    answerJoinRequest: async (id: string, user: string, approve: boolean) => void calls.push(["answer", id, user, approve]),
    createGroup: async (subject: string, description: string, members: string[]) => {
      calls.push(["create", subject, description, members]);
      return { conversation_id: "g2", added: [members[0]], invited: members.slice(1) };
    },
    joinGroup: async (code: string) => {
      calls.push(["join", code]);
      return { conversation_id: "g3", status: code === "ask" ? "requested" : "joined" };
    },
    invitations: async () => (calls.push(["invitations"]), invitations),
    answerInvitation: async (id: string, accept: boolean) => {
      calls.push(["answerInvitation", id, accept]);
      invitations = invitations.filter((i) => i.invitation_id !== id);
      if (accept) conversations = [...conversations, groupInfo("g9")];
      return accept ? { conversation_id: "g9" } : undefined;
    },
    leaveGroup: async (id: string, report: boolean) => void calls.push(["leave", id, report]),
    report: async (r: unknown) => (calls.push(["report", r]), { report_id: "r1" }),
    block: async (u: string) => void calls.push(["block", u]),
    unblock: async (u: string) => void calls.push(["unblock", u]),
    me: async () => privacy,
    updatePrivacy: async (change: Record<string, unknown>) => {
      calls.push(["privacy", change]);
      privacy = { ...privacy, ...change } as Me;
      return privacy;
    },
  } as unknown as Api;
  const chats = new ChatStore({ me, api, store: new MemoryStore() });
  chats.hydrate([groupInfo("g1"), directInfo("d1")], [system("g1", 1, { event: "created", actor: "ubassem", subject: "Book club" })], [], []);
  const groups = new GroupsModel(api, chats);
  const stop = groups.start();
  return {
    api, chats, groups, calls, view, stop,
    setMember: (m: boolean) => (member = m),
    setInvitations: (list: Invitation[]) => (invitations = list),
  };
}

const invitation: Invitation = {
  invitation_id: "i1", conversation_id: "g9", subject: "Secret club", inviter_id: "ubassem", created_at: 1, expires_at: 2,
};

describe("parseJoinCode", () => {
  it("takes the code from a link, a hash link or the bare code, and nothing else", () => {
    expect(parseJoinCode("https://chat.example/join/sk4ppn5k977hfdcp14tt645ap5")).toBe("sk4ppn5k977hfdcp14tt645ap5");
    expect(parseJoinCode("  http://127.0.0.1:8080/join/abc123/  ")).toBe("abc123");
    expect(parseJoinCode("https://x.example/#join=abc")).toBe("abc");
    expect(parseJoinCode("abc_DEF-9")).toBe("abc_DEF-9");
    expect(parseJoinCode("")).toBeNull();
    expect(parseJoinCode("two words")).toBeNull();
    expect(parseJoinCode("https://x.example/other/abc")).toBeNull();
    expect(parseJoinCode("x".repeat(65))).toBeNull();
    expect(joinUrl("https://h.example", "abc")).toBe("https://h.example/join/abc");
  });
});

describe("GroupsModel", () => {
  it("replaces sending by a notice for a member in announcement mode, until a group event makes me an admin", async () => {
    const { chats, groups, view, calls } = setup();
    expect(groups.canSend("g1")).toBe("yes"); // unknown yet: the server decides
    chats.open("g1");
    await flush();
    expect(calls.filter((c) => c[0] === "group")).toHaveLength(1);
    expect(groups.roleOf("g1")).toBe("member");
    expect(groups.canSend("g1")).toBe("admins_only");
    expect(groups.canEditInfo("g1")).toBe(true);

    // The server says I was promoted: the open group's info is loaded again.
    view.members[1]!.role = "admin";
    chats.messages([system("g1", 2, { event: "promoted", actor: "ubassem", users: [me] })]);
    await flush();
    expect(calls.filter((c) => c[0] === "group")).toHaveLength(2);
    expect(groups.isAdmin("g1")).toBe(true);
    expect(groups.canSend("g1")).toBe("yes");

    // An ordinary message does not reload anything.
    chats.messages([envelope("g1", 3, "ubassem", "hello")]);
    await flush();
    expect(calls.filter((c) => c[0] === "group")).toHaveLength(2);
  });

  it("shows a group I left or was removed from as no longer mine", async () => {
    const { chats, groups, setMember } = setup();
    chats.open("g1");
    await flush();
    setMember(false);
    chats.messages([system("g1", 2, { event: "removed", actor: "ubassem", users: [me] })]);
    await flush();
    expect(groups.viewOf("g1").value).toBe("gone");
    expect(groups.canSend("g1")).toBe("not_member");
  });

  it("loads invitations when the inbox gets a message; the inbox is no chat row; accepting opens the group", async () => {
    const { chats, groups, calls, setInvitations } = setup();
    await flush();
    const before = calls.filter((c) => c[0] === "invitations").length;
    const unread = chats.totalUnread.value;
    setInvitations([invitation]);
    chats.messages([{ ...system("inbox1", 1, { event: "invitation", actor: "ubassem", invitation_id: "i1", conversation_id: "g9", subject: "Secret club" }) }]);
    await flush();
    expect(calls.filter((c) => c[0] === "invitations").length).toBe(before + 1);
    expect(groups.invitations.value.map((i) => i.subject)).toEqual(["Secret club"]);
    expect(groups.personName("ubassem")).toBe("Bassem"); // not my contact: from GET /v1/users/{id}
    expect(chats.chats.value.get("inbox1")?.info.value.kind).toBe("inbox");
    expect(chats.rows.value.map((r) => r.id)).not.toContain("inbox1");
    expect(chats.totalUnread.value).toBe(unread); // the page title does not count a chat nobody opens

    await groups.accept(invitation);
    expect(calls).toContainEqual(["answerInvitation", "i1", true]);
    expect(groups.invitations.value).toEqual([]);
    expect(chats.openId.value).toBe("g9");
    expect(chats.chats.value.get("g9")?.info.value.kind).toBe("group");
  });

  it("declines without opening anything", async () => {
    const { chats, groups, calls, setInvitations } = setup();
    setInvitations([invitation]);
    await groups.loadInvitations();
    await groups.decline(invitation);
    expect(calls).toContainEqual(["answerInvitation", "i1", false]);
    expect(groups.invitations.value).toEqual([]);
    expect(chats.openId.value).toBeNull();
  });

  it("creates a group and reports who was added and who was invited", async () => {
    const { groups, calls } = setup();
    const r = await groups.create("  Trip  ", "", ["ubassem", "uchadi"]);
    expect(calls).toContainEqual(["create", "Trip", "", ["ubassem", "uchadi"]]);
    expect(r).toEqual({ id: "g2", added: ["ubassem"], invited: ["uchadi"] });
  });

  it("joins with a link (opening the group) or files a request; rejects what is not a link without a call", async () => {
    const { chats, groups, calls } = setup();
    expect(await groups.join("not a link")).toEqual({ status: "invalid" });
    expect(calls.some((c) => c[0] === "join")).toBe(false);
    expect(await groups.join("http://h.example/join/ask")).toEqual({ status: "requested", id: "g3" });
    expect(chats.openId.value).toBeNull();
    expect(await groups.join("http://h.example/join/abc")).toEqual({ status: "joined", id: "g3" });
    expect(calls.filter((c) => c[0] === "join").map((c) => c[1])).toEqual(["ask", "abc"]);
    expect(chats.openId.value).toBe("g3");
  });

  it("loads links and requests only for admins, with requesters' names; answering removes the request", async () => {
    const { chats, groups, calls, view } = setup();
    chats.open("g1");
    await flush();
    await groups.loadAdmin("g1");
    expect(calls.some((c) => c[0] === "links" || c[0] === "requests")).toBe(false);
    view.members[1]!.role = "admin";
    await groups.load("g1");
    await groups.loadAdmin("g1");
    expect(groups.requests.value.map((r) => r.user_id)).toEqual(["uzed"]);
    expect(groups.memberName("g1", "uzed")).toBe("Zed");
    await groups.createLink("g1", { expires_in: 86400, max_uses: 10 });
    expect(calls).toContainEqual(["createLink", "g1", { expires_in: 86400, max_uses: 10 }]);
    expect(groups.links.value.map((l) => l.code)).toEqual(["k1"]);
    await groups.revokeLink("g1", "k1");
    expect(groups.links.value).toEqual([]);
    await groups.answerRequest("g1", "uzed", false);
    expect(calls).toContainEqual(["answer", "g1", "uzed", false]);
    expect(groups.requests.value).toEqual([]);
  });

  it("leaves with a report, and reports a group without naming anyone", async () => {
    const { chats, groups, calls } = setup();
    groups.infoOpen.value = "g1";
    await groups.leave("g1", true);
    expect(calls).toContainEqual(["leave", "g1", true]);
    expect(groups.viewOf("g1").value).toBe("gone");
    expect(groups.infoOpen.value).toBeNull();
    await groups.report(chats.chats.value.get("g1")!, false);
    expect(calls).toContainEqual(["report", { conversation_id: "g1" }]);
  });

  it("reports a direct chat's other member with their messages as evidence, blocking only when asked", async () => {
    const { chats, groups, calls } = setup();
    chats.messages([envelope("d1", 1, "udave", "pay me"), envelope("d1", 2, me, "no"), envelope("d1", 3, "udave", "now")]);
    const d1 = chats.chats.value.get("d1")!;
    await groups.report(d1, false);
    expect(calls).toContainEqual(["report", { user_id: "udave", conversation_id: "d1", messages: [1, 3] }]);
    expect(chats.isBlocked("udave")).toBe(false);
    await groups.report(d1, true);
    expect(calls).toContainEqual(["report", { user_id: "udave", conversation_id: "d1", messages: [1, 3], block: true }]);
    expect(chats.isBlocked("udave")).toBe(true);
  });
});

describe("PrivacyModel", () => {
  it("loads my settings and the blocked list, changes one setting, unblocks", async () => {
    const { api, chats, calls } = setup();
    const privacy = new PrivacyModel(api, chats);
    await privacy.load();
    expect(privacy.me.value?.last_seen).toBe("contacts");
    expect([...chats.blocked.value]).toEqual(["udave"]);
    await privacy.set({ last_seen: "nobody" });
    expect(calls).toContainEqual(["privacy", { last_seen: "nobody" }]);
    expect(privacy.me.value?.last_seen).toBe("nobody");
    await privacy.unblock("udave");
    expect(calls).toContainEqual(["unblock", "udave"]);
    expect(chats.blocked.value.size).toBe(0);
  });
});
