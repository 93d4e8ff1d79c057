// The conversation header's menu (protocol 3.18, 9.8): group info, block/unblock and report for a direct
// chat; report, exit and exit-and-report for a group. Every act that cannot be undone asks once more.
import { useEffect, useRef, useState } from "preact/hooks";
import { t } from "../../i18n";
import type { Chat, ChatStore } from "../../state/chats";
import type { GroupsModel } from "../../state/groups";
import { Alert } from "../Alert";
import { useAction } from "./useAction";

type Ask = "block" | "report" | "reportBlock" | "reportGroup" | "leave" | "leaveReport";

const CONFIRM: Record<Ask, { q: "menu.confirmBlock" | "menu.confirmReport" | "menu.confirmReportBlock" | "menu.confirmReportGroup" | "leave.confirm" | "leave.confirmReport"; yes: "safety.block" | "menu.report" | "safety.report" | "menu.reportGroup" | "leave.exit" | "leave.exitReport" }> = {
  block: { q: "menu.confirmBlock", yes: "safety.block" },
  report: { q: "menu.confirmReport", yes: "menu.report" },
  reportBlock: { q: "menu.confirmReportBlock", yes: "safety.report" },
  reportGroup: { q: "menu.confirmReportGroup", yes: "menu.reportGroup" },
  leave: { q: "leave.confirm", yes: "leave.exit" },
  leaveReport: { q: "leave.confirmReport", yes: "leave.exitReport" },
};

export function ChatMenu({ groups, chats, chat }: { groups: GroupsModel; chats: ChatStore; chat: Chat }) {
  const [open, setOpen] = useState(false);
  const [ask, setAsk] = useState<Ask | null>(null);
  const [done, setDone] = useState<string | null>(null);
  const { busy, problem, run } = useAction();
  const toggle = useRef<HTMLButtonElement>(null);
  const list = useRef<HTMLDivElement>(null);
  // Keyboard: the first choice (or the confirmation's button) gets the focus; Escape closes and returns it.
  useEffect(() => {
    if (open) list.current?.querySelector<HTMLButtonElement>("button")?.focus();
  }, [open, ask]);
  const group = chat.info.value.kind === "group";
  const peer = chats.peerOf(chat);
  if (!group && !peer) return null; // a chat with myself
  const member = group && groups.viewOf(chat.id).value !== "gone";
  const blocked = peer ? chats.isBlocked(peer.user_id) : false;
  const close = () => {
    setOpen(false);
    setAsk(null);
  };
  const act = async (a: Ask) => {
    const ok = await run(async () => {
      if (a === "block") await chats.block(chat, false);
      else if (a === "report") await groups.report(chat, false);
      else if (a === "reportBlock") await groups.report(chat, true);
      else if (a === "reportGroup") await groups.report(chat, false);
      else await groups.leave(chat.id, a === "leaveReport");
    });
    if (ok) {
      setDone(t(a === "leave" ? "menu.left" : a === "block" ? "menu.blocked" : a === "leaveReport" ? "menu.leftReported" : "menu.reported"));
      close();
      toggle.current?.focus();
    }
  };
  return (
    <div
      class="chat-menu"
      onKeyDown={(e) => {
        if (e.key === "Escape" && open) {
          e.stopPropagation();
          close();
          toggle.current?.focus();
        }
      }}
    >
      <button ref={toggle} type="button" class="icon" aria-label={t("menu.label")} aria-expanded={open} aria-controls="chat-menu-list"
        onClick={() => (open ? close() : (setDone(null), setOpen(true)))}>
        <span aria-hidden="true">⋮</span>
      </button>
      {done && (
        <p class="visually-hidden" role="status">
          {done}
        </p>
      )}
      {open && (
        <div ref={list} id="chat-menu-list" class="menu-list" role="group" aria-label={t("menu.label")}>
          {ask ? (
            <div role="alertdialog" aria-labelledby="menu-ask" class="confirm">
              <p id="menu-ask">{t(CONFIRM[ask].q)}</p>
              <div class="row">
                <button type="button" class="danger" disabled={busy} onClick={() => void act(ask)}>
                  {t(CONFIRM[ask].yes)}
                </button>
                <button type="button" onClick={() => setAsk(null)}>
                  {t("newchat.cancel")}
                </button>
              </div>
            </div>
          ) : group ? (
            <>
              <button type="button" onClick={() => { groups.infoOpen.value = chat.id; close(); }}>
                {t("info.title")}
              </button>
              <button type="button" onClick={() => setAsk("reportGroup")}>
                {t("menu.reportGroup")}
              </button>
              {member && (
                <>
                  <button type="button" class="danger" onClick={() => setAsk("leave")}>
                    {t("leave.exit")}
                  </button>
                  <button type="button" class="danger" onClick={() => setAsk("leaveReport")}>
                    {t("leave.exitReport")}
                  </button>
                </>
              )}
            </>
          ) : (
            <>
              {blocked ? (
                <button type="button" disabled={busy} onClick={() => void run(() => chats.unblock(chat)).then((ok) => ok && close())}>
                  {t("safety.unblock")}
                </button>
              ) : (
                <button type="button" class="danger" onClick={() => setAsk("block")}>
                  {t("safety.block")}
                </button>
              )}
              <button type="button" onClick={() => setAsk("report")}>
                {t("menu.report")}
              </button>
              {!blocked && (
                <button type="button" class="danger" onClick={() => setAsk("reportBlock")}>
                  {t("safety.report")}
                </button>
              )}
            </>
          )}
          <Alert text={problem} />
        </div>
      )}
    </div>
  );
}

/** In place of the composer: announcement mode for a member who is not an admin (9.6), or a group I left. */
export function ComposerNotice({ state }: { state: "admins_only" | "not_member" }) {
  return (
    <p class="composer-notice" role="status" data-testid="composer-notice">
      {t(state === "admins_only" ? "group.onlyAdminsCanSend" : "group.noLongerMember")}
    </p>
  );
}
