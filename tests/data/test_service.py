"""The data service's rules on a real database: holds, confirmations, refunds, capacity,
idempotency and integrity, under concurrency too. Runs on every backend of the ``db`` fixture."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import Awaitable
from datetime import UTC, date, datetime, timedelta
from typing import Any

import psycopg
import pytest

from servers.core.db import Database, fetch_value
from servers.core.errors import IDEMPOTENCY_MISMATCH, DomainError
from servers.data.models import Order, Ticket, TicketStatus, TicketType, Tier
from servers.data.service import (
    AMOUNT_MISMATCH,
    CAPACITY_BELOW_COMMITTED,
    CUSTOMER_NOT_FOUND,
    EMAIL_TAKEN,
    HOLD_ACTIVE,
    HOLD_EXPIRED,
    INVALID_STATE,
    ORDER_EXISTS,
    ORDER_NOT_FOUND,
    PAYMENT_MISMATCH,
    REFUND_MISMATCH,
    SOLD_OUT,
    TICKET_NOT_ACTIVE,
    TICKET_NOT_ELIGIBLE,
    TICKET_NOT_FOUND,
    CapacityDefaults,
    DataService,
)
from ticketing.db import seed_all

from .conftest import START, FakeClock

CALLER = "tests"
VISIT = date(2030, 6, 20)
UPGRADE_DAY = date(2030, 6, 21)
PRICE = 5000


def key() -> str:
    return f"test-{uuid.uuid4().hex}"


async def new_ticket(
    svc: DataService, *, ticket_type: TicketType = "general", visit: date = VISIT
) -> Ticket:
    customer = await svc.create_customer(
        email=f"{uuid.uuid4().hex[:12]}@example.com",
        full_name="Test Customer",
        idempotency_key=key(),
        caller=CALLER,
    )
    return await svc.issue_ticket(
        customer_id=customer.customer_id,
        ticket_type=ticket_type,
        visit_date=visit,
        price_cents=4900,
        currency="USD",
        idempotency_key=key(),
        caller=CALLER,
    )


async def reserve(
    svc: DataService,
    ticket: Ticket,
    *,
    tier: Tier = "non_stop",
    day: date = UPGRADE_DAY,
    amount: int = PRICE,
    hold_minutes: int = 15,
    idempotency_key: str | None = None,
    prices: dict[TicketType, int] | None = None,
    owner: str | None = None,
    visit_from: date | None = None,
) -> Order:
    """A hold at ``amount`` for the ticket's own type, or on the conditions the ticket server
    gives: ``prices`` by type, whose ticket (``owner``) and its earliest visit (``visit_from``)."""
    return await svc.reserve_upgrade(
        ticket_number=ticket.ticket_number,
        tier=tier,
        visit_date=day,
        prices={ticket.ticket_type: amount} if prices is None else prices,
        currency="USD",
        hold_minutes=hold_minutes,
        idempotency_key=idempotency_key or key(),
        caller=CALLER,
        owner=owner,
        ticket_visit_from=visit_from,
    )


async def scalar(db: Database, sql: str, params: dict[str, Any] | None = None) -> Any:
    async with db.transaction() as tx:
        return await fetch_value(tx, sql, params)


async def execute(db: Database, sql: str, params: dict[str, Any] | None = None) -> int:
    async with db.transaction() as tx:
        return await tx.execute(sql, params)


async def set_status(db: Database, ticket: Ticket, status: TicketStatus) -> None:
    await execute(
        db,
        "UPDATE data.tickets SET status = :s WHERE ticket_number = :t",
        {"s": status, "t": ticket.ticket_number},
    )


async def order_count(db: Database, **where: Any) -> int:
    clauses = " AND ".join(f"{column} = :{column}" for column in where) or "TRUE"
    count: int = await scalar(
        db, f"SELECT count(*) FROM data.upgrade_orders WHERE {clauses}", where
    )
    return count


async def seats(svc: DataService, day: date = UPGRADE_DAY, tier: Tier = "non_stop") -> Any:
    inventory = await svc.get_date_inventory(day, day, tier)
    assert len(inventory.days) == 1
    return inventory.days[0]


# The life of an order ------------------------------------------------------------------------


async def test_reserve_confirm_refund_cycle(svc: DataService, clock: FakeClock) -> None:
    ticket = await new_ticket(svc)
    order = await reserve(svc, ticket)
    assert order.status == "awaiting_payment"
    assert order.ticket_number == ticket.ticket_number
    assert order.customer_id == ticket.customer_id
    assert order.hold_expires_at == START + timedelta(minutes=15)
    assert order.confirmation_code is None
    assert (await svc.get_ticket(ticket.ticket_number)).upgrade_tier is None
    held = await seats(svc)
    assert (held.held, held.sold, held.seats_left) == (1, 0, held.capacity - 1)

    paying = await svc.attach_payment(order.order_id, "pi_test00000001")
    assert paying.payment_intent_id == "pi_test00000001"
    assert await svc.attach_payment(order.order_id, "pi_test00000001") == paying

    clock.advance(minutes=3)
    confirmed = await svc.confirm_order(order.order_id, "pi_test00000001", PRICE)
    assert confirmed.status == "confirmed"
    assert confirmed.confirmation_code is not None
    assert confirmed.confirmation_code.startswith("UPG-")
    assert confirmed.confirmed_at == clock.now
    upgraded = await svc.get_ticket(ticket.ticket_number)
    assert (upgraded.upgrade_tier, upgraded.visit_date) == ("non_stop", UPGRADE_DAY)
    sold = await seats(svc)
    assert (sold.held, sold.sold) == (0, 1)

    clock.advance(minutes=60)
    refunded = await svc.mark_refunded(order.order_id, "re_test00000001")
    assert refunded.status == "refunded"
    assert refunded.refund_id == "re_test00000001"
    assert refunded.closed_at == clock.now
    assert refunded.confirmation_code == confirmed.confirmation_code
    reverted = await svc.get_ticket(ticket.ticket_number)
    assert (reverted.upgrade_tier, reverted.visit_date) == (None, VISIT)
    freed = await seats(svc)
    assert (freed.held, freed.sold, freed.seats_left) == (0, 0, freed.capacity)

    # Refunding again is a no-op; with another refund it is refused.
    assert await svc.mark_refunded(order.order_id, "re_test00000001") == refunded
    with pytest.raises(DomainError) as err:
        await svc.mark_refunded(order.order_id, "re_other0000001")
    assert err.value.code == REFUND_MISMATCH
    # The ticket is free to be upgraded again.
    again = await reserve(svc, ticket, tier="double_fun", amount=7500)
    assert again.status == "awaiting_payment"
    assert (await svc.check_integrity()).ok


async def test_refund_restores_an_earlier_upgrade(svc: DataService) -> None:
    ticket = await new_ticket(svc)
    first = await reserve(svc, ticket, tier="standard", amount=2500)
    await svc.confirm_order(first.order_id, "pi_first0000001", 2500)
    await svc.mark_refunded(first.order_id, "re_first0000001")
    second = await reserve(svc, ticket, tier="double_fun", day=date(2030, 6, 25), amount=7500)
    await svc.confirm_order(second.order_id, "pi_second000001", 7500)
    assert (await svc.get_ticket(ticket.ticket_number)).upgrade_tier == "double_fun"
    await svc.mark_refunded(second.order_id, "re_second000001")
    ticket_now = await svc.get_ticket(ticket.ticket_number)
    assert (ticket_now.upgrade_tier, ticket_now.visit_date) == (None, VISIT)


async def test_confirm_is_idempotent(svc: DataService, db: Database, clock: FakeClock) -> None:
    ticket = await new_ticket(svc)
    order = await reserve(svc, ticket)
    first = await svc.confirm_order(order.order_id, "pi_test00000002", PRICE)
    clock.advance(minutes=1)
    second = await svc.confirm_order(order.order_id, "pi_test00000002", PRICE)
    assert second == first
    assert await order_count(db, ticket_number=ticket.ticket_number, status="confirmed") == 1
    assert (await seats(svc)).sold == 1


async def test_confirm_with_another_amount_is_refused(svc: DataService) -> None:
    ticket = await new_ticket(svc)
    order = await reserve(svc, ticket)
    with pytest.raises(DomainError) as err:
        await svc.confirm_order(order.order_id, "pi_test00000003", PRICE - 1)
    assert err.value.code == AMOUNT_MISMATCH
    assert (await svc.get_order(order.order_id)).status == "awaiting_payment"
    assert (await svc.get_ticket(ticket.ticket_number)).upgrade_tier is None
    # Once confirmed, a replay with another amount is refused too.
    await svc.confirm_order(order.order_id, "pi_test00000003", PRICE)
    with pytest.raises(DomainError) as err:
        await svc.confirm_order(order.order_id, "pi_test00000003", PRICE + 1)
    assert err.value.code == AMOUNT_MISMATCH


async def test_confirm_with_another_payment_is_refused(svc: DataService) -> None:
    ticket = await new_ticket(svc)
    order = await reserve(svc, ticket)
    await svc.attach_payment(order.order_id, "pi_attached0001")
    with pytest.raises(DomainError) as err:
        await svc.attach_payment(order.order_id, "pi_intruder0001")
    assert err.value.code == PAYMENT_MISMATCH
    with pytest.raises(DomainError) as err:
        await svc.confirm_order(order.order_id, "pi_intruder0001", PRICE)
    assert err.value.code == PAYMENT_MISMATCH
    assert (await svc.get_order(order.order_id)).status == "awaiting_payment"
    confirmed = await svc.confirm_order(order.order_id, "pi_attached0001", PRICE)
    with pytest.raises(DomainError) as err:
        await svc.confirm_order(order.order_id, "pi_intruder0001", PRICE)
    assert err.value.code == PAYMENT_MISMATCH
    assert await svc.get_order(order.order_id) == confirmed


async def test_unknown_records_are_not_found(svc: DataService) -> None:
    cases = [
        (svc.get_customer("cus_" + "a" * 26), CUSTOMER_NOT_FOUND),
        (svc.list_tickets("cus_" + "a" * 26, None), CUSTOMER_NOT_FOUND),
        (svc.find_customer("nobody@example.com"), CUSTOMER_NOT_FOUND),
        (svc.get_ticket("TKT-NOSUCH"), TICKET_NOT_FOUND),
        (svc.get_order("ord_" + "a" * 26), ORDER_NOT_FOUND),
        (svc.confirm_order("ord_" + "a" * 26, "pi_test00000000", 1), ORDER_NOT_FOUND),
    ]
    for call, code in cases:
        with pytest.raises(DomainError) as err:
            await call
        assert err.value.code == code


async def test_a_customer_without_such_tickets_has_an_empty_list(svc: DataService) -> None:
    ticket = await new_ticket(svc)
    assert (await svc.list_tickets(ticket.customer_id, "cancelled")).tickets == []
    assert [
        t.ticket_number for t in (await svc.list_tickets(ticket.customer_id, None)).tickets
    ] == [ticket.ticket_number]


async def refusals_of(*calls: Awaitable[object]) -> list[tuple[str, list[str]]]:
    """Each call's refusal: its code and the first two words of its message (each must fail)."""
    refusals = []
    for call in calls:
        with pytest.raises(DomainError) as err:
            await call
        refusals.append((err.value.code, err.value.message.split()[:2]))
    return refusals


