import { useState } from "preact/hooks";
import { t } from "../i18n";
import { Alert } from "./Alert";
import type { AuthModel } from "../state/auth";
import { problemText } from "./errors";
import { LinkScreen } from "./Link";

export function Login({ auth }: { auth: AuthModel }) {
  const step = auth.step.value;
  return (
    <main class="login" aria-labelledby="login-title">
      <div class="login-card">
        <div class="brand" aria-hidden="true">
          هدهد
        </div>
        {auth.notice.value === "logged_out" && <p class="notice" role="status">{t("logout.done")}</p>}
        {step === "link" ? <LinkScreen auth={auth} /> : step === "code" ? <CodeForm auth={auth} /> : <PhoneForm auth={auth} />}
        <Alert text={auth.problem.value && problemText(auth.problem.value)} />
      </div>
    </main>
  );
}

function PhoneForm({ auth }: { auth: AuthModel }) {
  const [phone, setPhone] = useState("");
  return (
    <>
      <h1 id="login-title">{t("login.title")}</h1>
      <form
        onSubmit={(e) => {
          e.preventDefault();
          void auth.requestCode(phone);
        }}
      >
        <label for="phone">{t("login.phone")}</label>
        <input
          id="phone"
          name="phone"
          type="tel"
          dir="ltr"
          autocomplete="tel"
          required
          value={phone}
          onInput={(e) => setPhone(e.currentTarget.value)}
          aria-describedby="phone-hint"
        />
        <p id="phone-hint" class="hint">
          {t("login.phoneHint")}
        </p>
        <button type="submit" class="primary" disabled={auth.busy.value}>
          {t("login.sendCode")}
        </button>
      </form>
      <button type="button" class="link-button" onClick={() => void auth.startLink()}>
        {t("login.orLink")}
      </button>
    </>
  );
}

function CodeForm({ auth }: { auth: AuthModel }) {
  const [code, setCode] = useState("");
  return (
    <>
      <h1 id="login-title">{t("login.title")}</h1>
      <p>
        {t("login.codeSent")} 
        <bdi dir="ltr">{auth.phone.value}</bdi>
      </p>
      <form
        onSubmit={(e) => {
          e.preventDefault();
          void auth.verify(code);
        }}
      >
        <label for="code">{t("login.code")}</label>
        <input
          id="code"
          name="code"
          inputMode="numeric"
          autocomplete="one-time-code"
          dir="ltr"
          maxLength={6}
          required
          value={code}
          onInput={(e) => setCode(e.currentTarget.value)}
        />
        <button type="submit" class="primary" disabled={auth.busy.value}>
          {t("login.verify")}
        </button>
      </form>
      <button type="button" class="link-button" onClick={() => auth.back()}>
        {t("login.back")}
      </button>
    </>
  );
}
