// The ticket server's MCP Apps in Debian's chromium, inside a minimal MCP Apps host: the host
// side of @modelcontextprotocol/ext-apps (AppBridge, apps/src/host.ts) renders each app from the
// real ticket server's `resources/read` in a sandboxed iframe and hands it a real tool result;
// the app's `tools/call` goes through the host to the real server with the customer's token, as
// an assistant's host would send it.
import path from "node:path";

import type { Frame, FrameLocator, Page } from "@playwright/test";

import {
  CUSTOMER_EMAIL,
  REPO,
  SCREENSHOTS,
  atBothSizes,
  axeViolations,
  dollars,
  expect,
  test as base,
  type StackUrls,
} from "./fixtures";

const HOST_PAGE = path.join(REPO, "web", "apps", "dist", "host.html");
const HOST_URL = "http://mcp-apps-host.test/"; // never resolved: Playwright answers it
const CALENDAR = "ui://ticket/calendar.html";
const SUMMARY = "ui://ticket/summary.html";
const TICKET = "TKT-JD0001";
const ELSEWHERE = "http://elsewhere.test/pixel.gif";
const GIF = Buffer.from(
  "47494638396101000100800000000000ffffff21f90401000000002c00000000010001000002024401003b",
  "hex",
);

type Result = Record<string, unknown> & {
  isError?: boolean;
  structuredContent: Record<string, unknown>;
};
type Day = { date: string; available: boolean; price_cents: number };

/** Plain JSON-RPC to the real ticket server with one customer's token: what the host sends. */
class TicketServer {
  constructor(
    private readonly urls: StackUrls,
    private readonly token: string,
  ) {}

  async request(method: string, params: Record<string, unknown>): Promise<Result> {
    const reply = await fetch(this.urls.ticket_mcp, {
      method: "POST",
      headers: {
        Authorization: `Bearer ${this.token}`,
        Accept: "application/json, text/event-stream",
        "Content-Type": "application/json",
      },
      body: JSON.stringify({ jsonrpc: "2.0", id: 1, method, params }),
    });
    expect(reply.ok, `${method}: HTTP ${reply.status}`).toBe(true);
    return ((await reply.json()) as { result: Result }).result;
  }

  async call(name: string, args: Record<string, unknown>): Promise<Result> {
    return this.request("tools/call", { name, arguments: args });
  }

  async html(uri: string): Promise<string> {
    const { contents } = (await this.request("resources/read", { uri })) as unknown as {
      contents: { mimeType: string; text: string }[];
    };
    expect(contents).toHaveLength(1);
    expect(contents[0]?.mimeType).toBe("text/html;profile=mcp-app");
    return contents[0]?.text ?? "";
  }
}

const test = base.extend<{ server: TicketServer; host: Page }>({
  server: async ({ stack }, use) => {
    const { token } = await stack.customer(CUSTOMER_EMAIL);
    await use(new TicketServer(stack.urls, token));
  },
  // The host page, passing the app's tool calls to the real server.
  host: async ({ page, server }, use) => {
    await page.setViewportSize({ width: 1280, height: 800 });
    await page.route(HOST_URL, (route) =>
      route.fulfill({ path: HOST_PAGE, contentType: "text/html" }),
    );
    await page.exposeFunction("forwardToolCall", (params: Record<string, unknown>) =>
      server.request("tools/call", params),
    );
    await page.goto(HOST_URL);
    await use(page);
  },
});

test.use({ stackName: "mcp-apps" });

interface HostWindow {
  mcpHost: { show(view: unknown): void };
  toolCalls: unknown[];
  modelContext: unknown[];
}

async function show(
  page: Page,
  html: string,
  title: string,
  args: Record<string, unknown>,
  result: Result,
): Promise<FrameLocator> {
  const view = { html, title, arguments: args, result };
  await page.evaluate((shown) => (window as unknown as HostWindow).mcpHost.show(shown), view);
  return page.frameLocator(`iframe[title="${title}"]`);
}

function appFrame(page: Page): Frame {
  const children = page.frames().filter((frame) => frame.parentFrame() === page.mainFrame());
  expect(children).toHaveLength(1);
  return children[0] as Frame;
}

/** Keeps a screenshot of the host with the app in it at both sizes, and fails on anything axe
 * finds against WCAG 2.1 AA (in the app's document and the host around it) at either. */
async function checkApp(page: Page, name: string): Promise<void> {
  await atBothSizes(page, async (size) => {
    await page.screenshot({
      path: path.join(SCREENSHOTS, `mcp-app-${name}-${size}.png`),
      fullPage: true,
    });
    expect(await axeViolations(page), `${name} at ${size}`).toEqual([]);
  });
}

