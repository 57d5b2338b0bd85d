// The browser suite's fixtures: the real stack (tests/web/stack.py) started for each spec file,
// its control API, the identity provider's sign-in form, MCP tool calls over real HTTP, and the
// screenshot + axe check every screen gets at both sizes.
import { spawn } from "node:child_process";
import { createWriteStream, mkdirSync } from "node:fs";
import path from "node:path";
import { createInterface } from "node:readline";

import AxeBuilder from "@axe-core/playwright";
import { test as base, expect, type Page, type ViewportSize } from "@playwright/test";

export { expect };

export const REPO = path.resolve(import.meta.dirname, "..", "..");
const PYTHON = path.join(REPO, ".venv", "bin", "python");
const LOGS = path.join(REPO, ".dev", "e2e");
export const SCREENSHOTS = path.join(REPO, ".dev", "screenshots", "web");

export const CUSTOMER_EMAIL = "john.doe@example.com";
export const LATE_CUSTOMER_EMAIL = "jane.smith@example.com"; // TKT-JS0001's visit is today
export const PASSWORD = "Passw0rd!";
export const CARD = "4242424242424242";
export const PAY = /^Pay \$/;
export const PRICE = /^\$\d+\.\d\d$/;
const STACK_START_MS = 180_000;

/** Where the stack's servers are (tests/web/stack.py's `ready` line). */
export interface StackUrls {
  web: string;
  control: string;
  idp: string;
  data_mcp: string;
  ticket_mcp: string;
  payment_mcp: string;
}

/** One scripted model call: words said, then tool calls (host/providers/scripted.py). */
export type ModelStep = ({ say: string } | { call: string; arguments: Record<string, unknown> })[];

export interface Customer {
  customer_id: string;
  token: string;
}

type Json = Record<string, unknown>;

/** A tool's structured result, called over real HTTP with a bearer token; a tool error fails. */
export async function tool(url: string, token: string, name: string, args: Json): Promise<Json> {
  const reply = await fetch(url, {
    method: "POST",
    headers: {
      Authorization: `Bearer ${token}`,
      Accept: "application/json, text/event-stream",
      "Content-Type": "application/json",
    },
    body: JSON.stringify({
      jsonrpc: "2.0",
      id: 1,
      method: "tools/call",
      params: { name, arguments: args },
    }),
  });
  expect(reply.ok, `${name}: HTTP ${reply.status}`).toBe(true);
  const { result } = (await reply.json()) as { result: Json };
  expect(result["isError"], JSON.stringify(result)).toBeFalsy();
  return result["structuredContent"] as Json;
}

/** The running stack: its URLs and what its control API sets up or reads. */
export class Stack {
  constructor(readonly urls: StackUrls) {}

  private async control(route: string, init?: RequestInit): Promise<unknown> {
    const reply = await fetch(`${this.urls.control}${route}`, init);
    expect(reply.ok, `${route}: HTTP ${reply.status} ${await reply.clone().text()}`).toBe(true);
    return reply.status === 204 ? null : reply.json();
  }

  /** A seeded customer's id and an access token as the web app's sign-in would give them. */
  async customer(email: string): Promise<Customer> {
    return (await this.control(`/customers/${encodeURIComponent(email)}`)) as Customer;
  }

  /** The `ops` client's token (every data/*, payments/*, tickets/* scope). */
  async opsToken(): Promise<string> {
    return ((await this.control("/tokens/ops")) as { token: string }).token;
  }

  /** The app server's own catalogue-only token (scope tickets/catalogue). */
  async catalogueToken(): Promise<string> {
    return ((await this.control("/tokens/catalogue")) as { token: string }).token;
  }

  /** The concierge's next conversation, one step per model call. */
  async play(steps: ModelStep[]): Promise<void> {
    await this.control("/model/script", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ steps }),
    });
  }

  /** The last message of each request the scripted model was sent since `play`. */
  async modelRequests(): Promise<string[]> {
    return ((await this.control("/model/requests")) as { last_messages: string[] }).last_messages;
  }

  /** The order's hold, as if taken 16 minutes ago (time passing, which no tool can do). */
  async lapseHold(orderId: string): Promise<void> {
    await this.control(`/orders/${encodeURIComponent(orderId)}/lapse-hold`, { method: "POST" });
  }

  /** The e-mails the SMTP sink received for `to`, oldest first (repeats once). */
  async mail(to: string): Promise<{ to: string; subject: string }[]> {
    const found = (await this.control(`/mail?to=${encodeURIComponent(to)}`)) as {
      messages: { to: string; subject: string }[];
    };
    return found.messages;
  }

  /** A customer's upgrade orders of one ticket. */
  async ordersOf(email: string, ticket: string): Promise<Json[]> {
    const { token } = await this.customer(email);
    const { orders } = (await tool(this.urls.ticket_mcp, token, "list_my_orders", {})) as {
      orders: Json[];
    };
    return orders.filter((order) => order["ticket_number"] === ticket);
  }
}

/** Starts `python -m tests.web.stack` and waits for its `ready` line; stopped by closing its
 * stdin, waited for, so that nothing is left running and port 8080 is free again. */
