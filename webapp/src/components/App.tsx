import type { AppModel } from "../state/app";
import type { SettingsModel } from "../state/settings";
import { Login } from "./Login";
import { Shell } from "./Shell";

export function App({ app, settings }: { app: AppModel; settings: SettingsModel }) {
  const phase = app.phase.value;
  const signedIn = app.signedIn.value;
  if (phase === "loading") return <div class="loading" aria-busy="true" />;
  if (phase === "signed_in" && signedIn) return <Shell app={app} signedIn={signedIn} settings={settings} />;
  return <Login auth={app.auth} />;
}
