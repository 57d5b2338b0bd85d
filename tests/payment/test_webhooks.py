"""Signed webhooks: the kit's ``verify_webhook`` refuses tampered, stale and wrongly signed
payloads; the outbox worker delivers each event to a real HTTP receiver, retrying with
exponential backoff until it is acknowledged or out of attempts."""

from __future__ import annotations

import asyncio
import itertools
import json
import re
from typing import Any

import pytest

from servers.core.backoff import Backoff
from servers.core.client import pooled_session
from servers.core.db import Database
from servers.core.ids import new_id
from servers.core.webhooks import (
    WebhookSignatureError,
    sign_webhook,
    verify_webhook,
)
from servers.payment import repository as repo
from servers.payment.service import PaymentService
from servers.payment.webhooks import WebhookWorker, configure_endpoints
from tests.round_trips import CountingDatabase
from ticketing.procs import free_port

from .support import ALICE, FakeClock, Receiver, key, new_intent
from .support import WEBHOOK_SECRET as SECRET

BODY = b'{"id":"evt_1","type":"payment_intent.succeeded"}'
NOW = 1_900_000_000


def test_a_signed_payload_verifies() -> None:
    verify_webhook(BODY, sign_webhook(BODY, SECRET, NOW), SECRET, now=NOW + 299)
    verify_webhook(BODY.decode(), sign_webhook(BODY, SECRET, NOW), SECRET, now=NOW)


@pytest.mark.parametrize(
    ("payload", "header", "secret", "now"),
    [
        (BODY + b" ", sign_webhook(BODY, SECRET, NOW), SECRET, NOW),  # tampered body
        (BODY.replace(b"succeeded", b"failed"), sign_webhook(BODY, SECRET, NOW), SECRET, NOW),
        (BODY, sign_webhook(BODY, SECRET, NOW), SECRET, NOW + 301),  # too old
        (BODY, sign_webhook(BODY, SECRET, NOW + 400), SECRET, NOW),  # from the future
        (BODY, sign_webhook(BODY, SECRET, NOW), SECRET + "x", NOW),  # wrong secret
        (BODY, sign_webhook(BODY, "another-secret-entirely", NOW), SECRET, NOW),
        (BODY, f"t={NOW}", SECRET, NOW),  # no signature
        (BODY, "v1=" + "0" * 64, SECRET, NOW),  # no timestamp
        (BODY, "", SECRET, NOW),
        (BODY, sign_webhook(BODY, SECRET, NOW).replace(f"t={NOW}", f"t={NOW + 1}"), SECRET, NOW),
    ],
)
def test_bad_signatures_are_refused(payload: bytes, header: str, secret: str, now: int) -> None:
    with pytest.raises(WebhookSignatureError):
        verify_webhook(payload, header, secret, now=now)


def test_any_of_several_signatures_may_match() -> None:
    good = sign_webhook(BODY, SECRET, NOW).split(",")[1]
    old = sign_webhook(BODY, "the-secret-being-rolled-out", NOW).split(",")[1]
    verify_webhook(BODY, f"t={NOW},{old},{good}", SECRET, now=NOW)
    verify_webhook(BODY, f"t={NOW}, {good} , v0=ignored", SECRET, now=NOW)


async def deliveries(db: Database) -> list[dict[str, Any]]:
    async with db.transaction() as tx:
        return await tx.fetch_all(
            "SELECT d.status, d.attempts, "
            " (SELECT count(*) FROM payment.webhook_attempts a "
            "  WHERE a.event_id = d.event_id AND a.endpoint_id = d.endpoint_id) AS logged "
            "FROM payment.webhook_deliveries d"
        )


async def test_a_receiver_failing_twice_gets_the_event_on_the_third_try(
    service: PaymentService, db: Database, clock: FakeClock, receiver: Receiver
) -> None:
    await configure_endpoints(db, [receiver.url], SECRET, clock())
    intent = await new_intent(service)
    paid = await service.confirm_payment_intent(
        ALICE, payment_intent_id=intent.id, payment_method="pm_card_visa", idempotency_key=key()
    )
    async with pooled_session(5) as http:
        worker = WebhookWorker(
            db, http, clock=clock, backoff=Backoff(2, 3600, jitter=0), max_attempts=5
        )
        assert await worker.deliver_due() == 1
        assert await worker.deliver_due() == 0, "not due again before the backoff"
        clock.advance(seconds=2)
        assert await worker.deliver_due() == 1
        clock.advance(seconds=3)
        assert await worker.deliver_due() == 0
        clock.advance(seconds=1)
        assert await worker.deliver_due() == 1
        clock.advance(seconds=3600)
        assert await worker.deliver_due() == 0, "acknowledged: never sent again"
    assert receiver.statuses == [500, 500, 200]
    assert {r["id"] for r in receiver.received} == {receiver.received[0]["id"]}
    event = receiver.received[0]
    assert event["type"] == "payment_intent.succeeded"
    assert event["data"]["object"]["id"] == paid.id
    assert await deliveries(db) == [{"status": "delivered", "attempts": 3, "logged": 3}]


