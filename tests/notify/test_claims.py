"""What a worker's claim takes: the earliest due messages, queued and lapsed claims alike, in
the order they fell due (servers/notify/repository.py, ``claim_due``)."""

from __future__ import annotations

from datetime import timedelta

from servers.core.db import Database
from servers.notify import repository as repo
from servers.notify.models import Message

from .support import FakeClock, queue, service


async def claim(db: Database, clock: FakeClock, limit: int, lease: float = 60.0) -> list[str]:
    async with db.transaction() as tx:
        taken: list[Message] = await repo.claim_due(
            tx,
            now=clock.now,
            lease_until=clock.now + timedelta(seconds=lease),
            token=f"worker-at-{clock.now.isoformat()}",
            limit=limit,
        )
    return [m.to for m in taken]


async def test_lapsed_claims_and_queued_messages_are_taken_in_the_order_they_fell_due(
    db: Database,
) -> None:
    clock = FakeClock()
    svc = service(db, clock)
    await queue(svc, "first@example.com")
    # Its worker dies: the claim's lease runs out one second later.
    assert await claim(db, clock, limit=1, lease=1.0) == ["first@example.com"]
    clock.advance(2)
    await queue(svc, "second@example.com")
    clock.advance(1)
    await queue(svc, "third@example.com")
    clock.advance(1)
    await queue(svc, "fourth@example.com")
    clock.advance(60)
    assert sorted(await claim(db, clock, limit=2)) == ["first@example.com", "second@example.com"]
    assert await claim(db, clock, limit=1) == ["third@example.com"]
    assert await claim(db, clock, limit=5) == ["fourth@example.com"]
    assert await claim(db, clock, limit=5) == []
