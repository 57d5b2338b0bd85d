import { describe, expect, it } from "vitest";

import { addDays, addMonths, monthWeeks, moveFocus } from "./calendar";
import { parseConfig } from "./config";
import { declineMessage, humanMessage, parseToolError, reasonText, ToolError } from "./errors";
import { formatCents, formatCountdown, formatDate } from "./format";

describe("format", () => {
  it("prints integer cents as dollars without floating point", () => {
    expect(formatCents(3750, "USD")).toBe("$37.50");
    expect(formatCents(5, "USD")).toBe("$0.05");
    expect(formatCents(123456789, "USD")).toBe("$1,234,567.89");
    expect(formatCents(-250, "EUR")).toBe("-EUR 2.50");
  });

  it("prints an ISO date as that calendar day, whatever the zone", () => {
    expect(formatDate("2026-12-24")).toBe("Thursday 24 December 2026");
  });

  it("counts down as m:ss and never below zero", () => {
    expect(formatCountdown(899.6)).toBe("14:59");
    expect(formatCountdown(5)).toBe("0:05");
    expect(formatCountdown(-3)).toBe("0:00");
  });
});

describe("calendar arithmetic", () => {
  it("moves across month and year ends", () => {
    expect(addDays("2026-12-31", 1)).toBe("2027-01-01");
    expect(addDays("2028-03-01", -1)).toBe("2028-02-29");
    expect(addMonths(2026, 12, 1)).toEqual({ year: 2027, month: 1 });
    expect(addMonths(2027, 1, -1)).toEqual({ year: 2026, month: 12 });
  });

  it("lays a month out Monday first in whole weeks", () => {
    const weeks = monthWeeks(2026, 12); // 1 December 2026 is a Tuesday
    expect(weeks[0]).toEqual([null, "2026-12-01", "2026-12-02", "2026-12-03", "2026-12-04", "2026-12-05", "2026-12-06"]);
    expect(weeks.every((week) => week.length === 7)).toBe(true);
    expect(weeks.flat().filter((cell) => cell !== null)).toHaveLength(31);
  });

  it("follows the date-grid keys", () => {
    expect(moveFocus("2026-12-10", "ArrowDown")).toBe("2026-12-17");
    expect(moveFocus("2026-12-10", "ArrowUp")).toBe("2026-12-03");
    expect(moveFocus("2026-12-10", "Home")).toBe("2026-12-07");
    expect(moveFocus("2026-12-10", "End")).toBe("2026-12-13");
    expect(moveFocus("2027-01-31", "PageDown")).toBe("2027-02-28");
    expect(moveFocus("2026-12-10", "a")).toBeNull();
  });
});

describe("errors", () => {
  it("splits a tool error into its code and message", () => {
    const error = parseToolError("TOO_LATE: upgrades close 24 hours before the visit");
    expect(error.code).toBe("TOO_LATE");
    expect(error.detail).toBe("upgrades close 24 hours before the visit");
    expect(parseToolError("boom").code).toBe("INTERNAL");
  });

  it("says every error in plain words, never the raw text", () => {
    expect(humanMessage(new ToolError("SOLD_OUT", "0 seats"))).toBe("That day is sold out for this tier.");
    expect(humanMessage(new ToolError("SOMETHING_NEW", "the server's words"))).toBe("the server's words");
    expect(humanMessage(new TypeError("Failed to fetch"))).toMatch(/couldn't reach/);
    expect(reasonText("SOLD_OUT: no seats left").short).toBe("Sold out");
    expect(declineMessage("insufficient_funds", "x")).toMatch(/insufficient funds/);
    expect(declineMessage(null, "Declined.")).toBe("Declined.");
  });
});

describe("config", () => {
  it("accepts a complete config and names what is missing", () => {
    const config = { issuer: "http://i/", client_id: "web", ticket_url: "http://t/mcp", payment_url: "http://p/mcp" };
    expect(parseConfig(config)).toEqual({ ...config, chat_url: "/api/chat" });
    expect(parseConfig({ ...config, chat_url: "https://chat/api/chat" }).chat_url).toBe("https://chat/api/chat");
    expect(() => parseConfig({ issuer: "http://i/" })).toThrow("client_id, ticket_url, payment_url");
  });
});
