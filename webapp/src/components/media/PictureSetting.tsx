import { useRef, useState } from "preact/hooks";
import { t } from "../../i18n";
import type { AppModel } from "../../state/app";
import { problemOf } from "../../state/auth";
import { problemText } from "../errors";
import { Avatar } from "./Avatar";

/** Settings → Profile: my profile picture (protocol 3.5), set from a picked image or cleared. */
export function PictureSetting({ app }: { app: AppModel }) {
  const me = app.me.value;
  const input = useRef<HTMLInputElement>(null);
  const [busy, setBusy] = useState(false);
  const [status, setStatus] = useState<string | null>(null);
  if (!me) return null;
  const run = async (file: File | null) => {
    setBusy(true);
    setStatus(null);
    try {
      await app.setPicture(file);
      setStatus(t("settings.saved"));
    } catch (exc) {
      setStatus(problemText(problemOf(exc)));
    } finally {
      setBusy(false);
    }
  };
  return (
    <div class="picture-setting" role="group" aria-label={t("media.profilePicture")}>
      <Avatar media={app.signedIn.value?.media ?? null} picture={me.picture} fallback={/\p{L}/u.exec(me.display_name)?.[0]?.toLocaleUpperCase() ?? "#"} label={t("media.profilePicture")} />
      <input
        ref={input}
        type="file"
        accept="image/jpeg,image/png,image/webp,image/gif"
        hidden
        data-testid="picture-input"
        onChange={(e) => {
          const f = e.currentTarget.files?.[0] ?? null;
          e.currentTarget.value = "";
          if (f) void run(f);
        }}
      />
      <button type="button" disabled={busy} onClick={() => input.current?.click()}>
        {t("media.choosePicture")}
      </button>
      {me.picture && (
        <button type="button" disabled={busy} onClick={() => void run(null)} data-testid="picture-remove">
          {t("media.removePicture")}
        </button>
      )}
      {status && <p role="status">{status}</p>}
    </div>
  );
}
