"""SentMarks, the delivery worker's group commit: every send's ``sent`` is written as soon as
the write ahead of it is done, together with the others that finished meanwhile; a lost claim
is told apart, and a failed write reaches every send of its group."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest

from servers.core.db import Database, DatabaseUnavailable, Transaction
from servers.notify import repository as repo
from servers.notify.delivery import OutgoingEmail, SentMarks
from servers.notify.models import Message
from servers.notify.service import NotifyService
from tests.round_trips import CountingDatabase

from .support import LEASE, FakeClock, queue, service, worker

TOKEN = "worker-0001"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def svc(db: Database, clock: FakeClock) -> NotifyService:
    return service(db, clock)


async def queue_guests(svc: NotifyService, n: int) -> None:
    for i in range(n):
        await queue(svc, f"guest{i}@example.com")


async def claimed(db: Database, svc: NotifyService, clock: FakeClock, n: int) -> list[Message]:
    """``n`` queued e-mails, claimed by one worker as if it were sending them."""
    await queue_guests(svc, n)
    async with db.transaction() as tx:
        return await repo.claim_due(
            tx, now=clock.now, lease_until=clock.now + LEASE, token=TOKEN, limit=n
        )


class Wrapped:
    """The database, for wrappers that change only how a write begins (:meth:`begin_write`),
    in a transaction or in autocommit."""

    def __init__(self, db: Database):
        self._db = db

    async def begin_write(self) -> None:
        return None

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Transaction]:
        await self.begin_write()
        async with self._db.transaction() as tx:
            yield tx

    @asynccontextmanager
    async def autocommit(self) -> AsyncIterator[Transaction]:
        await self.begin_write()
        async with self._db.autocommit() as tx:
            yield tx

    @asynccontextmanager
    async def read(self) -> AsyncIterator[Transaction]:
        async with self._db.read() as tx:
            yield tx

    async def close(self) -> None:
        return None


class GatedDatabase(Wrapped):
    """The database, counting writes, whose ``gated``-th write (the first unless told)
    waits at a gate until released."""

    def __init__(self, db: Database, gated: int = 1):
        super().__init__(db)
        self.writes = 0
        self.gated = gated
        self.gated_write_started = asyncio.Event()
        self.gate = asyncio.Event()

    async def begin_write(self) -> None:
        self.writes += 1
        if self.writes == self.gated:
            self.gated_write_started.set()
            await self.gate.wait()


class DownOnce(Wrapped):
    """The database, except that the first write fails as if it had gone away."""

    def __init__(self, db: Database):
        super().__init__(db)
        self.failed = False

    async def begin_write(self) -> None:
        if not self.failed:
            self.failed = True
            raise DatabaseUnavailable("server closed the connection unexpectedly")


async def test_marks_that_arrive_together_are_one_statement(
    db: Database, svc: NotifyService, clock: FakeClock
) -> None:
    messages = await claimed(db, svc, clock, 10)
    counting = CountingDatabase(db)
    marks = SentMarks(counting, clock)
    kept = await asyncio.gather(
        *(marks.mark(m.message_id, TOKEN, f"<provider-{i}@relay>") for i, m in enumerate(messages))
    )
    assert kept == [True] * 10
    assert counting.round_trips == 1, "one UPDATE for all ten, committed on its own"
    async with db.read() as tx:
        rows = await tx.fetch_all(
            "SELECT message_id, status, provider_message_id FROM notify.messages"
        )
    ids = {m.message_id: i for i, m in enumerate(messages)}
    assert sorted((ids[r["message_id"]], r["status"], r["provider_message_id"]) for r in rows) == [
        (i, "sent", f"<provider-{i}@relay>") for i in range(10)
    ]


async def test_marks_that_arrive_during_a_write_go_in_the_next_one(
    db: Database, svc: NotifyService, clock: FakeClock
) -> None:
    first, *later = await claimed(db, svc, clock, 6)
    gated = GatedDatabase(db)
    marks = SentMarks(gated, clock)
    writing = asyncio.create_task(marks.mark(first.message_id, TOKEN, None))
    await gated.gated_write_started.wait()
    waiting = [asyncio.create_task(marks.mark(m.message_id, TOKEN, None)) for m in later]
    gated.gate.set()
    assert await asyncio.gather(writing, *waiting) == [True] * 6
    assert gated.writes == 2, "the first alone, then the five that came while it was written"


async def test_a_lost_claim_is_told_apart_from_the_others(
    db: Database, svc: NotifyService, clock: FakeClock
) -> None:
    mine, lost = await claimed(db, svc, clock, 2)
    marks = SentMarks(db, clock)
    kept = await asyncio.gather(
        marks.mark(mine.message_id, TOKEN, None),
        marks.mark(lost.message_id, "another-worker", None),
    )
    assert list(kept) == [True, False]
    assert (await svc.get_message(mine.message_id)).status == "sent"
    assert (await svc.get_message(lost.message_id)).status == "sending"


async def test_a_failed_write_reaches_every_send_of_its_group_and_the_next_writes_again(
    db: Database, svc: NotifyService, clock: FakeClock
) -> None:
    messages = await claimed(db, svc, clock, 4)
    marks = SentMarks(DownOnce(db), clock)
    outcomes = await asyncio.gather(
        *(marks.mark(m.message_id, TOKEN, None) for m in messages[:3]), return_exceptions=True
    )
    assert all(isinstance(o, DatabaseUnavailable) for o in outcomes), outcomes
    assert await marks.mark(messages[3].message_id, TOKEN, None)
    statuses = [(await svc.get_message(m.message_id)).status for m in messages]
    assert statuses == ["sending", "sending", "sending", "sent"]


class RecordingMailer:
    """Accepts every e-mail at once, and tells when it has taken ``expected`` of them."""

    def __init__(self, expected: int):
        self.sent: list[OutgoingEmail] = []
        self.expected = expected
        self.all_sent = asyncio.Event()

    async def send(self, email: OutgoingEmail) -> str | None:
        self.sent.append(email)
        if len(self.sent) == self.expected:
            self.all_sent.set()
        return None

    async def aclose(self) -> None:
        return None


async def assert_each_sent_once(db: Database, mailer: RecordingMailer, n: int) -> None:
    """The ``n`` guests' e-mails each went to the mailer once, and all are ``sent``."""
    assert sorted(e.to for e in mailer.sent) == [f"guest{i}@example.com" for i in range(n)]
    async with db.read() as tx:
        rows = await tx.fetch_all("SELECT status FROM notify.messages")
    assert [r["status"] for r in rows] == ["sent"] * n


