// The browser suite (e2e/): @playwright/test driving Debian's chromium against the real stack,
// which each spec file starts for itself through `python -m tests.web.stack` (e2e/fixtures.ts).
import { defineConfig } from "@playwright/test";

// Where tests/browser.py finds chromium: $CHROMIUM, else Debian's. Playwright's own browser
// download is never used (it cannot download here); .ci/run installs the Debian package.
const CHROMIUM = process.env["CHROMIUM"] ?? "/usr/bin/chromium";
// tests/browser.py's CHROMIUM_ARGS: nothing that reaches out to the network, and no sandbox
// (CI runs as root, where chromium's sandbox cannot start). Headless is Playwright's own flag.
const CHROMIUM_ARGS = [
  "--no-sandbox",
  "--disable-gpu",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--no-first-run",
];

export default defineConfig({
  testDir: "e2e",
  // Failures' traces and screenshots; the screens' own screenshots go to .dev/screenshots/web.
  outputDir: "../.dev/e2e/results",
  // One stack at a time (it binds 127.0.0.1:8080) on a two-core machine; a failure is a failure.
  workers: 1,
  fullyParallel: false,
  retries: 0,
  forbidOnly: true,
  timeout: 120_000,
  expect: { timeout: 15_000 },
  reporter: [["list"]],
  use: {
    browserName: "chromium",
    headless: true,
    launchOptions: { executablePath: CHROMIUM, args: CHROMIUM_ARGS },
    actionTimeout: 15_000,
    navigationTimeout: 15_000,
    trace: "retain-on-failure",
    screenshot: "only-on-failure",
  },
});
