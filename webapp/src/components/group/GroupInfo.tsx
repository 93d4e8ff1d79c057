// The group info panel (protocol 3.15-3.16, 9.1): subject and description (editable as `only_admins_edit`
// allows), settings (admins), members with their roles and the admin actions, invite links with a QR code,
// join requests, and leaving (also with a report, 9.8).
import { useEffect, useState } from "preact/hooks";
import { formatNumber, formatShortDate, t } from "../../i18n";
import type { GroupSettings, GroupView, InviteLink } from "../../net/api";
import type { ChatStore } from "../../state/chats";
import { type GroupsModel, joinUrl } from "../../state/groups";
import { Qr } from "../Qr";
import { AddOutcome } from "./NewGroup";
import { PeoplePicker } from "./PeoplePicker";
import { Alert } from "../Alert";
import { useAction } from "./useAction";

export function GroupInfo({ groups, chats, id, onClose }: { groups: GroupsModel; chats: ChatStore; id: string; onClose: () => void }) {
  const state = groups.viewOf(id).value;
  const admin = groups.isAdmin(id);
  useEffect(() => {
    void groups.load(id).then(() => groups.loadAdmin(id)).catch(() => undefined);
  }, [id, admin]);
  return (
    <section class="panel group-info" aria-labelledby="group-info-title">
      <div class="panel-head">
        <h2 id="group-info-title">{t("info.title")}</h2>
        <button type="button" onClick={onClose}>
          {t("info.close")}
        </button>
      </div>
      {state === null ? (
        <p class="hint">{t("info.loading")}</p>
      ) : state === "gone" ? (
        <p class="notice">{t("info.notMember")}</p>
      ) : (
        <>
          <About groups={groups} view={state} />
          <Settings groups={groups} view={state} admin={admin} />
          <Members groups={groups} chats={chats} view={state} admin={admin} />
          {admin && <AddMembers groups={groups} chats={chats} view={state} />}
          {admin && <Links groups={groups} id={id} />}
          {admin && <Requests groups={groups} id={id} />}
          <Leave groups={groups} id={id} onLeft={onClose} />
        </>
      )}
    </section>
  );
}

function About({ groups, view }: { groups: GroupsModel; view: GroupView }) {
  const id = view.conversation_id;
  const [subject, setSubject] = useState(view.subject);
  const [description, setDescription] = useState(view.description);
  const [saved, setSaved] = useState(false);
  const { busy, problem, run } = useAction();
  useEffect(() => {
    setSubject(view.subject);
    setDescription(view.description);
  }, [view.subject, view.description]);
  if (!groups.canEditInfo(id)) {
    return (
      <div class="group-about">
        <h3 dir="auto">{view.subject}</h3>
        {view.description && <p dir="auto">{view.description}</p>}
        <p class="hint">{t("info.onlyAdminsEditHint")}</p>
      </div>
    );
  }
  return (
    <form
      class="group-about"
      onSubmit={(e) => {
        e.preventDefault();
        setSaved(false);
        // Only what changed: the info_changed event carries the fields sent (protocol 9.4), and says so.
        const change: { subject?: string; description?: string } = {};
        if (subject.trim() !== view.subject) change.subject = subject.trim();
        if (description.trim() !== view.description) change.description = description.trim();
        void run(async () => {
          if (change.subject !== undefined || change.description !== undefined) await groups.saveInfo(id, change);
          setSaved(true);
        });
      }}
    >
      <label for="info-subject">{t("group.subject")}</label>
      <input id="info-subject" dir="auto" maxLength={100} required value={subject} onInput={(e) => setSubject(e.currentTarget.value)} />
      <label for="info-description">{t("group.description")}</label>
      <textarea id="info-description" dir="auto" maxLength={512} rows={2} value={description} onInput={(e) => setDescription(e.currentTarget.value)} />
      <div class="row">
        <button type="submit" disabled={busy}>
          {t("settings.save")}
        </button>
      </div>
      {saved && <p role="status">{t("settings.saved")}</p>}
      <Alert text={problem} />
    </form>
  );
}

const SETTINGS: { key: keyof GroupSettings; label: "info.onlyAdminsSend" | "info.onlyAdminsEdit" | "info.approveJoins" }[] = [
  { key: "only_admins_send", label: "info.onlyAdminsSend" },
  { key: "only_admins_edit", label: "info.onlyAdminsEdit" },
  { key: "approve_joins", label: "info.approveJoins" },
];

function Settings({ groups, view, admin }: { groups: GroupsModel; view: GroupView; admin: boolean }) {
  const { busy, problem, run } = useAction();
  // Shown at once; the server's answer (the group reloaded) replaces it, or the error puts it back.
  const [pending, setPending] = useState<Partial<GroupSettings>>({});
  return (
    <fieldset class="group-settings">
      <legend>{t("info.settings")}</legend>
      {SETTINGS.map((s) => (
        <label key={s.key}>
          <input
            type="checkbox"
            name={s.key}
            checked={pending[s.key] ?? view.settings[s.key]}
            disabled={!admin || busy}
            onChange={(e) => {
              const on = e.currentTarget.checked;
              setPending((p) => ({ ...p, [s.key]: on }));
              void run(() => groups.setSetting(view.conversation_id, { [s.key]: on })).then(() =>
                setPending((p) => {
                  const { [s.key]: _, ...rest } = p;
                  return rest;
                }),
              );
            }}
          />
          {t(s.label)}
        </label>
      ))}
      {!admin && <p class="hint">{t("info.settingsAdminsOnly")}</p>}
      <Alert text={problem} />
    </fieldset>
  );
}

