"""The delivery worker against a real SMTP server (the project's sink, in a thread) and the SES
stand-in: delivered once with both parts and stable headers, retried with backoff, dead after a
permanent refusal or the last attempt, and claims of a dead worker retaken after their lease."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import timedelta
from email.message import EmailMessage
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from servers.core.clock import utc_now
from servers.core.db import Database, DatabaseUnavailable, Params, Row, Transaction, fetch_value
from servers.notify import repository as repo
from servers.notify.mailers import SesMailer, SmtpMailer
from servers.notify.service import NotifyService
from tests.round_trips import CountingDatabase, round_trips
from ticketing.local_aws.ses import LocalSes
from ticketing.mailsink import Mailbox, SinkHandler
from ticketing.procs import free_port

from .support import BASE, LEASE, FakeClock, mail_in, queue, service, worker

HOST = "127.0.0.1"


class ScriptedSink(SinkHandler):
    """The sink, answering the first DATA commands with the scripted replies instead."""

    def __init__(self, mailbox: Mailbox):
        super().__init__(mailbox)
        self.replies: list[str] = []

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if self.replies:
            return self.replies.pop(0)
        return await super().handle_DATA(server, session, envelope)


@pytest.fixture
def sink(tmp_path: Path) -> Iterator[tuple[ScriptedSink, int]]:
    handler = ScriptedSink(Mailbox(tmp_path / "mail"))
    port = free_port(HOST)
    controller = Controller(handler, hostname=HOST, port=port)
    controller.start()
    try:
        yield handler, port
    finally:
        controller.stop()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def svc(db: Database, clock: FakeClock) -> NotifyService:
    return service(db, clock, max_attempts=3)


class LosesOneStatement:
    """The database, except that the first statement containing ``needle`` fails as if the
    connection dropped."""

    def __init__(self, db: Database, needle: str):
        self._db = db
        self.needle = needle
        self.failed = False

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Transaction]:
        async with self._db.transaction() as tx:
            yield _Losing(tx, self)

    def read(self) -> AbstractAsyncContextManager[Transaction]:
        return self.autocommit()  # as both backends read

    @asynccontextmanager
    async def autocommit(self) -> AsyncIterator[Transaction]:
        async with self._db.autocommit() as tx:
            yield _Losing(tx, self)

    async def close(self) -> None:
        return None


class _Losing:
    def __init__(self, tx: Transaction, owner: LosesOneStatement):
        self._tx = tx
        self._owner = owner

    def _lose(self, sql: str) -> None:
        if self._owner.needle in sql and not self._owner.failed:
            self._owner.failed = True
            raise DatabaseUnavailable("server closed the connection unexpectedly")

    async def fetch_all(self, sql: str, params: Params | None = None) -> list[Row]:
        self._lose(sql)
        return await self._tx.fetch_all(sql, params)

    async def fetch_one(self, sql: str, params: Params | None = None) -> Row | None:
        self._lose(sql)
        return await self._tx.fetch_one(sql, params)

    async def execute(self, sql: str, params: Params | None = None) -> int:
        self._lose(sql)
        return await self._tx.execute(sql, params)


def smtp(port: int) -> SmtpMailer:
    return SmtpMailer(HOST, port, timeout=5.0)


async def test_a_message_is_delivered_once_with_both_parts_and_stable_headers(
    db: Database, svc: NotifyService, clock: FakeClock, sink: tuple[ScriptedSink, int]
) -> None:
    handler, port = sink
    message = await queue(svc, "jane@example.com")
    deliverer = worker(db, smtp(port), clock)
    assert await deliverer.run_once() == 1
    assert await deliverer.run_once() == 0
    received = handler.mailbox.messages()
    assert len(received) == 1
    email = handler.mailbox.email(received[0])
    assert email["Message-ID"] == message.header_message_id
    assert email["From"] == message.sender
    assert email["To"] == "jane@example.com"
    assert email["Subject"] == message.subject
    assert email["Date"] is not None
    assert email.get_content_type() == "multipart/alternative"
    text = email.get_body(("plain",))
    html = email.get_body(("html",))
    assert text is not None
    assert html is not None
    assert isinstance(text, EmailMessage)
    assert isinstance(html, EmailMessage)
    # On the wire every line ends in CRLF.
    assert text.get_content().replace("\r\n", "\n") == message.text
    assert html.get_content().replace("\r\n", "\n") == message.html
    sent = await svc.get_message(message.message_id)
    assert sent.status == "sent"
    assert sent.attempts == 1
    assert sent.sent_at == clock.now
    assert sent.next_attempt_at is None


async def test_delivering_a_message_is_three_round_trips(
    db: Database, svc: NotifyService, clock: FakeClock, sink: tuple[ScriptedSink, int]
) -> None:
    """Claims whose lease ran out with no attempt left made dead, the due messages claimed,
    the sent one marked: one statement each, each committed on its own (with BEGIN and COMMIT
    around the two claims and around the mark, they were seven)."""
    _, port = sink
    await queue(svc, "jane@example.com")
    counting = CountingDatabase(db)
    deliverer = worker(counting, smtp(port), clock)
    assert await round_trips(counting, deliverer.run_once) == 3
    assert await round_trips(counting, deliverer.run_once) == 2, "nothing due: the claims"


async def test_failing_twice_then_accepting_delivers_exactly_one(
    db: Database, svc: NotifyService, clock: FakeClock, sink: tuple[ScriptedSink, int]
) -> None:
    handler, port = sink
    handler.replies = ["451 4.3.0 try again later", "421 4.7.0 too busy"]
    message = await queue(svc)
    deliverer = worker(db, smtp(port), clock)

    assert await deliverer.run_once() == 1
    first = await svc.get_message(message.message_id)
    assert first.status == "failed"
    assert first.attempts == 1
    assert first.last_error is not None
    assert "451" in first.last_error
    assert first.next_attempt_at is not None
    wait = first.next_attempt_at - clock.now
    assert timedelta(seconds=BASE / 2) <= wait <= timedelta(seconds=BASE)
    assert await deliverer.run_once() == 0, "retried before its time"

    clock.now = first.next_attempt_at
    assert await deliverer.run_once() == 1
    second = await svc.get_message(message.message_id)
    assert second.status == "failed"
    assert second.attempts == 2
    assert second.next_attempt_at is not None
    wait = second.next_attempt_at - clock.now
    assert timedelta(seconds=BASE) <= wait <= timedelta(seconds=2 * BASE)

    clock.now = second.next_attempt_at
    assert await deliverer.run_once() == 1
    third = await svc.get_message(message.message_id)
    assert third.status == "sent"
    assert third.attempts == 3
    assert [r.message_id for r in handler.mailbox.messages()] == [message.header_message_id]


async def test_a_permanent_refusal_is_dead_at_once_and_can_be_retried(
    db: Database, svc: NotifyService, clock: FakeClock, sink: tuple[ScriptedSink, int]
) -> None:
    handler, port = sink
    handler.replies = ["550 5.1.1 mailbox unavailable"]
    message = await queue(svc)
    deliverer = worker(db, smtp(port), clock)
    assert await deliverer.run_once() == 1
    dead = await svc.get_message(message.message_id)
    assert dead.status == "dead"
    assert dead.attempts == 1
    assert dead.last_error == "SMTP 550 5.1.1 mailbox unavailable"
    assert dead.next_attempt_at is None
    assert handler.mailbox.messages() == []

    await svc.retry_message(message.message_id)
    assert await deliverer.run_once() == 1
    assert (await svc.get_message(message.message_id)).status == "sent"
    assert len(handler.mailbox.messages()) == 1


async def test_an_unreachable_server_is_retried_until_the_last_attempt(
    db: Database, svc: NotifyService, clock: FakeClock
) -> None:
    message = await queue(svc)
    deliverer = worker(db, smtp(free_port(HOST)), clock)
    for attempt in (1, 2, 3):
        assert await deliverer.run_once() == 1
        current = await svc.get_message(message.message_id)
        assert current.attempts == attempt
        clock.now = current.next_attempt_at or clock.now
    assert current.status == "dead"
    assert current.last_error is not None
    assert "unreachable" in current.last_error
    clock.advance(86_400)
    assert await deliverer.run_once() == 0


async def test_a_claim_whose_worker_died_is_retaken_after_its_lease(
    db: Database, svc: NotifyService, clock: FakeClock, sink: tuple[ScriptedSink, int]
) -> None:
    handler, port = sink
    message = await queue(svc)
    # A worker claims the message and dies before sending it.
    async with db.transaction() as tx:
        claimed = await repo.claim_due(
            tx, now=clock.now, lease_until=clock.now + LEASE, token="dead-worker", limit=10
        )
    assert [m.message_id for m in claimed] == [message.message_id]

    deliverer = worker(db, smtp(port), clock)
    clock.advance(LEASE.total_seconds() - 1)
    assert await deliverer.run_once() == 0, "taken while the lease still held"
    clock.advance(1)
    assert await deliverer.run_once() == 1
    sent = await svc.get_message(message.message_id)
    assert sent.status == "sent"
    assert sent.attempts == 2
    assert len(handler.mailbox.messages()) == 1
    # The dead worker's outcome, should it ever arrive, no longer counts.
    async with db.transaction() as tx:
        assert not await repo.mark_failed(
            tx, message.message_id, "dead-worker", "late", None, clock.now
        )
    assert (await svc.get_message(message.message_id)).status == "sent"


async def test_an_outcome_that_cannot_be_recorded_is_sent_again_after_the_lease(
    db: Database, svc: NotifyService, clock: FakeClock, sink: tuple[ScriptedSink, int]
) -> None:
    handler, port = sink
    messages = [await queue(svc, f"guest{i}@example.com") for i in range(3)]
    losing = LosesOneStatement(db, "status = 'sent'")
    deliverer = worker(losing, smtp(port), clock)
    assert await deliverer.run_once() == 3
    assert losing.failed
    after = [await svc.get_message(m.message_id) for m in messages]
    # The lost statement marked a group: the sends that finished while the write before it
    # was under way, one at least (SentMarks).
    unrecorded = [m for m in after if m.status == "sending"]
    assert unrecorded
    assert all(m.status == "sent" for m in after if m not in unrecorded)

    clock.advance(LEASE.total_seconds())
    assert await deliverer.run_once() == len(unrecorded)
    for message in unrecorded:
        resent = await svc.get_message(message.message_id)
        assert (resent.status, resent.attempts) == ("sent", 2)
    copies = Counter(r.message_id for r in handler.mailbox.messages())
    assert copies == {m.header_message_id: 1 for m in after} | {
        m.header_message_id: 2 for m in unrecorded
    }


async def test_a_lost_last_attempt_leaves_the_message_dead(
    db: Database, svc: NotifyService, clock: FakeClock
) -> None:
    message = await queue(svc)
    async with db.transaction() as tx:
        await tx.execute(
            "UPDATE notify.messages SET attempts = max_attempts - 1 WHERE message_id = :id",
            {"id": message.message_id},
        )
        await repo.claim_due(
            tx, now=clock.now, lease_until=clock.now + LEASE, token="dead-worker", limit=10
        )
    clock.advance(LEASE.total_seconds())
    assert await worker(db, smtp(free_port(HOST)), clock).run_once() == 0
    dead = await svc.get_message(message.message_id)
    assert dead.status == "dead"
    assert dead.last_error == "the worker stopped while sending the last attempt"


async def test_two_workers_never_send_the_same_message(
    db: Database, svc: NotifyService, clock: FakeClock, sink: tuple[ScriptedSink, int]
) -> None:
    handler, port = sink
    messages = [await queue(svc, f"guest{i}@example.com") for i in range(30)]
    first, second = worker(db, smtp(port), clock), worker(db, smtp(port), clock)
    while sum(await asyncio.gather(first.run_once(), second.run_once())):
        pass
    received = sorted(r.message_id for r in handler.mailbox.messages())
    assert received == sorted(m.header_message_id for m in messages)


async def test_the_running_worker_is_woken_by_a_send(
    db: Database, sink: tuple[ScriptedSink, int]
) -> None:
    handler, port = sink
    # A poll far longer than the test's deadline: only the wake-up can deliver in time.
    deliverer = worker(db, smtp(port), utc_now, seed=1, poll_seconds=600.0)
    svc = NotifyService(
        db, sender="a@example.com", message_id_domain="example.com", on_queued=deliverer.wake
    )
    stop = asyncio.Event()
    running = asyncio.create_task(deliverer.run(stop))
    try:
        message = await queue(svc)
        received = await mail_in(handler.mailbox, 1)
        assert [r.message_id for r in received] == [message.header_message_id]
    finally:
        stop.set()
        deliverer.wake()
        await asyncio.wait_for(running, 10)


async def test_ses_backend_against_the_botocore_validated_stand_in(
    db: Database, svc: NotifyService, clock: FakeClock
) -> None:
    ses = LocalSes()
    deliverer = worker(db, SesMailer(ses.client(), configuration_set="transactional"), clock)
    accepted = await queue(svc, "jane@example.com")
    throttled = await queue(svc, "john@example.com")
    rejected = await queue(svc, "bob@example.com")
    ses.fail_next("TooManyRequestsException", "Maximum sending rate exceeded.")
    ses.fail_next("MessageRejected", "Email address is not verified.")
    assert await deliverer.run_once() == 3

    outcomes = {
        m.message_id: await svc.get_message(m.message_id) for m in (accepted, throttled, rejected)
    }
    statuses = sorted(m.status for m in outcomes.values())
    assert statuses == ["dead", "failed", "sent"]
    assert ses.requests == 3
    assert len(ses.sent) == 1
    sent = ses.sent[0]
    assert sent.request["ConfigurationSetName"] == "transactional"
    delivered = next(m for m in outcomes.values() if m.status == "sent")
    assert sent.email["Message-ID"] == delivered.header_message_id
    assert sent.request["Destination"] == {"ToAddresses": [delivered.to]}
    async with db.transaction() as tx:
        provider_id = await fetch_value(
            tx,
            "SELECT provider_message_id FROM notify.messages WHERE message_id = :id",
            {"id": delivered.message_id},
        )
    assert provider_id == sent.ses_message_id
    dead = next(m for m in outcomes.values() if m.status == "dead")
    assert dead.last_error == "SES MessageRejected: Email address is not verified."
    failed = next(m for m in outcomes.values() if m.status == "failed")
    assert failed.last_error is not None
    assert failed.last_error.startswith("SES TooManyRequestsException")

    clock.now = failed.next_attempt_at or clock.now
    assert await deliverer.run_once() == 1
    assert (await svc.get_message(failed.message_id)).status == "sent"
    assert len(ses.sent) == 2
