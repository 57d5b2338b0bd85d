// A customer upgrades a ticket in the web app, in Debian's chromium, against the real stack:
// signs in on the identity provider's form as john.doe, opens TKT-JD0001's three options, picks
// a day on the priced calendar, holds it (the countdown runs), is declined with one card and pays
// with another (each card made on the payment server only), reads the confirmation code and
// finds the e-mail in the SMTP sink, cancels the upgrade and sees the refund, and signs out: the
// refresh token is revoked and no token is left behind. Then a ticket inside 24 hours, and a
// sold-out day.

import {
  CARD,
  CUSTOMER_EMAIL,
  LATE_CUSTOMER_EMAIL,
  PAY,
  PRICE,
  checkScreen,
  dollars,
  expect,
  signInAt,
  signInOnForm,
  test,
  tool,
} from "./fixtures";

test.use({ stackName: "upgrade" });

const TICKET = "TKT-JD0001";
const DECLINED_CARD = "4000000000000002"; // generic_decline

test("john signs in, upgrades a ticket by card, gets the e-mail, cancels and signs out", async ({
  page,
  urls,
  stack,
}) => {
  await page.setViewportSize({ width: 1280, height: 800 });
  const posted: { url: string; body: string }[] = [];
  page.on("request", (request) => {
    if (request.method() === "POST") {
      posted.push({ url: request.url(), body: request.postData() ?? "" });
    }
  });

  await page.goto(`${urls.web}/`);
  await checkScreen(page, "welcome");
  await page.getByRole("button", { name: "Sign in" }).click();
  await signInOnForm(page, urls, CUSTOMER_EMAIL);
  await page.waitForURL(`${urls.web}/`);
  await expect(page.getByText(CUSTOMER_EMAIL)).toBeVisible();
  await expect(page.locator(".ticket")).toHaveCount(4);
  await checkScreen(page, "tickets");

  await page.getByRole("button", { name: `Upgrade options for ${TICKET}` }).click();
  await expect(page.locator(".tiers > li h3")).toHaveText(["Standard", "Non-stop", "Double Fun"]);
  await expect(page.locator(".from-price")).toHaveCount(3);
  await checkScreen(page, "options");

  await page.getByRole("button", { name: "Choose a date for Non-stop" }).click();
  const openDay = page.locator("button.day:not(.closed)").first();
  await expect(openDay).toBeVisible();
  const chosen = await openDay.getAttribute("data-date");
  expect(chosen).not.toBeNull();
  // The one day in the tab order, then Enter: the calendar works from the keyboard.
  await expect(openDay).toHaveAttribute("tabindex", "0");
  await checkScreen(page, "calendar");
  await openDay.focus();
  await page.keyboard.press("Enter");

  await expect(page.locator(".quote .total")).toHaveText(PRICE);
  await page.getByRole("button", { name: "Hold this upgrade" }).click();
  const timer = page.getByRole("timer");
  await expect(timer).toHaveText(/^1[45]:[0-5]\d$/);
  const first = await timer.innerText();
  await checkScreen(page, "checkout");
  await expect(timer).not.toHaveText(first); // counting down, live

  const pay = page.getByRole("button", { name: PAY });
  await page.getByLabel("Card number").fill(DECLINED_CARD);
  await page.getByLabel("Expiry month").fill("12");
  await page.getByLabel("Expiry year").fill("2034");
  await page.getByLabel("Security code").fill("123");
  await pay.click();
  await expect(page.getByRole("alert")).toHaveText(
    "Your card was declined. Please try another card.",
  );

  await page.getByLabel("Card number").fill(CARD);
  await pay.click();

  await expect(page.getByRole("heading", { name: "Upgrade confirmed" })).toBeVisible();
  const code = await page.locator(".confirmation-code").innerText();
  expect(code).not.toBe("");
  await checkScreen(page, "confirmation");

  const { token } = await stack.customer(CUSTOMER_EMAIL);
  const { orders } = (await tool(urls.ticket_mcp, token, "list_my_orders", {})) as {
    orders: Record<string, unknown>[];
  };
  const confirmed = orders.filter((order) => order["confirmation_code"] === code);
  expect(confirmed, JSON.stringify(orders)).toHaveLength(1);
  expect(confirmed[0]).toMatchObject({
    ticket_number: TICKET,
    tier: "non_stop",
    visit_date: chosen,
    status: "confirmed",
  });
  const orderId = String(confirmed[0]?.["order_id"]);
  const amount = dollars(Number(confirmed[0]?.["amount_cents"]));

  // The card went to the payment server only.
  for (const number of [DECLINED_CARD, CARD]) {
    const withCard = new Set(posted.filter((p) => p.body.includes(number)).map((p) => p.url));
    expect([...withCard]).toEqual([urls.payment_mcp]);
  }

  // The confirmation e-mail, through the notify server, in the SMTP sink.
  const subject = new RegExp(`^Your Non-stop upgrade for .+ is confirmed \\(${code}\\)$`);
  await expect
    .poll(async () => (await stack.mail(CUSTOMER_EMAIL)).map((m) => m.subject))
    .toContainEqual(expect.stringMatching(subject));

  // Cancelled from My orders: the refund is shown.
  await page.getByRole("link", { name: "My orders" }).click();
  const order = page.locator(`.order[data-order="${orderId}"]`);
  await expect(order.locator(".status")).toHaveText("Confirmed");
  await order.getByRole("button", { name: "Cancel upgrade" }).click();
  await order.getByRole("button", { name: `Cancel and refund ${amount}` }).click();
  await expect(page.locator(".notice")).toHaveText(
    `Your Non-stop upgrade is cancelled: ${amount} is refunded to your card.`,
  );
  await expect(order.locator(".status")).toHaveText("Cancelled and refunded");
  const refunded = await tool(urls.ticket_mcp, token, "get_upgrade_order", { order_id: orderId });
  expect(refunded["status"]).toBe("refunded");

  const revoked = page.waitForResponse(`${urls.idp}/oauth2/revoke`);
  await page.getByRole("button", { name: "Sign out" }).click();
  const revocation = await revoked;
  expect(revocation.ok()).toBe(true);
  expect(revocation.request().postData() ?? "").toContain("token_type_hint=refresh_token");
  await expect(page.getByRole("button", { name: "Sign in" })).toBeVisible();
  const stored = await page.evaluate(() =>
    JSON.stringify([{ ...localStorage }, { ...sessionStorage }]),
  );
  expect(stored).not.toContain("eyJ"); // no JWT anywhere in web storage
  expect(stored).toBe("[{},{}]");
});