async def test_asking_for_the_owner_makes_anyone_elses_record_missing(svc: DataService) -> None:
    ticket = await new_ticket(svc)
    order = await reserve(svc, ticket)
    stranger = "cus_" + "b" * 26
    assert (await svc.get_ticket(ticket.ticket_number, ticket.customer_id)).ticket_number == (
        ticket.ticket_number
    )
    assert (await svc.get_order(order.order_id, ticket.customer_id)) == order
    refusals = await refusals_of(
        svc.get_ticket(ticket.ticket_number, stranger),
        svc.get_ticket("TKT-NOSUCH", stranger),
        svc.get_order(order.order_id, stranger),
        svc.get_order("ord_" + "a" * 26, stranger),
    )
    assert refusals == [
        (TICKET_NOT_FOUND, ["no", "ticket"]),
        (TICKET_NOT_FOUND, ["no", "ticket"]),
        (ORDER_NOT_FOUND, ["no", "order"]),
        (ORDER_NOT_FOUND, ["no", "order"]),
    ]


async def test_a_ticket_and_its_inventory_come_in_one_read_for_its_owner_only(
    svc: DataService,
) -> None:
    ticket = await new_ticket(svc)
    order = await reserve(svc, ticket)
    end = UPGRADE_DAY + timedelta(days=2)
    both = await svc.get_ticket_and_inventory(
        ticket.ticket_number, ticket.customer_id, UPGRADE_DAY, end, "non_stop"
    )
    assert both.ticket == await svc.get_ticket(ticket.ticket_number)
    assert both.ticket.open_order == order
    assert both.days == (await svc.get_date_inventory(UPGRADE_DAY, end, "non_stop")).days
    assert [d.held for d in both.days] == [1, 0, 0]
    stranger = "cus_" + "b" * 26
    refusals = await refusals_of(
        svc.get_ticket_and_inventory(ticket.ticket_number, stranger, UPGRADE_DAY, end, "standard"),
        svc.get_ticket_and_inventory("TKT-NOSUCH", stranger, UPGRADE_DAY, end, "standard"),
        svc.get_ticket_and_inventory(ticket.ticket_number, None, end, UPGRADE_DAY, "standard"),
    )
    assert refusals == [
        (TICKET_NOT_FOUND, ["no", "ticket"]),
        (TICKET_NOT_FOUND, ["no", "ticket"]),
        ("INVALID_ARGUMENT", ["end_date", "must"]),
    ]


