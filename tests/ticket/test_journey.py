"""The whole upgrade journey against the real data, payment and notify servers (in memory)."""

from __future__ import annotations

import asyncio
from datetime import date, timedelta

import pytest

from servers.core.errors import DomainError
from servers.payment.checkout import Checkout
from servers.payment.service import TRUSTED
from servers.ticket.models import Payment

from .conftest import Servers
from .support import JANE, JOHN, TICKET_SERVER

DAY = date(2026, 12, 24)  # peak: x1.5


async def test_a_successful_upgrade(servers: Servers) -> None:
    journey = servers.journey
    order = await journey.select_upgrade(JOHN, "TKT-JD0001", "double_fun", DAY, "select-0001")
    assert order.status == "awaiting_payment"
    assert order.amount_cents == 11250  # 7500 x 1.5
    assert order.client_secret
    assert order.hold_expires_at == servers.clock.now + timedelta(minutes=15)

    paid = await journey.pay_upgrade(JOHN, order.order_id, "pm_card_visa", "pay-00000001")
    assert paid.payment_status == "succeeded"
    assert paid.order.status == "confirmed"
    assert paid.order.confirmation_code
    ticket = await servers.data.get_ticket("TKT-JD0001")
    assert (ticket.upgrade_tier, ticket.visit_date) == ("double_fun", DAY)
    assert order.payment_intent_id is not None
    intent = await servers.payments.get_payment_intent(TRUSTED, order.payment_intent_id)
    assert (intent.status, intent.amount_received_cents) == ("succeeded", 11250)
    assert await servers.emails(order.order_id) == ["upgrade_confirmed"]

    again = await journey.pay_upgrade(JOHN, order.order_id, "pm_card_visa", "pay-00000001")
    assert again.order.confirmation_code == paid.order.confirmation_code
    assert await servers.emails(order.order_id) == ["upgrade_confirmed"]
    assert (await servers.data.check_integrity()).ok


async def test_a_decline_then_success(servers: Servers) -> None:
    journey = servers.journey
    order = await journey.select_upgrade(JOHN, "TKT-JD0001", "standard", DAY, "select-0002")
    declined = await journey.pay_upgrade(
        JOHN, order.order_id, "pm_card_chargeDeclinedInsufficientFunds", "pay-00000002"
    )
    assert declined.payment_status == "declined"
    assert declined.decline_code == "insufficient_funds"
    assert declined.order.status == "awaiting_payment"
    paid = await journey.pay_upgrade(JOHN, order.order_id, "pm_card_visa", "pay-00000003")
    assert paid.payment_status == "succeeded"
    assert await servers.emails(order.order_id) == ["payment_failed", "upgrade_confirmed"]


async def test_transient_processor_errors_are_retried(servers: Servers) -> None:
    journey = servers.journey
    order = await journey.select_upgrade(JOHN, "TKT-JD0001", "non_stop", DAY, "select-0003")
    paid = await journey.pay_upgrade(
        JOHN, order.order_id, "pm_card_transientProcessingError", "pay-00000004"
    )
    assert paid.payment_status == "succeeded"
    assert await servers.emails(order.order_id) == ["upgrade_confirmed"]


async def test_a_processor_that_keeps_failing_says_try_again(servers: Servers) -> None:
    journey = servers.journey
    order = await journey.select_upgrade(JOHN, "TKT-JD0001", "non_stop", DAY, "select-0004")
    failed = await journey.pay_upgrade(
        JOHN, order.order_id, "pm_card_chargeDeclinedProcessingError", "pay-00000005"
    )
    assert failed.payment_status == "failed"
    assert "Try again" in failed.message
    assert failed.order.status == "awaiting_payment"
    assert await servers.emails(order.order_id) == ["payment_failed"]


