"""Changes of a confirmed upgrade in the data service: the held seat, the one-transaction swap,
releases, the refund plan, under concurrency too. Runs on every backend of the ``db`` fixture."""

from __future__ import annotations

import asyncio
from datetime import date

import pytest

from servers.core.db import Database
from servers.core.errors import IDEMPOTENCY_MISMATCH, DomainError
from servers.data.changes import CHANGE_IN_PROGRESS, CHANGE_NOT_FOUND, NO_CHANGE, OrderChanges
from servers.data.models import Order, OrderChange, OrderPayment, Tier
from servers.data.service import HOLD_EXPIRED, INVALID_STATE, SOLD_OUT, DataService

from .conftest import FakeClock
from .test_service import (
    CALLER,
    PRICE,
    UPGRADE_DAY,
    VISIT,
    key,
    new_ticket,
    reserve,
    seats,
)

NEW_DAY = date(2030, 6, 22)


@pytest.fixture
def changes(svc: DataService) -> OrderChanges:
    return OrderChanges(svc)


async def confirmed(svc: DataService, intent: str = "pi_first0000001") -> Order:
    """A confirmed non_stop upgrade on UPGRADE_DAY at PRICE."""
    order = await reserve(svc, await new_ticket(svc))
    return await svc.confirm_order(order.order_id, intent, PRICE)


async def hold(
    changes: OrderChanges,
    order: Order,
    *,
    tier: Tier = "double_fun",
    day: date = NEW_DAY,
    amount: int = 7500,
    idempotency_key: str | None = None,
) -> OrderChange:
    return await changes.hold(
        order_id=order.order_id,
        tier=tier,
        visit_date=day,
        amount_cents=amount,
        hold_minutes=15,
        idempotency_key=idempotency_key or key(),
        caller=CALLER,
    )


async def test_a_held_change_takes_a_seat_and_leaves_the_order(
    svc: DataService, changes: OrderChanges
) -> None:
    order = await confirmed(svc)
    change = await hold(changes, order)
    assert change.status == "held"
    assert (change.from_tier, change.from_visit_date, change.from_amount_cents) == (
        "non_stop",
        UPGRADE_DAY,
        PRICE,
    )
    assert change.refund_plan == [], "a dearer change refunds nothing"
    assert (await seats(svc, NEW_DAY, "double_fun")).held == 1
    assert (await seats(svc)).sold == 1, "the old seat is still the order's"
    ticket = await svc.get_ticket(order.ticket_number)
    assert (ticket.upgrade_tier, ticket.visit_date) == ("non_stop", UPGRADE_DAY)
    assert (await svc.check_integrity()).ok


async def test_applying_swaps_the_seats_in_one_step(
    svc: DataService, changes: OrderChanges
) -> None:
    order = await confirmed(svc)
    change = await hold(changes, order)
    applied = await changes.apply(change.change_id, "pi_difference001")
    assert (applied.status, applied.charge_intent_id) == ("applied", "pi_difference001")
    moved = await svc.get_order(order.order_id)
    assert (moved.tier, moved.visit_date, moved.amount_cents) == ("double_fun", NEW_DAY, 7500)
    assert moved.confirmation_code == order.confirmation_code
    ticket = await svc.get_ticket(order.ticket_number)
    assert (ticket.upgrade_tier, ticket.visit_date) == ("double_fun", NEW_DAY)
    new_seat = await seats(svc, NEW_DAY, "double_fun")
    assert (new_seat.held, new_seat.sold) == (0, 1)
    assert (await seats(svc)).sold == 0
    assert await changes.apply(change.change_id, "pi_difference001") == applied
    assert (await changes.payments(order.order_id)).payments == [
        OrderPayment(payment_intent_id="pi_first0000001", charged_cents=PRICE, refunded_cents=0),
        OrderPayment(payment_intent_id="pi_difference001", charged_cents=2500, refunded_cents=0),
    ]
    assert (await svc.check_integrity()).ok

    # A refund then puts the ticket back as it was before any upgrade.
    await svc.mark_refunded(order.order_id, "re_test00000001")
    ticket = await svc.get_ticket(order.ticket_number)
    assert (ticket.upgrade_tier, ticket.visit_date) == (None, VISIT)
    assert (await svc.check_integrity()).ok


async def test_a_dearer_change_needs_its_payment_and_a_cheaper_one_none(
    svc: DataService, changes: OrderChanges
) -> None:
    order = await confirmed(svc)
    dearer = await hold(changes, order)
    with pytest.raises(DomainError) as refused:
        await changes.apply(dearer.change_id, None)
    assert refused.value.code == INVALID_STATE
    await changes.release(dearer.change_id, "declined", "generic_decline")
    cheaper = await hold(changes, order, tier="standard", amount=2000)
    with pytest.raises(DomainError) as refused:
        await changes.apply(cheaper.change_id, "pi_difference001")
    assert refused.value.code == INVALID_STATE


async def test_refunds_are_planned_newest_payment_first_and_never_beyond_it(
    svc: DataService, changes: OrderChanges
) -> None:
    order = await confirmed(svc)  # 5000 on the first payment
    up = await hold(changes, order, amount=9000)
    await changes.apply(up.change_id, "pi_difference001")  # 4000 on a second
    down = await hold(changes, order, tier="standard", day=UPGRADE_DAY, amount=1000)
    assert [(p.payment_intent_id, p.amount_cents) for p in down.refund_plan] == [
        ("pi_difference001", 4000),
        ("pi_first0000001", 4000),
    ]
    await changes.apply(down.change_id, None)
    assert (await changes.payments(order.order_id)).payments == [
        OrderPayment(payment_intent_id="pi_first0000001", charged_cents=PRICE, refunded_cents=4000),
        OrderPayment(payment_intent_id="pi_difference001", charged_cents=4000, refunded_cents=4000),
    ]


