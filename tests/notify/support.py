"""Shared by the notify tests: a service over a test database, contexts, and a hand-moved clock."""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from servers.core.backoff import Backoff
from servers.core.clock import Clock
from servers.core.db import Database, fetch_value
from servers.notify.delivery import DeliveryWorker, Mailer
from servers.notify.models import Message
from servers.notify.rendering import SPECS
from servers.notify.service import NotifyService
from ticketing.mailsink import Mailbox, Received

CALLER = "tests"
SENDER = "Ticket Upgrades <no-reply@tickets.example.com>"
DOMAIN = "tickets.example.com"
START = datetime(2030, 6, 3, 9, 0, tzinfo=UTC)
BASE = 30.0
LEASE = timedelta(seconds=120)


def claimed_message(**changes: Any) -> Message:
    """A message as the delivery worker holds it once claimed: sending, first attempt."""
    return Message(
        message_id="msg_" + "a" * 26,
        template="hold_expired",
        to="jane@example.com",
        subject="Your held seat was released",
        status="sending",
        reference=None,
        attempts=1,
        max_attempts=3,
        next_attempt_at=None,
        last_error=None,
        created_at=START,
        updated_at=START,
        sent_at=None,
        sender=SENDER,
        header_message_id=f"<msg_{'a' * 26}@{DOMAIN}>",
        text="Hello\n",
        html="<p>Hello</p>\n",
    ).model_copy(update=changes)


class FakeClock:
    def __init__(self, now: datetime = START) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def key() -> str:
    return f"test-{uuid.uuid4().hex}"


def confirmation(**changes: Any) -> dict[str, Any]:
    return {**SPECS["upgrade_confirmed"].example, **changes}


def service(db: Database, clock: FakeClock, **kwargs: Any) -> NotifyService:
    return NotifyService(db, sender=SENDER, message_id_domain=DOMAIN, clock=clock, **kwargs)


async def queue(
    svc: NotifyService, to: str = "jane@example.com", reference: str | None = None
) -> Message:
    return await svc.send_email(
        template="upgrade_confirmed",
        to=to,
        context=confirmation(),
        idempotency_key=key(),
        reference=reference,
        caller=CALLER,
    )


async def count(db: Database, table: str) -> int:
    async with db.transaction() as tx:
        return int(await fetch_value(tx, f"SELECT count(*) FROM notify.{table}"))


async def mail_in(mailbox: Mailbox, count: int, within: float = 20.0) -> list[Received]:
    """What the sink received once it holds ``count`` e-mails, or at the deadline."""
    deadline = time.monotonic() + within
    while True:
        found = mailbox.messages()
        if len(found) >= count or time.monotonic() > deadline:
            return found
        await asyncio.sleep(0.02)


def worker(
    db: Database, mailer: Mailer, clock: Clock, *, seed: int = 7, **options: Any
) -> DeliveryWorker:
    """A delivery worker (on the fake clock, mostly); ``options`` (batch, concurrency,
    poll_seconds) as the server's."""
    return DeliveryWorker(
        db,
        mailer,
        backoff=Backoff(BASE, 3600.0, random.Random(seed)),
        clock=clock,
        lease=LEASE,
        **options,
    )