async def test_cancel_a_hold_and_refund_a_confirmed_upgrade(servers: Servers) -> None:
    journey = servers.journey
    held = await journey.select_upgrade(JOHN, "TKT-JD0001", "standard", DAY, "select-0005")
    cancelled = await journey.cancel_upgrade(JOHN, held.order_id, "cancel-0001")
    assert cancelled.status == "cancelled"

    order = await journey.select_upgrade(JOHN, "TKT-JD0001", "standard", DAY, "select-0006")
    await journey.pay_upgrade(JOHN, order.order_id, "pm_card_visa", "pay-00000006")
    refunded = await journey.cancel_upgrade(JOHN, order.order_id, "cancel-0002")
    assert refunded.status == "refunded"
    ticket = await servers.data.get_ticket("TKT-JD0001")
    assert ticket.upgrade_tier is None
    assert ticket.visit_date == servers.clock.now.date() + timedelta(days=10)
    assert order.payment_intent_id is not None
    intent = await servers.payments.get_payment_intent(TRUSTED, order.payment_intent_id)
    assert intent.amount_refunded_cents == order.amount_cents
    assert await servers.emails(order.order_id) == ["upgrade_cancelled", "upgrade_confirmed"]
    again = await journey.cancel_upgrade(JOHN, order.order_id, "cancel-0002")
    assert again.status == "refunded"
    assert await servers.emails(order.order_id) == ["upgrade_cancelled", "upgrade_confirmed"]
    assert (await servers.data.check_integrity()).ok


async def test_an_expired_hold_cannot_be_paid(servers: Servers) -> None:
    journey = servers.journey
    order = await journey.select_upgrade(JOHN, "TKT-JD0001", "standard", DAY, "select-0007")
    servers.clock.now += timedelta(minutes=16)
    with pytest.raises(DomainError) as refused:
        await journey.pay_upgrade(JOHN, order.order_id, "pm_card_visa", "pay-00000007")
    assert refused.value.code == "HOLD_EXPIRED"


async def test_another_customers_order_answers_like_a_missing_one(servers: Servers) -> None:
    journey = servers.journey
    order = await journey.select_upgrade(JOHN, "TKT-JD0001", "standard", DAY, "select-0008")
    for call in (
        journey.get_upgrade_order(JANE, order.order_id),
        journey.pay_upgrade(JANE, order.order_id, "pm_card_visa", "pay-00000008"),
        journey.cancel_upgrade(JANE, order.order_id, "cancel-0003"),
    ):
        with pytest.raises(DomainError) as refused:
            await call
        assert refused.value.code == "ORDER_NOT_FOUND"
        assert refused.value.message == f"no order {order.order_id}"
    janes = [o.ticket_number for o in (await journey.list_my_orders(JANE)).orders]
    assert janes == ["TKT-JS0003"], "only her own, seeded upgrade"


async def test_selecting_twice_with_one_key_holds_one_seat(servers: Servers) -> None:
    journey = servers.journey
    first = await journey.select_upgrade(JOHN, "TKT-JD0001", "standard", DAY, "select-0009")
    second = await journey.select_upgrade(JOHN, "TKT-JD0001", "standard", DAY, "select-0009")
    assert second.order_id == first.order_id
    assert second.payment_intent_id == first.payment_intent_id
    with pytest.raises(DomainError) as refused:
        await journey.select_upgrade(JOHN, "TKT-JD0001", "non_stop", DAY, "select-0009")
    assert refused.value.code in {"IDEMPOTENCY_MISMATCH", "HOLD_EXISTS"}


async def test_a_card_needing_authentication_is_paid_once_approved_on_the_page(
    servers: Servers,
) -> None:
    journey = servers.journey
    order = await journey.select_upgrade(JOHN, "TKT-JD0001", "standard", DAY, "select-0010")
    challenged = await journey.pay_upgrade(
        JOHN, order.order_id, "pm_card_authenticationRequired", "pay-00000009"
    )
    assert challenged.payment_status == "requires_action"
    assert challenged.checkout_url is not None
    assert "/checkout/cs_" in challenged.checkout_url
    again = await journey.pay_upgrade(
        JOHN, order.order_id, "pm_card_authenticationRequired", "pay-00000010"
    )
    assert again.payment_status == "requires_action", "no caller can vouch for the customer"
    session_id = challenged.checkout_url.rsplit("/", 1)[1]
    approved = await Checkout(servers.payments).authenticate(session_id, approve=True)
    assert approved.intent.status == "succeeded"
    assert await journey.reconcile(order.order_id) == "confirmed", "as the webhook does"
    assert await servers.emails(order.order_id) == ["upgrade_confirmed"]