async def test_confirming_answers_with_the_customer_to_email(svc: DataService) -> None:
    ticket = await new_ticket(svc)
    order = await reserve(svc, ticket)
    first = await svc.confirm_order_with_customer(order.order_id, "pi_customer0001", PRICE)
    assert first.customer == await svc.get_customer(ticket.customer_id)
    assert (
        first.model_dump(exclude={"customer"}) == (await svc.get_order(order.order_id)).model_dump()
    )
    assert await svc.confirm_order_with_customer(order.order_id, "pi_customer0001", PRICE) == first


async def test_a_ticket_comes_with_its_open_order(svc: DataService, clock: FakeClock) -> None:
    ticket = await new_ticket(svc)
    assert (await svc.get_ticket(ticket.ticket_number)).open_order is None
    order = await reserve(svc, ticket)
    assert (await svc.get_ticket(ticket.ticket_number)).open_order == order
    clock.advance(minutes=16)
    assert (await svc.get_ticket(ticket.ticket_number)).open_order is None, "the hold lapsed"
    again = await reserve(svc, ticket)
    await svc.attach_payment(again.order_id, "pi_test00000002")
    confirmed = await svc.confirm_order(again.order_id, "pi_test00000002", PRICE)
    assert (await svc.get_ticket(ticket.ticket_number)).open_order == confirmed
    await svc.mark_refunded(again.order_id, "re_test00000002")
    assert (await svc.get_ticket(ticket.ticket_number)).open_order is None


async def test_customers_are_found_by_email_case_insensitively(svc: DataService) -> None:
    created = await svc.create_customer(
        email="Mixed.Case@Example.com", full_name="Mixed", idempotency_key=key(), caller=CALLER
    )
    assert created.email == "mixed.case@example.com"
    assert await svc.find_customer("MIXED.case@example.COM") == created
    with pytest.raises(DomainError) as err:
        await svc.create_customer(
            email="mixed.CASE@example.com", full_name="Twin", idempotency_key=key(), caller=CALLER
        )
    assert err.value.code == EMAIL_TAKEN


# One open order per ticket -------------------------------------------------------------------


async def test_second_reserve_with_a_live_hold_or_confirmed_upgrade_is_refused(
    svc: DataService, db: Database
) -> None:
    ticket = await new_ticket(svc)
    order = await reserve(svc, ticket)
    with pytest.raises(DomainError) as err:
        await reserve(svc, ticket, tier="double_fun", amount=7500)
    assert err.value.code == ORDER_EXISTS
    await svc.confirm_order(order.order_id, "pi_test00000004", PRICE)
    with pytest.raises(DomainError) as err:
        await reserve(svc, ticket, tier="double_fun", amount=7500)
    assert err.value.code == ORDER_EXISTS
    assert await order_count(db, ticket_number=ticket.ticket_number) == 1


async def test_a_ticket_holding_the_last_seat_hears_order_exists(svc: DataService) -> None:
    await svc.set_capacity(UPGRADE_DAY, "non_stop", 1)
    ticket = await new_ticket(svc)
    await reserve(svc, ticket)
    with pytest.raises(DomainError) as err:
        await reserve(svc, ticket)  # e.g. a retry under a new key after a lost response
    assert err.value.code == ORDER_EXISTS


