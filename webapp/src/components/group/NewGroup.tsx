// Create a group (protocol 3.15 `POST /v1/groups`): subject, description, people from my contacts or by phone
// number. The answer says who was added and who was invited (9.2); the invited see it in their invitations.
import { useState } from "preact/hooks";
import { locale, t } from "../../i18n";
import type { ChatStore } from "../../state/chats";
import type { CreateResult, GroupsModel } from "../../state/groups";
import { PeoplePicker } from "./PeoplePicker";
import { Alert } from "../Alert";
import { useAction } from "./useAction";

export function NewGroup({ groups, chats, onDone }: { groups: GroupsModel; chats: ChatStore; onDone: (id: string | null) => void }) {
  const [subject, setSubject] = useState("");
  const [description, setDescription] = useState("");
  const [chosen, setChosen] = useState<string[]>([]);
  const [result, setResult] = useState<CreateResult | null>(null);
  const { busy, problem, setProblem, run } = useAction();
  if (result) {
    return (
      <section class="panel" aria-labelledby="newgroup-title">
        <h2 id="newgroup-title">{t("group.created")}</h2>
        <AddOutcome chats={chats} added={result.added} invited={result.invited} />
        <div class="row">
          <button type="button" class="primary" onClick={() => onDone(result.id)}>
            {t("group.openIt")}
          </button>
        </div>
      </section>
    );
  }
  return (
    <section class="panel" aria-labelledby="newgroup-title">
      <h2 id="newgroup-title">{t("group.new")}</h2>
      <form
        onSubmit={(e) => {
          e.preventDefault();
          if (!subject.trim()) return setProblem(t("group.subjectRequired"));
          void run(async () => setResult(await groups.create(subject, description, chosen)));
        }}
      >
        <label for="group-subject">{t("group.subject")}</label>
        <input id="group-subject" dir="auto" maxLength={100} required value={subject} onInput={(e) => setSubject(e.currentTarget.value)} />
        <label for="group-description">{t("group.description")}</label>
        <textarea id="group-description" dir="auto" maxLength={512} rows={2} value={description} onInput={(e) => setDescription(e.currentTarget.value)} />
        <PeoplePicker groups={groups} chats={chats} chosen={chosen} onChange={setChosen} />
        <Alert text={problem} />
        <div class="row">
          <button type="submit" class="primary" disabled={busy}>
            {t("group.create")}
          </button>
          <button type="button" onClick={() => onDone(null)}>
            {t("newchat.cancel")}
          </button>
        </div>
      </form>
    </section>
  );
}

/** Who was added and who was invited (9.2): "invited" also covers those who get nothing, on purpose. */
export function AddOutcome({ chats, added, invited }: { chats: ChatStore; added: string[]; invited: string[] }) {
  const names = (ids: string[]) => ids.map((id) => chats.nameOf(id) || t("chats.unknown")).join(locale.value === "ar" ? "، " : ", ");
  return (
    <div role="status" class="add-outcome" data-testid="add-outcome">
      {added.length > 0 && <p dir="auto">{t("group.addedList", { names: names(added) })}</p>}
      {invited.length > 0 && <p dir="auto">{t("group.invitedList", { names: names(invited) })}</p>}
      {invited.length > 0 && <p class="hint">{t("group.invitedHint")}</p>}
      {added.length === 0 && invited.length === 0 && <p>{t("group.nobodyAdded")}</p>}
    </div>
  );
}
