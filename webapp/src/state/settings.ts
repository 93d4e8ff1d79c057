// Language and theme: preferences of this browser, not of the account, so they live in localStorage and stay
// after logout (which wipes IndexedDB). The page applies them to <html> (main.tsx).
import { effect, signal } from "@preact/signals";
import { defaultLocale, locale, type Locale } from "../i18n";

export type Theme = "light" | "dark";

export interface Prefs {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
}

export class SettingsModel {
  readonly locale = locale;
  readonly theme = signal<Theme>("light");

  constructor(
    private readonly prefs: Prefs,
    languages: readonly string[],
    prefersDark: boolean,
  ) {
    const saved = prefs.getItem("hudhud.locale");
    this.locale.value = saved === "ar" || saved === "en" ? saved : defaultLocale(languages);
    const theme = prefs.getItem("hudhud.theme");
    this.theme.value = theme === "dark" || theme === "light" ? theme : prefersDark ? "dark" : "light";
    effect(() => prefs.setItem("hudhud.locale", this.locale.value));
    effect(() => prefs.setItem("hudhud.theme", this.theme.value));
  }

  setLocale(l: Locale): void {
    this.locale.value = l;
  }
  setTheme(t: Theme): void {
    this.theme.value = t;
  }
}
