"""Helpers of the payment tests: callers, a clock the test moves, keys, intents, examples."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from servers.payment.models import PaymentIntent
from servers.payment.service import TRUSTED, Caller, PaymentService

START = datetime(2030, 6, 3, 9, 0, tzinfo=UTC)
ALICE = Caller("web", "cus_" + "a" * 26)
BOB = Caller("web", "cus_" + "b" * 26)
SERVICE = Caller("ticket-server")


class FakeClock:
    """A clock the test moves by hand."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, *, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def key() -> str:
    return f"k-{uuid.uuid4().hex}"


async def new_intent(
    service: PaymentService, amount: int = 2500, customer: Caller | None = ALICE
) -> PaymentIntent:
    return await service.create_payment_intent(
        TRUSTED,
        amount_cents=amount,
        currency="USD",
        description="Upgrade to Non-stop",
        customer_ref=None if customer is None else customer.customer,
        metadata={"order_id": "ord_1"},
        idempotency_key=key(),
    )