async def test_paying_without_a_method_answers_with_the_orders_checkout_page(
    servers: Servers,
) -> None:
    journey = servers.journey
    order = await journey.select_upgrade(JOHN, "TKT-JD0001", "standard", DAY, "select-0012")
    first = await journey.pay_upgrade(JOHN, order.order_id, None, "pay-00000011")
    assert first.payment_status == "requires_checkout"
    assert first.checkout_url is not None
    assert first.checkout_expires_at == order.hold_expires_at
    again = await journey.pay_upgrade(JOHN, order.order_id, None, "pay-00000012")
    assert again.checkout_url == first.checkout_url, "one page per order"
    session_id = first.checkout_url.rsplit("/", 1)[1]
    paid = await Checkout(servers.payments).pay(
        session_id,
        card_number="4242 4242 4242 4242",
        exp_month=12,
        exp_year=2040,
        cvc="123",
        save_card=False,
    )
    assert paid.session.status == "complete"
    assert await journey.reconcile(order.order_id) == "confirmed"
    after = await journey.pay_upgrade(JOHN, order.order_id, None, "pay-00000013")
    assert after.payment_status == "succeeded"
    assert after.checkout_url is None
    assert await servers.emails(order.order_id) == ["upgrade_confirmed"]


async def test_twenty_parallel_payments_all_end_in_the_ticket_servers_own_answer(
    servers: Servers,
) -> None:
    """The losers of the race find the intent already paid: the payment server refuses them
    (INVALID_STATE, in its own words), and the ticket server must answer with the paid order."""
    journey = servers.journey
    order = await journey.select_upgrade(JOHN, "TKT-JD0001", "standard", DAY, "select-0011")
    answers = await asyncio.gather(
        *(
            journey.pay_upgrade(JOHN, order.order_id, "pm_card_visa", f"pay-race-{i:04d}")
            for i in range(20)
        ),
        return_exceptions=True,
    )
    refusals = [a for a in answers if isinstance(a, BaseException)]
    assert not refusals, [str(r) for r in refusals]
    paid = [a for a in answers if isinstance(a, Payment)]
    assert {(p.payment_status, p.order.status) for p in paid} == {("succeeded", "confirmed")}
    assert len({p.order.confirmation_code for p in paid}) == 1
    assert order.payment_intent_id is not None
    intent = await servers.payments.get_payment_intent(TRUSTED, order.payment_intent_id)
    assert intent.amount_received_cents == order.amount_cents, "charged once"
    assert await servers.emails(order.order_id) == ["upgrade_confirmed"]


@pytest.mark.parametrize("paid", [False, True], ids=["held", "confirmed"])
async def test_twenty_parallel_cancellations_all_end_in_the_ticket_servers_own_answer(
    servers: Servers, paid: bool
) -> None:
    journey = servers.journey
    order = await journey.select_upgrade(JOHN, "TKT-JD0001", "standard", DAY, "select-0012")
    if paid:
        await journey.pay_upgrade(JOHN, order.order_id, "pm_card_visa", "pay-00000012")
    answers = await asyncio.gather(
        *(journey.cancel_upgrade(JOHN, order.order_id, f"cancel-race-{i:04d}") for i in range(20)),
        return_exceptions=True,
    )
    refusals = [a for a in answers if isinstance(a, BaseException)]
    assert not refusals, [str(r) for r in refusals]
    expected = "refunded" if paid else "cancelled"
    assert {a.status for a in answers if not isinstance(a, BaseException)} == {expected}
    assert order.payment_intent_id is not None
    intent = await servers.payments.get_payment_intent(TRUSTED, order.payment_intent_id)
    assert intent.amount_refunded_cents == (order.amount_cents if paid else 0)
    assert (await servers.emails(order.order_id)).count("upgrade_cancelled") == 1


