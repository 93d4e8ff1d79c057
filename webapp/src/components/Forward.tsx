import { useEffect, useRef, useState } from "preact/hooks";
import { t } from "../i18n";
import type { ChatStore } from "../state/chats";
import { targetLimit } from "../state/forward";
import { isPhone } from "./ChatList";

/** The forward picker: choose up to five chats (one for a message forwarded many times), then send. */
export function ForwardDialog({ store, chatId, seq, onClose }: { store: ChatStore; chatId: string; seq: number; onClose: () => void }) {
  const [chosen, setChosen] = useState<string[]>([]);
  const [query, setQuery] = useState("");
  const [error, setError] = useState("");
  const box = useRef<HTMLDivElement>(null);
  const source = store.chats.value.get(chatId)?.messages.value.find((m) => m.seq === seq);
  const limit = source ? targetLimit(source) : 1;
  useEffect(() => {
    box.current?.querySelector<HTMLInputElement>("input")?.focus();
  }, []);
  const q = query.trim().toLocaleLowerCase();
  const chats = [...store.chats.value.values()]
    .map((c) => ({ id: c.id, title: store.titleOf(c) }))
    .filter((c) => !q || c.title.toLocaleLowerCase().includes(q));
  const label = (title: string) => (title === "\u0000me" ? t("chats.me") : title || t("chats.unknown"));
  const send = () => {
    const result = store.forward(chatId, seq, chosen);
    if (result === "sent") onClose();
    else setError(result === "offline" ? t("lists.forwardOffline") : t("lists.failed"));
  };
  return (
    <div
      class="forward-dialog"
      role="dialog"
      aria-modal="true"
      aria-labelledby="forward-title"
      ref={box}
      onKeyDown={(e) => e.key === "Escape" && onClose()}
    >
      <h2 id="forward-title">{t("lists.forwardTitle")}</h2>
      <p class="hint">{limit === 1 ? t("lists.forwardOne") : t("lists.forwardUpTo", { count: limit })}</p>
      <label for="forward-search" class="visually-hidden">
        {t("chats.search")}
      </label>
      <input id="forward-search" type="search" dir="auto" placeholder={t("chats.search")} value={query} onInput={(e) => setQuery(e.currentTarget.value)} />
      <ul class="forward-list">
        {chats.map((c) => {
          const on = chosen.includes(c.id);
          return (
            <li key={c.id}>
              <label>
                <input
                  type="checkbox"
                  checked={on}
                  disabled={!on && chosen.length >= limit}
                  onChange={() => setChosen(on ? chosen.filter((x) => x !== c.id) : [...chosen, c.id])}
                />
                <span dir={isPhone(c.title) ? "ltr" : "auto"}>{label(c.title)}</span>
              </label>
            </li>
          );
        })}
      </ul>
      {error && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
      <div class="row">
        <button type="button" onClick={onClose}>
          {t("conv.cancel")}
        </button>
        <button type="button" class="primary" disabled={!chosen.length} onClick={send}>
          {t("lists.forwardSend", { count: chosen.length })}
        </button>
      </div>
    </div>
  );
}
