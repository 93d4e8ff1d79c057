// Group events (protocol 9.4) as one line of text, with what each event carries: the new subject, which setting
// changed and how, who inherited the group, how someone joined. Unknown events and fields read as
// "The group was updated" (section 5.2: treat what you do not know like unknown content).
import { type Key, locale, t } from "../../i18n";
import type { Bubble } from "../../state/projection";

const BASIC = new Set(["created", "added", "removed", "promoted", "demoted"]);
const SETTINGS = ["only_admins_send", "only_admins_edit", "approve_joins"] as const;

export function groupEventText(b: Bubble, nameOf: (id: string) => string): string {
  const e = b.event;
  if (!e) return t("system.unknown");
  const x = e.extra ?? {};
  const list = (ids: string[]) => ids.map(nameOf).join(locale.value === "ar" ? "، " : ", ");
  const p = { actor: nameOf(e.actor), users: list(e.users), subject: e.subject ?? "" };
  if (BASIC.has(e.name)) return t(`system.${e.name}` as Key, p);
  switch (e.name) {
    case "left":
      return typeof x.new_owner === "string" ? t("event.leftOwner", { ...p, owner: nameOf(x.new_owner) }) : t("system.left", p);
    case "info_changed":
      if (typeof x.subject === "string") return t("event.subject", p);
      if (typeof x.description === "string") return t(x.description ? "event.description" : "event.descriptionCleared", p);
      return t("system.info_changed", p);
    case "settings_changed": {
      const parts = SETTINGS.filter((k) => typeof x[k] === "boolean").map((k) => t(`event.${k}.${x[k] ? "on" : "off"}` as Key, p));
      return parts.length ? parts.join(" · ") : t("system.settings_changed", p);
    }
    case "joined":
      if (typeof x.approved_by === "string") return t("event.joinedApproved", { ...p, admin: nameOf(x.approved_by) });
      if (x.via === "link") return t("event.joinedLink", p);
      if (x.via === "invitation") return t("event.joinedInvitation", p);
      return t("system.joined", p);
    default:
      return t("system.unknown");
  }
}
