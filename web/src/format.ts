/** Money, dates and durations as the customer reads them. Money stays integer cents until it is
 * printed; dates are ISO dates shown without any time-zone shift. */
import type { Band, Tier } from "./types";

export function formatCents(cents: number, currency: string): string {
  const sign = cents < 0 ? "-" : "";
  const abs = Math.abs(cents);
  const whole = Math.floor(abs / 100).toLocaleString("en-US");
  const fraction = String(abs % 100).padStart(2, "0");
  const symbol = currency === "USD" ? "$" : `${currency} `;
  return `${sign}${symbol}${whole}.${fraction}`;
}

const MONTHS = [
  "January", "February", "March", "April", "May", "June",
  "July", "August", "September", "October", "November", "December",
];
const WEEKDAYS = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"];

/** "2026-12-24" -> "Thursday 24 December 2026", computed in UTC so no zone moves the day. */
export function formatDate(iso: string): string {
  const day = new Date(`${iso}T00:00:00Z`);
  return `${WEEKDAYS[day.getUTCDay()]} ${day.getUTCDate()} ${MONTHS[day.getUTCMonth()]} ${day.getUTCFullYear()}`;
}

export function monthName(year: number, month: number): string {
  return `${MONTHS[month - 1]} ${year}`;
}

export const TIER_NAMES: Record<Tier, string> = {
  standard: "Standard",
  non_stop: "Non-stop",
  double_fun: "Double Fun",
};

export const BAND_NAMES: Record<Band, string> = {
  peak: "Peak",
  weekend: "Weekend",
  off_peak: "Off-peak",
  standard: "Standard",
};

/** Seconds left as m:ss (never negative). */
export function formatCountdown(secondsLeft: number): string {
  const seconds = Math.max(0, Math.floor(secondsLeft));
  return `${Math.floor(seconds / 60)}:${String(seconds % 60).padStart(2, "0")}`;
}
