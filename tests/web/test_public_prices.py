"""Public prices for visitors who are not signed in: the web app's price page in Debian's
chromium against the real stack, through the app server's own catalogue-only route
(host/catalogue.py), and that route's refusals."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, expect
from starlette.testclient import TestClient

from host.catalogue import VISITOR_BURST, catalogue_app, public_arguments
from servers.core.client import RemoteUnavailable
from servers.core.errors import DomainError
from tests.browser import needs_chromium
from tests.http.conftest import FullStack

from .conftest import check_screen, needs_build

TIMEOUT_MS = 15_000


def catalogue_tool(
    full_stack: FullStack, name: str, arguments: dict[str, str]
) -> dict[str, object]:
    token = full_stack.base.token(["tickets/catalogue"], client_id="host-agent", sub=None)
    reply = httpx.post(
        full_stack.mcp_url(full_stack.ticket),
        headers={
            "Authorization": f"Bearer {token}",
            "Accept": "application/json, text/event-stream",
        },
        json={
            "jsonrpc": "2.0",
            "id": 1,
            "method": "tools/call",
            "params": {"name": name, "arguments": arguments},
        },
    )
    result = reply.json()["result"]
    assert not result.get("isError"), result
    structured: dict[str, object] = result["structuredContent"]
    return structured


@pytest.mark.http
@pytest.mark.browser
@needs_chromium
@needs_build
@pytest.mark.parametrize("viewport", [(1280, 800), (390, 844)])
def test_a_visitor_reads_prices_by_ticket_type_tier_and_day_without_signing_in(
    browser: Browser, web_app: str, full_stack: FullStack, viewport: tuple[int, int]
) -> None:
    width, height = viewport
    context = browser.new_context(viewport={"width": width, "height": height})
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    try:
        page.goto(f"{web_app}/")
        page.get_by_role("link", name="See upgrade prices").click()
        expect(page).to_have_url(f"{web_app}/prices")
        expect(page.get_by_role("heading", name="Upgrade prices")).to_be_visible()
        open_day = page.locator("button.day:not(.closed)").first
        expect(open_day).to_be_visible()
        check_screen(page, "prices")
        day = open_day.get_attribute("data-date")
        assert day is not None
        open_day.click()
        total = page.locator(".quote .total")
        expect(total).to_have_text(re.compile(r"^\$\d+\.\d\d$"))
        quoted = catalogue_tool(
            full_stack, "quote_price", {"ticket_type": "general", "tier": "double_fun", "date": day}
        )
        cents = quoted["total_cents"]
        assert isinstance(cents, int)
        expect(total).to_have_text(f"${cents // 100}.{cents % 100:02d}")

        # A type with no upgrade to the tier says so, instead of an error.
        page.get_by_label("Ticket type").select_option("vip")
        page.get_by_label("Upgrade to").select_option("non_stop")
        expect(
            page.get_by_text("There is no upgrade from a VIP ticket to Non-stop.")
        ).to_be_visible()
        check_screen(page, "prices-no-upgrade")
        # Nothing was signed in to get here: no token in the page's storage.
        assert (
            page.evaluate("JSON.stringify([{...localStorage}, {...sessionStorage}])") == "[{},{}]"
        )
    finally:
        context.close()


@pytest.mark.http
def test_the_public_route_passes_only_the_catalogue_tools_and_their_arguments(
    web_app: str,
) -> None:
    calendar = httpx.post(
        f"{web_app}/api/catalogue/get_price_calendar",
        json={"ticket_type": "general", "tier": "standard"},
    )
    assert calendar.status_code == 200
    days = calendar.json()["days"]
    assert days
    assert all(day["price_cents"] > 0 for day in days)

    customer_tool = httpx.post(f"{web_app}/api/catalogue/list_my_tickets", json={})
    assert customer_tool.status_code == 404
    assert customer_tool.json() == {
        "error": "NOT_FOUND: there is no public tool named 'list_my_tickets'"
    }
    refused = httpx.post(
        f"{web_app}/api/catalogue/quote_price",
        json={"ticket_type": "premium", "tier": "standard", "date": days[0]["date"]},
    )
    assert refused.status_code == 400
    assert refused.json()["error"].startswith("NO_UPGRADE_PATH: ")


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (b"[]", "the body is not a JSON object"),
        (b"{", "the body is not JSON"),
        (b'{"ticket_type": "general", "customer_id": "cus_x"}', "quote_price takes no customer_id"),
        (b'{"ticket_type": 7}', "every argument is a string"),
        (b'{"date": "' + b"9" * 2000 + b'"}', "the arguments exceed 1024 bytes"),
    ],
)
def test_public_arguments_refuses_anything_but_the_tools_own_string_arguments(
    body: bytes, problem: str
) -> None:
    with pytest.raises(DomainError) as refused:
        public_arguments("quote_price", body)
    assert (refused.value.code, refused.value.message) == ("INVALID_ARGUMENT", problem)


def test_public_arguments_passes_the_tools_own_arguments() -> None:
    assert public_arguments("quote_price", b'{"ticket_type": "vip", "date": "2027-01-05"}') == {
        "ticket_type": "vip",
        "date": "2027-01-05",
    }
    assert public_arguments("get_price_calendar", b"") == {}


class _Unreachable:
    """A ticket server that cannot be reached."""

    async def call(self, tool: str, arguments: dict[str, Any] | None = None) -> dict[str, Any]:
        raise RemoteUnavailable(tool, "ClientConnectorError")


def test_the_public_route_says_when_prices_cannot_be_had_and_limits_each_visitor() -> None:
    unconfigured = TestClient(catalogue_app(None))
    answer = unconfigured.post("/quote_price", json={})
    assert (answer.status_code, answer.json()) == (
        503,
        {"error": "UNAVAILABLE: public prices are not configured on this server"},
    )
    down = TestClient(catalogue_app(_Unreachable()))
    answers = [down.post("/get_price_calendar", json={}) for _ in range(VISITOR_BURST + 1)]
    assert [a.status_code for a in answers] == [503] * VISITOR_BURST + [429]
    assert answers[0].json()["error"].startswith("UNAVAILABLE: a service this call needs")
    assert "retry-after" in answers[-1].headers
