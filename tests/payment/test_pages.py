"""The hosted checkout page over HTTP (in process): what it shows in each state, that only its
own form may post to it (CSRF token, Origin), its security headers, and that a card number
never comes back in a page or goes into the database."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta

import httpx
import pytest

from servers.core.db import Database, fetch_value
from servers.payment.checkout import Checkout
from servers.payment.models import CheckoutSession
from servers.payment.pages import CSRF_COOKIE
from servers.payment.server import build_server
from servers.payment.service import TRUSTED, PaymentService

from .support import ALICE, FakeClock, key, new_intent

BASE = "http://127.0.0.1:8000"
CARD = "4000 0566 5566 5556"


@dataclass
class Browser:
    """An HTTP client that keeps the page's cookie, and the page it has open."""

    http: httpx.AsyncClient
    path: str = ""
    token: str = ""

    async def open(self, url: str) -> httpx.Response:
        self.path = url.removeprefix(BASE)
        page = await self.http.get(self.path)
        found = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        self.token = found[1] if found else ""
        return page

    async def post(self, origin: str | None = BASE, **fields: str) -> httpx.Response:
        headers = {} if origin is None else {"Origin": origin}
        return await self.http.post(
            self.path, data={"csrf_token": self.token, **fields}, headers=headers
        )

    async def pay(self, number: str, cvc: str = "123", **extra: str) -> httpx.Response:
        return await self.post(
            action="pay", card_number=number, exp_month="12", exp_year="2040", cvc=cvc, **extra
        )


@pytest.fixture
def service(db: Database, clock: FakeClock) -> PaymentService:
    return PaymentService(db, fingerprint_key=b"pages-test-key", clock=clock, public_url=BASE)


@pytest.fixture
async def browser(service: PaymentService) -> AsyncIterator[Browser]:
    app = build_server(service).http_app(path="/mcp")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as http:
        yield Browser(http)


async def session_for(service: PaymentService, amount: int = 2500) -> CheckoutSession:
    intent = await new_intent(service, amount)
    return await Checkout(service).create_checkout_session(
        TRUSTED,
        payment_intent_id=intent.id,
        expires_at=service.clock() + timedelta(minutes=15),
        success_url="https://shop.example/done",
        cancel_url="https://shop.example/cart",
        idempotency_key=key(),
    )


async def test_the_form_is_labelled_scriptless_and_sets_a_strict_cookie(
    service: PaymentService, browser: Browser
) -> None:
    session = await session_for(service, 4250)
    page = await browser.open(session.url)
    assert page.status_code == 200
    assert "<h1>Pay USD 42.50</h1>" in page.text
    for field in ("card_number", "exp_month", "exp_year", "cvc"):
        assert f'<label for="{field}">' in page.text, field
        assert f'id="{field}" name="{field}"' in page.text, field
    assert '<label class="check"><input type="checkbox" id="save_card"' in page.text
    assert "<script" not in page.text
    csp = page.headers["content-security-policy"]
    assert "default-src 'none'" in csp
    assert "unsafe-inline" not in csp
    assert "form-action 'self'" in csp
    assert "frame-ancestors 'none'" in csp
    assert page.headers["cache-control"] == "no-store"
    cookie = page.headers["set-cookie"].lower()
    assert cookie.startswith(f"{CSRF_COOKIE}=")
    assert "httponly" in cookie
    assert "samesite=strict" in cookie
    assert browser.token