async function startStack(name: string, use: (stack: Stack) => Promise<void>): Promise<void> {
  mkdirSync(LOGS, { recursive: true });
  const log = createWriteStream(path.join(LOGS, `stack-${name}.log`));
  const child = spawn(PYTHON, ["-m", "tests.web.stack"], {
    cwd: REPO,
    stdio: ["pipe", "pipe", "pipe"],
    // Its own process group: a Ctrl-C in the terminal reaches the runner, which closes stdin,
    // and the stack stops its servers, then PostgreSQL, in that order (a SIGINT of its own would
    // stop PostgreSQL under the servers).
    detached: true,
  });
  child.stderr.pipe(log);
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  let stopped: number | null;
  try {
    const ready = await new Promise<StackUrls>((resolve, reject) => {
      const lines = createInterface({ input: child.stdout });
      lines.on("line", (line) => {
        if (line.startsWith('{"ready": ')) {
          resolve((JSON.parse(line) as { ready: StackUrls }).ready);
        }
      });
      void exited.then((code) =>
        reject(new Error(`the stack exited (${code}) before it was ready: see ${log.path}`)),
      );
    });
    await use(new Stack(ready));
  } finally {
    child.stdin.end();
    stopped = await exited;
    log.end();
  }
  if (stopped !== 0) {
    throw new Error(`the stack stopped with status ${stopped}: see ${log.path}`);
  }
}

export const test = base.extend<
  { urls: StackUrls },
  { stackName: string; stack: Stack }
>({
  // Each spec file names its own stack (test.use): a different worker option is a different
  // worker, so every file starts on a freshly seeded stack of its own, and what one file's
  // customers did (orders, saved cards) is never in another's way.
  stackName: ["shared", { scope: "worker", option: true }],
  stack: [
    async ({ stackName }, use) => startStack(stackName, use),
    { scope: "worker", timeout: STACK_START_MS },
  ],
  urls: async ({ stack }, use) => use(stack.urls),
});

/** Opens `path` signed out, signs in on the identity provider's form, and is brought back to
 * `path`: a deep link survives the sign-in. */
export async function signInAt(
  page: Page,
  urls: StackUrls,
  email: string,
  pathname: string,
): Promise<void> {
  await page.goto(`${urls.web}${pathname}`);
  await page.getByRole("button", { name: "Sign in" }).click();
  await signInOnForm(page, urls, email);
  await page.waitForURL(`${urls.web}${pathname}`);
}

/** From My tickets: the ticket's options, the tier's calendar, its first open day, the quote
 * and the hold; returns the day. */
export async function holdFirstOpenDay(
  page: Page,
  urls: StackUrls,
  ticket: string,
  tier: string,
): Promise<string> {
  await page.getByRole("button", { name: `Upgrade options for ${ticket}` }).click();
  await expect(page).toHaveURL(`${urls.web}/tickets/${ticket}`);
  await page.getByRole("button", { name: `Choose a date for ${tier}` }).click();
  const day = page.locator("button.day:not(.closed)").first();
  const chosen = await day.getAttribute("data-date");
  expect(chosen).not.toBeNull();
  await day.click();
  await expect(page.locator(".quote .total")).toHaveText(PRICE);
  await page.getByRole("button", { name: "Hold this upgrade" }).click();
  await expect(page.getByRole("timer")).toBeVisible();
  return chosen ?? "";
}

/** On the identity provider's sign-in form: `email` and the seeded password. */
export async function signInOnForm(page: Page, urls: StackUrls, email: string): Promise<void> {
  await page.waitForURL(`${urls.idp}/oauth2/authorize**`);
  await page.fill("#email", email);
  await page.fill("#password", PASSWORD);
  await page.click("button[type=submit]");
}

// The phone and the desktop size the issue names; every screen is checked at both.
export const VIEWPORTS: readonly ViewportSize[] = [
  { width: 390, height: 844 },
  { width: 1280, height: 800 },
];
// WCAG 2.1 A and AA, what the issue asks the app to meet.
const WCAG_21_AA = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"];

/** Resizes `page` to each of VIEWPORTS in turn, calling `check` with `WIDTHxHEIGHT`, then back
 * to the size the test was using. */
export async function atBothSizes(page: Page, check: (size: string) => Promise<void>) {
  const before = page.viewportSize();
  expect(before).not.toBeNull();
  try {
    for (const size of VIEWPORTS) {
      await page.setViewportSize(size);
      await check(`${size.width}x${size.height}`);
    }
  } finally {
    if (before !== null) {
      await page.setViewportSize(before);
    }
  }
}

/** What axe finds against WCAG 2.1 AA in `page` (and its frames), as comparable lines. */
export async function axeViolations(page: Page): Promise<string[]> {
  const result = await new AxeBuilder({ page }).withTags(WCAG_21_AA).analyze();
  return result.violations.map(
    (v) => `${v.id}: ${v.help} (${v.nodes.map((n) => n.target.join(" ")).join(", ")})`,
  );
}

/** Keeps a screenshot of the screen at both sizes (test artifacts under .dev/screenshots/web)
 * and fails on anything axe finds against WCAG 2.1 AA at either. */
export async function checkScreen(page: Page, name: string): Promise<void> {
  await atBothSizes(page, async (size) => {
    await page.screenshot({ path: path.join(SCREENSHOTS, `${name}-${size}.png`), fullPage: true });
    expect(await axeViolations(page), `${name} at ${size}`).toEqual([]);
  });
}

/** `$12.34` from cents, as the app writes money. */
export function dollars(cents: number): string {
  const whole = Math.floor(cents / 100).toLocaleString("en-US");
  return `$${whole}.${String(cents % 100).padStart(2, "0")}`;
}
