import { useState } from "preact/hooks";
import { t } from "../i18n";
import type { AppModel, SignedIn } from "../state/app";
import type { SettingsModel } from "../state/settings";
import { Announcer } from "./Announcer";
import { Banner } from "./Banner";
import { ChatList } from "./ChatList";
import { Conversation } from "./Conversation";
import { GroupInfo } from "./group/GroupInfo";
import { GroupsBar } from "./group/GroupsBar";
import { JoinGroup } from "./group/JoinGroup";
import { NewGroup } from "./group/NewGroup";
import { NewChat } from "./NewChat";
import { Settings } from "./Settings";

type Side = "chats" | "new" | "settings" | "group" | "join";

/** The app's route /join/CODE (an invite link, protocol 3.16) opens the join panel with the code. */
const joinRoute = () => (/^\/join\/[A-Za-z0-9_-]+$/.test(location.pathname) ? location.href : "");

/** The signed-in layout: the sidebar (chat list, new chat, settings) at the inline start, the open chat beside it. */
export function Shell({ app, signedIn, settings }: { app: AppModel; signedIn: SignedIn; settings: SettingsModel }) {
  const { chats, connection, groups } = signedIn;
  const [joinLink] = useState(joinRoute);
  const [side, setSide] = useState<Side>(joinLink ? "join" : "chats");
  const open = chats.openChat.value;
  const info = open && groups.infoOpen.value === open.id;
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
        ) : side === "group" ? (
          <NewGroup
            groups={groups}
            chats={chats}
            onDone={(id) => {
              setSide("chats");
              if (id) chats.open(id);
            }}
          />
        ) : side === "join" ? (
          <JoinGroup
            groups={groups}
            initial={joinLink}
            onDone={() => {
              if (location.pathname !== "/") history.replaceState(null, "", "/");
              setSide("chats");
            }}
          />
        ) : side === "settings" ? (
          <Settings app={app} settings={settings} onClose={() => setSide("chats")} />
        ) : (
          <>
            <GroupsBar groups={groups} onNewGroup={() => setSide("group")} onJoin={() => setSide("join")} />
            <ChatList store={chats} onOpen={(id) => chats.open(id)} />
          </>
        )}
      </aside>
      <main class="main">
        {open && info ? (
          <GroupInfo key={`info:${open.id}`} groups={groups} chats={chats} id={open.id} onClose={() => (groups.infoOpen.value = null)} />
        ) : open ? (
          <Conversation key={open.id} store={chats} groups={groups} chat={open} onBack={() => chats.open(null)} />
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
