"""The notify service on a real database (both backends): queueing once per key, refusing bad
input with nothing queued, listing, and requeueing dead messages."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from servers.core.db import Database
from servers.core.errors import IDEMPOTENCY_MISMATCH, INVALID_ARGUMENT, DomainError
from servers.notify.rendering import SPECS, UNKNOWN_TEMPLATE
from servers.notify.service import MESSAGE_NOT_FOUND, NotifyService
from tests.round_trips import CountingDatabase, round_trips

from .support import CALLER, DOMAIN, SENDER, FakeClock, confirmation, count, key, queue, service


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def svc(db: Database, clock: FakeClock) -> NotifyService:
    return service(db, clock, max_attempts=3)


async def test_send_queues_the_rendered_email(svc: NotifyService, clock: FakeClock) -> None:
    woken: list[bool] = []
    svc.on_queued = lambda: woken.append(True)
    message = await svc.send_email(
        template="upgrade_confirmed",
        to="Jane@Example.com",
        context=confirmation(confirmation_code="UPG-ABCD1234"),
        idempotency_key=key(),
        reference="ord_" + "b" * 26,
        caller=CALLER,
    )
    assert message.status == "queued"
    assert message.attempts == 0
    assert message.max_attempts == 3
    assert message.next_attempt_at == clock.now
    assert message.to == "Jane@example.com"
    assert message.sender == SENDER
    assert message.header_message_id == f"<{message.message_id}@{DOMAIN}>"
    assert "UPG-ABCD1234" in message.subject
    assert "UPG-ABCD1234" in message.text
    assert "UPG-ABCD1234" in message.html
    assert woken == [True]
    assert await svc.get_message(message.message_id) == message


def hold_expired_email() -> dict[str, Any]:
    """send_email's arguments for one e-mail, with a new idempotency key."""
    return {
        "template": "hold_expired",
        "to": "jane@example.com",
        "context": SPECS["hold_expired"].example,
        "idempotency_key": key(),
        "reference": None,
        "caller": CALLER,
    }


async def test_queueing_an_email_is_one_round_trip(db: Database, clock: FakeClock) -> None:
    """One statement claims the key with its answer (the message id is made before) and
    queues the message, with no BEGIN and COMMIT around it (there were four round trips); a
    repeat reads the stored answer and the message instead of writing."""
    counting = CountingDatabase(db)
    svc = service(counting, clock)
    arguments = hold_expired_email()
    first: list[str] = []

    async def send() -> None:
        first.append((await svc.send_email(**arguments)).message_id)

    assert await round_trips(counting, send) == 1
    assert await round_trips(counting, send) == 3  # the claim, its answer, the message
    assert first[0] == first[1]
    assert await count(db, "messages") == 1


async def test_the_same_key_returns_the_same_message_and_queues_one(
    svc: NotifyService, db: Database
) -> None:
    arguments = hold_expired_email()
    first = await svc.send_email(**arguments)
    again = await svc.send_email(**arguments)
    assert again.message_id == first.message_id
    assert await count(db, "messages") == 1
    with pytest.raises(DomainError) as caught:
        await svc.send_email(**{**arguments, "to": "john@example.com"})
    assert caught.value.code == IDEMPOTENCY_MISMATCH
    other_caller = await svc.send_email(**{**arguments, "caller": "ticket-server"})
    assert other_caller.message_id != first.message_id
    assert await count(db, "messages") == 2


async def test_concurrent_sends_with_one_key_queue_one_message(
    svc: NotifyService, db: Database
) -> None:
    same = key()
    results = await asyncio.gather(
        *(
            svc.send_email(
                template="upgrade_confirmed",
                to="jane@example.com",
                context=confirmation(),
                idempotency_key=same,
                reference=None,
                caller=CALLER,
            )
            for _ in range(8)
        )
    )
    assert len({m.message_id for m in results}) == 1
    assert await count(db, "messages") == 1


