// Public prices for visitors who are not signed in: the web app's price page in Debian's
// chromium against the real stack, through the app server's own catalogue-only route
// (host/catalogue.py), and that route's refusals over HTTP.
import { PRICE, VIEWPORTS, checkScreen, dollars, expect, test, tool } from "./fixtures";

test.use({ stackName: "prices" });

for (const viewport of [...VIEWPORTS].reverse()) {
  const size = `${viewport.width}x${viewport.height}`;
  test(`a visitor reads prices by ticket type, tier and day without signing in (${size})`, async ({
    page,
    urls,
    stack,
  }) => {
    await page.setViewportSize(viewport);
    await page.goto(`${urls.web}/`);
    await page.getByRole("link", { name: "See upgrade prices" }).click();
    await expect(page).toHaveURL(`${urls.web}/prices`);
    await expect(page.getByRole("heading", { name: "Upgrade prices" })).toBeVisible();
    const openDay = page.locator("button.day:not(.closed)").first();
    await expect(openDay).toBeVisible();
    await checkScreen(page, "prices");
    const day = await openDay.getAttribute("data-date");
    expect(day).not.toBeNull();
    await openDay.click();
    const total = page.locator(".quote .total");
    await expect(total).toHaveText(PRICE);
    const quoted = await tool(urls.ticket_mcp, await stack.catalogueToken(), "quote_price", {
      ticket_type: "general",
      tier: "double_fun",
      date: day,
    });
    expect(typeof quoted["total_cents"]).toBe("number");
    await expect(total).toHaveText(dollars(Number(quoted["total_cents"])));

    // A type with no upgrade to the tier says so, instead of an error.
    await page.getByLabel("Ticket type").selectOption("vip");
    await page.getByLabel("Upgrade to").selectOption("non_stop");
    await expect(
      page.getByText("There is no upgrade from a VIP ticket to Non-stop."),
    ).toBeVisible();
    await checkScreen(page, "prices-no-upgrade");
    // Nothing was signed in to get here: no token in the page's storage.
    expect(
      await page.evaluate(() => JSON.stringify([{ ...localStorage }, { ...sessionStorage }])),
    ).toBe("[{},{}]");
  });
}

test("the public route passes only the catalogue tools and their arguments", async ({ urls }) => {
  const post = (name: string, body: unknown) =>
    fetch(`${urls.web}/api/catalogue/${name}`, { method: "POST", body: JSON.stringify(body) });

  const calendar = await post("get_price_calendar", { ticket_type: "general", tier: "standard" });
  expect(calendar.status).toBe(200);
  const { days } = (await calendar.json()) as { days: { date: string; price_cents: number }[] };
  expect(days.length).toBeGreaterThan(0);
  expect(days.every((day) => day.price_cents > 0)).toBe(true);

  const customerTool = await post("list_my_tickets", {});
  expect(customerTool.status).toBe(404);
  expect(await customerTool.json()).toEqual({
    error: "NOT_FOUND: there is no public tool named 'list_my_tickets'",
  });
  const refused = await post("quote_price", {
    ticket_type: "premium",
    tier: "standard",
    date: days[0]?.date,
  });
  expect(refused.status).toBe(400);
  expect(((await refused.json()) as { error: string }).error).toMatch(/^NO_UPGRADE_PATH: /);
});