async def test_delivery_stops_at_the_cap_and_every_event_has_its_own_id(
    service: PaymentService, db: Database, clock: FakeClock, receiver: Receiver
) -> None:
    receiver.failures = 1000
    await configure_endpoints(db, [receiver.url], SECRET, clock())
    for _ in range(2):
        intent = await new_intent(service)
        await service.cancel_payment_intent(
            ALICE, payment_intent_id=intent.id, idempotency_key=key()
        )
    async with pooled_session(5) as http:
        worker = WebhookWorker(
            db, http, clock=clock, backoff=Backoff(1, 10, jitter=0), max_attempts=3
        )
        for _ in range(5):
            await worker.deliver_due()
            clock.advance(seconds=60)
    assert receiver.statuses == [500] * 6
    assert len({r["id"] for r in receiver.received}) == 2
    assert await deliveries(db) == [{"status": "failed", "attempts": 3, "logged": 3}] * 2


@pytest.mark.parametrize(
    ("status", "attempts"),
    [(400, 1), (404, 1), (422, 1), (408, 3), (429, 3), (500, 3), (503, 3), (307, 3)],
)
async def test_a_refusal_is_not_retried_but_a_failure_is(
    service: PaymentService,
    db: Database,
    clock: FakeClock,
    receiver: Receiver,
    status: int,
    attempts: int,
) -> None:
    """A 4xx says the event will never be accepted: retrying it ten times only adds load.
    Time-outs, throttling and server errors may pass: they are retried. A redirect is not
    followed (the endpoint is the URL configured) and counts as a failure."""
    receiver.failures, receiver.failure_status = 1000, status
    await configure_endpoints(db, [receiver.url], SECRET, clock())
    intent = await new_intent(service)
    await service.cancel_payment_intent(ALICE, payment_intent_id=intent.id, idempotency_key=key())
    async with pooled_session(5) as http:
        worker = WebhookWorker(
            db, http, clock=clock, backoff=Backoff(1, 10, jitter=0), max_attempts=3
        )
        for _ in range(4):
            await worker.deliver_due()
            clock.advance(seconds=60)
    assert receiver.statuses == [status] * attempts
    assert await deliveries(db) == [{"status": "failed", "attempts": attempts, "logged": attempts}]


async def test_an_unreachable_endpoint_is_retried_with_why(
    service: PaymentService, db: Database, clock: FakeClock
) -> None:
    await configure_endpoints(db, [f"http://127.0.0.1:{free_port()}/hooks"], SECRET, clock())
    intent = await new_intent(service)
    await service.cancel_payment_intent(ALICE, payment_intent_id=intent.id, idempotency_key=key())
    async with pooled_session(5) as http:
        worker = WebhookWorker(db, http, clock=clock, backoff=Backoff(1, 10, jitter=0))
        assert await worker.deliver_due() == 1
    async with db.read() as tx:
        attempts = await tx.fetch_all(
            "SELECT d.status, a.status_code, a.error FROM payment.webhook_deliveries d "
            "JOIN payment.webhook_attempts a USING (event_id, endpoint_id)"
        )
    [attempt] = attempts
    assert (attempt["status"], attempt["status_code"]) == ("pending", None)
    assert attempt["error"].startswith("ClientConnectorError: "), attempt["error"]


async def request_body(reader: asyncio.StreamReader) -> bytes:
    """The body of the next HTTP request on a connection of a raw endpoint (the worker always
    sends Content-Length); ``IncompleteReadError`` when the connection closed instead."""
    head = await reader.readuntil(b"\r\n\r\n")
    length = re.search(rb"(?i)content-length: *(\d+)", head)
    assert length is not None
    return await reader.readexactly(int(length[1]))


