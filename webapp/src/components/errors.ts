import { type Key, t } from "../i18n";
import type { Problem } from "../state/auth";

const KNOWN = new Set(["code_invalid", "code_expired", "invalid_phone", "rate_limited", "device_limit", "network"]);

export function problemText(p: Problem): string {
  if (p.code === "code_attempts_exceeded") return t("error.rate_limited", { seconds: 60 });
  if (KNOWN.has(p.code)) return t(`error.${p.code}` as Key, { seconds: Math.ceil(p.retryAfter ?? 60) });
  return t("error.generic", { code: p.code });
}
