"""The database round trips of the payment tools on the journey's hot path, and of a webhook
delivery (one per confirmed payment), pinned, as the data tools' are in
``tests/data/test_round_trips.py``."""

from __future__ import annotations

from servers.core.client import pooled_session
from servers.core.db import Database
from servers.payment.models import PaymentIntent
from servers.payment.service import TRUSTED, PaymentService
from servers.payment.webhooks import WebhookWorker, configure_endpoints
from tests.round_trips import CountingDatabase, round_trips

from .support import ALICE, WEBHOOK_SECRET, FakeClock, Receiver, key, new_intent


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


async def test_a_webhook_delivery_keeps_its_round_trips(
    service: PaymentService, db: Database, clock: FakeClock, receiver: Receiver
) -> None:
    receiver.failures = 0
    await configure_endpoints(db, [receiver.url], WEBHOOK_SECRET, clock())
    intent = await new_intent(service)
    await service.confirm_payment_intent(
        ALICE, payment_intent_id=intent.id, payment_method="pm_card_visa", idempotency_key=key()
    )
    counting = CountingDatabase(db)
    async with pooled_session(5) as http:
        worker = WebhookWorker(counting, http, clock=clock)
        delivered = 0

        async def deliver() -> None:
            nonlocal delivered
            delivered = await worker.deliver_due()

        # BEGIN, the due delivery with its event, the attempt and the delivery's new state,
        # COMMIT; then BEGIN, nothing more due, COMMIT.
        assert await round_trips(counting, deliver) == 7
    assert delivered == 1
    [event] = receiver.received
    assert event["data"]["object"]["id"] == intent.id
    async with db.read() as tx:
        attempts = await tx.fetch_all(
            "SELECT d.status, d.attempts, a.attempt, a.status_code "
            "FROM payment.webhook_deliveries d JOIN payment.webhook_attempts a "
            "USING (event_id, endpoint_id)"
        )
    assert attempts == [{"status": "delivered", "attempts": 1, "attempt": 1, "status_code": 200}]