async def test_a_connection_the_endpoint_closed_as_the_post_went_out_is_not_a_failure(
    service: PaymentService, db: Database, clock: FakeClock
) -> None:
    """The worker keeps its connections open between deliveries; an endpoint whose keep-alive
    ran out closes one as the next request arrives. That request goes again on a new
    connection rather than counting as a failed attempt (and waiting out a backoff)."""
    answered = 0

    async def answer_one_per_connection(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        nonlocal answered
        for n in itertools.count():
            try:
                await request_body(reader)
            except asyncio.IncompleteReadError:
                break  # the worker closed its connection
            if n > 0:
                break  # closed, unanswered: the keep-alive ran out as the request came
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
            await writer.drain()
            answered += 1
        writer.close()

    server = await asyncio.start_server(answer_one_per_connection, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    await configure_endpoints(db, [f"http://127.0.0.1:{port}/hooks"], SECRET, clock())
    for _ in range(2):
        intent = await new_intent(service)
        await service.cancel_payment_intent(
            ALICE, payment_intent_id=intent.id, idempotency_key=key()
        )
    async with server, pooled_session(5) as http:
        assert await WebhookWorker(db, http, clock=clock).deliver_due() == 2
    assert answered == 2
    assert await deliveries(db) == [{"status": "delivered", "attempts": 1, "logged": 1}] * 2


async def test_two_workers_deliver_side_by_side_each_a_different_event(
    service: PaymentService, db: Database, clock: FakeClock
) -> None:
    """Two payment server processes share one backlog: while the first holds its delivery's
    row for the POST in flight, the second skips that row and delivers the next event."""
    in_flight: list[str] = []
    both_in_flight = asyncio.Event()

    async def answer_when_both_arrived(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        in_flight.append(json.loads(await request_body(reader))["id"])
        if len(in_flight) == 2:
            both_in_flight.set()
        await both_in_flight.wait()
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(answer_when_both_arrived, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    await configure_endpoints(db, [f"http://127.0.0.1:{port}/hooks"], SECRET, clock())
    for _ in range(2):
        await canceled_intent(service)
    async with server, pooled_session(5) as first, pooled_session(5) as second:
        workers = [WebhookWorker(db, http, clock=clock, batch=1) for http in (first, second)]
        # Waiting on the other's row instead, the second would never send, nor the first
        # hear back: the timeout turns that into a failure.
        async with asyncio.timeout(30):
            done = await asyncio.gather(*(worker.deliver_due() for worker in workers))
    assert done == [1, 1]
    assert len(set(in_flight)) == 2, "each worker sent a different event"
    assert await deliveries(db) == [{"status": "delivered", "attempts": 1, "logged": 1}] * 2


async def test_endpoints_follow_the_settings(
    service: PaymentService, db: Database, clock: FakeClock
) -> None:
    await configure_endpoints(db, ["http://127.0.0.1:1/a", "http://127.0.0.1:1/b"], SECRET, clock())
    await configure_endpoints(db, ["http://127.0.0.1:1/b"], SECRET, clock())
    intent = await new_intent(service)
    await service.cancel_payment_intent(ALICE, payment_intent_id=intent.id, idempotency_key=key())
    async with db.transaction() as tx:
        rows = await tx.fetch_all(
            "SELECT e.url FROM payment.webhook_deliveries d "
            "JOIN payment.webhook_endpoints e USING (endpoint_id)"
        )
    assert rows == [{"url": "http://127.0.0.1:1/b"}]


async def by_endpoint(db: Database) -> dict[str, tuple[str, int, int]]:
    """Each delivery's status, attempts and logged attempts, by its endpoint's URL."""
    async with db.transaction() as tx:
        rows = await tx.fetch_all(
            "SELECT e.url, d.status, d.attempts, "
            " (SELECT count(*) FROM payment.webhook_attempts a "
            "  WHERE a.event_id = d.event_id AND a.endpoint_id = d.endpoint_id) AS logged "
            "FROM payment.webhook_deliveries d JOIN payment.webhook_endpoints e USING (endpoint_id)"
        )
    return {r["url"]: (r["status"], r["attempts"], r["logged"]) for r in rows}


async def canceled_intent(service: PaymentService) -> str:
    """The id of an intent made and canceled: one event, a delivery per enabled endpoint."""
    intent = await new_intent(service)
    await service.cancel_payment_intent(ALICE, payment_intent_id=intent.id, idempotency_key=key())
    return intent.id


async def test_a_disabled_endpoints_deliveries_wait_without_holding_up_the_others(
    service: PaymentService, db: Database, clock: FakeClock, receiver: Receiver
) -> None:
    """Paused, never attempted, while the endpoint is disabled, and sent once it is enabled
    again; the deliveries behind them go out meanwhile."""
    receiver.failures = 0
    first, second = receiver.url, f"{receiver.url}?second"
    await configure_endpoints(db, [first], SECRET, clock())
    early = await canceled_intent(service)
    clock.advance(seconds=1)
    await configure_endpoints(db, [second], SECRET, clock())
    late = await canceled_intent(service)
    async with pooled_session(5) as http:
        worker = WebhookWorker(db, http, clock=clock, batch=1)
        assert await worker.deliver_due() == 1, "a paused delivery is not an attempt"
        assert await worker.deliver_due() == 0
        assert [r["data"]["object"]["id"] for r in receiver.received] == [late]
        assert await by_endpoint(db) == {first: ("paused", 0, 0), second: ("delivered", 1, 1)}
        clock.advance(seconds=60)
        assert await worker.deliver_due() == 0, "paused until the endpoint is enabled"
        await configure_endpoints(db, [first, second], SECRET, clock())
        assert await worker.deliver_due() == 1
    assert [r["data"]["object"]["id"] for r in receiver.received] == [late, early]
    assert await by_endpoint(db) == {first: ("delivered", 1, 1), second: ("delivered", 1, 1)}


async def test_an_endpoint_enabled_while_its_delivery_is_being_paused_gets_it(
    service: PaymentService, db: Database, clock: FakeClock, receiver: Receiver
) -> None:
    """The worker read the endpoint disabled, then the enabling commits while the worker pauses
    the delivery: it is sent, not left paused with nothing to resume it."""
    receiver.failures = 0
    await configure_endpoints(db, [receiver.url], SECRET, clock())
    intent = await canceled_intent(service)
    await configure_endpoints(db, [], SECRET, clock())
    async with pooled_session(5) as http:
        worker = WebhookWorker(db, http, clock=clock)
        async with db.transaction() as enabling:
            await repo.ensure_endpoint(enabling, new_id("we"), receiver.url, SECRET, clock())
            pausing = asyncio.create_task(worker.deliver_due())
            # Until the pause waits for the endpoint's row, or ends without waiting: PostgreSQL
            # tells of a session waiting for a lock only when asked.
            while not pausing.done() and not await waiting_for_a_lock(db):  # noqa: ASYNC110
                await asyncio.sleep(0.01)
        assert await pausing == 1
    assert [r["data"]["object"]["id"] for r in receiver.received] == [intent]
    assert await by_endpoint(db) == {receiver.url: ("delivered", 1, 1)}


async def waiting_for_a_lock(db: Database) -> bool:
    async with db.read() as tx:
        rows = await tx.fetch_all(
            "SELECT pid FROM pg_stat_activity "
            "WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
    return bool(rows)


def rows_read(plan: dict[str, Any], relation: str) -> int:
    """How many rows the plan's scans of ``relation`` returned, over all their loops."""
    own = plan["Actual Rows"] * plan["Actual Loops"] if plan.get("Relation Name") == relation else 0
    return int(own) + sum(rows_read(child, relation) for child in plan.get("Plans", []))


async def test_a_claim_reads_one_delivery_however_large_the_backlog_since_the_statistics(
    service: PaymentService, db: Database, clock: FakeClock, receiver: Receiver
) -> None:
    """A backlog that built up since the planner's statistics were taken (on a young table,
    the receiver down for an hour) is claimed one delivery at a time, not read and sorted
    whole for each one, which made delivering it quadratic."""
    receiver.failures = 0
    await configure_endpoints(db, [receiver.url], SECRET, clock())
    intent = await new_intent(service)
    async with db.transaction() as tx:
        # Statistics as on a table never analyzed yet (PostgreSQL 16 has no function to clear
        # them; a superuser may write the catalog).
        await tx.execute(
            "UPDATE pg_class SET reltuples = -1, relpages = 0, relallvisible = 0 "
            "WHERE oid = CAST('payment.webhook_deliveries' AS regclass) OR oid IN ("
            " SELECT indexrelid FROM pg_index "
            " WHERE indrelid = CAST('payment.webhook_deliveries' AS regclass))"
        )
        await tx.execute(
            "DELETE FROM pg_statistic "
            "WHERE starelid = CAST('payment.webhook_deliveries' AS regclass)"
        )
    async with db.transaction() as tx:
        # 1,500 events, each with its delivery; an id's hex digits 0, 1, 8 and 9 are written
        # w, x, y and z, and padded with q, to fit the events' id format.
        await tx.execute(
            "WITH ev AS ("
            " INSERT INTO payment.events (event_id, type, payment_intent_id, data, created_at) "
            " SELECT 'evt_' || lpad(translate(to_hex(n), '0189', 'wxyz'), 26, 'q'), "
            "  'payment_intent.canceled', :intent, '{}', :now FROM generate_series(1, 1500) n "
            " RETURNING event_id) "
            "INSERT INTO payment.webhook_deliveries (event_id, endpoint_id, status, "
            " next_attempt_at) "
            "SELECT event_id, endpoint_id, 'pending', :now FROM ev, payment.webhook_endpoints",
            {"intent": intent.id, "now": clock()},
        )
    counting = CountingDatabase(db)
    async with pooled_session(5) as http:
        assert await WebhookWorker(counting, http, clock=clock, batch=1).deliver_due() == 1
    claim, params = counting.statements[0]
    async with db.transaction() as tx:
        row = await tx.fetch_one(f"EXPLAIN (ANALYZE, FORMAT JSON) {claim}", params)
    assert row is not None
    [explained] = row.values()
    [plan] = json.loads(explained) if isinstance(explained, str) else explained
    assert rows_read(plan["Plan"], "webhook_deliveries") == 1
