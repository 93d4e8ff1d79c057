import { formatNumber, locale } from "../../i18n";

/** 1.2 MB, 340 kB … in the UI's locale (decimal units, as phones show them). */
export function formatBytes(n: number): string {
  const l = locale.value === "ar" ? "ar-EG" : "en-GB";
  const units = ["byte", "kilobyte", "megabyte", "gigabyte"] as const;
  let i = 0;
  let v = n;
  while (v >= 1000 && i < units.length - 1) {
    v /= 1000;
    i++;
  }
  return new Intl.NumberFormat(l, { style: "unit", unit: units[i], unitDisplay: "short", maximumFractionDigits: i ? 1 : 0 }).format(v);
}

/** m:ss */
export function formatDuration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  const ss = String(s % 60).padStart(2, "0");
  return `${formatNumber(Math.floor(s / 60))}:${ss.replace(/\d/g, (d) => formatNumber(Number(d)))}`;
}

export function formatPercent(x: number): string {
  const l = locale.value === "ar" ? "ar-EG" : "en-GB";
  return new Intl.NumberFormat(l, { style: "percent" }).format(Math.max(0, Math.min(1, x)));
}
