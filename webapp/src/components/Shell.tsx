import { useState } from "preact/hooks";
import { t } from "../i18n";
import type { AppModel, SignedIn } from "../state/app";
import type { SettingsModel } from "../state/settings";
import { Announcer } from "./Announcer";
import { Banner } from "./Banner";
import { ChatList } from "./ChatList";
import { Conversation } from "./Conversation";
import { NewChat } from "./NewChat";
import { Settings } from "./Settings";

type Side = "chats" | "new" | "settings";

/** The signed-in layout: the sidebar (chat list, new chat, settings) at the inline start, the open chat beside it. */
export function Shell({ app, signedIn, settings }: { app: AppModel; signedIn: SignedIn; settings: SettingsModel }) {
  const { chats, connection } = signedIn;
  const [side, setSide] = useState<Side>("chats");
  const open = chats.openChat.value;
  return (
    <div class={`shell${open ? " has-open" : ""}`}>
      <aside class="sidebar" aria-label={t("chats.title")}>
        <header class="side-header">
          <h1>{t("chats.title")}</h1>
          <div class="row">
            <button type="button" onClick={() => setSide("new")}>
              {t("chats.new")}
            </button>
            <button type="button" onClick={() => setSide("settings")}>
              {t("chats.settings")}
            </button>
          </div>
        </header>
        <Banner connection={connection} />
        {side === "new" ? (
          <NewChat
            store={chats}
            onDone={(id) => {
              setSide("chats");
              if (id) chats.open(id);
            }}
          />
        ) : side === "settings" ? (
          <Settings app={app} settings={settings} onClose={() => setSide("chats")} />
        ) : (
          <ChatList store={chats} onOpen={(id) => chats.open(id)} />
        )}
      </aside>
      <main class="main">
        {open ? (
          <Conversation key={open.id} store={chats} chat={open} onBack={() => chats.open(null)} />
        ) : (
          <div class="placeholder">
            <p>{t("conv.placeholder")}</p>
          </div>
        )}
      </main>
      <Announcer store={chats} />
    </div>
  );
}
