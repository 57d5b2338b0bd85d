"""The database round trips of the payment tools on the journey's hot path, pinned, as the data
tools' are in ``tests/data/test_round_trips.py``."""

from __future__ import annotations

from servers.core.db import Database
from servers.payment.models import PaymentIntent
from servers.payment.service import TRUSTED, PaymentService
from tests.round_trips import CountingDatabase, round_trips

from .support import ALICE, FakeClock, key


async def test_creating_and_confirming_an_intent_keep_their_round_trips(
    db: Database, clock: FakeClock
) -> None:
    counting = CountingDatabase(db)
    service = PaymentService(counting, fingerprint_key=b"test-fingerprint-key", clock=clock)
    made: list[PaymentIntent] = []

    async def create() -> None:
        made.append(
            await service.create_payment_intent(
                TRUSTED,
                amount_cents=2500,
                currency="USD",
                description="Upgrade to Non-stop",
                customer_ref=ALICE.customer,
                metadata={"order_id": "ord_1"},
                idempotency_key=key(),
            )
        )

    async def confirm() -> None:
        made.append(
            await service.confirm_payment_intent(
                ALICE,
                payment_intent_id=made[0].id,
                payment_method="pm_card_visa",
                idempotency_key=key(),
            )
        )

    # BEGIN, the key claimed, the intent from its INSERT, the key's answer, COMMIT.
    assert await round_trips(counting, create) == 5
    # BEGIN, the key claimed, the intent locked, the charge with the test card's method and
    # the intent's update, the event with its webhook deliveries, the key's answer, COMMIT.
    assert await round_trips(counting, confirm) == 7
    created, confirmed = made
    assert created.status == "requires_payment_method"
    assert created.latest_charge is None
    assert confirmed.status == "succeeded"
    assert confirmed.amount_received_cents == 2500
    assert confirmed.latest_charge is not None
