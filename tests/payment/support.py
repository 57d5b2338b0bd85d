"""Helpers of the payment tests: callers, a clock the test moves, keys, intents, examples, a
webhook receiver."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from servers.core.webhooks import SIGNATURE_HEADER, WebhookSignatureError, verify_webhook
from servers.payment.models import PaymentIntent
from servers.payment.service import TRUSTED, Caller, PaymentService
from ticketing.procs import free_port

START = datetime(2030, 6, 3, 9, 0, tzinfo=UTC)
WEBHOOK_SECRET = "whsec_test_0123456789abcdef"
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


@dataclass
class Receiver:
    """A webhook endpoint over real HTTP (the ``receiver`` fixture serves it) that fails its
    first ``failures`` requests, with ``failure_status``."""

    clock: FakeClock
    failures: int
    failure_status: int = 500
    port: int = field(default_factory=free_port)
    received: list[dict[str, Any]] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks"

    async def handle(self, request: Request) -> Response:
        body = await request.body()
        try:
            verify_webhook(
                body,
                request.headers[SIGNATURE_HEADER],
                WEBHOOK_SECRET,
                now=self.clock().timestamp(),
            )
        except WebhookSignatureError:
            self.statuses.append(400)
            return Response(status_code=400)
        self.received.append(json.loads(body))
        status = self.failure_status if len(self.received) <= self.failures else 200
        self.statuses.append(status)
        # A redirect back here: followed, it would be seen again.
        headers = {"Location": self.url} if 300 <= status < 400 else None
        return Response(status_code=status, headers=headers)
