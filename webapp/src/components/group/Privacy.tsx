// Settings → Privacy (protocol 3.6: last seen, read receipts, who may add me to groups, who sees my number,
// whose group invitations reach me) and Settings → Blocked contacts (3.18: the list, unblock).
import { useEffect } from "preact/hooks";
import { t } from "../../i18n";
import type { Audience, Me, PrivacyChange } from "../../net/api";
import type { PrivacyModel } from "../../state/privacy";
import { Alert } from "../Alert";
import { useAction } from "./useAction";

type Choice = "everyone" | "contacts" | "nobody";
const LABEL: Record<Choice, "privacy.everyone" | "privacy.contacts" | "privacy.nobody"> = {
  everyone: "privacy.everyone",
  contacts: "privacy.contacts",
  nobody: "privacy.nobody",
};

const ROWS: { field: keyof PrivacyChange; read: keyof Me; legend: "privacy.lastSeen" | "privacy.groupAdd" | "privacy.phone" | "privacy.groupInvites"; choices: Choice[] }[] = [
  { field: "last_seen", read: "last_seen", legend: "privacy.lastSeen", choices: ["everyone", "contacts", "nobody"] },
  { field: "phone", read: "phone_privacy", legend: "privacy.phone", choices: ["everyone", "contacts", "nobody"] },
  { field: "group_add", read: "group_add", legend: "privacy.groupAdd", choices: ["everyone", "contacts", "nobody"] },
  { field: "group_invites", read: "group_invites", legend: "privacy.groupInvites", choices: ["everyone", "contacts"] },
];

export function PrivacySettings({ privacy }: { privacy: PrivacyModel }) {
  const { busy, problem, run } = useAction();
  useEffect(() => {
    void run(() => privacy.load());
  }, []);
  const me = privacy.me.value;
  return (
    <section aria-labelledby="privacy-title" class="privacy">
      <h3 id="privacy-title">{t("privacy.title")}</h3>
      {me &&
        ROWS.map((row) => (
          <fieldset key={row.field} data-field={row.field}>
            <legend>{t(row.legend)}</legend>
            {row.choices.map((c) => (
              <label key={c}>
                <input
                  type="radio"
                  name={`privacy-${row.field}`}
                  value={c}
                  checked={me[row.read] === c}
                  disabled={busy}
                  onChange={() => void run(() => privacy.set({ [row.field]: c as Audience }))}
                />
                {t(LABEL[c])}
              </label>
            ))}
          </fieldset>
        ))}
      {me && (
        <label class="check">
          <input
            type="checkbox"
            name="privacy-read_receipts"
            checked={me.read_receipts !== false}
            disabled={busy}
            onChange={(e) => {
              const on = e.currentTarget.checked;
              void run(() => privacy.set({ read_receipts: on }));
            }}
          />
          {t("privacy.readReceipts")}
        </label>
      )}
      {me && <p class="hint">{t("privacy.readReceiptsHint")}</p>}
      <Alert text={problem} />
    </section>
  );
}

export function BlockedContacts({ privacy, blocked }: { privacy: PrivacyModel; blocked: ReadonlySet<string> }) {
  const { busy, problem, run } = useAction();
  const ids = [...blocked];
  return (
    <section aria-labelledby="blocked-title" class="blocked-list" data-testid="blocked-list">
      <h3 id="blocked-title">{t("blocked.title")}</h3>
      {ids.length === 0 && <p class="hint">{t("blocked.none")}</p>}
      <ul class="devices">
        {ids.map((id) => {
          const name = privacy.nameOf(id) || t("chats.unknown");
          return (
            <li key={id} data-user={id}>
              <span dir="auto" class="device-name">
                {name}
              </span>
              <button type="button" disabled={busy} aria-label={t("blocked.unblockNamed", { name })} onClick={() => void run(() => privacy.unblock(id))}>
                {t("safety.unblock")}
              </button>
            </li>
          );
        })}
      </ul>
      <Alert text={problem} />
    </section>
  );
}
