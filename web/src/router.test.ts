import { describe, expect, it } from "vitest";

import { pageTitle, parseRoute, routePath, type Route } from "./router";

describe("the app's addresses", () => {
  it("name each page and come back to the same page", () => {
    const routes: Route[] = [{ page: "tickets" }, { page: "ticket", ticket: "TKT-JD0001" }, { page: "orders" }, { page: "pay", orderId: "ord_1" }, { page: "prices" }];
    for (const route of routes) {
      expect(parseRoute(routePath(route))).toEqual(route);
    }
    expect(routePath({ page: "ticket", ticket: "a/b c" })).toBe("/tickets/a%2Fb%20c");
    expect(parseRoute("/tickets/a%2Fb%20c")).toEqual({ page: "ticket", ticket: "a/b c" });
  });

  it("treat anything else as a missing page, never as a ticket", () => {
    for (const path of ["/tickets", "/tickets/", "/tickets/a/b", "/order", "/tickets/%E0%A4%A", "/callback", "/orders/pay", "/orders/%E0%A4%A/pay"]) {
      expect(parseRoute(path)).toEqual({ page: "missing", path });
    }
    expect(parseRoute("/orders/")).toEqual({ page: "orders" });
  });
});

describe("the page titles", () => {
  it("name the page first", () => {
    expect(pageTitle({ page: "orders" })).toBe("My orders · Ticket upgrades");
    expect(pageTitle({ page: "ticket", ticket: "TKT-JD0001" })).toBe("Ticket TKT-JD0001 · Ticket upgrades");
  });
});