async def test_a_stale_hold_does_not_block_a_new_reserve(
    svc: DataService, db: Database, clock: FakeClock
) -> None:
    ticket = await new_ticket(svc)
    stale = await reserve(svc, ticket, hold_minutes=15)
    clock.advance(minutes=15)  # hold_expires_at == now: the hold is over
    fresh = await reserve(svc, ticket, tier="double_fun", amount=7500)
    assert fresh.status == "awaiting_payment"
    expired = await svc.get_order(stale.order_id)
    assert expired.status == "expired"
    assert expired.closed_at == clock.now
    assert await order_count(db, ticket_number=ticket.ticket_number) == 2


@pytest.mark.parametrize("status", ["used", "cancelled", "expired"])
async def test_only_active_tickets_are_upgraded(
    svc: DataService, db: Database, status: TicketStatus
) -> None:
    ticket = await new_ticket(svc)
    await set_status(db, ticket, status)
    with pytest.raises(DomainError) as err:
        await reserve(svc, ticket)
    assert err.value.code == TICKET_NOT_ACTIVE
    assert status in err.value.message
    assert await order_count(db) == 0
    assert (await seats(svc)).held == 0


async def test_a_hold_costs_the_price_of_the_tickets_type(svc: DataService) -> None:
    prices: dict[TicketType, int] = {"general": 5000, "standard": 2500}
    general = await reserve(svc, await new_ticket(svc), prices=prices)
    standard = await reserve(svc, await new_ticket(svc, ticket_type="standard"), prices=prices)
    assert (general.amount_cents, standard.amount_cents) == (5000, 2500)


async def test_a_hold_is_refused_unless_the_ticket_meets_its_conditions(
    svc: DataService, db: Database
) -> None:
    """What the ticket server no longer reads the ticket for first: whose it is, its type and
    its visit, each checked under the ticket's lock, nothing written when refused."""
    ticket = await new_ticket(svc)
    owner = ticket.customer_id
    stranger = "cus_" + "b" * 26
    prices: dict[TicketType, int] = {"general": 5000}
    refusals = await refusals_of(
        reserve(svc, ticket, prices=prices, owner=stranger),
        reserve(svc, ticket, prices={"standard": 2500, "vip": 2500}, owner=owner),
        reserve(svc, ticket, prices=prices, owner=owner, visit_from=VISIT + timedelta(days=1)),
    )
    assert refusals == [
        (TICKET_NOT_FOUND, ["no", "ticket"]),  # as a missing one
        (TICKET_NOT_ELIGIBLE, ["ticket", ticket.ticket_number]),
        (TICKET_NOT_ELIGIBLE, ["ticket", ticket.ticket_number]),
    ]
    assert await order_count(db) == 0
    assert (await seats(svc)).held == 0
    held = await reserve(svc, ticket, prices=prices, owner=owner, visit_from=VISIT)
    assert (held.customer_id, held.amount_cents) == (owner, 5000)


async def test_a_holds_refusals_come_in_the_ticket_servers_order(
    svc: DataService, db: Database
) -> None:
    """No price (no upgrade path) before not active, before too late; an open order only for a
    ticket that would otherwise be held: the ticket server words the others itself."""
    ticket = await new_ticket(svc)
    late = VISIT + timedelta(days=1)
    await reserve(svc, ticket, prices={"general": 5000})
    await set_status(db, ticket, "used")
    refusals = await refusals_of(
        reserve(svc, ticket, prices={"vip": 2500}, visit_from=late),
        reserve(svc, ticket, prices={"general": 5000}, visit_from=late),
    )
    await set_status(db, ticket, "active")
    refusals += await refusals_of(
        reserve(svc, ticket, prices={"general": 5000}, visit_from=late),
        reserve(svc, ticket, prices={"general": 5000}, visit_from=VISIT),
    )
    assert [code for code, _ in refusals] == [
        TICKET_NOT_ELIGIBLE,
        TICKET_NOT_ACTIVE,
        TICKET_NOT_ELIGIBLE,
        ORDER_EXISTS,
    ]


async def test_a_retried_hold_is_the_same_hold_after_its_visit_condition_moved_on(
    svc: DataService,
) -> None:
    """The first visit date that can be upgraded moves on with the clock; a retry that crosses
    that moment (the same key, prices and owner) is still the first hold, not a mismatch."""
    ticket = await new_ticket(svc)
    first = await reserve(
        svc, ticket, prices={"general": 5000}, visit_from=VISIT, idempotency_key="hold-0001"
    )
    again = await reserve(
        svc,
        ticket,
        prices={"general": 5000},
        visit_from=VISIT + timedelta(days=1),
        idempotency_key="hold-0001",
    )
    assert again == first
    with pytest.raises(DomainError) as err:
        await reserve(svc, ticket, prices={"general": 4000}, idempotency_key="hold-0001")
    assert err.value.code == IDEMPOTENCY_MISMATCH


# Seats ---------------------------------------------------------------------------------------