function Members({ groups, chats, view, admin }: { groups: GroupsModel; chats: ChatStore; view: GroupView; admin: boolean }) {
  const id = view.conversation_id;
  const { busy, problem, run } = useAction();
  const [removing, setRemoving] = useState<string | null>(null);
  return (
    <section aria-labelledby="members-title">
      <h3 id="members-title">{t("info.members", { count: formatNumber(view.members.length) })}</h3>
      <ul class="members">
        {view.members.map((m) => {
          const me = m.user_id === chats.userId;
          const name = me ? t("chats.you") : groups.memberName(id, m.user_id) || t("chats.unknown");
          return (
            <li key={m.user_id} data-member={m.user_id} data-role={m.role}>
              <span class="member-name" dir="auto">
                {name}
              </span>
              {m.role !== "member" && <span class={`badge ${m.role}`}>{t(m.role === "owner" ? "info.owner" : "info.admin")}</span>}
              {admin && !me && m.role !== "owner" && (
                <span class="row member-actions">
                  <button
                    type="button"
                    disabled={busy}
                    aria-label={t(m.role === "admin" ? "info.demoteNamed" : "info.promoteNamed", { name })}
                    onClick={() => void run(() => groups.setRole(id, m.user_id, m.role === "admin" ? "member" : "admin"))}
                  >
                    {t(m.role === "admin" ? "info.demote" : "info.promote")}
                  </button>
                  {removing === m.user_id ? (
                    <span role="alertdialog" aria-label={t("info.confirmRemove", { name })} class="row confirm">
                      <span>{t("info.confirmRemove", { name })}</span>
                      <button type="button" class="danger" disabled={busy} ref={(el) => el?.focus()}
                        onClick={() => void run(() => groups.removeMember(id, m.user_id)).then(() => setRemoving(null))}>
                        {t("info.remove")}
                      </button>
                      <button type="button" onClick={() => setRemoving(null)}>
                        {t("newchat.cancel")}
                      </button>
                    </span>
                  ) : (
                    <button type="button" class="danger" disabled={busy} aria-label={t("info.removeNamed", { name })} onClick={() => setRemoving(m.user_id)}>
                      {t("info.remove")}
                    </button>
                  )}
                </span>
              )}
            </li>
          );
        })}
      </ul>
      <Alert text={problem} />
    </section>
  );
}

function AddMembers({ groups, chats, view }: { groups: GroupsModel; chats: ChatStore; view: GroupView }) {
  const [chosen, setChosen] = useState<string[]>([]);
  const [outcome, setOutcome] = useState<{ added: string[]; invited: string[] } | null>(null);
  const { busy, problem, run } = useAction();
  return (
    <section aria-labelledby="add-members-title" class="add-members">
      <h3 id="add-members-title">{t("info.addMembers")}</h3>
      <PeoplePicker groups={groups} chats={chats} chosen={chosen} onChange={setChosen} exclude={view.members.map((m) => m.user_id)} />
      <div class="row">
        <button
          type="button"
          disabled={busy || chosen.length === 0}
          onClick={() =>
            void run(async () => {
              setOutcome(await groups.addMembers(view.conversation_id, chosen));
              setChosen([]);
            })
          }
        >
          {t("info.add")}
        </button>
      </div>
      {outcome && <AddOutcome chats={chats} added={outcome.added} invited={outcome.invited} />}
      <Alert text={problem} />
    </section>
  );
}

function Links({ groups, id }: { groups: GroupsModel; id: string }) {
  const links = groups.links.value;
  const [copied, setCopied] = useState<string | null>(null);
  const [lifetime, setLifetime] = useState(0); // seconds, 0 = never expires
  const [maxUses, setMaxUses] = useState(0); // 0 = unlimited
  const { busy, problem, run } = useAction();
  return (
    <section aria-labelledby="links-title" class="links">
      <h3 id="links-title">{t("links.title")}</h3>
      <p class="hint">{t("links.hint")}</p>
      <div class="row link-options">
        <label>
          {t("links.lifetime")}{" "}
          <select value={lifetime} onChange={(e) => setLifetime(Number(e.currentTarget.value))}>
            <option value={0}>{t("links.never")}</option>
            <option value={3600}>{t("links.hour")}</option>
            <option value={86400}>{t("links.day")}</option>
            <option value={604800}>{t("links.week")}</option>
          </select>
        </label>
        <label>
          {t("links.maxUses")}{" "}
          <select value={maxUses} onChange={(e) => setMaxUses(Number(e.currentTarget.value))}>
            <option value={0}>{t("links.unlimited")}</option>
            {[1, 5, 10, 50].map((n) => (
              <option key={n} value={n}>
                {formatNumber(n)}
              </option>
            ))}
          </select>
        </label>
      </div>
      <div class="row">
        <button
          type="button"
          disabled={busy}
          onClick={() => void run(() => groups.createLink(id, { ...(lifetime ? { expires_in: lifetime } : {}), ...(maxUses ? { max_uses: maxUses } : {}) }))}
        >
          {t("links.create")}
        </button>
      </div>
      <ul>
        {links.map((l, i) => (
          <LinkItem key={l.code} link={l} newest={i === links.length - 1} copied={copied === l.code} busy={busy}
            onCopy={(url) => void navigator.clipboard?.writeText(url).then(() => setCopied(l.code), () => setCopied(null))}
            onRevoke={() => void run(() => groups.revokeLink(id, l.code))} />
        ))}
      </ul>
      <Alert text={problem} />
    </section>
  );
}