async def test_releasing_gives_the_seat_back_and_nothing_else_moves(
    svc: DataService, changes: OrderChanges
) -> None:
    order = await confirmed(svc)
    change = await hold(changes, order)
    released = await changes.release(change.change_id, "declined", "insufficient_funds")
    assert (released.status, released.release_reason, released.decline_code) == (
        "released",
        "declined",
        "insufficient_funds",
    )
    assert (await seats(svc, NEW_DAY, "double_fun")).held == 0
    assert await svc.get_order(order.order_id) == order
    assert await changes.release(change.change_id, "declined", "insufficient_funds") == released
    with pytest.raises(DomainError) as refused:
        await changes.apply(change.change_id, "pi_difference001")
    assert refused.value.code == INVALID_STATE


async def test_the_same_key_answers_the_change_as_it_stands(
    svc: DataService, changes: OrderChanges
) -> None:
    order = await confirmed(svc)
    first = await hold(changes, order, idempotency_key="change-key-0001")
    await changes.apply(first.change_id, "pi_difference001")
    again = await hold(changes, order, idempotency_key="change-key-0001")
    assert (again.change_id, again.status) == (first.change_id, "applied")
    with pytest.raises(DomainError) as refused:
        await hold(changes, order, day=UPGRADE_DAY, idempotency_key="change-key-0001")
    assert refused.value.code == IDEMPOTENCY_MISMATCH


async def test_what_cannot_be_held(svc: DataService, changes: OrderChanges, db: Database) -> None:
    order = await confirmed(svc)
    with pytest.raises(DomainError) as refused:
        await hold(changes, order, tier="non_stop", day=UPGRADE_DAY, amount=PRICE)
    assert refused.value.code == NO_CHANGE
    await svc.set_capacity(NEW_DAY, "double_fun", 0)
    with pytest.raises(DomainError) as refused:
        await hold(changes, order)
    assert refused.value.code == SOLD_OUT
    waiting = await reserve(svc, await new_ticket(svc))
    with pytest.raises(DomainError) as refused:
        await hold(changes, waiting)
    assert refused.value.code == INVALID_STATE
    with pytest.raises(DomainError) as refused:
        await changes.apply("chg_" + "a" * 26, None)
    assert refused.value.code == CHANGE_NOT_FOUND


async def test_one_change_at_a_time_until_a_hold_lapses(
    svc: DataService, changes: OrderChanges, clock: FakeClock
) -> None:
    order = await confirmed(svc)
    await hold(changes, order)
    with pytest.raises(DomainError) as refused:
        await hold(changes, order, tier="standard", amount=2000)
    assert refused.value.code == CHANGE_IN_PROGRESS
    clock.advance(minutes=16)
    second = await hold(changes, order, tier="standard", amount=2000)
    assert second.status == "held"
    assert (await svc.check_integrity()).ok


async def test_a_lapsed_hold_applies_only_while_its_seat_is_free(
    svc: DataService, changes: OrderChanges, clock: FakeClock
) -> None:
    await svc.set_capacity(NEW_DAY, "double_fun", 1)
    lapsing = await hold(changes, await confirmed(svc))
    clock.advance(minutes=16)
    free = await changes.apply(lapsing.change_id, "pi_difference001")
    assert free.status == "applied"

    await svc.set_capacity(NEW_DAY, "double_fun", 2)
    lapsing = await hold(changes, await confirmed(svc, "pi_second000001"))
    clock.advance(minutes=16)
    await hold(changes, await confirmed(svc, "pi_third0000001"))  # takes the freed seat
    with pytest.raises(DomainError) as refused:
        await changes.apply(lapsing.change_id, "pi_difference002")
    assert refused.value.code == HOLD_EXPIRED


async def test_a_refund_of_the_upgrade_releases_a_change_under_way(
    svc: DataService, changes: OrderChanges
) -> None:
    order = await confirmed(svc)
    change = await hold(changes, order)
    await svc.mark_refunded(order.order_id, "re_test00000001")
    released = await changes.get(change.change_id)
    assert (released.status, released.release_reason) == ("released", "cancelled")
    assert (await seats(svc, NEW_DAY, "double_fun")).held == 0


async def test_concurrent_changes_to_the_last_seat_never_oversell(
    svc: DataService, changes: OrderChanges
) -> None:
    await svc.set_capacity(NEW_DAY, "double_fun", 3)
    orders = [await confirmed(svc, f"pi_race{i:010d}") for i in range(8)]
    results = await asyncio.gather(*(hold(changes, o) for o in orders), return_exceptions=True)
    held = [r for r in results if isinstance(r, OrderChange)]
    refused = [r for r in results if isinstance(r, DomainError)]
    assert len(held) == 3
    assert {r.code for r in refused} == {SOLD_OUT}
    await asyncio.gather(*(changes.apply(c.change_id, f"pi_diff{c.change_id[4:14]}") for c in held))
    day = await seats(svc, NEW_DAY, "double_fun")
    assert (day.held, day.sold, day.seats_left) == (0, 3, 0)
    assert (await seats(svc)).sold == 5
    assert (await svc.check_integrity()).ok


async def test_a_hold_expiring_mid_way_is_not_counted(
    svc: DataService, changes: OrderChanges, clock: FakeClock
) -> None:
    await hold(changes, await confirmed(svc))
    assert (await seats(svc, NEW_DAY, "double_fun")).held == 1
    clock.advance(minutes=15)
    assert (await seats(svc, NEW_DAY, "double_fun")).held == 0
