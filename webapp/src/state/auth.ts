// Logging in (SMS code, protocol 2.1) and linking with a pairing code (2.5), as a view model. When a token is
// obtained it is written to IndexedDB and `onLogin` starts the signed-in part of the app.
import { signal } from "@preact/signals";
import { type Api, ApiError, type LinkRequest, type Login, NetworkError } from "../net/api";
import type { Auth, LocalStore } from "../net/db";
import { LinkFlow } from "../net/linking";

export type Step = "phone" | "code" | "link";
export interface Problem {
  code: string;
  retryAfter: number | null;
}

export function problemOf(exc: unknown): Problem {
  if (exc instanceof ApiError) return { code: exc.code, retryAfter: exc.retryAfter };
  if (exc instanceof NetworkError) return { code: "network", retryAfter: null };
  return { code: "internal_error", retryAfter: null };
}

export class AuthModel {
  readonly step = signal<Step>("phone");
  readonly phone = signal(""); // as normalised by the server
  readonly busy = signal(false);
  readonly problem = signal<Problem | null>(null);
  readonly link = signal<LinkRequest | null>(null);
  readonly linkExpired = signal(false);
  /** Server clock minus local clock, ms, as of the link request (for its countdown). */
  readonly skewMs = signal(0);
  readonly notice = signal<"logged_out" | null>(null);
  private flow: LinkFlow | null = null;

  constructor(
    private readonly api: Api,
    private readonly store: LocalStore,
    private readonly deviceName: string,
    private readonly onLogin: (auth: Auth) => void,
  ) {}

  private async run(fn: () => Promise<void>): Promise<void> {
    this.busy.value = true;
    this.problem.value = null;
    try {
      await fn();
    } catch (exc) {
      this.problem.value = problemOf(exc);
    } finally {
      this.busy.value = false;
    }
  }

  requestCode(phone: string): Promise<void> {
    return this.run(async () => {
      const r = await this.api.requestCode(phone.trim());
      this.phone.value = r.phone;
      this.step.value = "code";
    });
  }

  verify(code: string): Promise<void> {
    return this.run(async () => {
      const login = await this.api.verify(this.phone.value, code.trim(), this.deviceName);
      await this.loggedIn(login);
    });
  }

  back(): void {
    this.cancelLink();
    this.problem.value = null;
    this.step.value = "phone";
  }

  /** Show a pairing code and wait for a logged-in device to approve it. */
  startLink(): Promise<void> {
    this.cancelLink();
    this.step.value = "link";
    this.linkExpired.value = false;
    const flow = (this.flow = new LinkFlow(this.api));
    return this.run(async () => {
      const req = await flow.request(this.deviceName);
      if (flow !== this.flow) return;
      this.skewMs.value = this.api.skewMs;
      this.link.value = req;
      this.busy.value = false;
      const outcome = await flow.wait(req);
      if (flow !== this.flow) return;
      if (outcome.kind === "linked") await this.loggedIn(outcome.login);
      else if (outcome.kind === "expired") this.linkExpired.value = true;
    });
  }

  cancelLink(): void {
    this.flow?.cancel();
    this.flow = null;
    this.link.value = null;
  }

  private async loggedIn(login: Login): Promise<void> {
    const auth: Auth = { token: login.token, user_id: login.user_id, device_id: login.device_id };
    await this.store.setAuth(auth);
    this.flow = null;
    this.link.value = null;
    this.step.value = "phone";
    this.onLogin(auth);
  }
}
