"""Shared by the notify tests: a service over a test database, contexts, and a hand-moved clock."""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from servers.core.db import Database, fetch_value
from servers.notify.models import Message
from servers.notify.rendering import SPECS
from servers.notify.service import NotifyService
from ticketing.mailsink import Mailbox, Received

CALLER = "tests"
SENDER = "Ticket Upgrades <no-reply@tickets.example.com>"
DOMAIN = "tickets.example.com"
START = datetime(2030, 6, 3, 9, 0, tzinfo=UTC)


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
