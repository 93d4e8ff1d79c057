// Interface strings from the translation files (ar*.json / en*.json, one pair per area of the app so that work
// on one area does not touch another's file); the locale is a signal, so every view re-renders when it changes.
// Dates and numbers go through Intl in the same locale (formatters are cached per locale).
import { signal } from "@preact/signals";
import arCore from "./ar.json";
import arGroups from "./ar.groups.json";
import arLists from "./ar.lists.json";
import arMedia from "./ar.media.json";
import enCore from "./en.json";
import enGroups from "./en.groups.json";
import enLists from "./en.lists.json";
import enMedia from "./en.media.json";

export type Locale = "ar" | "en";
const en = { ...enCore, ...enGroups, ...enMedia, ...enLists };
const ar: Record<string, string> = { ...arCore, ...arGroups, ...arMedia, ...arLists };
export type Key = keyof typeof en;
const tables: Record<Locale, Record<string, string>> = { ar, en };

export const locale = signal<Locale>("en");

export function defaultLocale(languages: readonly string[]): Locale {
  for (const lang of languages) {
    const base = lang.toLowerCase().split("-")[0];
    if (base === "ar" || base === "en") return base;
  }
  return "en";
}

export function dirOf(l: Locale): "rtl" | "ltr" {
  return l === "ar" ? "rtl" : "ltr";
}

/** The string for `key`, with `{name}` placeholders filled in (numbers through Intl). */
export function t(key: Key, params: Record<string, string | number> = {}): string {
  const l = locale.value;
  const raw = tables[l][key] ?? en[key] ?? key;
  return raw.replace(/\{(\w+)\}/g, (_, name: string) => {
    const v = params[name];
    if (v === undefined) return "";
    return typeof v === "number" ? formatNumber(v) : v;
  });
}

const cache = new Map<string, Intl.DateTimeFormat | Intl.NumberFormat>();
function fmt<T extends Intl.DateTimeFormat | Intl.NumberFormat>(id: string, make: (l: string) => T): T {
  const l = locale.value === "ar" ? "ar-EG" : "en-GB";
  const k = `${l}|${id}`;
  let f = cache.get(k);
  if (!f) cache.set(k, (f = make(l)));
  return f as T;
}

export function formatNumber(n: number): string {
  return fmt("n", (l) => new Intl.NumberFormat(l)).format(n);
}
export function formatTime(tsSeconds: number): string {
  return fmt("t", (l) => new Intl.DateTimeFormat(l, { hour: "numeric", minute: "2-digit" })).format(tsSeconds * 1000);
}
export function formatDay(tsSeconds: number): string {
  return fmt("d", (l) => new Intl.DateTimeFormat(l, { weekday: "long", day: "numeric", month: "long", year: "numeric" }))
    .format(tsSeconds * 1000);
}
export function formatShortDate(tsSeconds: number): string {
  return fmt("s", (l) => new Intl.DateTimeFormat(l, { day: "numeric", month: "short" })).format(tsSeconds * 1000);
}
