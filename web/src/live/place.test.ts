import { describe, expect, it } from "vitest";

import { placeOf, returnPath } from "./place";

const DAY = { date: "2027-01-07", price_cents: 5000, currency: "USD", band: "standard", seats_left: 3, available: true, reason: null };

describe("the place brought back through a new sign-in", () => {
  it("keeps the page's address and the step of the ticket's flow", () => {
    for (const step of [
      null,
      { screen: "options", ticket: "TKT-JD0001" },
      { screen: "calendar", ticket: "TKT-JD0001", tier: "non_stop" },
      { screen: "checkout", ticket: "TKT-JD0001", tier: "non_stop", day: DAY },
    ]) {
      const place = { path: "/tickets/TKT-JD0001", step };
      expect(placeOf(JSON.parse(JSON.stringify(place)))).toEqual(place);
    }
    expect(placeOf({ path: "/orders/ord_1/pay", step: null })).toEqual({ path: "/orders/ord_1/pay", step: null });
  });

  it("drops a step that is anything else, and starts at My tickets without a place", () => {
    for (const step of [
      "calendar",
      { screen: "calendar", ticket: "TKT-1", tier: "gold" },
      { screen: "checkout", ticket: "TKT-1", tier: "standard", day: { ...DAY, price_cents: "5000" } },
      { screen: "admin" },
      { screen: "options", ticket: "x".repeat(65) },
    ]) {
      expect(placeOf({ path: "/orders", step })).toEqual({ path: "/orders", step: null });
    }
    for (const raw of [null, undefined, "/orders", 7]) {
      expect(placeOf(raw)).toEqual({ path: "/", step: null });
    }
  });

  it("returns to the app's own page the sign-in started on, never another site or the callback", () => {
    expect(returnPath("/orders")).toBe("/orders");
    expect(returnPath("/tickets/TKT-JD0001")).toBe("/tickets/TKT-JD0001");
    for (const elsewhere of ["//evil.example/x", "https://evil.example/", "/callback", undefined, 7]) {
      expect(returnPath(elsewhere)).toBe("/");
    }
    expect(placeOf({ path: "//evil.example/x", step: null }).path).toBe("/");
  });
});
