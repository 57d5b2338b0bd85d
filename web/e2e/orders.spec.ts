// My orders and the other ways to pay, in Debian's chromium against the real stack.
//
// John pays one upgrade on the payment server's hosted checkout page (opened in a new tab; the
// app updates by itself once the webhook confirms the order), a second with the card he saved
// there, and a third with a new card that asks for 3-D Secure: declined on the payment server's
// own page (the app says so), then approved there. Jane, signing in from a link to John's
// ticket, is shown "not found" exactly as for a ticket that does not exist, then moves her
// upgrade to another date and cancels it, refunded.
import type { BrowserContext, Page } from "@playwright/test";

import {
  CARD,
  CUSTOMER_EMAIL,
  LATE_CUSTOMER_EMAIL,
  PAY,
  checkScreen,
  dollars,
  expect,
  holdFirstOpenDay,
  signInAt,
  test,
  tool,
  type StackUrls,
} from "./fixtures";

test.use({ stackName: "orders" });

const THREE_D_SECURE_CARD = "4000000000003220";

/** From any page: My tickets, then the tier's first open day of the ticket, held. */
async function hold(page: Page, urls: StackUrls, ticket: string, tier: string): Promise<void> {
  await page.getByRole("link", { name: "My tickets" }).click();
  await holdFirstOpenDay(page, urls, ticket, tier);
}

async function onPaymentPage(context: BrowserContext, page: Page, link: RegExp): Promise<Page> {
  const opened = context.waitForEvent("page");
  await page.getByRole("link", { name: link }).click();
  return opened;
}

async function confirmedCode(page: Page): Promise<string> {
  await expect(page.getByRole("heading", { name: "Upgrade confirmed" })).toBeVisible();
  const code = await page.locator(".confirmation-code").innerText();
  expect(code).not.toBe("");
  return code;
}

async function fillNewCard(page: Page, number: string): Promise<void> {
  await page.getByLabel("Card number").fill(number);
  await page.getByLabel("Expiry month").fill("12");
  await page.getByLabel("Expiry year").fill("2034");
  await page.getByLabel("Security code").fill("123");
}

test("john pays on the hosted page, with a saved card and through 3-D Secure", async ({
  page,
  context,
  urls,
  stack,
}) => {
  await page.setViewportSize({ width: 1280, height: 800 });
  const { token } = await stack.customer(CUSTOMER_EMAIL);
  await signInAt(page, urls, CUSTOMER_EMAIL, "/");

  // 1. The hosted checkout, in a new tab; this tab follows the order by itself.
  await hold(page, urls, "TKT-JD0001", "Standard");
  await page.getByRole("radio", { name: "On the secure payment page" }).check();
  await expect(page.getByLabel("Card number")).toHaveCount(0);
  await page.getByRole("button", { name: PAY }).click();
  await expect(page.getByRole("status")).toHaveText(/^Waiting for your payment/);
  await checkScreen(page, "pay-hosted-waiting");
  const checkout = await onPaymentPage(context, page, /^Open the payment page to pay/);
  await checkout.fill("#card_number", CARD);
  await checkout.fill("#exp_month", "12");
  await checkout.fill("#exp_year", "2034");
  await checkout.fill("#cvc", "123");
  await checkout.check("#save_card");
  await checkout.getByRole("button", { name: /^Pay USD / }).click();
  await expect(checkout.getByRole("heading", { name: "Payment received" })).toBeVisible();
  await checkout.close();
  const hostedCode = await confirmedCode(page);

  // 2. The card saved on the payment page is offered first next time.
  await hold(page, urls, "TKT-JD0002", "Non-stop");
  const saved = page.getByRole("radio", { name: "Visa ending 4242, expires 12/2034", exact: true });
  await expect(saved).toBeChecked();
  await checkScreen(page, "pay-saved-card");
  await page.getByRole("button", { name: PAY }).click();
  const savedCode = await confirmedCode(page);

  // 3. Remove the saved card; pay with a new one that asks for 3-D Secure.
  await hold(page, urls, "TKT-JD0003", "Double Fun");
  await page.getByRole("button", { name: /^Remove Visa ending 4242/ }).click();
  await expect(page.getByRole("radio", { name: /^Visa ending 4242/ })).toHaveCount(0);
  await page.getByRole("radio", { name: "A new card" }).check();
  await fillNewCard(page, THREE_D_SECURE_CARD);
  await page.getByRole("button", { name: PAY }).click();
  await expect(
    page.getByRole("heading", { name: "Approve the payment with your bank" }),
  ).toBeVisible();
  await checkScreen(page, "pay-3d-secure");
  // Declined on the bank's page: the app says so in words, and the order waits on.
  let challenge = await onPaymentPage(context, page, /^Open the approval page$/);
  await challenge.getByRole("button", { name: "Decline" }).click();
  // The bank's page has taken the answer before it is closed: a page closed in the middle of
  // that navigation once hung page.close() for minutes.
  await expect(challenge.getByRole("alert")).toHaveText(
    "The card's 3-D Secure authentication was not approved.",
  );
  await challenge.close();
  await expect(page.getByRole("alert")).toHaveText(
    "The payment was not approved with your bank. Please try again or use another card.",
  );
  // Again with that card, saved now, and approved this time.
  await page.getByRole("radio", { name: /^Visa ending 3220/ }).check();
  await page.getByRole("button", { name: PAY }).click();
  challenge = await onPaymentPage(context, page, /^Open the approval page$/);
  await challenge.getByRole("button", { name: "Approve payment" }).click();
  await expect(challenge.getByRole("heading", { name: "Payment received" })).toBeVisible();
  await challenge.close();
  const secureCode = await confirmedCode(page);

  const { orders } = (await tool(urls.ticket_mcp, token, "list_my_orders", {})) as {
    orders: Record<string, unknown>[];
  };
  const byCode = new Map(orders.map((order) => [order["confirmation_code"], order]));
  const paid = [hostedCode, savedCode, secureCode].map((code) => byCode.get(code));
  expect(paid.map((order) => order?.["ticket_number"]).sort()).toEqual([
    "TKT-JD0001",
    "TKT-JD0002",
    "TKT-JD0003",
  ]);
  expect(paid.map((order) => order?.["status"])).toEqual(Array(3).fill("confirmed"));
  const cards = (await tool(urls.payment_mcp, token, "list_payment_methods", {})) as {
    payment_methods: { last4: string }[];
  };
  expect(cards.payment_methods.map((card) => card.last4)).toEqual(["3220"]);

  await page.getByRole("link", { name: "My orders" }).click();
  await expect(page).toHaveURL(`${urls.web}/orders`);
  await expect(page.locator(".order .status")).toHaveText(Array(3).fill("Confirmed"));
  await checkScreen(page, "orders");
});

