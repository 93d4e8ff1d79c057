// Choose people for a group: my registered contacts as checkboxes, or a phone number looked up through
// discovery (3.11; the number is saved in my contacts, as for a new chat).
import { useState } from "preact/hooks";
import { t } from "../../i18n";
import type { ChatStore } from "../../state/chats";
import type { GroupsModel } from "../../state/groups";
import { Alert } from "../Alert";
import { useAction } from "./useAction";

export function PeoplePicker({
  groups,
  chats,
  chosen,
  onChange,
  exclude = [],
}: {
  groups: GroupsModel;
  chats: ChatStore;
  chosen: string[];
  onChange: (ids: string[]) => void;
  exclude?: string[];
}) {
  const [phone, setPhone] = useState("");
  const { busy, problem, setProblem, run } = useAction();
  const seen = new Set<string>();
  const people = chats.contacts.value.filter((c) => {
    if (!c.user_id || c.user_id === chats.userId || exclude.includes(c.user_id) || seen.has(c.user_id)) return false;
    seen.add(c.user_id);
    return true;
  });
  const toggle = (id: string, on: boolean) => onChange(on ? [...chosen.filter((x) => x !== id), id] : chosen.filter((x) => x !== id));
  return (
    <fieldset class="people">
      <legend>{t("group.people")}</legend>
      {people.length === 0 && <p class="hint">{t("group.noContacts")}</p>}
      <ul>
        {people.map((c) => (
          <li key={c.user_id}>
            <label>
              <input type="checkbox" checked={chosen.includes(c.user_id!)} onChange={(e) => toggle(c.user_id!, e.currentTarget.checked)} />
              <span dir="auto">{c.name || c.display_name || c.phone}</span>
              <span class="hint" dir="ltr">
                {c.phone}
              </span>
            </label>
          </li>
        ))}
      </ul>
      <div class="add-by-phone">
        <label for="people-phone">{t("group.byPhone")}</label>
        <div class="row">
          <input id="people-phone" type="tel" dir="ltr" value={phone} onInput={(e) => setPhone(e.currentTarget.value)} />
          <button
            type="button"
            disabled={busy || !phone.trim()}
            onClick={() =>
              void run(async () => {
                const found = await groups.findByPhone(phone);
                if (!found) return setProblem(t("error.not_on_hudhud", { phone: phone.trim() }));
                if (!exclude.includes(found.user_id) && found.user_id !== chats.userId) toggle(found.user_id, true);
                setPhone("");
              })
            }
          >
            {t("group.addPhone")}
          </button>
        </div>
      </div>
      <Alert text={problem} />
    </fieldset>
  );
}
