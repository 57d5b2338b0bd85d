/** The customer's place, carried through a sign-in: the page's address (router.ts), and on a
 * ticket's page the step of its flow (the tier and day chosen), which has no address of its own.
 * oidc-client-ts keeps it with the sign-in request's state (in sessionStorage, for the
 * redirect's length) and hands it back on the user. What comes back is checked: an address that
 * is not the app's own is the start page, and an unexpected step is the ticket's options. */
import type { CalendarDay, Tier } from "../types";

/** A step of a ticket's flow (tickets → options → calendar → checkout), for that ticket. */
export type Step =
  | { screen: "options"; ticket: string }
  | { screen: "calendar"; ticket: string; tier: Tier }
  | { screen: "checkout"; ticket: string; tier: Tier; day: CalendarDay };

export interface Place {
  path: string;
  step: Step | null;
}

export const CALLBACK_PATH = "/callback";

const TIERS = new Set<string>(["standard", "non_stop", "double_fun"]);
const BANDS = new Set<string>(["peak", "weekend", "off_peak", "standard"]);

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null;
}

function isText(value: unknown): value is string {
  return typeof value === "string" && value.length > 0 && value.length <= 64;
}

function isTier(value: unknown): value is Tier {
  return typeof value === "string" && TIERS.has(value);
}

function isDay(value: unknown): value is CalendarDay {
  return (
    isRecord(value) &&
    isText(value["date"]) &&
    Number.isInteger(value["price_cents"]) &&
    isText(value["currency"]) &&
    typeof value["band"] === "string" &&
    BANDS.has(value["band"]) &&
    Number.isInteger(value["seats_left"]) &&
    typeof value["available"] === "boolean" &&
    (value["reason"] === null || typeof value["reason"] === "string")
  );
}

/** Where to go after a sign-in: the app's own page it started on; anything else (another
 * site's address, the callback itself) is the start page. */
export function returnPath(path: unknown): string {
  if (typeof path !== "string" || !path.startsWith("/") || path.startsWith("//") || path === CALLBACK_PATH) {
    return "/";
  }
  return path;
}

export function stepOf(raw: unknown): Step | null {
  if (!isRecord(raw)) {
    return null;
  }
  const { screen, ticket, tier, day } = raw;
  if (screen === "options" && isText(ticket)) {
    return { screen, ticket };
  }
  if (screen === "calendar" && isText(ticket) && isTier(tier)) {
    return { screen, ticket, tier };
  }
  if (screen === "checkout" && isText(ticket) && isTier(tier) && isDay(day)) {
    return { screen, ticket, tier, day };
  }
  return null;
}

export function placeOf(raw: unknown): Place {
  if (!isRecord(raw)) {
    return { path: "/", step: null };
  }
  return { path: returnPath(raw["path"]), step: stepOf(raw["step"]) };
}