test("jane sees not-found for john's ticket, then moves and cancels her upgrade", async ({
  page,
  urls,
  stack,
}) => {
  await page.setViewportSize({ width: 390, height: 844 });
  const { token } = await stack.customer(LATE_CUSTOMER_EMAIL);
  await signInAt(page, urls, LATE_CUSTOMER_EMAIL, "/tickets/TKT-JD0001");
  await expect(page.getByRole("heading", { name: "Ticket not found" })).toBeVisible();
  const someoneElses = await page.locator("main").innerText();
  await checkScreen(page, "ticket-not-found");
  // A ticket that exists nowhere reads exactly the same.
  await page.evaluate(() => {
    history.pushState(null, "", "/tickets/TKT-ZZ9999");
    dispatchEvent(new PopStateEvent("popstate"));
  });
  await expect(page).toHaveURL(`${urls.web}/tickets/TKT-ZZ9999`);
  await expect(page.getByRole("heading", { name: "Ticket not found" })).toBeVisible();
  expect(await page.locator("main").innerText()).toBe(someoneElses);

  await page.getByRole("link", { name: "My orders" }).click();
  const order = page.locator(".order", { hasText: "TKT-JS0003" });
  await expect(order.locator(".status")).toHaveText("Confirmed");
  const orderId = await order.getAttribute("data-order");
  expect(orderId).not.toBeNull();

  await order.getByRole("button", { name: "Change date" }).click();
  // An off-peak day costs less than was paid: the move refunds the difference. (A dearer day
  // would charge the seeded upgrade's card, which was never saved, and is refused.)
  const cheaper = order.locator("button.day.off_peak");
  await expect(order.locator("button.day").first()).toBeVisible();
  for (let month = 0; month < 3 && (await cheaper.count()) === 0; month += 1) {
    await order.getByRole("button", { name: "Next month" }).click();
    await expect(order.locator("button.day").first()).toBeVisible();
  }
  const day = cheaper.first();
  const chosen = await day.getAttribute("data-date");
  expect(chosen).not.toBeNull();
  await day.click();
  await expect(order.locator(".difference")).toHaveText("$5.00");
  await expect(order.locator(".difference").locator("xpath=preceding-sibling::dt[1]")).toHaveText(
    "To refund",
  );
  await checkScreen(page, "orders-change");
  await order.getByRole("button", { name: /^Move to / }).click();
  await expect(page.locator(".notice")).toHaveText(
    /^Your upgrade is moved to .+\. \$5\.00 is refunded to your card\.$/,
  );
  const moved = await tool(urls.ticket_mcp, token, "get_upgrade_order", { order_id: orderId });
  expect([moved["visit_date"], moved["status"]]).toEqual([chosen, "confirmed"]);

  const amount = dollars(Number(moved["amount_cents"]));
  await order.getByRole("button", { name: "Cancel upgrade" }).click();
  await checkScreen(page, "orders-cancel");
  await order.getByRole("button", { name: `Cancel and refund ${amount}` }).click();
  await expect(page.locator(".notice")).toHaveText(
    `Your Non-stop upgrade is cancelled: ${amount} is refunded to your card.`,
  );
  await expect(order.locator(".status")).toHaveText("Cancelled and refunded");
  await expect(order.getByRole("button")).toHaveCount(0);
  const refunded = await tool(urls.ticket_mcp, token, "get_upgrade_order", { order_id: orderId });
  expect(refunded["status"]).toBe("refunded");
});
