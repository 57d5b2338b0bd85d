"""The MCP Inspector's own OAuth sign-in, as the README tells a new user to do it: the Inspector
knows nothing but the ticket server's URL (no client id, no pasted token), registers itself
with the dev identity provider, sends the person to the login page, and comes back signed in as
john.doe, who then upgrades a ticket. Once through the CLI, once through the web UI.

The person is Debian's chromium, driven by Playwright: it opens the sign-in URL the CLI prints
(or follows the UI's redirect), reads the consent screen, and signs in on the provider's form.
"""

from __future__ import annotations

import json
import queue
import re
import secrets
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Locator, Page, expect, sync_playwright

from tests.browser import CHROMIUM, CHROMIUM_ARGS, needs_chromium
from tests.http.conftest import FullStack, running_full_stack
from ticketing.pg import EmbeddedPostgres
from ticketing.procs import free_port, free_ports

from .conftest import CUSTOMER_EMAIL, INSPECTOR, node

# The Inspector's OAuth callbacks listen on its fixed ports 6274 (UI) and 6276 (CLI).
pytestmark = [pytest.mark.http, pytest.mark.browser, needs_chromium]

PASSWORD = "Passw0rd!"
JOHN_TICKETS = {"TKT-JD0001", "TKT-JD0002", "TKT-JD0003", "TKT-JD0004"}
CLI_TIMEOUT = 60.0
UI_TIMEOUT_MS = 30_000
# What the CLI prints on stderr when it needs the person to sign in.
_SIGN_IN_URL = re.compile(r"Please navigate to: (?P<url>\S+)")


@pytest.fixture(scope="module")
def full_stack(pg: EmbeddedPostgres, template_db: str) -> Iterator[FullStack]:
    """A stack of this module's own: John upgrades two of his seeded tickets here, which the
    shared stack's other modules also use (tests/http/test_oauth_clients.py, for one)."""
    with running_full_stack(pg, template_db) as stack:
        yield stack


@pytest.fixture(scope="module")
def browser(full_stack: FullStack) -> Iterator[Browser]:
    """Started after the stack: Playwright's sync API keeps an event loop running in this
    thread, and the stack's set-up runs its own."""
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


def sign_in(page: Page, idp_url: str) -> str:
    """On the provider's page the browser was sent to: check what it asks, sign in as John.
    Returns the consent text."""
    assert page.url.startswith(f"{idp_url}/oauth2/authorize"), page.url
    consent = page.inner_text("main")
    page.fill("#email", CUSTOMER_EMAIL)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_load_state()
    return consent


def assert_consent_names_the_inspector(consent: str) -> None:
    # A self-registered client: its own name, flagged as unverified, next to its id.
    assert "MCP Inspector" in consent
    assert "not verified" in consent
    assert re.search(r"client id dyn-[A-Za-z0-9_-]+", consent), consent
    assert "tickets/read: see your tickets" in consent
    assert "tickets/write: choose upgrades" in consent


# --- The CLI ---------------------------------------------------------------------------------