async def test_sold_out_when_capacity_is_used(svc: DataService, db: Database) -> None:
    await svc.set_capacity(UPGRADE_DAY, "non_stop", 2)
    tickets = [await new_ticket(svc) for _ in range(4)]
    await reserve(svc, tickets[0])
    confirmed = await reserve(svc, tickets[1])
    await svc.confirm_order(confirmed.order_id, "pi_test00000005", PRICE)
    with pytest.raises(DomainError) as err:
        await reserve(svc, tickets[2])
    assert err.value.code == SOLD_OUT
    assert await order_count(db, ticket_number=tickets[2].ticket_number) == 0
    # Other tiers and dates have their own seats.
    assert (await reserve(svc, tickets[2], tier="double_fun", amount=7500)).status == (
        "awaiting_payment"
    )
    assert (await reserve(svc, tickets[3], day=UPGRADE_DAY + timedelta(days=1))).status == (
        "awaiting_payment"
    )
    day = await seats(svc)
    assert (day.capacity, day.held, day.sold, day.seats_left) == (2, 1, 1, 0)


async def test_a_sold_out_date_is_refused_without_waiting_for_the_capacity_lock(
    svc: DataService, db: Database, database_url: str
) -> None:
    """A burst of buyers on a sold-out date (bench/bench_race.py): each is told SOLD_OUT from
    what is committed, not after queueing for the capacity lock behind the others. Here another
    transaction holds that lock throughout: a refusal that needed it could not come before the
    lock is let go (the wait_for only keeps a regression from hanging the suite)."""
    await svc.set_capacity(UPGRADE_DAY, "non_stop", 1)
    first, second = await new_ticket(svc), await new_ticket(svc)
    await reserve(svc, first)
    async with await psycopg.AsyncConnection.connect(database_url) as other, other.transaction():
        await other.execute(
            "SELECT 1 FROM data.daily_capacity WHERE visit_date = %s AND tier = 'non_stop' "
            "FOR UPDATE",
            (UPGRADE_DAY,),
        )
        with pytest.raises(DomainError) as err:
            await asyncio.wait_for(reserve(svc, second), timeout=60)
    assert err.value.code == SOLD_OUT
    assert await order_count(db, ticket_number=second.ticket_number) == 0


async def test_an_expired_hold_frees_its_seat_without_sweeping(
    svc: DataService, clock: FakeClock
) -> None:
    await svc.set_capacity(UPGRADE_DAY, "non_stop", 1)
    first, second = await new_ticket(svc), await new_ticket(svc)
    lapsed = await reserve(svc, first, hold_minutes=5)
    with pytest.raises(DomainError) as err:
        await reserve(svc, second)
    assert err.value.code == SOLD_OUT
    clock.advance(minutes=5)
    assert (await seats(svc)).seats_left == 1
    taken = await reserve(svc, second)
    assert taken.status == "awaiting_payment"
    # Nobody swept the lapsed hold; it simply no longer counts.
    assert (await svc.get_order(lapsed.order_id)).status == "awaiting_payment"
    day = await seats(svc)
    assert (day.held, day.seats_left) == (1, 0)


async def test_expire_holds_expires_only_due_holds(svc: DataService, clock: FakeClock) -> None:
    tickets = [await new_ticket(svc) for _ in range(3)]
    short = await reserve(svc, tickets[0], hold_minutes=5)
    medium = await reserve(svc, tickets[1], hold_minutes=10)
    long = await reserve(svc, tickets[2], hold_minutes=30)
    assert (await svc.expire_holds()).expired == []
    clock.advance(minutes=10)
    expired = (await svc.expire_holds()).expired
    assert [o.order_id for o in expired] == [short.order_id, medium.order_id]
    assert all(o.status == "expired" and o.closed_at == clock.now for o in expired)
    assert (await svc.get_order(long.order_id)).status == "awaiting_payment"
    assert (await svc.expire_holds()).expired == []
    assert (await seats(svc)).held == 1


async def test_expire_holds_leaves_confirmed_orders_alone(
    svc: DataService, clock: FakeClock
) -> None:
    ticket = await new_ticket(svc)
    order = await reserve(svc, ticket, hold_minutes=5)
    confirmed = await svc.confirm_order(order.order_id, "pi_test00000006", PRICE)
    clock.advance(minutes=60)
    assert (await svc.expire_holds()).expired == []
    assert await svc.get_order(order.order_id) == confirmed


async def test_release_order(svc: DataService, clock: FakeClock) -> None:
    tickets = [await new_ticket(svc) for _ in range(3)]
    to_cancel = await reserve(svc, tickets[0], hold_minutes=10)
    to_expire = await reserve(svc, tickets[1], hold_minutes=10)
    to_confirm = await reserve(svc, tickets[2], hold_minutes=10)

    cancelled = await svc.release_order(to_cancel.order_id, "cancelled")
    assert (cancelled.status, cancelled.closed_at) == ("cancelled", clock.now)
    clock.advance(minutes=1)
    assert await svc.release_order(to_cancel.order_id, "cancelled") == cancelled
    with pytest.raises(DomainError) as err:
        await svc.release_order(to_cancel.order_id, "expired")
    assert err.value.code == INVALID_STATE

    with pytest.raises(DomainError) as err:
        await svc.release_order(to_expire.order_id, "expired")
    assert err.value.code == HOLD_ACTIVE
    assert (await svc.get_order(to_expire.order_id)).status == "awaiting_payment"
    clock.advance(minutes=9)
    expired = await svc.release_order(to_expire.order_id, "expired")
    assert expired.status == "expired"

    await svc.confirm_order(to_confirm.order_id, "pi_test00000007", PRICE)
    for reason in ("cancelled", "expired"):
        with pytest.raises(DomainError) as err:
            await svc.release_order(to_confirm.order_id, reason)
        assert err.value.code == INVALID_STATE
    assert (await svc.get_order(to_confirm.order_id)).status == "confirmed"
    day = await seats(svc)
    assert (day.held, day.sold) == (0, 1)


