import { afterEach, describe, expect, it } from "vitest";
import { groupEventText } from "../src/components/group/events";
import { locale } from "../src/i18n";
import type { Envelope } from "../src/net/protocol";
import { bubbles } from "../src/state/projection";

const names: Record<string, string> = { ua: "Amira", ub: "Bassem", uc: "Chadi" };
const nameOf = (id: string) => names[id] ?? "?";

function text(content: Record<string, unknown>, system = true): string {
  const m: Envelope = {
    conversation_id: "g1", seq: 5, id: "s5", sender: { user_id: "ua", device_id: "" }, ts: 1796043542,
    content: { type: "system", actor: "ua", ...content } as Envelope["content"], ...(system ? { system: true as const } : {}),
  };
  const [b] = bubbles([m], [], "uz", {}, {});
  return groupEventText(b!, nameOf);
}

describe("group events as text (protocol 9.4)", () => {
  afterEach(() => {
    locale.value = "en";
  });

  it("says what changed, not only that something did", () => {
    expect(text({ event: "added", users: ["ub", "uc"] })).toBe("Amira added Bassem, Chadi");
    expect(text({ event: "settings_changed", only_admins_send: true })).toBe("Amira allowed only admins to send messages");
    expect(text({ event: "settings_changed", only_admins_send: false, approve_joins: true })).toBe(
      "Amira allowed all members to send messages · Amira turned on admin approval for people joining with a link",
    );
    expect(text({ event: "info_changed", subject: "Book club 2026" })).toBe("Amira changed the subject to “Book club 2026”");
    expect(text({ event: "info_changed", description: "" })).toBe("Amira removed the group description");
    expect(text({ event: "left", actor: "ua", users: ["ua"], new_owner: "ub" })).toBe("Amira left; Bassem is now the group owner");
    expect(text({ event: "joined", actor: "ub", users: ["uc"], via: "link", approved_by: "ub" })).toBe("Bassem approved Chadi to join");
    expect(text({ event: "joined", actor: "uc", users: ["uc"], via: "link" })).toBe("Chadi joined with an invite link");
    expect(text({ event: "joined", actor: "uc", users: ["uc"], via: "invitation", invited_by: "ua" })).toBe("Chadi accepted an invitation and joined");
  });

  it("reads an unknown event or a setting it does not know as a neutral update, and lists names in Arabic with ،", () => {
    expect(text({ event: "pinned" })).toBe("The group was updated");
    expect(text({ event: "settings_changed", slow_mode: true })).toBe("Amira changed the group settings");
    locale.value = "ar";
    expect(text({ event: "added", users: ["ub", "uc"] })).toBe("أضاف Amira Bassem، Chadi");
  });
});