test("the apps declare no origin in their own document", async ({ server }) => {
  for (const uri of [CALENDAR, SUMMARY]) {
    const html = await server.html(uri);
    const policy = /http-equiv="Content-Security-Policy"\s+content="([^"]+)"/.exec(html);
    expect(policy, uri).not.toBeNull();
    expect(policy?.[1]).toContain("connect-src 'none'");
    expect(policy?.[1], "no origin may be allowed").not.toContain("http");
    // One document: nothing is fetched for it, from anywhere.
    expect(/<(script|link|img|iframe)\b[^>]*\b(src|href)=/.exec(html), uri).toBeNull();
  }
});

test("the calendar app shows the result and quotes a chosen date through the host", async ({
  host,
  server,
}) => {
  const args = { ticket_number: TICKET, tier: "standard" };
  const result = await server.call("get_availability_calendar", args);
  expect(result.isError, JSON.stringify(result)).toBeFalsy();
  const day = (result.structuredContent["days"] as Day[]).find((d) => d.available);
  expect(day).toBeDefined();
  const chosen = day as Day;

  const app = await show(host, await server.html(CALENDAR), "Upgrade calendar", args, result);
  await expect(app.getByRole("heading", { name: `Standard upgrade for ${TICKET}` })).toBeVisible();
  const button = app.locator(`button[data-date="${chosen.date}"]`);
  await expect(button).toContainText(dollars(chosen.price_cents));
  expect(
    await host.evaluate(() => (window as unknown as HostWindow).toolCalls),
    "nothing is called before a date is chosen",
  ).toEqual([]);

  await button.click();
  await expect(app.locator(".quote .total")).toHaveText(dollars(chosen.price_cents));
  expect(await host.evaluate(() => (window as unknown as HostWindow).toolCalls)).toEqual([
    { name: "quote_upgrade", arguments: { ...args, date: chosen.date } },
  ]);
  // The assistant hears of the choice: the host got it for the model's next turn (sent just
  // after the quote is on screen, so waited for).
  await host.waitForFunction(() => (window as unknown as HostWindow).modelContext.length > 0);
  const contexts = (await host.evaluate(() => (window as unknown as HostWindow).modelContext)) as {
    structuredContent: { total_cents: number; date: string };
    content: { text: string }[];
  }[];
  expect(contexts).toHaveLength(1);
  const [context] = contexts;
  expect(context?.structuredContent.total_cents).toBe(chosen.price_cents);
  expect(context?.structuredContent.date).toBe(chosen.date);
  expect(context?.content).toHaveLength(1);
  expect(context?.content[0]?.text).toContain(dollars(chosen.price_cents));
  expect(context?.content[0]?.text).toContain(TICKET);
  await checkApp(host, "calendar");

  // The app's own policy is in force in the frame: an image from another origin (one this test
  // would answer) is never even requested.
  const asked: string[] = [];
  await host.route(ELSEWHERE, (route) => {
    asked.push(route.request().url());
    return route.fulfill({ body: GIF, contentType: "image/gif" });
  });
  const loaded = await appFrame(host).evaluate(
    (source) =>
      new Promise<string>((resolve) => {
        const image = new Image();
        image.onload = () => resolve("loaded");
        image.onerror = () => resolve("refused");
        image.src = source;
      }),
    ELSEWHERE,
  );
  expect(loaded).toBe("refused");
  expect(asked).toEqual([]);
});

test("the summary app shows a quote result", async ({ host, server }) => {
  const calendar = await server.call("get_availability_calendar", {
    ticket_number: TICKET,
    tier: "non_stop",
  });
  const day = (calendar.structuredContent["days"] as Day[]).find((d) => d.available);
  expect(day).toBeDefined();
  const args = { ticket_number: TICKET, tier: "non_stop", date: day?.date };
  const quote = await server.call("quote_upgrade", args);
  expect(quote.isError, JSON.stringify(quote)).toBeFalsy();

  const app = await show(host, await server.html(SUMMARY), "Upgrade summary", args, quote);
  await expect(
    app.getByRole("heading", { name: new RegExp(`^Non-stop upgrade for ${TICKET}`) }),
  ).toBeVisible();
  await expect(app.locator(".quote .total")).toHaveText(
    dollars(Number(quote.structuredContent["total_cents"])),
  );
  await checkApp(host, "summary");
});

test("a tool error shows the customer's sentence", async ({ host, server }) => {
  const args = { ticket_number: "TKT-JD0004", tier: "standard" }; // a premium ticket
  const result = await server.call("get_availability_calendar", args);
  expect(result.isError, JSON.stringify(result)).toBe(true);

  const app = await show(host, await server.html(CALENDAR), "Upgrade calendar", args, result);
  await expect(app.getByRole("alert")).toHaveText("There is no upgrade for this ticket type.");
});