async def test_set_capacity_cannot_go_below_held_and_sold(
    svc: DataService, clock: FakeClock
) -> None:
    await svc.set_capacity(UPGRADE_DAY, "non_stop", 3)
    sold_ticket, held_ticket = await new_ticket(svc), await new_ticket(svc)
    sold = await reserve(svc, sold_ticket, hold_minutes=30)
    await svc.confirm_order(sold.order_id, "pi_test00000008", PRICE)
    await reserve(svc, held_ticket, hold_minutes=10)

    with pytest.raises(DomainError) as err:
        await svc.set_capacity(UPGRADE_DAY, "non_stop", 1)
    assert err.value.code == CAPACITY_BELOW_COMMITTED
    assert (await seats(svc)).capacity == 3
    exact = await svc.set_capacity(UPGRADE_DAY, "non_stop", 2)
    assert (exact.capacity, exact.held, exact.sold, exact.seats_left) == (2, 1, 1, 0)
    assert await seats(svc) == exact
    # Once the hold lapses, its seat no longer binds.
    clock.advance(minutes=10)
    lowered = await svc.set_capacity(UPGRADE_DAY, "non_stop", 1)
    assert (lowered.held, lowered.sold, lowered.seats_left) == (0, 1, 0)
    with pytest.raises(DomainError) as err:
        await svc.set_capacity(UPGRADE_DAY, "non_stop", 0)
    assert err.value.code == CAPACITY_BELOW_COMMITTED


async def test_set_capacity_of_a_new_date(svc: DataService) -> None:
    day = await svc.set_capacity(date(2030, 7, 1), "double_fun", 7)
    assert (day.capacity, day.held, day.sold, day.seats_left) == (7, 0, 0, 7)
    untouched = await svc.get_date_inventory(date(2030, 7, 1), date(2030, 7, 1), None)
    assert {(d.tier, d.capacity) for d in untouched.days} == {
        ("standard", 200),
        ("non_stop", 100),
        ("double_fun", 7),
    }


async def test_inventory_range_is_checked(svc: DataService) -> None:
    for start, end in [(UPGRADE_DAY, VISIT), (VISIT, VISIT + timedelta(days=366))]:
        with pytest.raises(DomainError) as err:
            await svc.get_date_inventory(start, end, None)
        assert err.value.code == "INVALID_ARGUMENT"
    year = await svc.get_date_inventory(VISIT, VISIT + timedelta(days=365), "standard")
    assert len(year.days) == 366


async def test_confirming_a_lapsed_hold_takes_a_free_seat(
    svc: DataService, clock: FakeClock
) -> None:
    await svc.set_capacity(UPGRADE_DAY, "non_stop", 1)
    ticket = await new_ticket(svc)
    order = await reserve(svc, ticket, hold_minutes=5)
    clock.advance(minutes=20)
    confirmed = await svc.confirm_order(order.order_id, "pi_test00000009", PRICE)
    assert confirmed.status == "confirmed"
    assert (await svc.get_ticket(ticket.ticket_number)).upgrade_tier == "non_stop"
    assert (await seats(svc)).seats_left == 0
    assert (await svc.check_integrity()).ok


async def test_confirming_a_lapsed_hold_fails_when_the_date_filled_up(
    svc: DataService, clock: FakeClock
) -> None:
    await svc.set_capacity(UPGRADE_DAY, "non_stop", 1)
    late, early = await new_ticket(svc), await new_ticket(svc)
    lapsed = await reserve(svc, late, hold_minutes=5)
    clock.advance(minutes=6)
    await reserve(svc, early)
    with pytest.raises(DomainError) as err:
        await svc.confirm_order(lapsed.order_id, "pi_test00000010", PRICE)
    assert err.value.code == HOLD_EXPIRED
    assert (await svc.get_order(lapsed.order_id)).status == "awaiting_payment"
    assert (await svc.get_ticket(late.ticket_number)).upgrade_tier is None
    # A swept hold can no longer be confirmed at all.
    await svc.expire_holds()
    with pytest.raises(DomainError) as err:
        await svc.confirm_order(lapsed.order_id, "pi_test00000010", PRICE)
    assert err.value.code == HOLD_EXPIRED
    day = await seats(svc)
    assert (day.held, day.sold) == (1, 0)


async def test_a_cancelled_order_cannot_be_confirmed_or_refunded(svc: DataService) -> None:
    ticket = await new_ticket(svc)
    order = await reserve(svc, ticket)
    await svc.release_order(order.order_id, "cancelled")
    with pytest.raises(DomainError) as err:
        await svc.confirm_order(order.order_id, "pi_test00000011", PRICE)
    assert err.value.code == INVALID_STATE
    with pytest.raises(DomainError) as err:
        await svc.mark_refunded(order.order_id, "re_test00000011")
    assert err.value.code == INVALID_STATE
    assert (await svc.get_order(order.order_id)).status == "cancelled"


# Idempotency ---------------------------------------------------------------------------------


async def test_same_key_same_arguments_returns_the_first_result(
    svc: DataService, db: Database, clock: FakeClock
) -> None:
    ticket = await new_ticket(svc)
    k = key()
    first = await reserve(svc, ticket, idempotency_key=k)
    clock.advance(minutes=1)
    again = await reserve(svc, ticket, idempotency_key=k)
    assert again == first
    assert await order_count(db, ticket_number=ticket.ticket_number) == 1
    assert (await seats(svc)).held == 1

    ck = key()
    customer = await svc.create_customer(
        email="once@example.com", full_name="Once", idempotency_key=ck, caller=CALLER
    )
    replay = await svc.create_customer(
        email="ONCE@example.com", full_name="Once", idempotency_key=ck, caller=CALLER
    )
    assert replay == customer
    assert (
        await scalar(db, "SELECT count(*) FROM data.customers WHERE email = 'once@example.com'")
        == 1
    )


