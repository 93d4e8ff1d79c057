import { useState } from "preact/hooks";
import { t } from "../i18n";
import { Alert } from "./Alert";
import { problemOf, type Problem } from "../state/auth";
import type { ChatStore } from "../state/chats";
import { problemText } from "./errors";
import { FromContacts } from "./NewChatContacts";

export function NewChat({ store, onDone }: { store: ChatStore; onDone: (id: string | null) => void }) {
  const [phone, setPhone] = useState("");
  const [name, setName] = useState("");
  const [problem, setProblem] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  return (
    <section class="panel" aria-labelledby="newchat-title">
      <h2 id="newchat-title">{t("newchat.title")}</h2>
      <form
        onSubmit={async (e) => {
          e.preventDefault();
          setBusy(true);
          setProblem(null);
          try {
            const r = await store.startChat(phone.trim(), name.trim());
            if (r.ok) onDone(r.id);
            else setProblem(t("error.not_on_hudhud", { phone: r.phone }));
          } catch (exc) {
            const p: Problem = problemOf(exc);
            setProblem(problemText(p));
          } finally {
            setBusy(false);
          }
        }}
      >
        <label for="newchat-phone">{t("newchat.phone")}</label>
        <input id="newchat-phone" type="tel" dir="ltr" required value={phone} onInput={(e) => setPhone(e.currentTarget.value)} />
        <label for="newchat-name">{t("newchat.name")}</label>
        <input id="newchat-name" dir="auto" value={name} onInput={(e) => setName(e.currentTarget.value)} />
        <Alert text={problem} />
        <div class="row">
          <button type="submit" class="primary" disabled={busy}>
            {t("newchat.start")}
          </button>
          <button type="button" onClick={() => onDone(null)}>
            {t("newchat.cancel")}
          </button>
        </div>
      </form>
      <FromContacts store={store} onDone={onDone} />
    </section>
  );
}
