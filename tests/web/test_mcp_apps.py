"""The ticket server's MCP Apps in Debian's chromium, inside a minimal MCP Apps host: the host side
of @modelcontextprotocol/ext-apps (AppBridge, web/apps/src/host.ts) renders each app from the
real ticket server's ``resources/read`` in a sandboxed iframe and hands it a real tool result; the
app's ``tools/call`` goes through the host to the real server with the customer's token, as an
assistant's host would send it."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import (
    Browser,
    Frame,
    FrameLocator,
    Page,
    Route,
    expect,
    sync_playwright,
)

from servers.ticket.apps import APPS_DIR
from tests.browser import CHROMIUM, CHROMIUM_ARGS, needs_chromium
from tests.http.conftest import FullStack

from .conftest import AXE, AXE_RUN, SCREENSHOTS, at_both_sizes

REPO = Path(__file__).resolve().parents[2]
HOST_PAGE = REPO / "web" / "apps" / "dist" / "host.html"
HOST_URL = "http://mcp-apps-host.test/"  # never resolved: Playwright answers it with HOST_PAGE
CALENDAR = "ui://ticket/calendar.html"
SUMMARY = "ui://ticket/summary.html"
TICKET = "TKT-JD0001"
TIMEOUT_MS = 15_000
ELSEWHERE = "http://elsewhere.test/pixel.gif"
GIF = bytes.fromhex(
    "47494638396101000100800000000000ffffff21f90401000000002c00000000010001000002024401003b"
)

pytestmark = [
    pytest.mark.http,
    pytest.mark.browser,
    needs_chromium,
    pytest.mark.skipif(
        not HOST_PAGE.is_file() or not (APPS_DIR / "calendar.html").is_file(),
        reason="the MCP Apps are not built: run `make web` (make test builds them first)",
    ),
]


class TicketServer:
    """Plain JSON-RPC to the real ticket server with one customer's token: what the host sends."""

    def __init__(self, full_stack: FullStack, token: str) -> None:
        self.url = full_stack.mcp_url(full_stack.ticket)
        self.headers = {
            "Authorization": f"Bearer {token}",
            "Accept": "application/json, text/event-stream",
        }

    def request(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        reply = httpx.post(
            self.url,
            headers=self.headers,
            json={"jsonrpc": "2.0", "id": 1, "method": method, "params": params},
            timeout=10.0,
        )
        reply.raise_for_status()
        result: dict[str, Any] = reply.json()["result"]
        return result

    def html(self, uri: str) -> str:
        [content] = self.request("resources/read", {"uri": uri})["contents"]
        assert content["mimeType"] == "text/html;profile=mcp-app"
        text: str = content["text"]
        return text


@pytest.fixture(scope="module")
def server(full_stack: FullStack, customer_id: str) -> TicketServer:
    return TicketServer(full_stack, full_stack.customer_token(customer_id))


@pytest.fixture(scope="module")
def chromium(full_stack: FullStack) -> Iterator[Browser]:
    """Started after the stack (Playwright's sync API keeps an event loop in this thread)."""
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def host(chromium: Browser, server: TicketServer) -> Iterator[Page]:
    """The host page, passing the app's tool calls to the real server."""
    page = chromium.new_page(viewport={"width": 1280, "height": 800})
    page.route(HOST_URL, lambda route: route.fulfill(path=HOST_PAGE, content_type="text/html"))
    page.expose_function("forwardToolCall", lambda params: server.request("tools/call", params))
    page.goto(HOST_URL)
    try:
        yield page
    finally:
        page.close()


def show(page: Page, html: str, title: str, arguments: dict[str, Any], result: Any) -> FrameLocator:
    view = {"html": html, "title": title, "arguments": arguments, "result": result}
    page.evaluate("view => window.mcpHost.show(view)", view)
    return page.frame_locator(f'iframe[title="{title}"]')


def app_frame(page: Page) -> Frame:
    [frame] = [frame for frame in page.frames if frame.parent_frame is page.main_frame]
    return frame


def check_app(page: Page, name: str) -> None:
    """Keeps a screenshot of the host with the app in it at both sizes, and fails on anything axe
    finds against WCAG 2.1 AA inside the app's own document at either."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for size in at_both_sizes(page):
        page.screenshot(path=SCREENSHOTS / f"mcp-app-{name}-{size}.png", full_page=True)
        frame = app_frame(page)
        # Inline, as the app's CSP allows scripts only inline.
        frame.add_script_tag(content=AXE.read_text(encoding="utf-8"))
        violations: list[dict[str, Any]] = frame.evaluate(AXE_RUN)
        assert violations == [], f"{name} at {size}: {violations}"


def dollars(cents: int) -> str:
    return f"${cents // 100:,}.{cents % 100:02d}"


def test_apps_declare_no_origin_in_their_own_document(server: TicketServer) -> None:
    for uri in (CALENDAR, SUMMARY):
        html = server.html(uri)
        policy = re.search(r'http-equiv="Content-Security-Policy"\s+content="([^"]+)"', html)
        assert policy is not None, uri
        assert "connect-src 'none'" in policy.group(1)
        assert "http" not in policy.group(1), "no origin may be allowed"
        # One document: nothing is fetched for it, from anywhere.
        assert re.search(r"<(script|link|img|iframe)\b[^>]*\b(src|href)=", html) is None, uri


def test_the_calendar_app_shows_the_result_and_quotes_a_chosen_date_through_the_host(
    host: Page, server: TicketServer
) -> None:
    arguments = {"ticket_number": TICKET, "tier": "standard"}
    result = server.request(
        "tools/call", {"name": "get_availability_calendar", "arguments": arguments}
    )
    assert not result.get("isError"), result
    day = next(d for d in result["structuredContent"]["days"] if d["available"])

    app = show(host, server.html(CALENDAR), "Upgrade calendar", arguments, result)
    expect(app.get_by_role("heading", name=f"Standard upgrade for {TICKET}")).to_be_visible(
        timeout=TIMEOUT_MS
    )
    button = app.locator(f'button[data-date="{day["date"]}"]')
    expect(button).to_contain_text(dollars(day["price_cents"]))
    assert host.evaluate("window.toolCalls") == [], "nothing is called before a date is chosen"

    button.click()
    total = app.locator(".quote .total")
    expect(total).to_have_text(dollars(day["price_cents"]), timeout=TIMEOUT_MS)
    assert host.evaluate("window.toolCalls") == [
        {"name": "quote_upgrade", "arguments": {**arguments, "date": day["date"]}}
    ]
    # The assistant hears of the choice: the host got it for the model's next turn (sent just
    # after the quote is on screen, so waited for).
    host.wait_for_function("window.modelContext.length > 0", timeout=TIMEOUT_MS)
    [context] = host.evaluate("window.modelContext")
    assert context["structuredContent"]["total_cents"] == day["price_cents"]
    assert context["structuredContent"]["date"] == day["date"]
    [text] = context["content"]
    assert dollars(day["price_cents"]) in text["text"]
    assert TICKET in text["text"]
    check_app(host, "calendar")
    # The app's own policy is in force in the frame: an image from another origin (one this
    # test would answer) is never even requested.
    asked: list[str] = []

    def answer(route: Route) -> None:
        asked.append(route.request.url)
        route.fulfill(body=GIF, content_type="image/gif")

    host.route(ELSEWHERE, answer)
    load = f"""() => new Promise((resolve) => {{
        const image = new Image();
        image.onload = () => resolve("loaded");
        image.onerror = () => resolve("refused");
        image.src = {ELSEWHERE!r};
    }})"""
    assert app_frame(host).evaluate(load) == "refused"
    assert asked == []


def test_the_summary_app_shows_a_quote_result(host: Page, server: TicketServer) -> None:
    calendar = server.request(
        "tools/call",
        {
            "name": "get_availability_calendar",
            "arguments": {"ticket_number": TICKET, "tier": "non_stop"},
        },
    )
    day = next(d for d in calendar["structuredContent"]["days"] if d["available"])
    arguments = {"ticket_number": TICKET, "tier": "non_stop", "date": day["date"]}
    quote = server.request("tools/call", {"name": "quote_upgrade", "arguments": arguments})
    assert not quote.get("isError"), quote

    app = show(host, server.html(SUMMARY), "Upgrade summary", arguments, quote)
    expect(
        app.get_by_role("heading", name=re.compile(f"^Non-stop upgrade for {TICKET}"))
    ).to_be_visible(timeout=TIMEOUT_MS)
    expect(app.locator(".quote .total")).to_have_text(
        dollars(quote["structuredContent"]["total_cents"])
    )
    check_app(host, "summary")


def test_a_tool_error_shows_the_customers_sentence(host: Page, server: TicketServer) -> None:
    arguments = {"ticket_number": "TKT-JD0004", "tier": "standard"}  # a premium ticket
    result = server.request(
        "tools/call", {"name": "get_availability_calendar", "arguments": arguments}
    )
    assert result.get("isError"), result

    app = show(host, server.html(CALENDAR), "Upgrade calendar", arguments, result)
    expect(app.get_by_role("alert")).to_have_text(
        "There is no upgrade for this ticket type.", timeout=TIMEOUT_MS
    )
