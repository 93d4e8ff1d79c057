// The connection banner's model: down or not, and the seconds until the next try, ticking once a second.
import { computed, signal, type ReadonlySignal } from "@preact/signals";
import type { ConnStatus } from "../net/session";

export class ConnectionModel {
  readonly now = signal(Date.now());
  readonly secondsLeft: ReadonlySignal<number | null>;
  readonly down: ReadonlySignal<boolean>;
  private timer: ReturnType<typeof setInterval> | null = null;

  constructor(
    readonly status: ReadonlySignal<ConnStatus>,
    private readonly retry: () => void,
    clock: () => number = () => Date.now(),
  ) {
    this.secondsLeft = computed(() => {
      const at = this.status.value.retryAt;
      return at === null ? null : Math.max(0, Math.ceil((at - this.now.value) / 1000));
    });
    this.down = computed(() => this.status.value.state === "offline" || this.status.value.state === "stopped");
    this.timer = setInterval(() => (this.now.value = clock()), 500);
  }

  retryNow(): void {
    this.retry();
  }

  dispose(): void {
    if (this.timer) clearInterval(this.timer);
  }
}
