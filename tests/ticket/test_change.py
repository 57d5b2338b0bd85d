"""Changing a confirmed upgrade against the real data, payment and notify servers (in memory)."""

from __future__ import annotations

import asyncio
from datetime import date, timedelta

import pytest

from servers.core.errors import DomainError
from servers.payment.checkout import Checkout
from servers.payment.service import TRUSTED
from servers.payment.service import Caller as PaymentCaller
from servers.ticket.change import UpgradeChange, UpgradeChanges
from servers.ticket.models import UpgradeOrder
from servers.ticket.rules import Tier

from .conftest import Servers
from .support import JANE, JOHN

PEAK = date(2026, 12, 24)  # x1.5
PLAIN = date(2026, 12, 1)  # a Tuesday in December: x1.0
PLAIN_TOO = date(2026, 12, 2)  # a Wednesday in December: x1.0


def changes(servers: Servers) -> UpgradeChanges:
    return UpgradeChanges.over(servers.journey)


VISA = "4242424242424242"
NEEDS_3DS = "4000000000003220"


async def saved_card(servers: Servers, number: str) -> str:
    """One of John's saved cards, created as the web app's card form does."""
    assert JOHN.customer_id is not None
    method = await servers.payments.create_payment_method(
        PaymentCaller("web", JOHN.customer_id),
        card_number=number,
        exp_month=12,
        exp_year=2040,
        cvc="123",
    )
    return method.payment_method_id


async def upgraded(
    servers: Servers,
    tier: Tier,
    day: date,
    ticket: str = "TKT-JD0001",
    card: str = VISA,
) -> UpgradeOrder:
    """A confirmed upgrade paid with a card John saved (a change charges its difference to
    it); a card that asks for 3-D Secure is approved on the payment server's page, as John
    would, and the order confirmed as the webhook does."""
    journey = servers.journey
    held = await journey.select_upgrade(JOHN, ticket, tier, day, f"select-{ticket}")
    method = card if card.startswith("pm_card_") else await saved_card(servers, card)
    paid = await journey.pay_upgrade(JOHN, held.order_id, method, f"pay-{ticket}")
    if paid.payment_status == "requires_action":
        assert paid.checkout_url is not None
        session_id = paid.checkout_url.rsplit("/", 1)[1]
        await Checkout(servers.payments).authenticate(session_id, approve=True)
        assert await journey.reconcile(held.order_id) == "confirmed"
        return await journey.get_upgrade_order(JOHN, held.order_id)
    assert paid.payment_status == "succeeded", paid.message
    return paid.order


async def net_paid(servers: Servers) -> int:
    """Charged minus refunded over every payment of John's (the seed data holds others')."""
    async with servers.data.db.read() as tx:
        row = await tx.fetch_one(
            "SELECT COALESCE(sum(amount_received_cents - amount_refunded_cents), 0) AS net "
            "FROM payment.payment_intents WHERE customer_ref = :customer",
            {"customer": JOHN.customer_id},
        )
    assert row is not None
    return int(row["net"])


async def seats_left(servers: Servers, day: date, tier: Tier) -> int:
    [found] = (await servers.data.get_date_inventory(day, day, tier)).days
    return found.seats_left


async def test_a_dearer_change_charges_the_difference_to_the_same_card(servers: Servers) -> None:
    order = await upgraded(servers, "standard", PEAK)
    assert order.amount_cents == 3750  # 2500 x 1.5
    quote = await changes(servers).quote_change(JOHN, order.order_id, PLAIN, "double_fun")
    assert (quote.paid_cents, quote.new_price_cents) == (3750, 7500)
    assert (quote.difference_cents, quote.charge_cents, quote.refund_cents) == (3750, 3750, 0)
    assert quote.available
    assert quote.seats_left == 50

    changed = await changes(servers).change_upgrade(
        JOHN, order.order_id, PLAIN, "double_fun", "change-0001"
    )
    assert changed.status == "changed"
    assert (changed.charged_cents, changed.refunded_cents) == (3750, 0)
    assert changed.order.order_id == order.order_id
    assert changed.order.confirmation_code == order.confirmation_code
    assert (changed.order.tier, changed.order.visit_date) == ("double_fun", PLAIN)
    assert changed.order.amount_cents == 7500
    ticket = await servers.data.get_ticket("TKT-JD0001")
    assert (ticket.upgrade_tier, ticket.visit_date) == ("double_fun", PLAIN)
    assert await seats_left(servers, PEAK, "standard") == 200, "the old seat is free again"
    assert await seats_left(servers, PLAIN, "double_fun") == 49
    assert await net_paid(servers) == 7500
    async with servers.data.db.read() as tx:
        paid = await tx.fetch_all(
            "SELECT payment_method_id FROM payment.payment_intents "
            "WHERE status = 'succeeded' AND customer_ref = :customer",
            {"customer": JOHN.customer_id},
        )
    assert len(paid) == 2
    assert len({r["payment_method_id"] for r in paid}) == 1, "the difference went to the card"
    assert await servers.emails(order.order_id) == ["upgrade_changed", "upgrade_confirmed"]
    assert (await servers.data.check_integrity()).ok

    again = await changes(servers).change_upgrade(
        JOHN, order.order_id, PLAIN, "double_fun", "change-0001"
    )
    assert again == changed
    assert await net_paid(servers) == 7500
    assert await servers.emails(order.order_id) == ["upgrade_changed", "upgrade_confirmed"]


