"""My orders and the other ways to pay, in Debian's chromium against the real stack.

John pays one upgrade on the payment server's hosted checkout page (opened in a new tab; the
app updates by itself once the webhook confirms the order), a second with the card he saved
there, and a third with a new card that asks for 3-D Secure: declined on the payment server's
own page (the app says so), then approved there. Jane, signing in from a link to John's
ticket, is shown "not found" exactly as for a ticket that does not exist, then moves her
upgrade to another date and cancels it, refunded."""

from __future__ import annotations

import re
from typing import Any

import httpx
import psycopg
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from tests.browser import needs_chromium
from tests.http.conftest import FullStack

from .conftest import CUSTOMER_EMAIL, LATE_CUSTOMER_EMAIL, PASSWORD, check_screen, needs_build

pytestmark = [pytest.mark.http, pytest.mark.browser, needs_chromium, needs_build]

CARD = "4242424242424242"
THREE_D_SECURE_CARD = "4000000000003220"
TIMEOUT_MS = 15_000
PAY = re.compile(r"^Pay \$")


def tool(server: str, token: str, name: str, arguments: dict[str, Any]) -> Any:
    reply = httpx.post(
        server,
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


def customer_token(full_stack: FullStack, email: str) -> str:
    with psycopg.connect(full_stack.database_url) as conn:
        row = conn.execute(
            "SELECT customer_id FROM data.customers WHERE email = %s", (email,)
        ).fetchone()
    assert row is not None, email
    return full_stack.customer_token(str(row[0]))


def sign_in_at(page: Page, web_app: str, idp_url: str, email: str, path: str) -> None:
    """Opens ``path`` signed out, signs in on the identity provider's form, and is brought
    back to ``path``: a deep link survives the sign-in."""
    page.goto(f"{web_app}{path}")
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{idp_url}/oauth2/authorize**")
    page.fill("#email", email)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{web_app}{path}")


def hold(page: Page, web_app: str, ticket: str, tier: str) -> None:
    """From My tickets: the ticket's page, the tier's first open day, held."""
    page.get_by_role("link", name="My tickets").click()
    page.get_by_role("button", name=f"Upgrade options for {ticket}").click()
    expect(page).to_have_url(f"{web_app}/tickets/{ticket}")
    page.get_by_role("button", name=f"Choose a date for {tier}").click()
    page.locator("button.day:not(.closed)").first.click()
    expect(page.locator(".quote .total")).to_have_text(re.compile(r"^\$\d+\.\d\d$"))
    page.get_by_role("button", name="Hold this upgrade").click()
    expect(page.get_by_role("timer")).to_be_visible()


def on_payment_page(context: BrowserContext, page: Page, link_name: str) -> Page:
    link = page.get_by_role("link", name=re.compile(link_name))
    with context.expect_page() as opened:
        link.click()
    payment_page = opened.value
    payment_page.set_default_timeout(TIMEOUT_MS)
    return payment_page


def confirmed_code(page: Page) -> str:
    expect(page.get_by_role("heading", name="Upgrade confirmed")).to_be_visible()
    code = page.locator(".confirmation-code").inner_text()
    assert code
    return code


def test_john_pays_on_the_hosted_page_with_a_saved_card_and_through_3d_secure(
    browser: Browser, web_app: str, full_stack: FullStack
) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    token = customer_token(full_stack, CUSTOMER_EMAIL)
    payment_url = full_stack.mcp_url(full_stack.payment)
    try:
        sign_in_at(page, web_app, full_stack.base.idp.url, CUSTOMER_EMAIL, "/")

        # 1. The hosted checkout, in a new tab; this tab follows the order by itself.
        hold(page, web_app, "TKT-JD0001", "Standard")
        page.get_by_role("radio", name="On the secure payment page").check()
        expect(page.get_by_label("Card number")).to_have_count(0)
        page.get_by_role("button", name=PAY).click()
        expect(page.get_by_role("status")).to_have_text(re.compile("^Waiting for your payment"))
        check_screen(page, "pay-hosted-waiting")
        checkout = on_payment_page(context, page, "^Open the payment page to pay")
        checkout.fill("#card_number", CARD)
        checkout.fill("#exp_month", "12")
        checkout.fill("#exp_year", "2034")
        checkout.fill("#cvc", "123")
        checkout.check("#save_card")
        checkout.get_by_role("button", name=re.compile("^Pay USD ")).click()
        expect(checkout.get_by_role("heading", name="Payment received")).to_be_visible()
        checkout.close()
        hosted_code = confirmed_code(page)

        # 2. The card saved on the payment page is offered first next time.
        hold(page, web_app, "TKT-JD0002", "Non-stop")
        saved = page.get_by_role("radio", name="Visa ending 4242, expires 12/2034", exact=True)
        expect(saved).to_be_checked()
        check_screen(page, "pay-saved-card")
        page.get_by_role("button", name=PAY).click()
        saved_code = confirmed_code(page)

        # 3. Remove the saved card; pay with a new one that asks for 3-D Secure.
        hold(page, web_app, "TKT-JD0003", "Double Fun")
        page.get_by_role("button", name=re.compile("^Remove Visa ending 4242")).click()
        expect(page.get_by_role("radio", name=re.compile("^Visa ending 4242"))).to_have_count(0)
        page.get_by_role("radio", name="A new card").check()
        page.get_by_label("Card number").fill(THREE_D_SECURE_CARD)
        page.get_by_label("Expiry month").fill("12")
        page.get_by_label("Expiry year").fill("2034")
        page.get_by_label("Security code").fill("123")
        page.get_by_role("button", name=PAY).click()
        expect(
            page.get_by_role("heading", name="Approve the payment with your bank")
        ).to_be_visible()
        check_screen(page, "pay-3d-secure")
        # Declined on the bank's page: the app says so in words, and the order waits on.
        challenge = on_payment_page(context, page, "^Open the approval page$")
        challenge.get_by_role("button", name="Decline").click()
        challenge.close()
        expect(page.get_by_role("alert")).to_have_text(
            "The payment was not approved with your bank. Please try again or use another card."
        )
        # Again with that card, saved now, and approved this time.
        page.get_by_role("radio", name=re.compile("^Visa ending 3220")).check()
        page.get_by_role("button", name=PAY).click()
        challenge = on_payment_page(context, page, "^Open the approval page$")
        challenge.get_by_role("button", name="Approve payment").click()
        expect(challenge.get_by_role("heading", name="Payment received")).to_be_visible()
        challenge.close()
        secure_code = confirmed_code(page)

        orders = tool(full_stack.mcp_url(full_stack.ticket), token, "list_my_orders", {})
        by_code = {o["confirmation_code"]: o for o in orders["orders"] if o["confirmation_code"]}
        assert {by_code[c]["ticket_number"] for c in (hosted_code, saved_code, secure_code)} == {
            "TKT-JD0001",
            "TKT-JD0002",
            "TKT-JD0003",
        }
        assert {by_code[c]["status"] for c in (hosted_code, saved_code, secure_code)} == {
            "confirmed"
        }
        cards = tool(payment_url, token, "list_payment_methods", {})
        assert [card["last4"] for card in cards["payment_methods"]] == ["3220"]

        page.get_by_role("link", name="My orders").click()
        expect(page).to_have_url(f"{web_app}/orders")
        expect(page.locator(".order .status")).to_have_text(["Confirmed"] * 3)
        check_screen(page, "orders")
    finally:
        context.close()


def test_jane_sees_not_found_for_johns_ticket_then_moves_and_cancels_her_upgrade(
    browser: Browser, web_app: str, full_stack: FullStack
) -> None:
    context = browser.new_context(viewport={"width": 390, "height": 844})
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    token = customer_token(full_stack, LATE_CUSTOMER_EMAIL)
    ticket_url = full_stack.mcp_url(full_stack.ticket)
    try:
        sign_in_at(
            page, web_app, full_stack.base.idp.url, LATE_CUSTOMER_EMAIL, "/tickets/TKT-JD0001"
        )
        expect(page.get_by_role("heading", name="Ticket not found")).to_be_visible()
        someone_elses = page.locator("main").inner_text()
        check_screen(page, "ticket-not-found")
        # A ticket that exists nowhere reads exactly the same.
        page.evaluate(
            "() => { history.pushState(null, '', '/tickets/TKT-ZZ9999');"
            " dispatchEvent(new PopStateEvent('popstate')); }"
        )
        expect(page.get_by_role("heading", name="Ticket not found")).to_be_visible()
        assert page.locator("main").inner_text() == someone_elses

        page.get_by_role("link", name="My orders").click()
        order = page.locator(".order", has_text="TKT-JS0003")
        expect(order.locator(".status")).to_have_text("Confirmed")
        order_id = order.get_attribute("data-order")
        assert order_id is not None

        order.get_by_role("button", name="Change date").click()
        # An off-peak day costs less than was paid: the move refunds the difference. (A dearer
        # day would charge the seeded upgrade's card, which was never saved, and is refused.)
        cheaper = order.locator("button.day.off_peak")
        for _ in range(3):
            if cheaper.count() > 0:
                break
            order.get_by_role("button", name="Next month").click()
        day = cheaper.first
        chosen = day.get_attribute("data-date")
        assert chosen is not None
        day.click()
        expect(order.locator(".difference")).to_have_text("$5.00")
        expect(order.locator(".difference").locator("xpath=preceding-sibling::dt[1]")).to_have_text(
            "To refund"
        )
        check_screen(page, "orders-change")
        order.get_by_role("button", name=re.compile("^Move to ")).click()
        expect(page.locator(".notice")).to_have_text(
            re.compile(r"^Your upgrade is moved to .+\. \$5\.00 is refunded to your card\.$")
        )
        moved = tool(ticket_url, token, "get_upgrade_order", {"order_id": order_id})
        assert (moved["visit_date"], moved["status"]) == (chosen, "confirmed")

        amount = f"${moved['amount_cents'] // 100}.{moved['amount_cents'] % 100:02d}"
        order.get_by_role("button", name="Cancel upgrade").click()
        check_screen(page, "orders-cancel")
        order.get_by_role("button", name=f"Cancel and refund {amount}").click()
        expect(page.locator(".notice")).to_have_text(
            f"Your Non-stop upgrade is cancelled: {amount} is refunded to your card."
        )
        expect(order.locator(".status")).to_have_text("Cancelled and refunded")
        expect(order.get_by_role("button")).to_have_count(0)
        refunded = tool(ticket_url, token, "get_upgrade_order", {"order_id": order_id})
        assert refunded["status"] == "refunded"
    finally:
        context.close()
