// Reconnect delays: exponential backoff with "full jitter" (a uniformly random delay between 0 and the capped
// exponential), so that clients dropped together by a restart do not come back together (protocol 4.4).

export interface BackoffOptions {
  baseMs?: number;
  capMs?: number;
  random?: () => number;
}

export class Backoff {
  private attempt = 0;
  private readonly baseMs: number;
  private readonly capMs: number;
  private readonly random: () => number;

  constructor(opts: BackoffOptions = {}) {
    this.baseMs = opts.baseMs ?? 1000;
    this.capMs = opts.capMs ?? 15000;
    this.random = opts.random ?? Math.random;
  }

  /** The delay before the next try; each call counts one more failure. Never below 250 ms. */
  next(): number {
    const ceiling = Math.min(this.capMs, this.baseMs * 2 ** this.attempt);
    this.attempt = Math.min(this.attempt + 1, 30);
    return Math.max(250, Math.floor(this.random() * ceiling));
  }

  /** A connection got through (welcome): start again from the base. */
  reset(): void {
    this.attempt = 0;
  }
}
