// Join a group with an invite link or its code (protocol 3.16 `POST /v1/groups/join`): pasted here, or opened
// as the app's route /join/CODE. With approval on, the answer is a pending request (9.7).
import { useState } from "preact/hooks";
import { t } from "../../i18n";
import type { GroupsModel } from "../../state/groups";
import { Alert } from "../Alert";
import { useAction } from "./useAction";

export function JoinGroup({ groups, initial, onDone }: { groups: GroupsModel; initial: string; onDone: () => void }) {
  const [link, setLink] = useState(initial);
  const [status, setStatus] = useState<string | null>(null);
  const { busy, problem, setProblem, run } = useAction();
  return (
    <section class="panel" aria-labelledby="join-title">
      <h2 id="join-title">{t("join.title")}</h2>
      <form
        onSubmit={(e) => {
          e.preventDefault();
          setStatus(null);
          void run(async () => {
            const r = await groups.join(link);
            if (r.status === "invalid") setProblem(t("join.invalid"));
            else if (r.status === "requested") setStatus(t("join.requested"));
            else onDone();
          });
        }}
      >
        <label for="join-link">{t("join.label")}</label>
        <input id="join-link" dir="ltr" required value={link} onInput={(e) => setLink(e.currentTarget.value)} />
        <Alert text={problem} />
        {status && <p role="status">{status}</p>}
        <div class="row">
          <button type="submit" class="primary" disabled={busy}>
            {t("join.submit")}
          </button>
          <button type="button" onClick={onDone}>
            {t("newchat.cancel")}
          </button>
        </div>
      </form>
    </section>
  );
}