async def test_a_used_key_with_other_arguments_is_refused_in_the_ticket_servers_terms(
    servers: Servers,
) -> None:
    order = await upgraded(servers, "standard", PEAK)
    await changes(servers).change_upgrade(JOHN, order.order_id, PLAIN, None, "change-0002")
    with pytest.raises(DomainError) as refused:
        await changes(servers).change_upgrade(JOHN, order.order_id, PLAIN_TOO, None, "change-0002")
    assert refused.value.code == "IDEMPOTENCY_MISMATCH"
    assert refused.value.message == (
        "this idempotency_key was used for a different change; use a new key for a new change"
    )


async def test_a_cheaper_change_refunds_the_difference_and_a_cancel_the_rest(
    servers: Servers,
) -> None:
    order = await upgraded(servers, "double_fun", PEAK)
    assert order.amount_cents == 11250
    changed = await changes(servers).change_upgrade(
        JOHN, order.order_id, PLAIN, "standard", "change-0003"
    )
    assert (changed.charged_cents, changed.refunded_cents) == (0, 8750)
    assert await net_paid(servers) == 2500
    assert order.payment_intent_id is not None
    intent = await servers.payments.get_payment_intent(TRUSTED, order.payment_intent_id)
    assert intent.amount_refunded_cents == 8750, "a partial refund of the one payment"

    cancelled = await servers.journey.cancel_upgrade(JOHN, order.order_id, "cancel-0001")
    assert cancelled.status == "refunded"
    assert await net_paid(servers) == 0
    ticket = await servers.data.get_ticket("TKT-JD0001")
    assert ticket.upgrade_tier is None
    assert ticket.visit_date == servers.clock.now.date() + timedelta(days=10)
    assert await servers.emails(order.order_id) == [
        "upgrade_cancelled",
        "upgrade_changed",
        "upgrade_confirmed",
    ]
    assert (await servers.data.check_integrity()).ok


async def test_refunds_come_from_the_newest_payment_and_never_exceed_it(
    servers: Servers,
) -> None:
    order = await upgraded(servers, "standard", PLAIN)  # 2500 on the first payment
    up = await changes(servers).change_upgrade(
        JOHN, order.order_id, PEAK, "double_fun", "change-0004"
    )
    assert up.charged_cents == 8750  # 11250 - 2500 on a second payment
    down = await changes(servers).change_upgrade(
        JOHN, order.order_id, PLAIN_TOO, "non_stop", "change-0005"
    )
    assert down.refunded_cents == 6250  # 11250 - 5000
    assert await net_paid(servers) == 5000
    assert order.payment_intent_id is not None
    first = await servers.payments.get_payment_intent(TRUSTED, order.payment_intent_id)
    assert first.amount_refunded_cents == 0, "the newest payment gave the difference back"

    await servers.journey.cancel_upgrade(JOHN, order.order_id, "cancel-0002")
    assert await net_paid(servers) == 0
    assert (await servers.data.check_integrity()).ok


async def test_a_card_that_refuses_the_difference_leaves_the_upgrade_untouched(
    servers: Servers,
) -> None:
    """A card that asks for authentication cannot be charged without the customer: the
    difference is refused like a decline."""
    order = await upgraded(servers, "standard", PEAK, card=NEEDS_3DS)
    declined = await changes(servers).change_upgrade(
        JOHN, order.order_id, PLAIN, "double_fun", "change-0006"
    )
    assert declined.status == "declined"
    assert declined.decline_code == "authentication_required"
    await assert_untouched(servers, order, declined)
    again = await changes(servers).change_upgrade(
        JOHN, order.order_id, PLAIN, "double_fun", "change-0006"
    )
    assert again == declined


