import { cleanup, render, screen, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { afterEach, describe, expect, it } from "vitest";

import { fakeServers } from "../fakeServers";
import type { UpgradeOrder } from "../types";
import { PayOrder } from "./PayOrder";

afterEach(cleanup);

const HELD: UpgradeOrder = {
  order_id: "ord_1",
  ticket_number: "TKT-JD0001",
  tier: "non_stop",
  visit_date: "2027-01-07",
  amount_cents: 5000,
  currency: "USD",
  status: "awaiting_payment",
  hold_expires_at: new Date(Date.now() + 10 * 60_000).toISOString(),
  confirmation_code: null,
};

function servers(order: UpgradeOrder) {
  return fakeServers({
    get_upgrade_order: order,
    list_payment_methods: { payment_methods: [] },
    create_payment_method: { payment_method_id: "pm_1", brand: "visa", last4: "4242" },
    pay_upgrade: {
      order: { ...order, status: "confirmed", confirmation_code: "UPG-XYZ" },
      payment_status: "succeeded",
      decline_code: null,
      message: "Paid.",
      checkout_url: null,
    },
  });
}

describe("the pay step of an order the concierge held", () => {
  it("loads the order, takes the card on the payment server and shows the confirmation", async () => {
    const user = userEvent.setup();
    const fake = servers(HELD);
    render(<PayOrder servers={fake.servers} orderId="ord_1" onDone={() => {}} />);
    expect(await screen.findByRole("heading", { name: "Pay for Non-stop on Thursday 7 January 2027" })).toBeTruthy();
    expect(screen.getByRole("timer")).toBeTruthy();
    const form = screen.getByRole("form", { name: "Pay" });
    await user.type(await within(form).findByLabelText("Card number"), "4242424242424242");
    await user.type(within(form).getByLabelText("Expiry month"), "12");
    await user.type(within(form).getByLabelText("Expiry year"), "2030");
    await user.type(within(form).getByLabelText("Security code"), "123");
    await user.click(within(form).getByRole("button", { name: "Pay $50.00" }));
    expect((await screen.findByText("UPG-XYZ")).className).toBe("confirmation-code");
    const made = fake.calls.filter((call) => call.name !== "list_payment_methods");
    expect(made.map((call) => call.name)).toEqual(["get_upgrade_order", "create_payment_method", "pay_upgrade"]);
    expect(made[2]?.args).toMatchObject({ order_id: "ord_1", payment_method: "pm_1" });
  });

  it("says why an order that is no longer open cannot be paid", async () => {
    render(<PayOrder servers={servers({ ...HELD, status: "expired" }).servers} orderId="ord_1" onDone={() => {}} />);
    expect((await screen.findByRole("alert")).textContent).toBe("Your hold has expired; please choose the date again.");
    expect(screen.queryByRole("form", { name: "Pay" })).toBeNull();
  });
});
