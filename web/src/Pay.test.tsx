import { cleanup, render, screen, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { afterEach, describe, expect, it, vi } from "vitest";

import { ToolError } from "./errors";
import { fakeServers, type Answers } from "./fakeServers";
import type { SavedCard } from "./orderTypes";
import { useLiveOrder } from "./live/useLiveOrder";
import type { Servers } from "./mcp";
import { PayStep } from "./Pay";
import type { UpgradeOrder } from "./types";

afterEach(() => {
  cleanup();
  vi.useRealTimers();
});

/** The order is watched every few seconds (here every 2 s): the clock is moved on instead of
 * waited for. */
function withFakeClock() {
  vi.useFakeTimers({ shouldAdvanceTime: true });
  return userEvent.setup({ advanceTimers: vi.advanceTimersByTime });
}

const HELD: UpgradeOrder = {
  order_id: "ord_1",
  ticket_number: "TKT-JD0001",
  tier: "non_stop",
  visit_date: "2027-01-07",
  amount_cents: 5000,
  currency: "USD",
  status: "awaiting_payment",
  hold_expires_at: "2099-01-01T00:00:00Z",
  confirmation_code: null,
};
const PAID: UpgradeOrder = { ...HELD, status: "confirmed", confirmation_code: "UPG-XYZ789" };
const VISA: SavedCard = { payment_method_id: "pm_visa", brand: "visa", last4: "4242", exp_month: 3, exp_year: 2031 };
const MASTERCARD: SavedCard = { payment_method_id: "pm_mc", brand: "mastercard", last4: "4444", exp_month: 12, exp_year: 2030 };
const PAGE = "http://127.0.0.1:8003/checkout/cs_abc";

function pays(status: string, extra: Record<string, unknown> = {}) {
  return { order: status === "succeeded" ? PAID : HELD, payment_status: status, decline_code: null, message: status, checkout_url: null, ...extra };
}

/** The pay step as a screen holds it: on the order kept live (useLiveOrder), which says when it
 * is no longer waiting for payment. */
function Held({ servers, onPaid }: { servers: Servers; onPaid: (order: UpgradeOrder) => void }) {
  const [order, setOrder, hurry] = useLiveOrder(servers, HELD, () => 2000);
  if (order === null || order.status !== "awaiting_payment") {
    return <p>Order {order?.status}</p>;
  }
  const paid = (next: UpgradeOrder) => {
    onPaid(next);
    setOrder(next);
  };
  return <PayStep servers={servers} order={order} expired={false} onPaid={paid} onAway={hurry} />;
}

function renderPay(answers: Answers) {
  const { servers, calls } = fakeServers(answers);
  const onPaid = vi.fn<(order: UpgradeOrder) => void>();
  render(<Held servers={servers} onPaid={onPaid} />);
  return { calls, onPaid };
}

describe("the pay step", () => {
  it("pays with the first saved card unless another is picked, and removes a saved card", async () => {
    const user = userEvent.setup();
    let saved = [MASTERCARD, VISA];
    const { calls, onPaid } = renderPay({
      list_payment_methods: () => ({ payment_methods: saved }),
      detach_payment_method: (args: Record<string, unknown>) => {
        saved = saved.filter((card) => card.payment_method_id !== args["payment_method_id"]);
        return MASTERCARD;
      },
      pay_upgrade: pays("succeeded"),
    });
    const first = await screen.findByRole("radio", { name: "Mastercard ending 4444, expires 12/2030" });
    expect((first as HTMLInputElement).checked).toBe(true);
    expect(screen.queryByLabelText("Card number")).toBeNull();

    await user.click(screen.getByRole("button", { name: "Remove Mastercard ending 4444, expires 12/2030" }));
    const visa = await screen.findByRole("radio", { name: "Visa ending 4242, expires 03/2031" });
    expect(screen.queryByRole("radio", { name: /Mastercard/ })).toBeNull();
    expect((visa as HTMLInputElement).checked).toBe(true);

    await user.click(screen.getByRole("button", { name: "Pay $50.00" }));
    expect(onPaid).toHaveBeenCalledWith(PAID);
    expect(calls.find((call) => call.name === "detach_payment_method")?.args).toEqual({ payment_method_id: "pm_mc" });
    expect(calls.find((call) => call.name === "pay_upgrade")?.args["payment_method"]).toBe("pm_visa");
  });

  it("sends the customer to the hosted checkout and confirms once the order is paid there", async () => {
    const user = withFakeClock();
    let asked = 0;
    const { calls, onPaid } = renderPay({
      list_payment_methods: { payment_methods: [VISA] },
      pay_upgrade: pays("requires_checkout", { checkout_url: PAGE }),
      get_upgrade_order: () => {
        asked += 1;
        return asked < 2 ? HELD : PAID;
      },
    });
    await user.click(await screen.findByRole("radio", { name: "On the secure payment page" }));
    expect(screen.queryByLabelText("Card number")).toBeNull();
    await user.click(screen.getByRole("button", { name: "Pay $50.00" }));

    const link = await screen.findByRole("link", { name: "Open the payment page to pay $50.00" });
    expect(link.getAttribute("href")).toBe(PAGE);
    expect(link.getAttribute("target")).toBe("_blank");
    expect(screen.getByRole("status").textContent).toMatch(/Waiting for your payment/);
    await vi.advanceTimersByTimeAsync(2000);
    expect(asked).toBe(1);
    expect(screen.queryByText("Order confirmed")).toBeNull();
    await vi.advanceTimersByTimeAsync(2000);
    expect(await screen.findByText("Order confirmed")).toBeTruthy();
    // One watch of the order, not two: the pay step leaves it to the screen's live order.
    expect(asked).toBe(2);
    expect(onPaid).not.toHaveBeenCalled();
    // No card was sent anywhere by the app: the payment page took it.
    const pay = calls.find((call) => call.name === "pay_upgrade");
    expect(pay?.args).not.toHaveProperty("payment_method");
  });

  it("shows a 3-D Secure challenge plainly and confirms once it is approved", async () => {
    const user = withFakeClock();
    let asked = 0;
    const { calls, onPaid } = renderPay({
      list_payment_methods: { payment_methods: [] },
      create_payment_method: { payment_method_id: "pm_3ds", brand: "visa", last4: "3220" },
      pay_upgrade: pays("requires_action", { checkout_url: PAGE }),
      get_upgrade_order: () => {
        asked += 1;
        return PAID;
      },
    });
    const form = await screen.findByRole("form", { name: "Pay" });
    await user.type(within(form).getByLabelText("Card number"), "4000000000003220");
    await user.type(within(form).getByLabelText("Expiry month"), "12");
    await user.type(within(form).getByLabelText("Expiry year"), "2030");
    await user.type(within(form).getByLabelText("Security code"), "123");
    await user.click(within(form).getByRole("button", { name: "Pay $50.00" }));

    expect((await screen.findByRole("heading", { name: "Approve the payment with your bank" })).tagName).toBe("H3");
    expect(screen.getByRole("link", { name: "Open the approval page" }).getAttribute("href")).toBe(PAGE);
    await vi.advanceTimersByTimeAsync(2000);
    expect(await screen.findByText("Order confirmed")).toBeTruthy();
    expect(asked).toBe(1);
    expect(onPaid).not.toHaveBeenCalled(); // the bank's approval, not the form, paid it
    expect(calls.find((call) => call.name === "pay_upgrade")?.args["payment_method"]).toBe("pm_3ds");
  });

  it("says so when the customer declines the 3-D Secure challenge, and lets them pay again", async () => {
    const user = withFakeClock();
    const { calls, onPaid } = renderPay({
      list_payment_methods: { payment_methods: [VISA] },
      pay_upgrade: pays("requires_action", { checkout_url: PAGE, order: { ...HELD, payment_intent_id: "pi_1" } }),
      get_upgrade_order: HELD,
      get_payment_intent: {
        id: "pi_1",
        status: "requires_payment_method",
        last_payment_error: { code: "payment_intent_authentication_failure", decline_code: "authentication_required", message: "Not approved." },
      },
    });
    await user.click(await screen.findByRole("button", { name: "Pay $50.00" }));
    expect(await screen.findByRole("link", { name: "Open the approval page" })).toBeTruthy();
    await vi.advanceTimersByTimeAsync(2000);
    expect((await screen.findByRole("alert")).textContent).toBe(
      "The payment was not approved with your bank. Please try again or use another card.",
    );
    expect(screen.getByRole("button", { name: "Pay $50.00" })).toBeTruthy();
    expect(calls.find((call) => call.name === "get_payment_intent")?.args).toEqual({ payment_intent_id: "pi_1" });
    expect(onPaid).not.toHaveBeenCalled();
  });

  it("says a decline in plain words and lets the customer pay another way", async () => {
    const user = userEvent.setup();
    const { onPaid } = renderPay({
      list_payment_methods: { payment_methods: [VISA] },
      pay_upgrade: pays("declined", { decline_code: "expired_card" }),
    });
    await user.click(await screen.findByRole("button", { name: "Pay $50.00" }));
    expect((await screen.findByRole("alert")).textContent).toBe("Your card has expired. Please try another card.");
    expect(screen.getByRole("radio", { name: "A new card" })).toBeTruthy();
    expect(onPaid).not.toHaveBeenCalled();
  });
});

describe("the pay step while the saved cards load", () => {
  it("chooses nothing for the customer, and keeps what they chose once the cards arrive", async () => {
    const user = userEvent.setup();
    let arrive: (cards: { payment_methods: SavedCard[] }) => void = () => undefined;
    renderPay({
      list_payment_methods: () => new Promise((resolve) => (arrive = resolve)),
      create_payment_method: { payment_method_id: "pm_new", brand: "visa", last4: "4242" },
      pay_upgrade: pays("succeeded"),
    });
    const newCard = (await screen.findByRole("radio", { name: "A new card" })) as HTMLInputElement;
    expect(newCard.checked).toBe(false);
    expect(screen.queryByLabelText("Card number")).toBeNull();
    expect((screen.getByRole("button", { name: "Pay $50.00" }) as HTMLButtonElement).disabled).toBe(true);

    await user.click(newCard);
    await user.type(screen.getByLabelText("Card number"), "4242424242424242");
    arrive({ payment_methods: [VISA] });

    const visa = (await screen.findByRole("radio", { name: "Visa ending 4242, expires 03/2031" })) as HTMLInputElement;
    expect(visa.checked).toBe(false);
    expect(newCard.checked).toBe(true);
    expect((screen.getByLabelText("Card number") as HTMLInputElement).value).toBe("4242424242424242");
  });

  it("offers a new card when the saved cards cannot be read", async () => {
    renderPay({ list_payment_methods: new ToolError("UNAVAILABLE", "payments are down") });
    expect(((await screen.findByRole("radio", { name: "A new card" })) as HTMLInputElement).checked).toBe(true);
    expect(await screen.findByLabelText("Card number")).toBeTruthy();
  });
});
