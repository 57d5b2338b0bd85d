import { cleanup, render, screen, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { act } from "react";
import { afterEach, describe, expect, it, vi } from "vitest";

import { ToolError } from "./errors";
import { fakeServers } from "./fakeServers";
import type { Step } from "./live/place";
import { navigate } from "./router";
import { Shop } from "./Shop";
import type { CalendarDay } from "./types";

afterEach(() => {
  cleanup();
  // Each test starts at the app's first page: the flow moves the address bar (router.ts).
  window.history.replaceState(null, "", "/");
});

const DAYS: CalendarDay[] = [
  { date: "2027-01-05", price_cents: 4500, currency: "USD", band: "off_peak", seats_left: 100, available: true, reason: null },
  { date: "2027-01-06", price_cents: 4500, currency: "USD", band: "off_peak", seats_left: 0, available: false, reason: "SOLD_OUT: no seats left" },
  { date: "2027-01-07", price_cents: 5000, currency: "USD", band: "standard", seats_left: 3, available: true, reason: null },
];

const ORDER = {
  order_id: "ord_1",
  ticket_number: "TKT-JD0001",
  tier: "non_stop",
  visit_date: "2027-01-07",
  amount_cents: 5000,
  currency: "USD",
  status: "awaiting_payment",
  hold_expires_at: new Date(Date.now() + 15 * 60_000).toISOString(),
  confirmation_code: null,
};

const ANSWERS = {
  list_my_tickets: {
    tickets: [{ ticket_number: "TKT-JD0001", ticket_type: "general", status: "active", visit_date: "2027-01-01", upgrade_tier: null }],
  },
  get_upgrade_options: {
    ticket_number: "TKT-JD0001",
    tiers: [
      { tier: "standard", name: "Standard", description: "d", includes: ["a"], from_price_cents: 2250, currency: "USD", available: true, reason: null },
      { tier: "non_stop", name: "Non-stop", description: "d", includes: ["b"], from_price_cents: 4500, currency: "USD", available: true, reason: null },
      { tier: "double_fun", name: "Double Fun", description: "d", includes: ["c"], from_price_cents: null, currency: "USD", available: false, reason: "SOLD_OUT: none left" },
    ],
  },
  get_availability_calendar: { ticket_number: "TKT-JD0001", tier: "non_stop", days: DAYS },
  quote_upgrade: { ticket_number: "TKT-JD0001", tier: "non_stop", date: "2027-01-07", base_cents: 5000, band: "standard", multiplier: "1.0", total_cents: 5000, currency: "USD", hold_minutes: 15 },
  select_upgrade: ORDER,
  create_payment_method: { payment_method_id: "pm_1", brand: "visa", last4: "4242" },
  get_ticket: { ticket_number: "TKT-JD0001", ticket_type: "general", status: "active", visit_date: "2027-01-01", upgrade_tier: null },
  list_payment_methods: { payment_methods: [] },
};

describe("the upgrade flow", () => {
  it("shows tiers in order with prices and reasons, and a calendar that explains closed days", async () => {
    const user = userEvent.setup();
    const { servers } = fakeServers(ANSWERS);
    render(<Shop servers={servers} />);

    await user.click(await screen.findByRole("button", { name: "Upgrade options for TKT-JD0001" }));
    const tiers = await screen.findAllByRole("heading", { level: 3 });
    expect(tiers.map((heading) => heading.textContent)).toEqual(["Standard", "Non-stop", "Double Fun"]);
    expect(screen.getByText("From $45.00")).toBeTruthy();
    expect(screen.getByText(/Not available: That day is sold out/)).toBeTruthy();

    await user.click(screen.getByRole("button", { name: "Choose a date for Non-stop" }));
    const soldOut = await screen.findByRole("button", { name: /6 January 2027: That day is sold out/ });
    expect(soldOut.getAttribute("aria-disabled")).toBe("true");
    const outside = screen.getByRole("button", { name: /20 January 2027: Not offered/ });
    expect(outside.getAttribute("aria-disabled")).toBe("true");
    expect(within(outside).getByText("Not offered")).toBeTruthy();
    expect(within(soldOut).getByText("Sold out")).toBeTruthy();
    const legend = screen.getByRole("list", { name: "Price bands" });
    expect(within(legend).getAllByRole("listitem").map((item) => item.textContent)).toEqual([
      "Peak",
      "Weekend",
      "Off-peak",
      "Standard",
    ]);
    await user.click(soldOut); // a closed day chooses nothing
    expect(screen.getByRole("heading", { name: "Non-stop for TKT-JD0001" })).toBeTruthy();
  });

  it("moves through the calendar by keyboard and chooses with Enter", async () => {
    const user = userEvent.setup();
    const { servers, calls } = fakeServers(ANSWERS);
    render(<Shop servers={servers} />);
    await user.click(await screen.findByRole("button", { name: "Upgrade options for TKT-JD0001" }));
    await user.click(await screen.findByRole("button", { name: "Choose a date for Non-stop" }));

    const first = await screen.findByRole("button", { name: /5 January 2027: \$45.00, Off-peak price, 100 seats left/ });
    expect(first.tabIndex).toBe(0);
    first.focus();
    await user.keyboard("{ArrowRight}{ArrowRight}");
    expect(document.activeElement?.getAttribute("data-date")).toBe("2027-01-07");
    await user.keyboard("{PageDown}");
    expect(document.activeElement?.getAttribute("data-date")).toBe("2027-02-07");
    expect(screen.getByRole("heading", { name: "February 2027" })).toBeTruthy();
    await user.keyboard("{PageUp}{Enter}");

    expect(await screen.findByText("$50.00", { selector: ".total" })).toBeTruthy();
    expect(calls.at(-1)).toEqual({ name: "quote_upgrade", args: { ticket_number: "TKT-JD0001", tier: "non_stop", date: "2027-01-07" } });
  });

  it("holds, counts down, shows a decline in plain words, then confirms with the code", async () => {
    const user = userEvent.setup();
    let attempt = 0;
    const paid = { ...ORDER, status: "confirmed", confirmation_code: "UPG-ABC123" };
    const { servers, calls } = fakeServers({
      ...ANSWERS,
      pay_upgrade: () => {
        attempt += 1;
        return attempt === 1
          ? { order: ORDER, payment_status: "declined", decline_code: "insufficient_funds", message: "Declined." }
          : { order: paid, payment_status: "succeeded", decline_code: null, message: "Paid." };
      },
    });
    render(<Shop servers={servers} />);
    await user.click(await screen.findByRole("button", { name: "Upgrade options for TKT-JD0001" }));
    await user.click(await screen.findByRole("button", { name: "Choose a date for Non-stop" }));
    await user.click(await screen.findByRole("button", { name: /Thursday 7 January 2027/ }));
    await user.click(await screen.findByRole("button", { name: "Hold this upgrade" }));

    expect((await screen.findByRole("timer")).textContent).toMatch(/^1[45]:[0-5]\d$/);
    const form = await screen.findByRole("form", { name: "Pay" });
    await user.type(within(form).getByLabelText("Card number"), "4000000000009995");
    await user.type(within(form).getByLabelText("Expiry month"), "12");
    await user.type(within(form).getByLabelText("Expiry year"), "2030");
    await user.type(within(form).getByLabelText("Security code"), "123");
    await user.click(within(form).getByRole("button", { name: "Pay $50.00" }));
    expect((await screen.findByRole("alert")).textContent).toMatch(/insufficient funds/);

    await user.click(within(form).getByRole("button", { name: "Pay $50.00" }));
    expect((await screen.findByText("UPG-ABC123")).className).toBe("confirmation-code");

    const cardCalls = calls.filter((call) => call.name === "create_payment_method");
    expect(cardCalls[0]?.args).toEqual({ card_number: "4000000000009995", exp_month: 12, exp_year: 2030, cvc: "123" });
    const payCalls = calls.filter((call) => call.name === "pay_upgrade");
    expect(payCalls.map((call) => call.args["payment_method"])).toEqual(["pm_1", "pm_1"]);
    // Each attempt is a new intended write; neither carries the card.
    expect(payCalls[0]?.args["idempotency_key"]).not.toBe(payCalls[1]?.args["idempotency_key"]);
    expect(JSON.stringify(payCalls)).not.toContain("4000000000009995");
  });

  it("shows a failed load in words with a retry", async () => {
    const user = userEvent.setup();
    const { servers } = fakeServers({ ...ANSWERS, list_my_tickets: new ToolError("UNAVAILABLE", "db down") });
    render(<Shop servers={servers} />);
    expect((await screen.findByRole("alert")).textContent).toMatch(/busy right now/);
    expect(screen.getByRole("button", { name: "Try again" })).toBeTruthy();
    await user.click(screen.getByRole("button", { name: "Try again" }));
    expect((await screen.findByRole("alert")).textContent).toMatch(/busy right now/);
  });

  it("returns once to the step a new sign-in brought back, and reports each step", async () => {
    const user = userEvent.setup();
    const { servers } = fakeServers(ANSWERS);
    const back: Step = { screen: "checkout", ticket: "TKT-JD0001", tier: "non_stop", day: DAYS[2] as CalendarDay };
    const onStep = vi.fn<(step: Step | null) => void>();
    window.history.replaceState(null, "", "/tickets/TKT-JD0001");
    render(<Shop servers={servers} resume={back} onStep={onStep} />);

    expect(await screen.findByRole("heading", { name: "Non-stop on Thursday 7 January 2027" })).toBeTruthy();
    expect(onStep).toHaveBeenLastCalledWith(back);
    await user.click(screen.getByRole("button", { name: "← Back" }));
    expect(onStep).toHaveBeenLastCalledWith({ screen: "calendar", ticket: "TKT-JD0001", tier: "non_stop" });

    act(() => navigate({ page: "orders" }));
    expect(onStep).toHaveBeenLastCalledWith(null);
    act(() => navigate({ page: "ticket", ticket: "TKT-JD0001" }));
    // A later visit starts at the ticket's options.
    expect(await screen.findByRole("button", { name: "Choose a date for Non-stop" })).toBeTruthy();
  });
});
