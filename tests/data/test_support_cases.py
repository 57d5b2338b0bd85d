"""Support cases in the system of record: opened once per key, only about the customer's own
ticket and order, listed longest-waiting first, closed once. Runs on every backend of ``db``."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta

import pytest

from servers.core.db import Database
from servers.core.errors import IDEMPOTENCY_MISMATCH, DomainError
from servers.data.cases import CASE_NOT_FOUND, SupportCase, SupportCases
from servers.data.models import Ticket
from servers.data.service import (
    CUSTOMER_NOT_FOUND,
    ORDER_NOT_FOUND,
    TICKET_NOT_FOUND,
    DataService,
)

CALLER = "ticket-server"
START = datetime(2030, 6, 3, 9, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def svc(db: Database, clock: Clock) -> DataService:
    return DataService(db, clock=clock)


@pytest.fixture
def cases(svc: DataService, clock: Clock) -> SupportCases:
    return SupportCases(svc.db, svc.idempotency, clock=clock)


def key() -> str:
    return f"test-{uuid.uuid4().hex}"


async def customer_with_ticket(svc: DataService) -> Ticket:
    customer = await svc.create_customer(
        email=f"{uuid.uuid4().hex[:12]}@example.com",
        full_name="Test Customer",
        idempotency_key=key(),
        caller=CALLER,
    )
    return await svc.issue_ticket(
        customer_id=customer.customer_id,
        ticket_type="general",
        visit_date=date(2030, 6, 20),
        price_cents=4900,
        currency="USD",
        idempotency_key=key(),
        caller=CALLER,
    )


async def open_case(
    cases: SupportCases,
    customer_id: str,
    *,
    idempotency_key: str | None = None,
    summary: str = "Please call me about my upgrade.",
    ticket_number: str | None = None,
    order_id: str | None = None,
) -> SupportCase:
    return await cases.open_case(
        customer_id=customer_id,
        summary=summary,
        preferred_contact="email",
        ticket_number=ticket_number,
        order_id=order_id,
        idempotency_key=idempotency_key or key(),
        caller=CALLER,
    )


async def test_a_case_opens_with_a_reference_and_once_per_key(
    svc: DataService, cases: SupportCases
) -> None:
    ticket = await customer_with_ticket(svc)
    request = key()
    first = await open_case(
        cases, ticket.customer_id, idempotency_key=request, ticket_number=ticket.ticket_number
    )
    assert first.reference.startswith("SUP-")
    assert len(first.reference) == 12
    assert first.status == "open"
    assert first.created_at == START
    assert first.ticket_number == ticket.ticket_number
    again = await open_case(
        cases, ticket.customer_id, idempotency_key=request, ticket_number=ticket.ticket_number
    )
    assert again == first
    listed = await cases.list_cases(status=None, customer_id=ticket.customer_id)
    assert listed.cases == [first]
    with pytest.raises(DomainError) as refused:
        await open_case(cases, ticket.customer_id, idempotency_key=request, summary="Other.")
    assert refused.value.code == IDEMPOTENCY_MISMATCH


async def test_another_customers_ticket_or_order_is_refused_as_missing(
    svc: DataService, cases: SupportCases
) -> None:
    mine = await customer_with_ticket(svc)
    theirs = await customer_with_ticket(svc)
    order = await svc.reserve_upgrade(
        ticket_number=theirs.ticket_number,
        tier="non_stop",
        visit_date=date(2030, 6, 21),
        prices={"general": 5000},
        currency="USD",
        hold_minutes=15,
        idempotency_key=key(),
        caller=CALLER,
    )
    refusals = []
    for ticket_number in (theirs.ticket_number, "TKT-NOPE0000"):
        with pytest.raises(DomainError) as refused:
            await open_case(cases, mine.customer_id, ticket_number=ticket_number)
        refusals.append((refused.value.code, refused.value.message.replace(ticket_number, "X")))
    assert refusals == [(TICKET_NOT_FOUND, "no ticket X")] * 2
    refusals = []
    for order_id in (order.order_id, "ord_" + "a" * 26):
        with pytest.raises(DomainError) as refused:
            await open_case(cases, mine.customer_id, order_id=order_id)
        refusals.append((refused.value.code, refused.value.message.replace(order_id, "X")))
    assert refusals == [(ORDER_NOT_FOUND, "no order X")] * 2
    with pytest.raises(DomainError) as refused:
        await open_case(cases, "cus_" + "b" * 26)
    assert refused.value.code == CUSTOMER_NOT_FOUND
    assert (await cases.list_cases(status=None, customer_id=None)).cases == []


async def test_cases_are_listed_longest_waiting_first_and_closed_once(
    svc: DataService, cases: SupportCases, clock: Clock
) -> None:
    ticket = await customer_with_ticket(svc)
    older = await open_case(cases, ticket.customer_id)
    clock.now += timedelta(minutes=5)
    newer = await open_case(cases, ticket.customer_id)
    assert [
        c.reference for c in (await cases.list_cases(status="open", customer_id=None)).cases
    ] == [
        older.reference,
        newer.reference,
    ]
    clock.now += timedelta(hours=1)
    closed = await cases.close_case(older.reference, "Called back; moved.", caller="ops")
    assert closed.status == "closed"
    assert closed.closed_at == clock.now
    assert closed.closed_by == "ops"
    assert closed.resolution == "Called back; moved."
    clock.now += timedelta(hours=1)
    assert await cases.close_case(older.reference, "Something else.", caller="other") == closed
    assert [
        c.reference for c in (await cases.list_cases(status="open", customer_id=None)).cases
    ] == [newer.reference]
    assert (await cases.list_cases(status="closed", customer_id=None)).cases == [closed]
    assert await cases.get_case(older.reference) == closed


async def test_an_unknown_case_is_case_not_found(cases: SupportCases) -> None:
    for attempt in (
        cases.get_case("SUP-AAAA2222"),
        cases.close_case("SUP-AAAA2222", "x", caller="ops"),
    ):
        with pytest.raises(DomainError) as refused:
            await attempt
        assert refused.value.code == CASE_NOT_FOUND
