"""The customer web app in a real browser against the real stack: tests/http/conftest.py's
``full_stack`` plus the built app (web/dist) served on 127.0.0.1:8080, the origin the dev
identity provider's ``web`` client redirects to and the servers' CORS allow-list names."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from playwright.sync_api import Browser, Page, ViewportSize, sync_playwright

from host.webapp import DIST, PORT
from servers.core.settings import WEB_APP_ORIGIN
from servers.devidp.clients import ClientRegistry
from tests.browser import CHROMIUM, CHROMIUM_ARGS
from tests.http.conftest import (
    HOST,
    FullStack,
    ServerProcess,
    _child_env,
    _wait_healthy,
    full_stack,
)
from ticketing.procs import listeners, port_in_use

__all__ = ["full_stack"]  # the stack fixture, shared rather than copied

REPO = Path(__file__).resolve().parents[2]
AXE = REPO / "web" / "node_modules" / "axe-core" / "axe.min.js"
SCREENSHOTS = REPO / ".dev" / "screenshots" / "web"
# WCAG 2.1 A and AA, what the issue asks the app to meet.
AXE_RUN = """async () => {
  const result = await axe.run(document, {
    runOnly: { type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"] },
  });
  return result.violations.map((v) => ({
    id: v.id, help: v.help, nodes: v.nodes.map((n) => n.target.join(" ")),
  }));
}"""

CUSTOMER_EMAIL = "john.doe@example.com"
LATE_CUSTOMER_EMAIL = "jane.smith@example.com"  # TKT-JS0001's visit is today: inside 24 hours
PASSWORD = "Passw0rd!"

needs_build = pytest.mark.skipif(
    not (DIST / "index.html").is_file() or not AXE.is_file(),
    reason=f"{DIST} is not built: run `make web` (make test builds it first)",
)


@pytest.fixture(scope="module")
def web_app(full_stack: FullStack) -> str:
    """The built app and its /config.json pointing at this stack; stopped with the stack."""
    if port_in_use(PORT):
        holders = ", ".join(listeners(PORT)) or "another process"
        pytest.fail(
            f"port {PORT} is taken by {holders}: run the browser tests in their own network "
            "namespace (unshare --net), as the README says",
            pytrace=False,
        )
    workdir: Path = full_stack.base.workdir
    catalogue_secret = ClientRegistry.load(full_stack.base.key).client_secret("host-agent")
    assert catalogue_secret is not None
    server = ServerProcess(
        "web app",
        ["-m", "host.webapp"],
        _child_env(
            {
                "WEB_HOST": HOST,
                "WEB_PORT": str(PORT),
                "WEB_ISSUER": full_stack.base.issuer,
                "WEB_TICKET_URL": full_stack.mcp_url(full_stack.ticket),
                "WEB_PAYMENT_URL": full_stack.mcp_url(full_stack.payment),
                # Public prices for visitors: the app server's own catalogue-only token.
                "WEB_CATALOGUE_CLIENT_SECRET": catalogue_secret,
            }
        ),
        workdir / "web.log",
        cwd=workdir,
        port=PORT,
    )
    full_stack.base.servers.append(server)
    server.start()
    _wait_healthy([server])
    assert server.url == WEB_APP_ORIGIN
    return server.url


@pytest.fixture(scope="module")
def customer_id(full_stack: FullStack) -> str:
    with psycopg.connect(full_stack.database_url) as conn:
        row = conn.execute(
            "SELECT customer_id FROM data.customers WHERE email = %s", (CUSTOMER_EMAIL,)
        ).fetchone()
    assert row is not None, f"{CUSTOMER_EMAIL} is not in the seed data"
    return str(row[0])


@pytest.fixture(scope="module")
def browser(web_app: str) -> Iterator[Browser]:
    """Started after the stack: Playwright's sync API keeps an event loop running in this
    thread, and the stack's set-up runs its own."""
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


# The phone and the desktop size the issue names; every screen is checked at both.
VIEWPORTS: tuple[ViewportSize, ...] = (
    {"width": 390, "height": 844},
    {"width": 1280, "height": 800},
)


def at_both_sizes(page: Page) -> Iterator[str]:
    """Resizes ``page`` to each of VIEWPORTS in turn (yielding ``WIDTHxHEIGHT``), then back to
    the size the test was using."""
    before = page.viewport_size
    assert before is not None
    try:
        for size in VIEWPORTS:
            page.set_viewport_size(size)
            yield f"{size['width']}x{size['height']}"
    finally:
        page.set_viewport_size(before)


def check_screen(page: Page, name: str) -> None:
    """Keeps a screenshot of the screen at both sizes (test artifacts under .dev/screenshots/web)
    and fails on anything axe finds against WCAG 2.1 AA at either."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for size in at_both_sizes(page):
        page.screenshot(path=SCREENSHOTS / f"{name}-{size}.png", full_page=True)
        page.add_script_tag(path=AXE)
        violations: list[dict[str, Any]] = page.evaluate(AXE_RUN)
        assert violations == [], f"{name} at {size}: {violations}"
