import { t } from "../i18n";
import type { Tick } from "../state/projection";

const LABEL = { queued: "tick.queued", sent: "tick.sent", delivered: "tick.delivered", read: "tick.read" } as const;

/** Clock while in the outbox, one tick once `sent`, two once delivered, two blue once read (protocol 7.2). */
export function Ticks({ tick }: { tick: Tick }) {
  if (tick === "failed") return null;
  const label = t(LABEL[tick]);
  return (
    <span class={`tick tick-${tick}`} data-tick={tick} role="img" aria-label={label} title={label}>
      {tick === "queued" ? (
        <svg viewBox="0 0 16 16" aria-hidden="true">
          <circle cx="8" cy="8" r="6" fill="none" stroke="currentColor" stroke-width="1.5" />
          <path d="M8 4.5V8l2.5 1.5" fill="none" stroke="currentColor" stroke-width="1.5" />
        </svg>
      ) : (
        <svg viewBox="0 0 20 16" aria-hidden="true">
          <path d="M1.5 8.5l3.5 3.5 7-8" fill="none" stroke="currentColor" stroke-width="1.6" />
          {tick !== "sent" && <path d="M7.5 12l7-8" fill="none" stroke="currentColor" stroke-width="1.6" />}
        </svg>
      )}
    </span>
  );
}