async def assert_untouched(servers: Servers, order: UpgradeOrder, answer: UpgradeChange) -> None:
    assert answer.order == order.model_copy(update={"client_secret": None})
    ticket = await servers.data.get_ticket(order.ticket_number)
    assert (ticket.upgrade_tier, ticket.visit_date) == (order.tier, order.visit_date)
    assert await seats_left(servers, order.visit_date, order.tier) == 199
    assert await seats_left(servers, PLAIN, "double_fun") == 50
    assert await net_paid(servers) == order.amount_cents
    assert await servers.emails(order.order_id) == ["upgrade_confirmed"]
    assert (await servers.data.check_integrity()).ok


async def test_a_sold_out_date_leaves_the_upgrade_untouched(servers: Servers) -> None:
    order = await upgraded(servers, "standard", PEAK)
    await servers.data.set_capacity(PLAIN, "double_fun", 0)
    quote = await changes(servers).quote_change(JOHN, order.order_id, PLAIN, "double_fun")
    assert not quote.available
    assert quote.reason == "SOLD_OUT: no Double Fun seats left"
    with pytest.raises(DomainError) as refused:
        await changes(servers).change_upgrade(
            JOHN, order.order_id, PLAIN, "double_fun", "change-0007"
        )
    assert refused.value.code == "SOLD_OUT"
    ticket = await servers.data.get_ticket("TKT-JD0001")
    assert (ticket.upgrade_tier, ticket.visit_date) == ("standard", PEAK)
    assert await net_paid(servers) == 3750
    assert await servers.emails(order.order_id) == ["upgrade_confirmed"]


@pytest.mark.parametrize(
    ("day", "tier", "code"),
    [
        (date(2026, 11, 26), None, "DATE_NOT_BOOKABLE"),  # inside 24 hours
        (date(2027, 3, 1), None, "DATE_NOT_BOOKABLE"),  # beyond the 92 days
        (PEAK, None, "NO_CHANGE"),
    ],
)
async def test_dates_the_calendar_would_not_offer_are_refused(
    servers: Servers, day: date, tier: Tier | None, code: str
) -> None:
    order = await upgraded(servers, "standard", PEAK)
    with pytest.raises(DomainError) as refused:
        await changes(servers).quote_change(JOHN, order.order_id, day, tier)
    assert refused.value.code == code


async def test_the_tier_must_be_an_upgrade_of_the_tickets_own_type(servers: Servers) -> None:
    order = await upgraded(servers, "double_fun", PEAK, ticket="TKT-JD0003")  # a vip ticket
    for call in (
        changes(servers).quote_change(JOHN, order.order_id, PLAIN, "non_stop"),
        changes(servers).change_upgrade(JOHN, order.order_id, PLAIN, "non_stop", "change-0008"),
    ):
        with pytest.raises(DomainError) as refused:
            await call
        assert refused.value.code == "NO_UPGRADE_PATH"


async def test_changes_close_24_hours_before_the_current_visit(servers: Servers) -> None:
    order = await upgraded(servers, "standard", PLAIN)
    servers.clock.now = servers.clock.now.replace(day=30)  # Nov 30 12:00: Dec 1 10:00 is < 24 h
    with pytest.raises(DomainError) as refused:
        await changes(servers).change_upgrade(JOHN, order.order_id, PEAK, None, "change-0009")
    assert refused.value.code == "TOO_LATE"


async def test_only_a_confirmed_upgrade_of_ones_own_can_be_changed(servers: Servers) -> None:
    journey = servers.journey
    held = await journey.select_upgrade(JOHN, "TKT-JD0001", "standard", PEAK, "select-held")
    with pytest.raises(DomainError) as refused:
        await changes(servers).quote_change(JOHN, held.order_id, PLAIN, None)
    assert refused.value.code == "NOT_CONFIRMED"
    with pytest.raises(DomainError) as refused:
        await changes(servers).change_upgrade(JANE, held.order_id, PLAIN, None, "change-0010")
    assert (refused.value.code, refused.value.message) == (
        "ORDER_NOT_FOUND",
        f"no order {held.order_id}",
    )


async def test_parallel_changes_of_one_upgrade_move_it_once(servers: Servers) -> None:
    order = await upgraded(servers, "standard", PEAK)
    answers = await asyncio.gather(
        *(
            changes(servers).change_upgrade(
                JOHN, order.order_id, PLAIN, "double_fun", f"change-race-{i:04d}"
            )
            for i in range(8)
        ),
        return_exceptions=True,
    )
    done = [a for a in answers if isinstance(a, UpgradeChange)]
    refused = [a for a in answers if isinstance(a, DomainError)]
    assert len(done) + len(refused) == len(answers), answers
    assert len(done) == 1
    assert {r.code for r in refused} <= {"CHANGE_IN_PROGRESS", "NO_CHANGE"}
    assert await net_paid(servers) == 7500
    assert await seats_left(servers, PLAIN, "double_fun") == 49
    assert await servers.emails(order.order_id) == ["upgrade_changed", "upgrade_confirmed"]
    assert (await servers.data.check_integrity()).ok


