// Composition root: the one place that knows the concrete classes (IndexedDB, fetch, WebSocket, the DOM) and
// wires them. Everything below it is given its dependencies.
import "./styles.css";
import { effect } from "@preact/signals";
import { render } from "preact";
import { App } from "./components/App";
import { setIconBadge } from "./components/notify";
import { dirOf, locale, t } from "./i18n";
import { Api } from "./net/api";
import { IdbStore } from "./net/db";
import { AppModel } from "./state/app";
import { summaryOf } from "./state/media";
import { SettingsModel } from "./state/settings";

function deviceName(): string {
  const ua = navigator.userAgent;
  const browser = /Edg\//.test(ua)
    ? "Edge"
    : /Firefox\//.test(ua)
      ? "Firefox"
      : /Chromium\//.test(ua) || /HeadlessChrome/.test(ua)
        ? "Chromium"
        : /Chrome\//.test(ua)
          ? "Chrome"
          : /Safari\//.test(ua)
            ? "Safari"
            : "Browser";
  const os = /Android/.test(ua) ? "Android" : /iPhone|iPad/.test(ua) ? "iOS" : /Windows/.test(ua) ? "Windows" : /Mac OS/.test(ua) ? "macOS" : /Linux/.test(ua) ? "Linux" : "";
  return os ? `${browser} on ${os}` : browser;
}

const wsUrl = `${location.protocol === "https:" ? "wss:" : "ws:"}//${location.host}/v1/ws`;
const store = new IdbStore();
const api = new Api();
const settings = new SettingsModel(localStorage, navigator.languages ?? [navigator.language], matchMedia("(prefers-color-scheme: dark)").matches);
const app = new AppModel({ store, api, wsUrl, deviceName: deviceName() });

effect(() => {
  const root = document.documentElement;
  root.lang = locale.value;
  root.dir = dirOf(locale.value);
  root.dataset.theme = settings.theme.value;
});

// A notification for a new message while the tab is hidden, if the user allowed them (Settings).
effect(() => {
  const s = app.signedIn.value;
  const m = s?.chats.announcement.value;
  if (!s || !m || document.visibilityState === "visible") return;
  if (!("Notification" in window) || Notification.permission !== "granted") return;
  const chat = s.chats.chats.peek().get(m.conversation_id);
  if (chat && s.chats.isMuted(chat)) return; // muted chats do not notify (protocol 3.13a)
  const text = typeof m.content === "object" && typeof m.content.text === "string" ? m.content.text : summaryOf(m.content);
  const n = new Notification(s.chats.nameOf(m.sender.user_id) || t("app.name"), { body: text, tag: m.conversation_id });
  n.onclick = () => {
    window.focus();
    s.chats.open(m.conversation_id);
  };
});

// Unread messages in the tab's title.
effect(() => {
  const n = app.signedIn.value?.chats.totalUnread.value ?? 0;
  document.title = n ? `(${n}) ${t("app.name")}` : t("app.name");
  void setIconBadge(document, n); // and on the tab's icon
});

// The tab's visibility decides whether what is on screen counts as read (protocol 4.5 `read`).
effect(() => {
  const s = app.signedIn.value;
  if (!s) return;
  const update = () => {
    s.chats.visible.value = document.visibilityState === "visible";
    s.chats.markRead();
  };
  update();
  const online = () => s.session.retryNow();
  document.addEventListener("visibilitychange", update);
  window.addEventListener("online", online);
  return () => {
    document.removeEventListener("visibilitychange", update);
    window.removeEventListener("online", online);
  };
});

// The app shell for reloads while the server is down (public/sw.js); not in the dev server.
if (import.meta.env.PROD && "serviceWorker" in navigator) void navigator.serviceWorker.register("/sw.js").catch(() => undefined);

render(<App app={app} settings={settings} />, document.getElementById("app")!);
void app.boot();
