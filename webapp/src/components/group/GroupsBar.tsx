// Under the sidebar's header: new group, join with a link, and my pending invitations (protocol 9.3) with
// accept and decline; accepting opens the group.
import { formatNumber, formatShortDate, t } from "../../i18n";
import type { GroupsModel } from "../../state/groups";
import { Alert } from "../Alert";
import { useAction } from "./useAction";

export function GroupsBar({ groups, onNewGroup, onJoin }: { groups: GroupsModel; onNewGroup: () => void; onJoin: () => void }) {
  const invitations = groups.invitations.value;
  const { busy, problem, run } = useAction();
  return (
    <div class="groups-bar">
      <div class="row">
        <button type="button" onClick={onNewGroup}>
          {t("group.new")}
        </button>
        <button type="button" onClick={onJoin}>
          {t("join.open")}
        </button>
      </div>
      {invitations.length > 0 && (
        <section class="invitations" aria-labelledby="invitations-title" data-testid="invitations">
          <h2 id="invitations-title">
            {t("invite.title")} <span class="unread">{formatNumber(invitations.length)}</span>
          </h2>
          <ul>
            {invitations.map((inv) => {
              const inviter = groups.personName(inv.inviter_id) || t("chats.unknown");
              return (
                <li key={inv.invitation_id} data-invitation={inv.invitation_id}>
                  <p dir="auto">
                    <strong>{inv.subject}</strong>
                  </p>
                  <p class="hint" dir="auto">
                    {t("invite.from", { name: inviter, until: formatShortDate(inv.expires_at) })}
                  </p>
                  <div class="row">
                    <button
                      type="button"
                      class="primary"
                      disabled={busy}
                      aria-label={t("invite.acceptNamed", { subject: inv.subject })}
                      onClick={() => void run(() => groups.accept(inv))}
                    >
                      {t("invite.accept")}
                    </button>
                    <button
                      type="button"
                      disabled={busy}
                      aria-label={t("invite.declineNamed", { subject: inv.subject })}
                      onClick={() => void run(() => groups.decline(inv))}
                    >
                      {t("invite.decline")}
                    </button>
                  </div>
                </li>
              );
            })}
          </ul>
          <Alert text={problem} />
        </section>
      )}
    </div>
  );
}