async def test_two_upgrades_racing_for_the_last_seat_never_oversell(servers: Servers) -> None:
    john = await upgraded(servers, "standard", PEAK)
    other = await upgraded(servers, "non_stop", PEAK, ticket="TKT-JD0002")  # a standard ticket
    await servers.data.set_capacity(PLAIN, "double_fun", 1)
    answers = await asyncio.gather(
        changes(servers).change_upgrade(JOHN, john.order_id, PLAIN, "double_fun", "race-0001"),
        changes(servers).change_upgrade(JOHN, other.order_id, PLAIN, "double_fun", "race-0002"),
        return_exceptions=True,
    )
    assert sorted(type(a).__name__ for a in answers) == ["DomainError", "UpgradeChange"]
    assert [a.code for a in answers if isinstance(a, DomainError)] == ["SOLD_OUT"]
    assert await seats_left(servers, PLAIN, "double_fun") == 0
    assert (await servers.data.check_integrity()).ok


async def held_as_if_a_call_stopped(servers: Servers, order: UpgradeOrder, key: str) -> None:
    """What a change_upgrade that stopped right after holding the seat leaves behind."""
    await changes(servers).gateway.hold(
        order_id=order.order_id,
        tier="double_fun",
        visit_date=PLAIN,
        amount_cents=7500,
        hold_minutes=15,
        idempotency_key=f"change:{JOHN.customer_id}:{key}",
    )


async def test_a_change_that_stopped_half_way_carries_on_with_the_same_key(
    servers: Servers,
) -> None:
    order = await upgraded(servers, "standard", PEAK)
    await held_as_if_a_call_stopped(servers, order, "change-0011")
    changed = await changes(servers).change_upgrade(
        JOHN, order.order_id, PLAIN, "double_fun", "change-0011"
    )
    assert (changed.status, changed.charged_cents) == ("changed", 3750)
    assert await net_paid(servers) == 7500
    assert await seats_left(servers, PLAIN, "double_fun") == 49
    assert await servers.emails(order.order_id) == ["upgrade_changed", "upgrade_confirmed"]


async def test_a_paid_difference_whose_seat_lapsed_and_went_is_given_back(
    servers: Servers,
) -> None:
    order = await upgraded(servers, "standard", PEAK)
    await servers.data.set_capacity(PLAIN, "double_fun", 1)
    await held_as_if_a_call_stopped(servers, order, "change-0012")
    servers.clock.now += timedelta(minutes=16)
    await servers.journey.select_upgrade(JOHN, "TKT-JD0002", "double_fun", PLAIN, "select-last")
    for _ in range(2):  # the retry, and the retry of the retry
        with pytest.raises(DomainError) as refused:
            await changes(servers).change_upgrade(
                JOHN, order.order_id, PLAIN, "double_fun", "change-0012"
            )
        assert refused.value.code == "HOLD_EXPIRED"
    assert await net_paid(servers) == 3750, "the difference charged was refunded"
    ticket = await servers.data.get_ticket("TKT-JD0001")
    assert (ticket.upgrade_tier, ticket.visit_date) == ("standard", PEAK)
    assert await servers.emails(order.order_id) == ["upgrade_confirmed"]
    assert (await servers.data.check_integrity()).ok


async def test_the_processors_passing_failures_are_retried_into_one_charge(
    servers: Servers,
) -> None:
    order = await upgraded(servers, "standard", PEAK, card="4000000000007775")
    changed = await changes(servers).change_upgrade(
        JOHN, order.order_id, PLAIN, "double_fun", "change-0013"
    )
    assert (changed.status, changed.charged_cents) == ("changed", 3750)
    assert await net_paid(servers) == 7500


async def test_a_card_given_for_one_payment_is_not_charged_again(servers: Servers) -> None:
    """A test token (or a card the customer did not save) paid for that payment only: the
    difference is not charged to it, and the upgrade stays as it was."""
    order = await upgraded(servers, "standard", PEAK, card="pm_card_visa")
    declined = await changes(servers).change_upgrade(
        JOHN, order.order_id, PLAIN, "double_fun", "change-0011"
    )
    assert declined.status == "declined"
    assert declined.decline_code == "no_saved_card"
    assert "cancel it" in declined.message
    await assert_untouched(servers, order, declined)
