/** The customer's place in the flow (the screen, ticket, tier and day), carried through a new
 * sign-in when the session ended: oidc-client-ts keeps it with the sign-in request's state (in
 * sessionStorage, for the redirect's length) and hands it back on the user. What comes back is
 * checked, and anything unexpected starts at My tickets. */
import type { View } from "../Shop";
import type { CalendarDay, Tier } from "../types";

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

export function placeOf(raw: unknown): View {
  if (!isRecord(raw)) {
    return { screen: "tickets" };
  }
  const { screen, ticket, tier, day, orderId } = raw;
  if (screen === "options" && isText(ticket)) {
    return { screen, ticket };
  }
  if (screen === "calendar" && isText(ticket) && isTier(tier)) {
    return { screen, ticket, tier };
  }
  if (screen === "checkout" && isText(ticket) && isTier(tier) && isDay(day)) {
    return { screen, ticket, tier, day };
  }
  if (screen === "pay" && isText(orderId)) {
    return { screen, orderId };
  }
  return { screen: "tickets" };
}
