import { cleanup, render, screen, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { afterEach, describe, expect, it } from "vitest";

import { ToolError } from "./errors";
import { fakeServers, type Answers } from "./fakeServers";
import { OrdersScreen } from "./Orders";
import type { CalendarDay, UpgradeOrder } from "./types";

afterEach(cleanup);

const CONFIRMED: UpgradeOrder = {
  order_id: "ord_1",
  ticket_number: "TKT-JD0001",
  tier: "non_stop",
  visit_date: "2027-01-07",
  amount_cents: 5000,
  currency: "USD",
  status: "confirmed",
  hold_expires_at: "2026-12-01T10:15:00Z",
  confirmation_code: "UPG-ABC123",
};
const EXPIRED: UpgradeOrder = { ...CONFIRMED, order_id: "ord_0", status: "expired", confirmation_code: null, visit_date: "2027-01-05" };
const DAYS: CalendarDay[] = [
  { date: "2027-01-07", price_cents: 5000, currency: "USD", band: "standard", seats_left: 9, available: true, reason: null },
  { date: "2027-01-08", price_cents: 6000, currency: "USD", band: "weekend", seats_left: 9, available: true, reason: null },
];

function answers(extra: Answers = {}): Answers {
  let orders = [CONFIRMED, EXPIRED];
  return {
    list_my_orders: () => ({ orders }),
    cancel_upgrade: () => {
      orders = [{ ...CONFIRMED, status: "refunded" }, EXPIRED];
      return orders[0];
    },
    get_ticket: { ticket_number: "TKT-JD0001", ticket_type: "general", status: "active", visit_date: "2027-01-07", upgrade_tier: "non_stop" },
    get_price_calendar: { ticket_type: "general", tier: "non_stop", days: DAYS },
    quote_change: {
      order_id: "ord_1",
      ticket_number: "TKT-JD0001",
      current_tier: "non_stop",
      current_date: "2027-01-07",
      paid_cents: 5000,
      tier: "non_stop",
      date: "2027-01-08",
      band: "weekend",
      new_price_cents: 6000,
      difference_cents: 1000,
      charge_cents: 1000,
      refund_cents: 0,
      currency: "USD",
      seats_left: 9,
      available: true,
      reason: null,
    },
    ...extra,
  };
}

describe("My orders", () => {
  it("releases a seat held for payment, saying nothing was charged", async () => {
    const user = userEvent.setup();
    const held = { ...CONFIRMED, status: "awaiting_payment", confirmation_code: null };
    const { servers, calls } = fakeServers(
      answers({ list_my_orders: { orders: [held] }, cancel_upgrade: { ...held, status: "cancelled" } }),
    );
    render(<OrdersScreen servers={servers} />);
    expect(await screen.findByText("Waiting for payment")).toBeTruthy();
    expect(screen.queryByRole("button", { name: "Change date" })).toBeNull();
    await user.click(screen.getByRole("button", { name: "Release the held seat" }));
    await user.click(screen.getByRole("button", { name: "Release it" }));
    expect((await screen.findByText(/held seat is released/)).textContent).toBe("The held seat is released; nothing was charged.");
    expect(calls.filter((call) => call.name === "cancel_upgrade")).toHaveLength(1);
  });

  it("shows each order's status, amount and date, and cancels a confirmed one with its refund", async () => {
    const user = userEvent.setup();
    const { servers, calls } = fakeServers(answers());
    render(<OrdersScreen servers={servers} />);

    const orders = await screen.findAllByRole("listitem");
    expect(orders).toHaveLength(2);
    const confirmed = orders[0]!;
    expect(within(confirmed).getByRole("heading").textContent).toBe("Non-stop for TKT-JD0001");
    expect(confirmed.textContent).toContain("Thursday 7 January 2027");
    expect(confirmed.textContent).toContain("$50.00");
    expect(confirmed.textContent).toContain("Confirmed");
    expect(confirmed.textContent).toContain("UPG-ABC123");
    // An expired hold offers nothing to change or cancel.
    expect(within(orders[1]!).queryAllByRole("button")).toHaveLength(0);
    expect(orders[1]!.textContent).toContain("Hold expired");

    await user.click(within(confirmed).getByRole("button", { name: "Cancel upgrade" }));
    await user.click(screen.getByRole("button", { name: "Cancel and refund $50.00" }));
    expect((await screen.findByText(/is refunded to your card/)).textContent).toBe(
      "Your Non-stop upgrade is cancelled: $50.00 is refunded to your card.",
    );
    expect(await screen.findByText("Cancelled and refunded")).toBeTruthy();
    const cancel = calls.find((call) => call.name === "cancel_upgrade");
    expect(cancel?.args["order_id"]).toBe("ord_1");
    expect(String(cancel?.args["idempotency_key"])).toMatch(/^web-/);
  });

  it("says why a cancellation is refused, in words", async () => {
    const user = userEvent.setup();
    const { servers } = fakeServers(answers({ cancel_upgrade: new ToolError("TOO_LATE", "visit 2027-01-07 10:00 UTC") }));
    render(<OrdersScreen servers={servers} />);
    await user.click(await screen.findByRole("button", { name: "Cancel upgrade" }));
    await user.click(screen.getByRole("button", { name: "Cancel and refund $50.00" }));
    expect((await screen.findByRole("alert")).textContent).toBe("Upgrades close 24 hours before the visit.");
  });

  it("quotes a change of date, shows a decline, then moves the upgrade with a new key", async () => {
    const user = userEvent.setup();
    let attempt = 0;
    const { servers, calls } = fakeServers(
      answers({
        change_upgrade: () => {
          attempt += 1;
          const base = { change_id: "chg_1", order: CONFIRMED, from_date: "2027-01-07", date: "2027-01-08", refunded_cents: 0, currency: "USD" };
          return attempt === 1
            ? { ...base, status: "declined", charged_cents: 0, decline_code: "insufficient_funds", message: "Declined." }
            : { ...base, status: "changed", charged_cents: 1000, decline_code: null, message: "Changed." };
        },
      }),
    );
    render(<OrdersScreen servers={servers} />);
    await user.click(await screen.findByRole("button", { name: "Change date" }));
    // The current date is shown closed, saying why.
    const current = await screen.findByRole("button", { name: /Thursday 7 January 2027: Your upgrade is already on that date/ });
    expect(current.getAttribute("aria-disabled")).toBe("true");
    await user.click(screen.getByRole("button", { name: /Friday 8 January 2027/ }));
    expect((await screen.findByText("$10.00", { selector: ".difference" })).previousElementSibling?.textContent).toBe("To pay now");

    await user.click(screen.getByRole("button", { name: "Move to Friday 8 January 2027" }));
    expect((await screen.findByRole("alert")).textContent).toMatch(/insufficient funds/);
    await user.click(screen.getByRole("button", { name: "Move to Friday 8 January 2027" }));
    expect((await screen.findByText(/is moved to/)).textContent).toBe(
      "Your upgrade is moved to Friday 8 January 2027. $10.00 was charged to your card.",
    );
    const changes = calls.filter((call) => call.name === "change_upgrade");
    expect(changes.map((call) => call.args["date"])).toEqual(["2027-01-08", "2027-01-08"]);
    expect(changes[0]?.args["idempotency_key"]).not.toBe(changes[1]?.args["idempotency_key"]);
    expect(calls.find((call) => call.name === "get_price_calendar")?.args).toEqual({ ticket_type: "general", tier: "non_stop" });
  });
});