async def test_same_key_different_arguments_is_a_mismatch(svc: DataService, db: Database) -> None:
    ticket = await new_ticket(svc)
    k = key()
    first = await reserve(svc, ticket, idempotency_key=k)
    for changes in ({"amount": PRICE + 1}, {"hold_minutes": 20}, {"tier": "double_fun"}):
        with pytest.raises(DomainError) as err:
            await reserve(svc, ticket, idempotency_key=k, **changes)
        assert err.value.code == IDEMPOTENCY_MISMATCH
    assert await svc.get_order(first.order_id) == first
    assert await order_count(db) == 1

    tk = key()
    await svc.issue_ticket(
        customer_id=ticket.customer_id,
        ticket_type="vip",
        visit_date=VISIT,
        price_cents=9900,
        currency="USD",
        idempotency_key=tk,
        caller=CALLER,
    )
    with pytest.raises(DomainError) as err:
        await svc.issue_ticket(
            customer_id=ticket.customer_id,
            ticket_type="vip",
            visit_date=VISIT,
            price_cents=9900,
            currency="EUR",
            idempotency_key=tk,
            caller=CALLER,
        )
    assert err.value.code == IDEMPOTENCY_MISMATCH
    assert len((await svc.list_tickets(ticket.customer_id, None)).tickets) == 2


async def test_keys_are_per_caller(svc: DataService, db: Database) -> None:
    ticket = await new_ticket(svc)
    k = key()
    await svc.issue_ticket(
        customer_id=ticket.customer_id,
        ticket_type="vip",
        visit_date=VISIT,
        price_cents=9900,
        currency="USD",
        idempotency_key=k,
        caller="one",
    )
    await svc.issue_ticket(
        customer_id=ticket.customer_id,
        ticket_type="vip",
        visit_date=VISIT,
        price_cents=9900,
        currency="USD",
        idempotency_key=k,
        caller="two",
    )
    assert len((await svc.list_tickets(ticket.customer_id, "active")).tickets) == 3


async def test_a_refused_call_does_not_use_up_its_key(svc: DataService, db: Database) -> None:
    await svc.set_capacity(UPGRADE_DAY, "non_stop", 0)
    ticket = await new_ticket(svc)
    k = key()
    with pytest.raises(DomainError) as err:
        await reserve(svc, ticket, idempotency_key=k)
    assert err.value.code == SOLD_OUT
    assert (
        await scalar(db, "SELECT count(*) FROM data.idempotency_keys WHERE key = :k", {"k": k}) == 0
    )
    await svc.set_capacity(UPGRADE_DAY, "non_stop", 1)
    order = await reserve(svc, ticket, idempotency_key=k)
    assert order.status == "awaiting_payment"


# Concurrency ---------------------------------------------------------------------------------


async def test_concurrent_reserves_never_oversell(svc: DataService, db: Database) -> None:
    await svc.set_capacity(UPGRADE_DAY, "double_fun", 3)
    tickets = [await new_ticket(svc) for _ in range(50)]
    results = await asyncio.gather(
        *(reserve(svc, t, tier="double_fun", amount=7500) for t in tickets),
        return_exceptions=True,
    )
    outcomes = Counter(r.code if isinstance(r, DomainError) else type(r).__name__ for r in results)
    assert outcomes == {"Order": 3, SOLD_OUT: 47}, outcomes
    assert await order_count(db, visit_date=UPGRADE_DAY, tier="double_fun") == 3
    day = await seats(svc, tier="double_fun")
    assert (day.capacity, day.held, day.sold, day.seats_left) == (3, 3, 0, 0)
    report = await svc.check_integrity()
    assert (report.ok, report.violations) == (True, [])


async def test_concurrent_first_reserves_of_a_date_make_its_capacity_once(
    db: Database, clock: FakeClock
) -> None:
    """The date has no capacity row yet: the first writes race to make it, and all lock it."""
    svc = DataService(db, clock=clock, capacity=CapacityDefaults(double_fun=3))
    tickets = [await new_ticket(svc) for _ in range(30)]
    results = await asyncio.gather(
        *(reserve(svc, t, tier="double_fun", amount=7500) for t in tickets),
        return_exceptions=True,
    )
    outcomes = Counter(r.code if isinstance(r, DomainError) else type(r).__name__ for r in results)
    assert outcomes == {"Order": 3, SOLD_OUT: 27}, outcomes
    rows = await scalar(
        db,
        "SELECT count(*) FROM data.daily_capacity WHERE visit_date = :d AND tier = 'double_fun'",
        {"d": UPGRADE_DAY},
    )
    assert rows == 1
    day = await seats(svc, tier="double_fun")
    assert (day.capacity, day.held, day.seats_left) == (3, 3, 0)


async def test_concurrent_retries_with_one_key_make_one_order(
    svc: DataService, db: Database
) -> None:
    ticket = await new_ticket(svc)
    k = key()
    results = await asyncio.gather(*(reserve(svc, ticket, idempotency_key=k) for _ in range(20)))
    assert len({r.order_id for r in results}) == 1
    assert all(r == results[0] for r in results)
    assert await order_count(db) == 1
    assert (
        await scalar(db, "SELECT count(*) FROM data.idempotency_keys WHERE key = :k", {"k": k}) == 1
    )
    assert (await seats(svc)).held == 1


