"""Paying through the hosted checkout page in a real headless browser (Debian's chromium driven
by Playwright), with the whole stack as processes: pay_upgrade without a payment method gives
the page's URL, the customer types a card there, and the payment webhook confirms the order.
Afterwards no card number is in any server's log, any table or any e-mail."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, Protocol

import anyio
import psycopg
import pytest
from playwright.async_api import Browser, Page, async_playwright

from servers.core.ids import id_pattern
from tests.browser import CHROMIUM, CHROMIUM_ARGS, needs_chromium
from tests.http.test_ticket_http import (
    Base,
    FullStack,
    client,
    key,
    kinds,
    new_customer,
    ok,
    select,
    settled_mail,
)
from ticketing.pg import find_pg_bin

pytestmark = [pytest.mark.http, pytest.mark.browser, needs_chromium]

GOOD = "4242 4242 4242 4242"
DECLINED = "4000 0000 0000 0002"
THREE_DS = "4000 0025 0000 3155"
CARDS = (GOOD, DECLINED, THREE_DS)
CONFIRM_DEADLINE = 30.0


class StackBase(Base, Protocol):
    @property
    def workdir(self) -> Path: ...


class Stack(FullStack, Protocol):
    """What these tests use of the ``full_stack`` fixture: also its working directory, where
    every server's log and the SMTP sink's mail are."""

    @property
    def base(self) -> StackBase: ...


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS
        )
        try:
            yield launched
        finally:
            await launched.close()


async def checkout_for(full: FullStack) -> tuple[str, str, dict[str, Any]]:
    """A new customer's held upgrade and its checkout page: (token, e-mail, pay_upgrade's
    answer without a payment method)."""
    customer, email, number = await new_customer(full)
    token = full.customer_token(customer)
    order = await select(full, token, number)
    async with client(full, full.ticket, token) as ticket:
        answer = await ok(
            ticket, "pay_upgrade", order_id=order["order_id"], idempotency_key=key("pay")
        )
    assert answer["payment_status"] == "requires_checkout", answer
    assert re.fullmatch(
        rf"{re.escape(full.payment.url)}/checkout/{id_pattern('cs')[1:-1]}",
        answer["checkout_url"],
    ), answer
    assert answer["checkout_expires_at"] == order["hold_expires_at"]
    return token, email, answer


async def enter_card(page: Page, number: str) -> None:
    """As a person would: by the fields' labels."""
    await page.get_by_label("Card number").fill(number)
    await page.get_by_label("Expiry month (MM)").fill("12")
    await page.get_by_label("Expiry year (YYYY)").fill("2040")
    await page.get_by_label("Security code (CVC)").fill("123")
    await page.get_by_role("button", name=re.compile(r"^Pay ")).click()
    await page.wait_for_load_state()


async def order_status(full: FullStack, token: str, order_id: str) -> str:
    async with client(full, full.ticket, token) as ticket:
        order = await ok(ticket, "get_upgrade_order", order_id=order_id)
    status: str = order["status"]
    return status


async def confirmed_by_webhook(full: FullStack, token: str, order_id: str) -> None:
    """Until the payment webhook has confirmed the order (nobody else confirms it here)."""
    deadline = time.monotonic() + CONFIRM_DEADLINE
    while (status := await order_status(full, token, order_id)) != "confirmed":
        assert status == "awaiting_payment", status
        assert time.monotonic() < deadline, "the webhook did not confirm the order"
        await anyio.sleep(0.1)


async def test_a_good_card_pays_and_the_webhook_confirms_the_order(
    full_stack: FullStack, browser: Browser
) -> None:
    token, email, answer = await checkout_for(full_stack)
    page = await browser.new_page()
    await page.goto(answer["checkout_url"])
    amount = answer["order"]["amount_cents"]
    assert f"Pay USD {amount // 100:,}.{amount % 100:02d}" in await page.inner_text("h1")
    await enter_card(page, GOOD)
    assert "Payment received" in await page.inner_text("main")
    await confirmed_by_webhook(full_stack, token, answer["order"]["order_id"])
    assert kinds(await settled_mail(full_stack, email, 1)) == ["confirmed"]


async def test_a_declined_card_says_why_and_the_order_stays_payable(
    full_stack: FullStack, browser: Browser
) -> None:
    token, _, answer = await checkout_for(full_stack)
    page = await browser.new_page()
    await page.goto(answer["checkout_url"])
    await enter_card(page, DECLINED)
    assert await page.get_by_role("alert").inner_text() == "Your card was declined."
    assert await page.get_by_label("Card number").input_value() == "", "never echoed"
    order_id = answer["order"]["order_id"]
    assert await order_status(full_stack, token, order_id) == "awaiting_payment"


async def test_a_3ds_card_pays_only_once_approved_on_the_page(
    full_stack: FullStack, browser: Browser
) -> None:
    token, _, answer = await checkout_for(full_stack)
    order_id = answer["order"]["order_id"]
    page = await browser.new_page()
    await page.goto(answer["checkout_url"])
    await enter_card(page, THREE_DS)
    assert await page.inner_text("h1") == "Confirm your payment"
    assert await order_status(full_stack, token, order_id) == "awaiting_payment"
    await page.get_by_role("button", name="Approve payment").click()
    await page.wait_for_load_state()
    assert "Payment received" in await page.inner_text("main")
    await confirmed_by_webhook(full_stack, token, order_id)


async def test_an_expired_checkout_takes_no_card(full_stack: FullStack, browser: Browser) -> None:
    token, _, answer = await checkout_for(full_stack)
    session_id = answer["checkout_url"].rsplit("/", 1)[1]
    with psycopg.connect(full_stack.database_url) as conn:
        # The page's clock is the server's: move the session's end into the past instead.
        conn.execute(
            "UPDATE payment.checkout_sessions SET expires_at = now() - interval '1 second', "
            " created_at = now() - interval '1 minute' WHERE checkout_session_id = %s",
            (session_id,),
        )
    page = await browser.new_page()
    response = await page.goto(answer["checkout_url"])
    assert response is not None
    assert response.status == 410
    assert await page.inner_text("h1") == "This checkout has expired"
    assert await page.get_by_label("Card number").count() == 0
    assert await order_status(full_stack, token, answer["order"]["order_id"]) == (
        "awaiting_payment"
    )


async def test_no_card_number_in_any_log_table_or_email(full_stack: Stack) -> None:
    """Runs after the cases above (same module, same stack): what they typed left no trace."""
    workdir = full_stack.base.workdir
    logs = "".join(p.read_text(errors="replace") for p in workdir.glob("*.log"))
    mails = [p for p in (workdir / "mail").rglob("*") if p.is_file()]
    assert mails, "the cases above sent e-mails"
    mail = "".join(p.read_text(errors="replace") for p in mails)
    dump = await pg_dump(full_stack.database_url)
    assert "payment.checkout_sessions" in dump
    assert "4242" in dump, "the last four are kept, as they may be"
    for card in CARDS:
        for form in (card, card.replace(" ", "")):
            assert form not in logs
            assert form not in dump
            assert form not in mail
    assert "Payment received" not in logs, "the page is not logged either"


async def pg_dump(database_url: str) -> str:
    dump = await asyncio.create_subprocess_exec(
        str(find_pg_bin() / "pg_dump"), "--data-only", database_url, stdout=asyncio.subprocess.PIPE
    )
    out, _ = await dump.communicate()
    assert dump.returncode == 0
    return out.decode()