function LinkItem({ link, newest, copied, busy, onCopy, onRevoke }: {
  link: InviteLink; newest: boolean; copied: boolean; busy: boolean; onCopy: (url: string) => void; onRevoke: () => void;
}) {
  const url = joinUrl(location.origin, link.code);
  const [qr, setQr] = useState(newest);
  const usage = link.max_uses ? t("links.usesOf", { uses: formatNumber(link.uses), max: formatNumber(link.max_uses) }) : t("links.uses", { uses: formatNumber(link.uses) });
  return (
    <li class="link-item" data-code={link.code}>
      <code dir="ltr" class="link-url">{url}</code>
      <p class="hint">
        {usage}
        {link.expires_at ? ` · ${t("links.expires", { when: formatShortDate(link.expires_at) })}` : ""}
      </p>
      <div class="row">
        <button type="button" onClick={() => onCopy(url)}>
          {copied ? t("links.copied") : t("links.copy")}
        </button>
        <button type="button" aria-expanded={qr} onClick={() => setQr(!qr)}>
          {t("links.qr")}
        </button>
        <button type="button" class="danger" disabled={busy} onClick={onRevoke}>
          {t("links.revoke")}
        </button>
      </div>
      {qr && <Qr value={url} label={t("links.qrLabel")} />}
    </li>
  );
}

function Requests({ groups, id }: { groups: GroupsModel; id: string }) {
  const requests = groups.requests.value;
  const { busy, problem, run } = useAction();
  return (
    <section aria-labelledby="requests-title" class="requests">
      <h3 id="requests-title">{t("requests.title")}</h3>
      {/* Admins are not notified of requests (protocol 9.7): they look, here. */}
      <div class="row">
        <button type="button" disabled={busy} onClick={() => void run(() => groups.loadAdmin(id))}>
          {t("requests.refresh")}
        </button>
      </div>
      {requests.length === 0 && <p class="hint">{t("requests.none")}</p>}
      <ul>
        {requests.map((r) => {
          const name = groups.memberName(id, r.user_id) || t("chats.unknown");
          return (
            <li key={r.user_id} data-request={r.user_id}>
              <span dir="auto">{name}</span>
              <span class="row">
                <button type="button" class="primary" disabled={busy} aria-label={t("requests.approveNamed", { name })}
                  onClick={() => void run(() => groups.answerRequest(id, r.user_id, true))}>
                  {t("requests.approve")}
                </button>
                <button type="button" disabled={busy} aria-label={t("requests.rejectNamed", { name })}
                  onClick={() => void run(() => groups.answerRequest(id, r.user_id, false))}>
                  {t("requests.reject")}
                </button>
              </span>
            </li>
          );
        })}
      </ul>
      <Alert text={problem} />
    </section>
  );
}

/** Exit, or exit and report (9.8), each after a second click on a confirmation. */
export function Leave({ groups, id, onLeft }: { groups: GroupsModel; id: string; onLeft: () => void }) {
  const [ask, setAsk] = useState<"leave" | "report" | null>(null);
  const { busy, problem, run } = useAction();
  return (
    <section aria-labelledby="leave-title" class="leave">
      <h3 id="leave-title" class="visually-hidden">
        {t("leave.title")}
      </h3>
      {ask === null ? (
        <div class="row">
          <button type="button" class="danger" onClick={() => setAsk("leave")}>
            {t("leave.exit")}
          </button>
          <button type="button" class="danger" onClick={() => setAsk("report")}>
            {t("leave.exitReport")}
          </button>
        </div>
      ) : (
        <div role="alertdialog" aria-labelledby="leave-ask" class="confirm">
          <p id="leave-ask">{t(ask === "report" ? "leave.confirmReport" : "leave.confirm")}</p>
          <div class="row">
            <button type="button" class="danger" disabled={busy}
              onClick={() => void run(() => groups.leave(id, ask === "report")).then((ok) => ok && onLeft())}>
              {t(ask === "report" ? "leave.exitReport" : "leave.exit")}
            </button>
            <button type="button" onClick={() => setAsk(null)}>
              {t("newchat.cancel")}
            </button>
          </div>
        </div>
      )}
      <Alert text={problem} />
    </section>
  );
}