test("a ticket inside 24 hours shows all three tiers closed and why", async ({ page, urls }) => {
  await page.setViewportSize({ width: 390, height: 844 });
  await signInAt(page, urls, LATE_CUSTOMER_EMAIL, "/");
  await page.getByRole("button", { name: "Upgrade options for TKT-JS0001" }).click();
  await expect(page.locator(".tiers > li h3")).toHaveText(["Standard", "Non-stop", "Double Fun"]);
  await expect(page.locator(".tiers .reason")).toHaveText(
    Array(3).fill("Not available: Upgrades close 24 hours before the visit."),
  );
  await expect(page.getByRole("button", { name: /^Choose a date/ })).toHaveCount(0);
  await checkScreen(page, "options-too-late");
});

test("a sold-out day is shown closed and says why", async ({ page, urls, stack }) => {
  await page.setViewportSize({ width: 1280, height: 800 });
  const email = "alice.brown@example.com";
  const ticket = "TKT-AB0001";
  const { token } = await stack.customer(email);
  const calendar = (await tool(urls.ticket_mcp, token, "get_availability_calendar", {
    ticket_number: ticket,
    tier: "double_fun",
  })) as { days: { date: string; available: boolean }[] };
  const day = calendar.days.find((d) => d.available)?.date;
  expect(day).toBeDefined();
  // Every seat of that day sold, through the data server's own tool.
  await tool(urls.data_mcp, await stack.opsToken(), "set_capacity", {
    date: day,
    tier: "double_fun",
    capacity: 0,
  });

  await signInAt(page, urls, email, "/");
  await page.getByRole("button", { name: `Upgrade options for ${ticket}` }).click();
  await page.getByRole("button", { name: "Choose a date for Double Fun" }).click();
  const soldOut = page.locator(`button.day[data-date="${day}"]`);
  await expect(soldOut).toHaveClass(/\bclosed\b/);
  await expect(soldOut).toHaveAttribute("aria-disabled", "true");
  await expect(soldOut.locator(".day-reason")).toHaveText("Sold out");
  await expect(soldOut).toHaveAttribute("title", /: That day is sold out for this tier\.$/);
  await checkScreen(page, "calendar-sold-out");
  // Focusable (aria-disabled, not disabled) so its reason is read, but never chosen.
  await soldOut.focus();
  await page.keyboard.press("Enter");
  await expect(page.locator(".quote")).toHaveCount(0); // nothing to quote or hold
});
