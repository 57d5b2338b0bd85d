"""A customer upgrades a ticket in the web app, in Debian's chromium, against the real stack:
signs in on the identity provider's form as john.doe, opens TKT-JD0001's three options, picks a
day on the priced calendar, holds it (the countdown runs), is declined with one card and pays
with another (each card made on the payment server only), reads the confirmation code, and
signs out: the refresh token is revoked and no token is left behind."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page, Request, expect

from tests.browser import needs_chromium
from tests.http.conftest import FullStack

from .conftest import CUSTOMER_EMAIL, LATE_CUSTOMER_EMAIL, PASSWORD, check_screen, needs_build

pytestmark = [pytest.mark.http, pytest.mark.browser, needs_chromium, needs_build]

TICKET = "TKT-JD0001"
CARD = "4242424242424242"
DECLINED_CARD = "4000000000000002"  # generic_decline
TIMEOUT_MS = 15_000


def ticket_tool(full_stack: FullStack, token: str, name: str, arguments: dict[str, Any]) -> Any:
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
    return result["structuredContent"]


def sign_in(page: Page, web_app: str, idp_url: str, email: str = CUSTOMER_EMAIL) -> None:
    page.goto(f"{web_app}/")
    check_screen(page, "welcome")
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{idp_url}/oauth2/authorize**")
    page.fill("#email", email)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{web_app}/")


def test_john_signs_in_upgrades_a_ticket_by_card_and_signs_out(
    browser: Browser, web_app: str, full_stack: FullStack, customer_id: str
) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    posted: list[tuple[str, str]] = []

    def record(request: Request) -> None:
        if request.method == "POST":
            posted.append((request.url, request.post_data or ""))

    page.on("request", record)
    try:
        sign_in(page, web_app, full_stack.base.idp.url)
        expect(page.get_by_text(CUSTOMER_EMAIL)).to_be_visible()
        expect(page.locator(".ticket")).to_have_count(4)
        check_screen(page, "tickets")

        page.get_by_role("button", name=f"Upgrade options for {TICKET}").click()
        tiers = page.locator(".tiers > li h3")
        expect(tiers).to_have_text(["Standard", "Non-stop", "Double Fun"])
        expect(page.locator(".from-price")).to_have_count(3)
        check_screen(page, "options")

        page.get_by_role("button", name="Choose a date for Non-stop").click()
        open_day = page.locator("button.day:not(.closed)").first
        expect(open_day).to_be_visible()
        chosen = open_day.get_attribute("data-date")
        assert chosen is not None
        # The one day in the tab order, then Enter: the calendar works from the keyboard.
        expect(open_day).to_have_attribute("tabindex", "0")
        check_screen(page, "calendar")
        open_day.focus()
        page.keyboard.press("Enter")

        total = page.locator(".quote .total")
        expect(total).to_have_text(re.compile(r"^\$\d+\.\d\d$"))
        page.get_by_role("button", name="Hold this upgrade").click()
        timer = page.get_by_role("timer")
        expect(timer).to_have_text(re.compile(r"^1[45]:[0-5]\d$"))
        first = timer.inner_text()
        check_screen(page, "checkout")
        expect(timer).not_to_have_text(first)  # counting down, live

        pay = page.get_by_role("button", name=re.compile(r"^Pay \$"))
        page.get_by_label("Card number").fill(DECLINED_CARD)
        page.get_by_label("Expiry month").fill("12")
        page.get_by_label("Expiry year").fill("2034")
        page.get_by_label("Security code").fill("123")
        pay.click()
        expect(page.get_by_role("alert")).to_have_text(
            "Your card was declined. Please try another card."
        )

        page.get_by_label("Card number").fill(CARD)
        pay.click()

        expect(page.get_by_role("heading", name="Upgrade confirmed")).to_be_visible()
        code = page.locator(".confirmation-code").inner_text()
        assert code
        check_screen(page, "confirmation")

        token = full_stack.customer_token(customer_id)
        orders = ticket_tool(full_stack, token, "list_my_orders", {})["orders"]
        confirmed = [order for order in orders if order["confirmation_code"] == code]
        assert len(confirmed) == 1, orders
        assert confirmed[0]["ticket_number"] == TICKET
        assert confirmed[0]["tier"] == "non_stop"
        assert confirmed[0]["visit_date"] == chosen
        assert confirmed[0]["status"] == "confirmed"

        # The card went to the payment server only.
        for number in (DECLINED_CARD, CARD):
            with_card = {url for url, body in posted if number in body}
            assert with_card == {full_stack.mcp_url(full_stack.payment)}, with_card

        with page.expect_response(f"{full_stack.base.idp.url}/oauth2/revoke") as revoked:
            page.get_by_role("button", name="Sign out").click()
        assert revoked.value.ok
        assert "token_type_hint=refresh_token" in (revoked.value.request.post_data or "")
        expect(page.get_by_role("button", name="Sign in")).to_be_visible()
        stored = page.evaluate("JSON.stringify([{...localStorage}, {...sessionStorage}])")
        assert "eyJ" not in stored  # no JWT anywhere in web storage
        assert stored == "[{},{}]", stored
    finally:
        context.close()


def test_a_ticket_inside_24_hours_shows_all_three_tiers_closed_and_why(
    browser: Browser, web_app: str, full_stack: FullStack
) -> None:
    context = browser.new_context(viewport={"width": 390, "height": 844})
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    try:
        sign_in(page, web_app, full_stack.base.idp.url, LATE_CUSTOMER_EMAIL)
        page.get_by_role("button", name="Upgrade options for TKT-JS0001").click()
        expect(page.locator(".tiers > li h3")).to_have_text(["Standard", "Non-stop", "Double Fun"])
        expect(page.locator(".tiers .reason")).to_have_text(
            ["Not available: Upgrades close 24 hours before the visit."] * 3
        )
        expect(page.get_by_role("button", name=re.compile("^Choose a date"))).to_have_count(0)
        check_screen(page, "options-too-late")
    finally:
        context.close()