async def test_a_hold_whose_payment_was_never_opened_says_to_select_again(
    servers: Servers,
) -> None:
    """A selection that stopped between holding the seat and opening the payment: paying it
    was an AssertionError (an INTERNAL answer) before; selecting again with the same key
    finishes it."""
    journey = servers.journey
    assert JOHN.customer_id is not None
    held = await servers.data.reserve_upgrade(
        ticket_number="TKT-JD0001",
        tier="standard",
        visit_date=DAY,
        prices={"general": 3750},  # the only ticket type with a path to Standard
        currency="USD",
        hold_minutes=15,
        idempotency_key=f"select:{JOHN.customer_id}:select-0013",
        caller=TICKET_SERVER.client_id,  # the journey's own calls, as the stack names them
        owner=JOHN.customer_id,
    )
    assert held.payment_intent_id is None
    with pytest.raises(DomainError) as refused:
        await journey.pay_upgrade(JOHN, held.order_id, "pm_card_visa", "pay-00000013")
    assert refused.value.code == "PAYMENT_NOT_OPENED"
    assert "same idempotency_key" in refused.value.message
    again = await journey.select_upgrade(JOHN, "TKT-JD0001", "standard", DAY, "select-0013")
    assert again.order_id == held.order_id
    assert again.payment_intent_id is not None
    paid = await journey.pay_upgrade(JOHN, held.order_id, "pm_card_visa", "pay-00000014")
    assert paid.payment_status == "succeeded"


async def test_the_seeded_confirmed_upgrade_is_cancelled_with_a_refund(servers: Servers) -> None:
    """Its seed once recorded a made-up payment id, which the payment server refused."""
    journey = servers.journey
    [seeded] = (await journey.list_my_orders(JANE)).orders
    assert (seeded.ticket_number, seeded.status) == ("TKT-JS0003", "confirmed")
    assert seeded.payment_intent_id is not None
    paid = await servers.payments.get_payment_intent(TRUSTED, seeded.payment_intent_id)
    assert (paid.status, paid.amount_received_cents) == ("succeeded", seeded.amount_cents)
    refunded = await journey.cancel_upgrade(JANE, seeded.order_id, "cancel-seeded-01")
    assert refunded.status == "refunded"
    intent = await servers.payments.get_payment_intent(TRUSTED, seeded.payment_intent_id)
    assert intent.amount_refunded_cents == seeded.amount_cents
    ticket = await servers.data.get_ticket("TKT-JS0003")
    assert ticket.upgrade_tier is None
    assert await servers.emails(seeded.order_id) == ["upgrade_cancelled"]
    assert (await servers.data.check_integrity()).ok


async def test_a_used_key_with_another_card_is_refused_in_this_servers_words(
    servers: Servers,
) -> None:
    journey = servers.journey
    order = await journey.select_upgrade(JOHN, "TKT-JD0001", "standard", DAY, "select-0020")
    declined = await journey.pay_upgrade(
        JOHN, order.order_id, "pm_card_chargeDeclined", "pay-00000020"
    )
    assert declined.payment_status == "declined"
    with pytest.raises(DomainError) as refused:
        await journey.pay_upgrade(JOHN, order.order_id, "pm_card_visa", "pay-00000020")
    assert str(refused.value) == (
        "IDEMPOTENCY_MISMATCH: this idempotency_key was used for a different payment; use a "
        "new key for a new attempt"
    )
    paid = await journey.pay_upgrade(JOHN, order.order_id, "pm_card_visa", "pay-00000021")
    assert paid.payment_status == "succeeded"
