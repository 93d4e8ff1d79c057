import { useEffect, useState } from "preact/hooks";
import { t } from "../i18n";
import type { AuthModel } from "../state/auth";
import { Qr } from "./Qr";

export function LinkScreen({ auth }: { auth: AuthModel }) {
  const req = auth.link.value;
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    const timer = setInterval(() => setNow(Date.now()), 1000);
    return () => clearInterval(timer);
  }, []);
  const left = req ? Math.max(0, Math.round(req.expires_at - (now + auth.skewMs.value) / 1000)) : 0;
  return (
    <section aria-labelledby="login-title">
      <h1 id="login-title">{t("link.title")}</h1>
      <p>{t("link.steps")}</p>
      {req && !auth.linkExpired.value && (
        <>
          <p class="pairing-label">{t("link.code")}</p>
          <p class="pairing-code" dir="ltr" data-testid="pairing-code">
            {req.code}
          </p>
          <Qr value={req.uri} label={t("link.qr")} />
          <p class="hint" aria-live="off">
            {t("link.expires", { seconds: left })}
          </p>
          <p class="hint" role="status">
            {t("link.waiting")}
          </p>
        </>
      )}
      {auth.linkExpired.value && (
        <>
          <p role="status">{t("link.expired")}</p>
          <button type="button" class="primary" onClick={() => void auth.startLink()}>
            {t("link.newCode")}
          </button>
        </>
      )}
      <button type="button" class="link-button" onClick={() => auth.back()}>
        {t("link.back")}
      </button>
    </section>
  );
}
