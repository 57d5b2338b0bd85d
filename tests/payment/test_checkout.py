"""Checkout sessions on a real database (both backends): whatever a customer does on the page, in
any order, a session is paid at most once, and only an approval passes 3-D Secure."""

from __future__ import annotations

from datetime import timedelta
from typing import Literal

import pytest
from hypothesis import strategies as st

from servers.core.db import Database, fetch_value
from servers.core.errors import DomainError
from servers.payment.checkout import CHECKOUT_EXPIRED, Checkout
from servers.payment.models import CheckoutSession
from servers.payment.service import TRUSTED, PaymentService
from tests.hypothesis_examples import examples

from .support import FakeClock, key, new_intent

Step = Literal["good", "declined", "3ds", "approve", "deny"]
CARDS = {"good": "4242424242424242", "declined": "4000000000000002", "3ds": "4000002500003155"}


async def open_session(service: PaymentService, minutes: int = 15) -> CheckoutSession:
    intent = await new_intent(service)
    return await Checkout(service).create_checkout_session(
        TRUSTED,
        payment_intent_id=intent.id,
        expires_at=service.clock() + timedelta(minutes=minutes),
        success_url=None,
        cancel_url=None,
        idempotency_key=key(),
    )


async def successful_charges(db: Database, intent_id: str) -> int:
    async with db.read() as tx:
        count = await fetch_value(
            tx,
            "SELECT count(*) AS n FROM payment.charges "
            "WHERE payment_intent_id = :id AND status = 'succeeded'",
            {"id": intent_id},
        )
    return int(count)


async def test_any_sequence_on_the_page_pays_at_most_once(
    service: PaymentService, db: Database
) -> None:
    steps: st.SearchStrategy[Step] = st.sampled_from(["good", "declined", "3ds", "approve", "deny"])
    checkout = Checkout(service)
    for sequence in examples(st.lists(steps, min_size=1, max_size=6), n=15):
        session = await open_session(service)
        paid = challenged = False
        for step in sequence:
            if step in CARDS:
                page = await checkout.pay(
                    session.id,
                    card_number=CARDS[step],
                    exp_month=12,
                    exp_year=2040,
                    cvc="123",
                    save_card=False,
                )
                if not paid:
                    paid, challenged = step == "good", step == "3ds"
            else:
                page = await checkout.authenticate(session.id, approve=step == "approve")
                if challenged:
                    paid, challenged = step == "approve", False
            assert page.intent.status == (
                "succeeded"
                if paid
                else "requires_action"
                if challenged
                else "requires_payment_method"
            ), sequence
            assert page.session.status == ("complete" if paid else "open"), sequence
        assert await successful_charges(db, session.payment_intent_id) == int(paid), sequence


async def test_an_expired_session_takes_no_payment(
    service: PaymentService, db: Database, clock: FakeClock
) -> None:
    session = await open_session(service, minutes=1)
    clock.advance(seconds=60)
    checkout = Checkout(service)
    assert (await checkout.page(session.id)).session.status == "expired"
    for attempt in (
        checkout.pay(
            session.id,
            card_number=CARDS["good"],
            exp_month=12,
            exp_year=2040,
            cvc="123",
            save_card=False,
        ),
        checkout.authenticate(session.id, approve=True),
    ):
        with pytest.raises(DomainError) as refused:
            await attempt
        assert refused.value.code == CHECKOUT_EXPIRED
    assert await successful_charges(db, session.payment_intent_id) == 0


async def test_a_canceled_intent_expires_its_page(service: PaymentService) -> None:
    session = await open_session(service)
    await service.cancel_payment_intent(
        TRUSTED, payment_intent_id=session.payment_intent_id, idempotency_key=key()
    )
    assert (await Checkout(service).page(session.id)).session.status == "expired"