async def test_concurrent_confirm_and_refund_of_one_order(svc: DataService) -> None:
    ticket = await new_ticket(svc)
    order = await reserve(svc, ticket)
    confirmations = await asyncio.gather(
        *(svc.confirm_order(order.order_id, "pi_test00000012", PRICE) for _ in range(10))
    )
    assert len({c.confirmation_code for c in confirmations}) == 1
    refunds = await asyncio.gather(
        *(svc.mark_refunded(order.order_id, "re_test00000012") for _ in range(10))
    )
    assert {r.status for r in refunds} == {"refunded"}
    assert (await svc.get_ticket(ticket.ticket_number)).upgrade_tier is None
    assert (await svc.check_integrity()).ok


# Integrity -----------------------------------------------------------------------------------


async def test_check_integrity_is_clean_after_every_kind_of_write(
    svc: DataService, clock: FakeClock
) -> None:
    await svc.set_capacity(UPGRADE_DAY, "standard", 2)
    tickets = [await new_ticket(svc) for _ in range(5)]
    confirmed = await reserve(svc, tickets[0], tier="standard", amount=2500)
    await svc.confirm_order(confirmed.order_id, "pi_test00000013", 2500)
    refunded = await reserve(svc, tickets[1], tier="standard", amount=2500)
    await svc.confirm_order(refunded.order_id, "pi_test00000014", 2500)
    await svc.mark_refunded(refunded.order_id, "re_test00000014")
    cancelled = await reserve(svc, tickets[2])
    await svc.release_order(cancelled.order_id, "cancelled")
    await reserve(svc, tickets[3], hold_minutes=5)
    await reserve(svc, tickets[4], hold_minutes=30)
    report = await svc.check_integrity()
    assert (report.ok, report.violations) == (True, [])
    clock.advance(minutes=6)  # a lapsed hold within the grace period is not a violation yet
    assert (await svc.check_integrity()).ok
    await svc.expire_holds()
    assert (await svc.check_integrity()).ok


async def test_check_integrity_reports_a_ticket_that_disagrees_with_its_order(
    svc: DataService, db: Database
) -> None:
    ticket = await new_ticket(svc)
    order = await reserve(svc, ticket)
    await svc.confirm_order(order.order_id, "pi_test00000015", PRICE)
    await execute(
        db,
        "UPDATE data.tickets SET upgrade_tier = 'double_fun' WHERE ticket_number = :t",
        {"t": ticket.ticket_number},
    )
    report = await svc.check_integrity()
    assert not report.ok
    assert [(v.kind, v.ref) for v in report.violations] == [
        ("ticket_order_mismatch", order.order_id)
    ]
    assert ticket.ticket_number in report.violations[0].detail


async def test_check_integrity_reports_an_upgrade_without_an_order(
    svc: DataService, db: Database
) -> None:
    ticket = await new_ticket(svc)
    await execute(
        db,
        "UPDATE data.tickets SET upgrade_tier = 'standard' WHERE ticket_number = :t",
        {"t": ticket.ticket_number},
    )
    report = await svc.check_integrity()
    assert [(v.kind, v.ref) for v in report.violations] == [
        ("upgrade_without_order", ticket.ticket_number)
    ]


async def test_check_integrity_reports_an_oversold_date(svc: DataService, db: Database) -> None:
    tickets = [await new_ticket(svc) for _ in range(2)]
    for t in tickets:
        await reserve(svc, t)
    await execute(
        db,
        "UPDATE data.daily_capacity SET capacity = 1 WHERE visit_date = :d AND tier = 'non_stop'",
        {"d": UPGRADE_DAY},
    )
    report = await svc.check_integrity()
    assert [(v.kind, v.ref) for v in report.violations] == [("oversold", f"{UPGRADE_DAY}/non_stop")]


async def test_check_integrity_reports_a_hold_long_past_expiry(
    svc: DataService, clock: FakeClock
) -> None:
    ticket = await new_ticket(svc)
    order = await reserve(svc, ticket, hold_minutes=5)
    clock.advance(minutes=11)
    report = await svc.check_integrity()
    assert [(v.kind, v.ref) for v in report.violations] == [("stale_hold", order.order_id)]
    await svc.expire_holds()
    assert (await svc.check_integrity()).ok


# Seed ----------------------------------------------------------------------------------------


async def test_seed_is_idempotent_and_consistent(db: Database) -> None:
    today = datetime.now(UTC).date()
    inserted = await seed_all(db, today)
    assert inserted > 0
    counts = [
        await scalar(db, f"SELECT count(*) FROM data.{table}")
        for table in ("customers", "tickets", "upgrade_orders")
    ]
    assert await seed_all(db, today) == 0
    assert await seed_all(db, today + timedelta(days=1)) == 0
    assert [
        await scalar(db, f"SELECT count(*) FROM data.{table}")
        for table in ("customers", "tickets", "upgrade_orders")
    ] == counts
    assert sum(counts) == inserted

    svc = DataService(db)
    report = await svc.check_integrity()
    assert (report.ok, report.violations) == (True, [])
    john = await svc.find_customer("John.Doe@example.com")
    john_tickets = (await svc.list_tickets(john.customer_id, None)).tickets
    assert sorted(t.ticket_type for t in john_tickets) == ["general", "premium", "standard", "vip"]
    statuses = {
        t.status
        for email in (
            "john.doe@example.com",
            "jane.smith@example.com",
            "bob.johnson@example.com",
            "alice.brown@example.com",
            "charlie.wilson@example.com",
        )
        for t in (
            await svc.list_tickets((await svc.find_customer(email)).customer_id, None)
        ).tickets
    }
    assert statuses == {"active", "used", "cancelled", "expired"}
    upgraded = await svc.get_ticket("TKT-JS0003")
    assert upgraded.upgrade_tier == "non_stop"
    assert [
        o.status
        for o in (
            await svc.list_orders(customer_id=None, ticket_number="TKT-JS0003", status=None)
        ).orders
    ] == ["confirmed"]