async def test_a_good_card_pays_once_and_shows_the_receipt(
    service: PaymentService, browser: Browser, db: Database
) -> None:
    session = await session_for(service)
    await browser.open(session.url)
    paid = await browser.pay(CARD, save_card="yes")
    assert paid.status_code == 303, paid.text
    assert paid.headers["location"] == browser.path
    again = await browser.pay(CARD)
    assert again.status_code == 303, "a second post of the form changes nothing"
    receipt = await browser.open(session.url)
    assert "Payment received" in receipt.text
    assert 'href="https://shop.example/done"' in receipt.text
    assert (await service.get_payment_intent(TRUSTED, session.payment_intent_id)).status == (
        "succeeded"
    )
    async with db.read() as tx:
        charges = await fetch_value(
            tx,
            "SELECT count(*) AS n FROM payment.charges WHERE payment_intent_id = :id",
            {"id": session.payment_intent_id},
        )
    assert charges == 1
    saved = await service.list_payment_methods(ALICE)
    assert [m.last4 for m in saved.payment_methods] == ["5556"], "saved as asked"


async def test_a_declined_card_shows_why_and_the_form_again(
    service: PaymentService, browser: Browser
) -> None:
    session = await session_for(service)
    await browser.open(session.url)
    assert (await browser.pay("4000000000009995")).status_code == 303
    page = await browser.open(session.url)
    assert '<p class="error" role="alert">Your card has insufficient funds.</p>' in page.text
    assert 'id="card_number"' in page.text
    not_saved = await service.list_payment_methods(ALICE)
    assert not_saved.payment_methods == [], "not saved unless asked"


async def test_a_bad_number_is_refused_without_echoing_it(
    service: PaymentService, browser: Browser
) -> None:
    session = await session_for(service)
    await browser.open(session.url)
    bad = "4000 0566 5566 5550"
    refused = await browser.pay(bad)
    assert refused.status_code == 422
    assert "not a valid card number" in refused.text
    assert bad not in refused.text
    assert bad.replace(" ", "") not in refused.text


async def test_3ds_waits_for_the_customers_approval_on_the_page(
    service: PaymentService, browser: Browser
) -> None:
    session = await session_for(service)
    await browser.open(session.url)
    await browser.pay("4000002500003155")
    challenge = await browser.open(session.url)
    assert "Confirm your payment" in challenge.text
    intent = await service.get_payment_intent(TRUSTED, session.payment_intent_id)
    assert intent.status == "requires_action"
    assert intent.next_action is not None
    assert intent.next_action.url == session.url, "the challenge is on the same page"
    await browser.post(action="deny")
    denied = await browser.open(session.url)
    assert "3-D Secure authentication was not approved" in denied.text
    await browser.pay("4000000000003220")
    await browser.open(session.url)
    await browser.post(action="approve")
    assert "Payment received" in (await browser.open(session.url)).text
    intent = await service.get_payment_intent(TRUSTED, session.payment_intent_id)
    assert intent.status == "succeeded"


async def test_an_expired_session_refuses_to_pay(
    service: PaymentService, browser: Browser, clock: FakeClock
) -> None:
    session = await session_for(service)
    await browser.open(session.url)
    clock.advance(seconds=15 * 60)
    refused = await browser.pay(CARD)
    assert refused.status_code == 410
    assert "This checkout has expired" in refused.text
    assert 'href="https://shop.example/cart"' in refused.text
    intent = await service.get_payment_intent(TRUSTED, session.payment_intent_id)
    assert (intent.status, intent.latest_charge) == ("requires_payment_method", None)


async def test_only_the_pages_own_form_may_post(service: PaymentService, browser: Browser) -> None:
    session = await session_for(service)
    await browser.open(session.url)
    foreign = await browser.post(origin="https://evil.example", action="pay", card_number=CARD)
    assert foreign.status_code == 403
    token = browser.token
    browser.token = "forged"
    assert (await browser.pay(CARD)).status_code == 403
    browser.token = token
    browser.http.cookies.clear()
    assert (await browser.pay(CARD)).status_code == 403, "the token is bound to the cookie"
    intent = await service.get_payment_intent(TRUSTED, session.payment_intent_id)
    assert intent.status == "requires_payment_method"


async def test_an_unknown_session_is_not_found(browser: Browser) -> None:
    for path in ("/checkout/cs_" + "a" * 26, "/checkout/nope"):
        assert (await browser.http.get(path)).status_code == 404
