import { useEffect, useState } from "preact/hooks";
import { formatShortDate, formatTime, t } from "../i18n";
import type { AppModel } from "../state/app";
import { problemOf } from "../state/auth";
import type { SettingsModel } from "../state/settings";
import { problemText } from "./errors";
import { BlockedContacts, PrivacySettings } from "./group/Privacy";
import { PictureSetting } from "./media/PictureSetting";

export function Settings({ app, settings, onClose }: { app: AppModel; settings: SettingsModel; onClose: () => void }) {
  const [code, setCode] = useState("");
  const [result, setResult] = useState<string | null>(null);
  useEffect(() => {
    void app.loadDevices();
    void app.loadMe();
  }, []);
  const devices = app.devices.value;
  const signedIn = app.signedIn.value;
  return (
    <section class="panel settings" aria-labelledby="settings-title">
      <div class="panel-head">
        <h2 id="settings-title">{t("settings.title")}</h2>
        <button type="button" onClick={onClose}>
          {t("settings.close")}
        </button>
      </div>
      {app.me.value && <PictureSetting app={app} />}
      {app.me.value && <Profile app={app} />}
      <fieldset>
        <legend>{t("settings.language")}</legend>
        <label>
          <input type="radio" name="lang" checked={settings.locale.value === "ar"} onChange={() => settings.setLocale("ar")} />
          <span lang="ar">العربية</span>
        </label>
        <label>
          <input type="radio" name="lang" checked={settings.locale.value === "en"} onChange={() => settings.setLocale("en")} />
          <span lang="en">English</span>
        </label>
      </fieldset>
      <fieldset>
        <legend>{t("settings.theme")}</legend>
        <label>
          <input type="radio" name="theme" checked={settings.theme.value === "light"} onChange={() => settings.setTheme("light")} />
          {t("settings.light")}
        </label>
        <label>
          <input type="radio" name="theme" checked={settings.theme.value === "dark"} onChange={() => settings.setTheme("dark")} />
          {t("settings.dark")}
        </label>
      </fieldset>
      {"Notification" in window && <Notifications />}
      {signedIn && <PrivacySettings privacy={signedIn.privacy} />}
      {signedIn && <BlockedContacts privacy={signedIn.privacy} blocked={signedIn.chats.blocked.value} />}
      <form
        class="link-device"
        onSubmit={async (e) => {
          e.preventDefault();
          try {
            const name = await app.approveLink(code);
            setResult(t("settings.linked", { name }));
            setCode("");
          } catch (exc) {
            setResult(problemText(problemOf(exc)));
          }
        }}
      >
        <h3>{t("settings.linkDevice")}</h3>
        <label for="link-code">{t("settings.linkCode")}</label>
        <input id="link-code" dir="ltr" value={code} onInput={(e) => setCode(e.currentTarget.value)} required />
        <button type="submit">{t("settings.approve")}</button>
        {result && <p role="status">{result}</p>}
      </form>
      <section aria-labelledby="devices-title">
        <h3 id="devices-title">{t("settings.devices")}</h3>
        <ul class="devices">
          {(devices ?? []).map((d) => (
            <li key={d.device_id} data-device={d.device_id}>
              <span class="device-name" dir="auto">
                {d.name || d.device_id}
                {d.current ? ` (${t("settings.thisDevice")})` : ""}
              </span>
              <span class="hint">
                {d.last_active_at
                  ? t("settings.lastActive", { when: `${formatShortDate(d.last_active_at)} ${formatTime(d.last_active_at)}` })
                  : t("settings.never")}
              </span>
              {!d.current && (
                <button type="button" aria-label={t("settings.revokeNamed", { name: d.name || d.device_id })} onClick={() => void app.revokeDevice(d.device_id)}>
                  {t("settings.revoke")}
                </button>
              )}
            </li>
          ))}
        </ul>
      </section>
      <h3>{t("settings.account")}</h3>
      <button type="button" class="danger" onClick={() => void app.logout()}>
        {t("settings.logout")}
      </button>
    </section>
  );
}

function Profile({ app }: { app: AppModel }) {
  const me = app.me.value!;
  const [name, setName] = useState(me.display_name);
  const [about, setAbout] = useState(me.about);
  const [saved, setSaved] = useState<string | null>(null);
  return (
    <form
      class="profile"
      onSubmit={async (e) => {
        e.preventDefault();
        try {
          await app.saveProfile(name.trim(), about.trim());
          setSaved(t("settings.saved"));
        } catch (exc) {
          setSaved(problemText(problemOf(exc)));
        }
      }}
    >
      <h3>{t("settings.profile")}</h3>
      <p class="hint" dir="ltr">
        {me.phone}
      </p>
      <label for="profile-name">{t("settings.name")}</label>
      <input id="profile-name" dir="auto" maxLength={64} value={name} onInput={(e) => setName(e.currentTarget.value)} />
      <label for="profile-about">{t("settings.about")}</label>
      <input id="profile-about" dir="auto" maxLength={140} value={about} onInput={(e) => setAbout(e.currentTarget.value)} />
      <button type="submit">{t("settings.save")}</button>
      {saved && <p role="status">{saved}</p>}
    </form>
  );
}

function Notifications() {
  const [permission, setPermission] = useState(Notification.permission);
  return (
    <section aria-labelledby="notify-title">
      <h3 id="notify-title">{t("settings.notifications")}</h3>
      {permission === "granted" ? (
        <p class="hint">{t("settings.notificationsOn")}</p>
      ) : permission === "denied" ? (
        <p class="hint">{t("settings.notificationsBlocked")}</p>
      ) : (
        <button type="button" onClick={() => void Notification.requestPermission().then(setPermission)}>
          {t("settings.notificationsEnable")}
        </button>
      )}
    </section>
  );
}
