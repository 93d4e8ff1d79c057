import { t } from "../i18n";
import type { ConnectionModel } from "../state/connection";

/** "Not connected. Trying again in N s." with a button to try at once (protocol 4.4: backoff with jitter). */
export function Banner({ connection }: { connection: ConnectionModel }) {
  const status = connection.status.value;
  if (status.state === "stopped" && status.stopReason) {
    return (
      <div class="banner" role="alert">
        {t(status.stopReason === "version" ? "conn.stopped.version" : "conn.stopped.suspended")}
      </div>
    );
  }
  if (status.state !== "offline") return null;
  return (
    <div class="banner" role="status" data-testid="offline-banner">
      <span>{t("conn.offline", { seconds: connection.secondsLeft.value ?? 0 })}</span>
      <button type="button" onClick={() => connection.retryNow()}>
        {t("conn.retry")}
      </button>
    </div>
  );
}
