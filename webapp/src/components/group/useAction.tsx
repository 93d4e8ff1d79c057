// Busy flag and error text for a button that calls the model: one at a time, the error shown next to it.
import { useState } from "preact/hooks";
import { type Key, t } from "../../i18n";
import { problemOf } from "../../state/auth";
import { problemText } from "../errors";

const GROUP_ERRORS = new Set([
  "not_admin",
  "not_member",
  "admins_only",
  "group_full",
  "already_member",
  "link_invalid",
  "invitation_invalid",
  "new_chat_limit",
  "not_found",
]);

export function errorText(exc: unknown): string {
  const p = problemOf(exc);
  if (GROUP_ERRORS.has(p.code)) return t(`groupError.${p.code}` as Key);
  return problemText(p);
}

export function useAction(): {
  busy: boolean;
  problem: string | null;
  setProblem: (p: string | null) => void;
  run: (fn: () => Promise<unknown>) => Promise<boolean>;
} {
  const [busy, setBusy] = useState(false);
  const [problem, setProblem] = useState<string | null>(null);
  const run = async (fn: () => Promise<unknown>): Promise<boolean> => {
    setBusy(true);
    setProblem(null);
    try {
      await fn();
      return true;
    } catch (exc) {
      setProblem(errorText(exc));
      return false;
    } finally {
      setBusy(false);
    }
  };
  return { busy, problem, setProblem, run };
}
