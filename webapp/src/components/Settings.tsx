import { useState } from "preact/hooks";
import { t } from "../i18n";
import type { AppModel } from "../state/app";
import { problemOf } from "../state/auth";
import type { SettingsModel } from "../state/settings";
import { problemText } from "./errors";

export function Settings({ app, settings, onClose }: { app: AppModel; settings: SettingsModel; onClose: () => void }) {
  const [code, setCode] = useState("");
  const [result, setResult] = useState<string | null>(null);
  return (
    <section class="panel settings" aria-labelledby="settings-title">
      <div class="panel-head">
        <h2 id="settings-title">{t("settings.title")}</h2>
        <button type="button" onClick={onClose}>
          {t("settings.close")}
        </button>
      </div>
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
      <h3>{t("settings.account")}</h3>
      <button type="button" class="danger" onClick={() => void app.logout()}>
        {t("settings.logout")}
      </button>
    </section>
  );
}
