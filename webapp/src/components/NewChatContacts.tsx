import { useState } from "preact/hooks";
import { t } from "../i18n";
import type { ChatStore } from "../state/chats";

/** New chat from the address book (GET /v1/contacts): the contacts who are on Hudhud, filterable by name or number. */
export function FromContacts({ store, onDone }: { store: ChatStore; onDone: (id: string | null) => void }) {
  const [query, setQuery] = useState("");
  const q = query.trim().toLocaleLowerCase();
  const people = store.contacts.value
    .filter((c) => c.user_id)
    .map((c) => ({ id: c.user_id!, name: c.name || c.display_name || c.phone, phone: c.phone }))
    .filter((c) => !q || c.name.toLocaleLowerCase().includes(q) || c.phone.includes(q))
    .sort((a, b) => a.name.localeCompare(b.name));
  if (!store.contacts.value.some((c) => c.user_id)) return null;
  return (
    <div class="from-contacts">
      <h3 id="contacts-title">{t("lists.contactsTitle")}</h3>
      <label for="contacts-search" class="visually-hidden">
        {t("lists.contactsSearch")}
      </label>
      <input
        id="contacts-search"
        type="search"
        dir="auto"
        placeholder={t("lists.contactsSearch")}
        value={query}
        onInput={(e) => setQuery(e.currentTarget.value)}
      />
      <ul class="contact-list" aria-labelledby="contacts-title">
        {people.map((c) => (
          <li key={c.id}>
            <button type="button" onClick={() => onDone(store.chatWith(c.id))} data-testid="contact">
              <span dir="auto">{c.name}</span> <span dir="ltr" class="hint">{c.phone}</span>
            </button>
          </li>
        ))}
      </ul>
    </div>
  );
}