async def test_the_next_send_starts_while_a_mark_is_being_written(
    db: Database, svc: NotifyService, clock: FakeClock
) -> None:
    await queue_guests(svc, 3)
    # The round's first write is its claim, the second the first send's mark.
    gated = GatedDatabase(db, gated=2)
    mailer = RecordingMailer(expected=3)
    deliverer = worker(gated, mailer, clock, concurrency=1)
    round_ = asyncio.create_task(deliverer.run_once())
    await gated.gated_write_started.wait()
    # One SMTP slot, and the first mark held at the gate: the other two go out meanwhile.
    await asyncio.wait_for(mailer.all_sent.wait(), timeout=30)
    gated.gate.set()
    assert await round_ == 3
    await assert_each_sent_once(db, mailer, 3)


class HeldMailer(RecordingMailer):
    """Takes each e-mail only once released."""

    def __init__(self) -> None:
        super().__init__(expected=0)
        self.release = asyncio.Event()

    async def send(self, email: OutgoingEmail) -> str | None:
        self.sent.append(email)
        await self.release.wait()
        return None


async def test_a_full_round_is_followed_by_the_next_claim_while_its_sends_are_under_way(
    db: Database, svc: NotifyService, clock: FakeClock
) -> None:
    await queue_guests(svc, 4)
    # The first write is the first round's claim; the second, the next round's.
    gated = GatedDatabase(db, gated=2)
    mailer = HeldMailer()
    deliverer = worker(gated, mailer, clock, batch=2, concurrency=2)
    stop = asyncio.Event()
    running = asyncio.create_task(deliverer.run(stop))
    await asyncio.wait_for(gated.gated_write_started.wait(), timeout=30)
    assert len(mailer.sent) == 2, "the next claim came while the first round's two were sending"
    gated.gate.set()
    mailer.release.set()
    stop.set()
    deliverer.wake()
    await running
    await assert_each_sent_once(db, mailer, 4)
