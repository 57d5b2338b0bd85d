import { cleanup, render, screen } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { afterEach, describe, expect, it, vi } from "vitest";

import { publicCatalogue } from "./catalogue";
import { ToolError } from "./errors";
import { fakeServers } from "./fakeServers";
import { PricesScreen } from "./Prices";
import type { CalendarDay } from "./types";

afterEach(() => {
  cleanup();
  vi.unstubAllGlobals();
});

const DAYS: CalendarDay[] = [
  { date: "2027-01-05", price_cents: 6750, currency: "USD", band: "off_peak", seats_left: 50, available: true, reason: null },
  { date: "2027-01-08", price_cents: 9000, currency: "USD", band: "weekend", seats_left: 0, available: false, reason: "SOLD_OUT: none" },
];

describe("the price page", () => {
  it("shows a tier's priced calendar by ticket type, a day's price, and says when there is no upgrade", async () => {
    const user = userEvent.setup();
    const { servers, calls } = fakeServers({
      get_price_calendar: (args: Record<string, unknown>) =>
        args["ticket_type"] === "vip" && args["tier"] === "non_stop"
          ? new ToolError("NO_UPGRADE_PATH", "vip has no non_stop")
          : { ticket_type: args["ticket_type"], tier: args["tier"], days: DAYS },
      quote_price: { ticket_type: "general", tier: "double_fun", date: "2027-01-05", base_cents: 7500, band: "off_peak", multiplier: "0.9", total_cents: 6750, currency: "USD" },
    });
    render(<PricesScreen call={servers.ticket} />);

    expect((await screen.findByRole("button", { name: /8 January 2027: That day is sold out/ })).getAttribute("aria-disabled")).toBe("true");
    await user.click(screen.getByRole("button", { name: /Tuesday 5 January 2027: \$67.50, Off-peak price/ }));
    expect(await screen.findByText("$67.50", { selector: ".total" })).toBeTruthy();
    expect(screen.getByText("Off-peak (×0.9)")).toBeTruthy();
    expect(calls.at(-1)).toEqual({ name: "quote_price", args: { ticket_type: "general", tier: "double_fun", date: "2027-01-05" } });

    await user.selectOptions(screen.getByLabelText("Ticket type"), "vip");
    await user.selectOptions(screen.getByLabelText("Upgrade to"), "non_stop");
    expect((await screen.findByText(/There is no upgrade/)).textContent).toBe("There is no upgrade from a VIP ticket to Non-stop.");
    expect(screen.queryByText("$67.50", { selector: ".total" })).toBeNull();
  });
});

describe("the visitors' catalogue route", () => {
  it("posts the arguments to the app's own server and turns its refusal into the tool's code", async () => {
    const fetchMock = vi.fn<typeof fetch>(async () => new Response(JSON.stringify({ error: "DATE_NOT_BOOKABLE: 2020-01-01 is past" }), { status: 400 }));
    vi.stubGlobal("fetch", fetchMock);
    const refused = await publicCatalogue("quote_price", { ticket_type: "general", tier: "standard", date: "2020-01-01" }).catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(ToolError);
    expect((refused as ToolError).code).toBe("DATE_NOT_BOOKABLE");
    expect(fetchMock).toHaveBeenCalledWith("/api/catalogue/quote_price", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ ticket_type: "general", tier: "standard", date: "2020-01-01" }),
    });
  });
});