@dataclass
class InspectorCli:
    """The Inspector's CLI with a home of its own: its registration and tokens are kept in a
    file there (``MCP_INSPECTOR_SECRET_STORE=file``), as a developer's would be between
    commands, so only the first command needs a sign-in."""

    env: dict[str, str]
    browser: Browser
    idp_url: str
    workdir: Path
    consents: list[str] = field(default_factory=list)

    def __call__(self, url: str, *args: str) -> dict[str, Any]:
        output = self.workdir / f"result-{uuid.uuid4().hex}.json"
        command = [node(), str(INSPECTOR), "--cli", url, "--transport", "http"]
        process = subprocess.Popen(
            [*command, *args, "--output", str(output)],
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert process.stderr is not None
        lines: queue.Queue[str | None] = queue.Queue()
        stderr: list[str] = []

        def read(stream: Any) -> None:
            for line in stream:
                lines.put(line)
            lines.put(None)

        threading.Thread(target=read, args=(process.stderr,), daemon=True).start()
        deadline = time.monotonic() + CLI_TIMEOUT
        try:
            while (line := lines.get(timeout=max(0.0, deadline - time.monotonic()))) is not None:
                stderr.append(line)
                if found := _SIGN_IN_URL.search(line):
                    self._sign_in(found["url"])
            process.wait(timeout=max(0.1, deadline - time.monotonic()))
        finally:
            if process.poll() is None:
                process.kill()
        assert process.returncode == 0, (
            f"inspector {args} exited {process.returncode}:\n" + "".join(stderr)
        )
        result: dict[str, Any] = json.loads(output.read_text())
        return result

    def _sign_in(self, url: str) -> None:
        page = self.browser.new_page()
        try:
            page.goto(url)
            self.consents.append(sign_in(page, self.idp_url))
            # The CLI's own loopback listener answers the browser once it has the code.
            assert "OAuth complete" in page.inner_text("body")
        finally:
            page.close()

    def call(self, url: str, tool: str, arguments: dict[str, Any]) -> dict[str, Any]:
        result = self(
            url,
            "--method",
            "tools/call",
            "--tool-name",
            tool,
            "--tool-args-json",
            json.dumps(arguments),
        )
        assert not result.get("isError"), result
        structured: dict[str, Any] = result["structuredContent"]
        return structured


@pytest.fixture
def inspector_cli(
    node_env: dict[str, str], browser: Browser, full_stack: FullStack, tmp_path: Path
) -> InspectorCli:
    env = {
        **node_env,
        "HOME": str(tmp_path),
        "MCP_INSPECTOR_SECRET_STORE": "file",
        "MCP_OAUTH_CALLBACK_URL": f"http://127.0.0.1:{free_port()}/oauth/callback",
        # With no terminal the CLI refuses to start a sign-in unless told it may hand the URL
        # to a browser; it then prints it, and the test's browser opens it.
        "MCP_AUTO_OPEN_ENABLED": "true",
    }
    return InspectorCli(env, browser, full_stack.base.idp.url, tmp_path)


def test_inspector_cli_signs_in_with_no_client_id_and_upgrades(
    inspector_cli: InspectorCli, full_stack: FullStack
) -> None:
    url = f"{full_stack.ticket.url}/mcp"

    listed = inspector_cli(url, "--method", "tools/list")
    assert {"list_my_tickets", "select_upgrade", "pay_upgrade"} <= {
        t["name"] for t in listed["tools"]
    }
    assert len(inspector_cli.consents) == 1
    assert_consent_names_the_inspector(inspector_cli.consents[0])

    mine = inspector_cli.call(url, "list_my_tickets", {})
    assert {t["ticket_number"] for t in mine["tickets"]} == JOHN_TICKETS

    upgrade(inspector_cli.call, url, "TKT-JD0001", "standard", "cli")
    # Every command after the first used the stored token: one sign-in in all.
    assert len(inspector_cli.consents) == 1


Call = Callable[[str, str, dict[str, Any]], dict[str, Any]]
"""One tool call through the Inspector (CLI or UI): the server's URL, the tool, its arguments."""


def upgrade(call: Call, url: str, ticket_number: str, tier: str, key_prefix: str) -> None:
    """John upgrades a ticket through the Inspector: the first bookable date, a hold, a payment
    with a test card; then the order is confirmed (the payment's webhook may land a moment
    after the answer) and the ticket carries the upgrade."""
    calendar = call(
        url, "get_availability_calendar", {"ticket_number": ticket_number, "tier": tier}
    )
    day: str = next(d["date"] for d in calendar["days"] if d["available"])
    order = call(
        url,
        "select_upgrade",
        {
            "ticket_number": ticket_number,
            "tier": tier,
            "date": day,
            "idempotency_key": f"{key_prefix}-select-{uuid.uuid4().hex}",
        },
    )
    assert order["status"] == "awaiting_payment"
    paid = call(
        url,
        "pay_upgrade",
        {
            "order_id": order["order_id"],
            "payment_method": "pm_card_visa",
            "idempotency_key": f"{key_prefix}-pay-{uuid.uuid4().hex}",
        },
    )
    assert paid["payment_status"] == "succeeded", paid
    deadline = time.monotonic() + CLI_TIMEOUT
    while (order := call(url, "get_upgrade_order", {"order_id": order["order_id"]}))[
        "status"
    ] != "confirmed":
        assert order["status"] == "awaiting_payment", order
        assert time.monotonic() < deadline, f"order never confirmed: {order}"
        time.sleep(0.2)
    assert order["confirmation_code"]
    ticket = call(url, "get_ticket", {"ticket_number": ticket_number})
    assert (ticket["upgrade_tier"], ticket["visit_date"]) == (tier, day)


# --- The web UI ------------------------------------------------------------------------------


@dataclass
class InspectorUi:
    """The Inspector's web UI on a page of the test's browser."""

    page: Page
    idp_url: str
    consents: list[str] = field(default_factory=list)

    def connect(self) -> None:
        turn_on(self.page.get_by_role("switch", name=re.compile("Connect or disconnect")))
        self.page.wait_for_url(f"{self.idp_url}/oauth2/authorize*", timeout=UI_TIMEOUT_MS)
        self.consents.append(sign_in(self.page, self.idp_url))
        self.page.get_by_text("Connected", exact=True).wait_for(timeout=UI_TIMEOUT_MS)

    def call(self, url: str, tool: str, arguments: dict[str, Any]) -> dict[str, Any]:
        """Pick the tool in the Tools tab, give its arguments as JSON, run it, read the result.
        (``url`` is the connected server; the UI has only the one.)"""
        page = self.page
        page.get_by_text("Tools", exact=True).first.click()
        page.get_by_text(tool, exact=True).first.click()
        turn_on(page.get_by_role("switch", name="Edit as JSON"))
        page.locator(".ace_editor .ace_content").first.click()
        page.keyboard.press("Control+A")
        page.keyboard.insert_text(json.dumps(arguments))
        page.get_by_role("button", name="Execute Tool").click()
        results = page.get_by_text("Results", exact=True)
        results.wait_for(timeout=UI_TIMEOUT_MS)
        # The result is shown in a (read-only) Ace editor: its whole text, not only the lines
        # scrolled into view, comes from the editor itself.
        text: str = page.locator(".ace_editor").first.evaluate("e => e.env.editor.getValue()")
        page.get_by_role("button", name="Close").first.click()
        result: dict[str, Any] = json.loads(text)
        assert not result.get("isError"), result
        structured: dict[str, Any] = result.get("structuredContent", result)
        return structured


def turn_on(switch: Locator) -> None:
    """Turns a Mantine switch on. Its input is transparent under the track, which takes the
    click, so the track is clicked, once it stands still: a forced click on the input lands where
    the input was a moment ago, and the tool form moves while a tool's description unfolds."""
    if not switch.is_checked():
        switch.locator("xpath=following-sibling::*[1]").click(timeout=UI_TIMEOUT_MS)
    expect(switch).to_be_checked(timeout=UI_TIMEOUT_MS)


@pytest.fixture
def inspector_ui(
    node_env: dict[str, str], browser: Browser, full_stack: FullStack, tmp_path: Path
) -> Iterator[InspectorUi]:
    port, sandbox_port = free_ports(2)
    api_token = secrets.token_hex(32)
    env = {
        **node_env,
        "HOME": str(tmp_path),
        "CLIENT_PORT": str(port),
        "MCP_SANDBOX_PORT": str(sandbox_port),
        "MCP_INSPECTOR_API_TOKEN": api_token,
        "MCP_INSPECTOR_SECRET_STORE": "memory",
        "MCP_AUTO_OPEN_ENABLED": "false",
    }
    url = f"{full_stack.ticket.url}/mcp"
    log = (tmp_path / "inspector-web.log").open("w")
    process = subprocess.Popen(
        [node(), str(INSPECTOR), "--web", "--server-url", url, "--transport", "http"],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_serving(base, process)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.set_default_timeout(UI_TIMEOUT_MS)
        page.goto(f"{base}/?MCP_INSPECTOR_API_TOKEN={api_token}")
        try:
            yield InspectorUi(page, full_stack.base.idp.url)
        finally:
            page.screenshot(path=str(tmp_path / "inspector-ui.png"))
            page.close()
    finally:
        process.terminate()
        process.wait(timeout=10)
        log.close()


def wait_serving(base: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + CLI_TIMEOUT
    with httpx.Client(timeout=2.0) as http:
        while True:
            assert process.poll() is None, "the Inspector's web server exited"
            try:
                if http.get(base).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "the Inspector's web server never answered"
            time.sleep(0.1)


def test_inspector_ui_signs_in_with_no_client_id_and_upgrades(
    inspector_ui: InspectorUi, full_stack: FullStack
) -> None:
    url = f"{full_stack.ticket.url}/mcp"
    inspector_ui.connect()
    assert_consent_names_the_inspector(inspector_ui.consents[0])

    mine = inspector_ui.call(url, "list_my_tickets", {})
    assert {t["ticket_number"] for t in mine["tickets"]} == JOHN_TICKETS

    # TKT-JD0002 is a standard ticket: Non-stop is an upgrade for it.
    upgrade(inspector_ui.call, url, "TKT-JD0002", "non_stop", "ui")
    assert len(inspector_ui.consents) == 1
