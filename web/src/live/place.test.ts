import { describe, expect, it } from "vitest";

import { placeOf } from "./place";

const DAY = { date: "2027-01-07", price_cents: 5000, currency: "USD", band: "standard", seats_left: 3, available: true, reason: null };

describe("the place brought back through a new sign-in", () => {
  it("is kept when it is a screen of the flow", () => {
    for (const view of [
      { screen: "tickets" },
      { screen: "options", ticket: "TKT-JD0001" },
      { screen: "calendar", ticket: "TKT-JD0001", tier: "non_stop" },
      { screen: "checkout", ticket: "TKT-JD0001", tier: "non_stop", day: DAY },
      { screen: "pay", orderId: "ord_1" },
    ]) {
      expect(placeOf(JSON.parse(JSON.stringify(view)))).toEqual(view);
    }
  });

  it("starts at My tickets when it is anything else", () => {
    for (const raw of [
      null,
      undefined,
      "calendar",
      { screen: "calendar", ticket: "TKT-1", tier: "gold" },
      { screen: "checkout", ticket: "TKT-1", tier: "standard", day: { ...DAY, price_cents: "5000" } },
      { screen: "admin" },
      { screen: "options", ticket: "x".repeat(65) },
    ]) {
      expect(placeOf(raw)).toEqual({ screen: "tickets" });
    }
  });
});
