// Linking this browser to an account with a pairing code (docs/protocol.md section 2.5): ask for a code, show
// it, and poll `claim` with the secret until a logged-in device approves it. The secret never leaves here.
import { Api, ApiError, type LinkRequest, type Login } from "./api";

export interface LinkOptions {
  intervalMs?: number;
  sleep?: (ms: number) => Promise<void>;
  now?: () => number; // seconds, to compare with expires_at
}

export type LinkOutcome = { kind: "linked"; login: Login } | { kind: "expired" } | { kind: "cancelled" };

export class LinkFlow {
  private cancelled = false;
  constructor(
    private readonly api: Api,
    private readonly opts: LinkOptions = {},
  ) {}

  request(deviceName: string): Promise<LinkRequest> {
    return this.api.createLinkRequest(deviceName);
  }

  cancel(): void {
    this.cancelled = true;
  }

  /** Poll until approved (200 with the token, handed out once), expired or cancelled. Network errors: keep polling. */
  async wait(req: LinkRequest): Promise<LinkOutcome> {
    const sleep = this.opts.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
    const now = this.opts.now ?? (() => (Date.now() + this.api.skewMs) / 1000); // on the server's clock
    const interval = this.opts.intervalMs ?? 1500;
    while (!this.cancelled) {
      try {
        const claim = await this.api.claimLink(req.request_id, req.secret);
        if (claim.status === "linked") {
          return { kind: "linked", login: { user_id: claim.user_id, device_id: claim.device_id, token: claim.token } };
        }
      } catch (exc) {
        if (exc instanceof ApiError && exc.code === "pairing_invalid") return { kind: "expired" };
        if (exc instanceof ApiError && exc.status !== 429 && exc.status < 500) throw exc;
      }
      if (now() > req.expires_at) return { kind: "expired" };
      await sleep(interval);
    }
    return { kind: "cancelled" };
  }
}