BAD_SENDS: list[tuple[dict[str, Any], str, str]] = [
    ({"to": "not-an-address"}, INVALID_ARGUMENT, "not a valid e-mail address"),
    ({"to": "jane@example.com\r\nBcc: all@example.com"}, INVALID_ARGUMENT, "line breaks"),
    ({"to": "jane@example.com\n"}, INVALID_ARGUMENT, "line breaks"),
    ({"to": "jane@example.com\u2028"}, INVALID_ARGUMENT, "not a valid e-mail address"),
    ({"to": " jane@example.com"}, INVALID_ARGUMENT, "not a valid e-mail address"),
    ({"reference": "ord_1\r\nX-Evil: 1"}, INVALID_ARGUMENT, "line breaks"),
    ({"reference": "has space"}, INVALID_ARGUMENT, "reference"),
    ({"template": "welcome"}, UNKNOWN_TEMPLATE, "welcome"),
    ({"context": confirmation(customer_name="x" * 20_000)}, INVALID_ARGUMENT, "bytes of JSON"),
    ({"context": confirmation(tier="gold")}, INVALID_ARGUMENT, "tier"),
    ({"context": confirmation(customer_name="A\r\nB")}, INVALID_ARGUMENT, "customer_name"),
    ({"context": {}}, INVALID_ARGUMENT, "confirmation_code"),
]


@pytest.mark.parametrize(("change", "code", "complaint"), BAD_SENDS)
async def test_bad_input_is_refused_and_nothing_is_queued(
    svc: NotifyService, db: Database, change: dict[str, Any], code: str, complaint: str
) -> None:
    woken: list[bool] = []
    svc.on_queued = lambda: woken.append(True)
    arguments: dict[str, Any] = {
        "template": "upgrade_confirmed",
        "to": "jane@example.com",
        "context": confirmation(),
        "idempotency_key": key(),
        "reference": None,
        "caller": CALLER,
        **change,
    }
    with pytest.raises(DomainError) as caught:
        await svc.send_email(**arguments)
    assert caught.value.code == code
    assert complaint in caught.value.message
    assert await count(db, "messages") == 0
    assert await count(db, "idempotency_keys") == 0
    assert woken == []


async def test_list_filters_by_recipient_reference_and_status(
    svc: NotifyService, clock: FakeClock
) -> None:
    first = await queue(svc, "jane@example.com", reference="ord_" + "c" * 26)
    clock.advance(1)
    second = await queue(svc, "JOHN@example.com")
    clock.advance(1)
    third = await queue(svc, "jane@example.com")
    everything = await svc.list_messages()
    assert [m.message_id for m in everything.messages] == [
        third.message_id,
        second.message_id,
        first.message_id,
    ]
    jane = await svc.list_messages(recipient="JANE@example.com")
    assert [m.message_id for m in jane.messages] == [third.message_id, first.message_id]
    john = await svc.list_messages(recipient="john@example.com")
    assert [m.message_id for m in john.messages] == [second.message_id]
    by_reference = await svc.list_messages(reference="ord_" + "c" * 26)
    assert [m.message_id for m in by_reference.messages] == [first.message_id]
    assert (await svc.list_messages(status="sent")).messages == []
    assert len((await svc.list_messages(limit=2)).messages) == 2
    with pytest.raises(DomainError):
        await svc.list_messages(limit=0)


async def test_unknown_message_is_not_found(svc: NotifyService) -> None:
    for call in (svc.get_message, svc.retry_message):
        with pytest.raises(DomainError) as caught:
            await call("msg_" + "a" * 26)
        assert caught.value.code == MESSAGE_NOT_FOUND


async def test_retry_requeues_only_a_dead_message(
    svc: NotifyService, db: Database, clock: FakeClock
) -> None:
    message = await queue(svc)
    assert await svc.retry_message(message.message_id) == message
    async with db.transaction() as tx:
        await tx.execute(
            "UPDATE notify.messages SET status = 'dead', attempts = 3, next_attempt_at = NULL,"
            " last_error = 'SMTP 550 no such user' WHERE message_id = :id",
            {"id": message.message_id},
        )
    clock.advance(60)
    woken: list[bool] = []
    svc.on_queued = lambda: woken.append(True)
    retried = await svc.retry_message(message.message_id)
    assert retried.status == "queued"
    assert retried.attempts == 3
    assert retried.max_attempts == 6
    assert retried.next_attempt_at == clock.now
    assert retried.last_error == "SMTP 550 no such user"
    assert woken == [True]
    assert await svc.retry_message(message.message_id) == retried
    assert woken == [True]


def test_preview_renders_without_storing(db: Database, clock: FakeClock) -> None:
    svc = service(db, clock)
    preview = svc.preview_email("upgrade_confirmed", confirmation(amount_cents=1999))
    assert "$19.99" in preview.text
    assert "$19.99" in preview.html
    assert preview.template == "upgrade_confirmed"
