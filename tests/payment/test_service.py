"""The payment service's rules on a real database (both backends): the test cards, the state
machine, ownership, idempotency, refunds, events, and Properties 11 and 13, also under
concurrency."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from hypothesis import strategies as st

from servers.core.db import CHECK_VIOLATION, Database, DatabaseError, fetch_value
from servers.core.errors import IDEMPOTENCY_MISMATCH, INVALID_ARGUMENT, DomainError
from servers.payment.cards import INVALID_CVC, TEST_CARDS, TEST_TOKENS, Behavior
from servers.payment.checkout import Checkout
from servers.payment.service import (
    EVENT_NOT_FOUND,
    INVALID_STATE,
    PAYMENT_INTENT_NOT_FOUND,
    PAYMENT_METHOD_NOT_FOUND,
    PERMISSION_DENIED,
    REFUND_EXCEEDS_CHARGE,
    TRUSTED,
    Caller,
    Faults,
    PaymentService,
)
from tests.hypothesis_examples import examples

from .support import ALICE, BOB, SERVICE, FakeClock, key, new_intent

SUCCEEDING_TOKENS = ["pm_card_visa", "pm_card_mastercard", "pm_card_amex", "pm_card_discover"]
DECLINES: dict[str, tuple[str, str]] = {
    "pm_card_chargeDeclined": ("card_declined", "generic_decline"),
    "pm_card_chargeDeclinedInsufficientFunds": ("card_declined", "insufficient_funds"),
    "pm_card_chargeDeclinedExpiredCard": ("expired_card", "expired_card"),
    "pm_card_chargeDeclinedIncorrectCvc": ("incorrect_cvc", "incorrect_cvc"),
    "pm_card_chargeDeclinedProcessingError": ("processing_error", "processing_error"),
}


async def code_of(call: Any) -> str:
    with pytest.raises(DomainError) as caught:
        await call
    return caught.value.code


async def charges(db: Database, intent_id: str, status: str | None = None) -> list[dict[str, Any]]:
    async with db.transaction() as tx:
        return await tx.fetch_all(
            "SELECT charge_id, amount_cents, status, decline_code FROM payment.charges "
            "WHERE payment_intent_id = :id AND (CAST(:s AS text) IS NULL OR status = :s)",
            {"id": intent_id, "s": status},
        )


async def events_of(service: PaymentService, intent_id: str) -> list[str]:
    listed = await service.list_events(TRUSTED, since=None, limit=100)
    return [e.type for e in listed.events if e.payment_intent_id == intent_id]


# Payment methods ----------------------------------------------------------------------------


async def test_a_payment_method_keeps_only_brand_last4_expiry_and_fingerprint(
    service: PaymentService, db: Database
) -> None:
    method = await service.create_payment_method(
        ALICE, card_number="4242 4242 4242 4242", exp_month=12, exp_year=2031, cvc="123"
    )
    assert method.payment_method_id.startswith("pm_")
    assert (method.brand, method.last4, method.exp_month, method.exp_year) == (
        "visa",
        "4242",
        12,
        2031,
    )
    async with db.transaction() as tx:
        row = await tx.fetch_one(
            "SELECT owner, behavior FROM payment.payment_methods WHERE payment_method_id = :id",
            {"id": method.payment_method_id},
        )
    assert row == {"owner": ALICE.customer, "behavior": "succeed"}
    again = await service.create_payment_method(
        BOB, card_number="4242424242424242", exp_month=1, exp_year=2032, cvc="999"
    )
    assert again.fingerprint == method.fingerprint


SAVED_CARDS = ["4242 4242 4242 4242", "5555555555554444", "4000000000000002"]
SAVED_EXPIRIES = [(12, 2031), (1, 2032)]


async def test_a_card_is_saved_once_whatever_sequence_of_saves_and_detaches(
    service: PaymentService,
) -> None:
    """A customer's list holds each card (its number and expiry) saved since it was last
    detached, once: saving it again answers with the saved one, not another copy."""
    steps = st.lists(
        st.tuples(
            st.sampled_from(["save", "detach"]),
            st.integers(0, len(SAVED_CARDS) - 1),
            st.integers(0, len(SAVED_EXPIRIES) - 1),
        ),
        min_size=1,
        max_size=8,
    )
    for n, sequence in enumerate(examples(steps, n=15)):
        customer = Caller("web", f"cus_saving_{n}")
        saved: dict[tuple[int, int], str] = {}
        for action, card, expiry in sequence:
            if action == "save":
                month, year = SAVED_EXPIRIES[expiry]
                method = await service.create_payment_method(
                    customer,
                    card_number=SAVED_CARDS[card],
                    exp_month=month,
                    exp_year=year,
                    cvc=str(100 + len(saved)),
                )
                if (card, expiry) in saved:
                    assert method.payment_method_id == saved[(card, expiry)], sequence
                saved[(card, expiry)] = method.payment_method_id
            elif (card, expiry) in saved:
                await service.detach_payment_method(customer, saved.pop((card, expiry)))
            listed = await service.list_payment_methods(customer)
            assert sorted(m.payment_method_id for m in listed.payment_methods) == sorted(
                saved.values()
            ), sequence


async def test_a_card_saved_at_once_many_times_is_saved_once(service: PaymentService) -> None:
    saves = await asyncio.gather(
        *(
            service.create_payment_method(
                ALICE, card_number="4242424242424242", exp_month=12, exp_year=2031, cvc="123"
            )
            for _ in range(10)
        )
    )
    assert len({m.payment_method_id for m in saves}) == 1
    listed = await service.list_payment_methods(ALICE)
    assert [m.payment_method_id for m in listed.payment_methods] == [saves[0].payment_method_id]
    others = await asyncio.gather(
        service.create_payment_method(
            BOB, card_number="4242424242424242", exp_month=12, exp_year=2031, cvc="123"
        ),
        *(
            service.create_payment_method(
                SERVICE, card_number="4242424242424242", exp_month=12, exp_year=2031, cvc="123"
            )
            for _ in range(2)
        ),
    )
    ids = {m.payment_method_id for m in [*saves, *others]}
    assert len(ids) == 4, "another customer's, and each of a service's, are its own"


async def test_bad_cards_and_missing_fields_are_refused(service: PaymentService) -> None:
    assert (
        await code_of(
            service.create_payment_method(
                ALICE, card_number="4242424242424242", exp_month=12, exp_year=2031, cvc="1"
            )
        )
        == INVALID_CVC
    )
    assert (
        await code_of(
            service.create_payment_method(
                ALICE, card_number="4242424242424242", exp_month=None, exp_year=2031, cvc="123"
            )
        )
        == INVALID_ARGUMENT
    )
    token = await service.create_payment_method(
        ALICE, card_number="pm_card_amex", exp_month=None, exp_year=None, cvc=None
    )
    assert token.brand == "amex"


# Confirming ---------------------------------------------------------------------------------


async def test_property_11_a_succeeding_card_charges_exactly_the_amount_once(
    service: PaymentService, db: Database
) -> None:
    cases = examples(
        st.tuples(
            st.integers(1, 10_000_000),
            st.sampled_from([*SUCCEEDING_TOKENS, "card", "pm"]),
            st.sampled_from([ALICE, SERVICE]),
            st.integers(0, 2),
        ),
        n=12,
    )
    for amount, how, payer, retries in cases:
        intent = await new_intent(service, amount)
        if how == "pm":
            method = (
                await service.create_payment_method(
                    payer, card_number="5555555555554444", exp_month=1, exp_year=2040, cvc="321"
                )
            ).payment_method_id
        elif how == "card":
            method = "pm_card_visa"
        else:
            method = how
        confirm_key = key()
        for _ in range(1 + retries):
            result = await service.confirm_payment_intent(
                payer,
                payment_intent_id=intent.id,
                payment_method=method,
                idempotency_key=confirm_key,
            )
        assert result.status == "succeeded"
        assert result.amount_received_cents == amount
        assert result.last_payment_error is None
        succeeded = await charges(db, intent.id)
        assert [(c["amount_cents"], c["status"]) for c in succeeded] == [(amount, "succeeded")]
        assert result.latest_charge == succeeded[0]["charge_id"]
        assert await events_of(service, intent.id) == ["payment_intent.succeeded"]


async def test_property_13_a_failing_card_charges_nothing_and_says_why(
    service: PaymentService, db: Database
) -> None:
    for token, amount in examples(
        st.tuples(st.sampled_from(sorted(DECLINES)), st.integers(1, 10_000_000)), n=10
    ):
        intent = await new_intent(service, amount)
        result = await service.confirm_payment_intent(
            ALICE, payment_intent_id=intent.id, payment_method=token, idempotency_key=key()
        )
        code, decline_code = DECLINES[token]
        assert result.status == "requires_payment_method"
        assert result.amount_received_cents == 0
        error = result.last_payment_error
        assert error is not None
        assert (error.code, error.decline_code) == (code, decline_code)
        assert error.message
        assert await charges(db, intent.id, "succeeded") == []
        assert [c["decline_code"] for c in await charges(db, intent.id)] == [decline_code]
        assert await events_of(service, intent.id) == ["payment_intent.payment_failed"]


async def test_every_test_card_number_behaves_as_documented(service: PaymentService) -> None:
    for token, number in TEST_TOKENS.items():
        method = await service.create_payment_method(
            SERVICE,
            card_number=number,
            exp_month=12,
            exp_year=2031,
            cvc="1234" if number.startswith("37") else "123",
        )
        intent = await new_intent(service, customer=None)
        result = await service.confirm_payment_intent(
            SERVICE,
            payment_intent_id=intent.id,
            payment_method=method.payment_method_id,
            idempotency_key=key(),
        )
        behavior: Behavior = TEST_CARDS.get(number, "succeed")
        expected = {
            "authentication_required": "requires_action",
            "succeed": "succeeded",
        }.get(behavior, "requires_payment_method")
        assert result.status == expected, token


async def test_a_declined_intent_can_be_paid_with_another_card(service: PaymentService) -> None:
    intent = await new_intent(service)
    declined = await service.confirm_payment_intent(
        ALICE,
        payment_intent_id=intent.id,
        payment_method="pm_card_chargeDeclinedInsufficientFunds",
        idempotency_key=key(),
    )
    assert declined.status == "requires_payment_method"
    paid = await service.confirm_payment_intent(
        ALICE, payment_intent_id=intent.id, payment_method="pm_card_visa", idempotency_key=key()
    )
    assert paid.status == "succeeded"
    assert paid.last_payment_error is None
    assert await events_of(service, intent.id) == [
        "payment_intent.payment_failed",
        "payment_intent.succeeded",
    ]
    # The clock did not move between the two charges: the latest is still the one made last.
    assert declined.last_payment_error is not None
    assert declined.latest_charge == declined.last_payment_error.charge_id
    [success] = await charges(service.db, intent.id, "succeeded")
    assert paid.latest_charge == success["charge_id"] != declined.latest_charge
    assert (await service.get_payment_intent(ALICE, intent.id)).latest_charge == paid.latest_charge


async def test_authentication_is_passed_only_on_the_hosted_page(
    service: PaymentService, db: Database
) -> None:
    intent = await new_intent(service)
    method = "pm_card_authenticationRequired"
    first = await service.confirm_payment_intent(
        ALICE, payment_intent_id=intent.id, payment_method=method, idempotency_key=key()
    )
    assert first.status == "requires_action"
    assert first.next_action is not None
    session_id = first.next_action.url.rsplit("/", 1)[1]
    assert first.next_action.url == f"http://127.0.0.1:8000/checkout/{session_id}"
    assert await charges(db, intent.id) == []
    again = await service.confirm_payment_intent(
        ALICE,
        payment_intent_id=intent.id,
        payment_method=first.payment_method or "",
        idempotency_key=key(),
    )
    assert again.status == "requires_action", "confirming again is no approval"
    assert again.next_action == first.next_action, "the same challenge page"
    assert await charges(db, intent.id) == []
    done = await Checkout(service).authenticate(session_id, approve=True)
    assert done.intent.status == "succeeded"
    assert done.intent.next_action is None
    assert done.session.status == "complete"
    assert len(await charges(db, intent.id, "succeeded")) == 1


async def test_the_transient_card_fails_twice_then_succeeds(
    service: PaymentService, db: Database
) -> None:
    intent = await new_intent(service)
    statuses = []
    for _ in range(3):
        result = await service.confirm_payment_intent(
            ALICE,
            payment_intent_id=intent.id,
            payment_method="pm_card_transientProcessingError",
            idempotency_key=key(),
        )
        statuses.append(result.status)
        if result.last_payment_error:
            assert result.last_payment_error.code == "processing_error"
    assert statuses == ["requires_payment_method", "requires_payment_method", "succeeded"]
    assert len(await charges(db, intent.id)) == 3


async def test_an_expired_payment_method_is_declined_as_expired(
    service: PaymentService, clock: FakeClock
) -> None:
    method = await service.create_payment_method(
        ALICE, card_number="4242424242424242", exp_month=6, exp_year=2030, cvc="123"
    )
    clock.advance(seconds=40 * 24 * 3600)
    intent = await new_intent(service)
    result = await service.confirm_payment_intent(
        ALICE,
        payment_intent_id=intent.id,
        payment_method=method.payment_method_id,
        idempotency_key=key(),
    )
    assert result.last_payment_error is not None
    assert result.last_payment_error.decline_code == "expired_card"


async def test_illegal_transitions_are_clear_errors(service: PaymentService) -> None:
    paid = await new_intent(service)
    await service.confirm_payment_intent(
        ALICE, payment_intent_id=paid.id, payment_method="pm_card_visa", idempotency_key=key()
    )
    assert (
        await code_of(
            service.confirm_payment_intent(
                ALICE,
                payment_intent_id=paid.id,
                payment_method="pm_card_visa",
                idempotency_key=key(),
            )
        )
        == INVALID_STATE
    )
    assert (
        await code_of(
            service.cancel_payment_intent(ALICE, payment_intent_id=paid.id, idempotency_key=key())
        )
        == INVALID_STATE
    )
    canceled = await new_intent(service)
    done = await service.cancel_payment_intent(
        ALICE, payment_intent_id=canceled.id, idempotency_key=key()
    )
    assert done.status == "canceled"
    assert done.canceled_at is not None
    again = await service.cancel_payment_intent(
        ALICE, payment_intent_id=canceled.id, idempotency_key=key()
    )
    assert again == done
    assert (
        await code_of(
            service.confirm_payment_intent(
                ALICE,
                payment_intent_id=canceled.id,
                payment_method="pm_card_visa",
                idempotency_key=key(),
            )
        )
        == INVALID_STATE
    )
    assert (
        await code_of(
            service.create_refund(
                TRUSTED,
                payment_intent_id=canceled.id,
                amount_cents=None,
                reason="duplicate",
                idempotency_key=key(),
            )
        )
        == INVALID_STATE
    )
    assert await events_of(service, canceled.id) == ["payment_intent.canceled"]


# Ownership ----------------------------------------------------------------------------------


async def test_another_customers_intent_answers_like_a_missing_one(
    service: PaymentService,
) -> None:
    intent = await new_intent(service, customer=ALICE)
    missing = "pi_" + "a" * 26
    for target in (intent.id, missing):
        assert await code_of(service.get_payment_intent(BOB, target)) == PAYMENT_INTENT_NOT_FOUND
        assert (
            await code_of(
                service.confirm_payment_intent(
                    BOB,
                    payment_intent_id=target,
                    payment_method="pm_card_visa",
                    idempotency_key=key(),
                )
            )
            == PAYMENT_INTENT_NOT_FOUND
        )
        assert (
            await code_of(
                service.cancel_payment_intent(BOB, payment_intent_id=target, idempotency_key=key())
            )
            == PAYMENT_INTENT_NOT_FOUND
        )
    with pytest.raises(DomainError) as theirs:
        await service.get_payment_intent(BOB, intent.id)
    with pytest.raises(DomainError) as nobody:
        await service.get_payment_intent(BOB, missing)
    assert str(theirs.value).replace(intent.id, "X") == str(nobody.value).replace(missing, "X")
    assert (await service.get_payment_intent(ALICE, intent.id)).id == intent.id
    assert (await service.get_payment_intent(SERVICE, intent.id)).id == intent.id


async def test_payment_methods_pay_only_their_owners_intents(service: PaymentService) -> None:
    alices = await service.create_payment_method(
        ALICE, card_number="4242424242424242", exp_month=12, exp_year=2031, cvc="123"
    )
    services = await service.create_payment_method(
        SERVICE, card_number="4242424242424242", exp_month=12, exp_year=2031, cvc="123"
    )
    bobs_intent = await new_intent(service, customer=BOB)
    alices_intent = await new_intent(service, customer=ALICE)
    for caller, intent, method in [
        (BOB, bobs_intent, alices.payment_method_id),  # someone else's card
        (SERVICE, bobs_intent, alices.payment_method_id),  # Alice's card for Bob's intent
        (ALICE, alices_intent, services.payment_method_id),  # a customer uses only her own
        (ALICE, alices_intent, "pm_" + "c" * 26),
    ]:
        assert (
            await code_of(
                service.confirm_payment_intent(
                    caller,
                    payment_intent_id=intent.id,
                    payment_method=method,
                    idempotency_key=key(),
                )
            )
            == PAYMENT_METHOD_NOT_FOUND
        )
    paid = await service.confirm_payment_intent(
        SERVICE,
        payment_intent_id=bobs_intent.id,
        payment_method=services.payment_method_id,
        idempotency_key=key(),
    )
    assert paid.status == "succeeded"
    own = await service.confirm_payment_intent(
        ALICE,
        payment_intent_id=alices_intent.id,
        payment_method=alices.payment_method_id,
        idempotency_key=key(),
    )
    assert own.status == "succeeded"


async def test_customers_cannot_create_intents_and_see_only_their_events(
    service: PaymentService,
) -> None:
    assert (
        await code_of(
            service.create_payment_intent(
                ALICE,
                amount_cents=100,
                currency="USD",
                description=None,
                customer_ref=ALICE.customer,
                metadata={},
                idempotency_key=key(),
            )
        )
        == PERMISSION_DENIED
    )
    for payer in (ALICE, BOB):
        intent = await new_intent(service, customer=payer)
        await service.confirm_payment_intent(
            payer, payment_intent_id=intent.id, payment_method="pm_card_visa", idempotency_key=key()
        )
    everything = (await service.list_events(SERVICE, since=None, limit=50)).events
    alices = (await service.list_events(ALICE, since=None, limit=50)).events
    assert len(everything) == 2
    assert len(alices) == 1
    bobs_event = next(e for e in everything if e not in alices)
    assert await code_of(service.get_event(ALICE, bobs_event.id)) == EVENT_NOT_FOUND
    assert (await service.get_event(BOB, bobs_event.id)) == bobs_event


async def test_events_page_with_since(service: PaymentService) -> None:
    for _ in range(3):
        await service.cancel_payment_intent(
            TRUSTED, payment_intent_id=(await new_intent(service)).id, idempotency_key=key()
        )
    first = await service.list_events(TRUSTED, since=None, limit=2)
    assert len(first.events) == 2
    assert first.has_more
    rest = await service.list_events(TRUSTED, since=first.events[-1].id, limit=2)
    assert len(rest.events) == 1
    assert not rest.has_more
    assert (
        await code_of(service.list_events(TRUSTED, since="evt_" + "a" * 26, limit=2))
        == EVENT_NOT_FOUND
    )


# Idempotency --------------------------------------------------------------------------------


async def test_same_key_same_result_different_arguments_mismatch(service: PaymentService) -> None:
    args: dict[str, Any] = {
        "amount_cents": 1000,
        "currency": "USD",
        "description": None,
        "customer_ref": ALICE.customer,
        "metadata": {},
        "idempotency_key": key(),
    }
    first = await service.create_payment_intent(SERVICE, **args)
    assert await service.create_payment_intent(SERVICE, **args) == first
    assert (
        await code_of(service.create_payment_intent(SERVICE, **{**args, "amount_cents": 1001}))
        == IDEMPOTENCY_MISMATCH
    )
    confirm_key = key()
    declined = await service.confirm_payment_intent(
        ALICE,
        payment_intent_id=first.id,
        payment_method="pm_card_chargeDeclined",
        idempotency_key=confirm_key,
    )
    assert declined.status == "requires_payment_method"
    replay = await service.confirm_payment_intent(
        ALICE,
        payment_intent_id=first.id,
        payment_method="pm_card_chargeDeclined",
        idempotency_key=confirm_key,
    )
    assert replay == declined
    assert (
        await code_of(
            service.confirm_payment_intent(
                ALICE,
                payment_intent_id=first.id,
                payment_method="pm_card_visa",
                idempotency_key=confirm_key,
            )
        )
        == IDEMPOTENCY_MISMATCH
    )


@pytest.mark.parametrize("same_key", [True, False], ids=["same-key", "different-keys"])
async def test_50_concurrent_confirms_charge_once(
    service: PaymentService, db: Database, same_key: bool
) -> None:
    intent = await new_intent(service, amount=4200)
    shared = key()

    async def confirm() -> Any:
        return await service.confirm_payment_intent(
            ALICE,
            payment_intent_id=intent.id,
            payment_method="pm_card_visa",
            idempotency_key=shared if same_key else key(),
        )

    results = await asyncio.gather(*(confirm() for _ in range(50)), return_exceptions=True)
    succeeded = [r for r in results if not isinstance(r, BaseException)]
    refused = [r for r in results if isinstance(r, BaseException)]
    assert all(isinstance(r, DomainError) and r.code == INVALID_STATE for r in refused), refused
    if same_key:
        assert len(succeeded) == 50
        assert len({r.latest_charge for r in succeeded}) == 1
    else:
        assert len(succeeded) == 1
    assert len(await charges(db, intent.id)) == 1
    assert await events_of(service, intent.id) == ["payment_intent.succeeded"]


# Refunds ------------------------------------------------------------------------------------


async def paid_intent(service: PaymentService, amount: int) -> str:
    intent = await new_intent(service, amount)
    await service.confirm_payment_intent(
        ALICE, payment_intent_id=intent.id, payment_method="pm_card_visa", idempotency_key=key()
    )
    return intent.id


async def test_refunds_never_exceed_the_charge_under_any_sequence(
    service: PaymentService, db: Database
) -> None:
    cases = examples(
        st.tuples(
            st.integers(1, 20_000),
            st.lists(st.one_of(st.none(), st.integers(0, 25_000)), min_size=1, max_size=6),
        ),
        n=10,
    )
    for amount, requests in cases:
        intent_id = await paid_intent(service, amount)
        refunded = 0
        for requested in requests:
            left = amount - refunded
            wanted = left if requested is None else requested
            call = service.create_refund(
                TRUSTED,
                payment_intent_id=intent_id,
                amount_cents=requested,
                reason="requested_by_customer",
                idempotency_key=key(),
            )
            if wanted == 0 or wanted > left:
                assert await code_of(call) == REFUND_EXCEEDS_CHARGE
                continue
            refund = await call
            assert refund.amount_cents == (left if requested is None else requested)
            refunded += refund.amount_cents
        intent = await service.get_payment_intent(TRUSTED, intent_id)
        assert intent.amount_refunded_cents == refunded <= amount
        async with db.transaction() as tx:
            total = await fetch_value(
                tx,
                "SELECT COALESCE(sum(amount_cents), 0) AS s FROM payment.refunds "
                "WHERE payment_intent_id = :id",
                {"id": intent_id},
            )
        assert total == refunded
        events = await events_of(service, intent_id)
        assert events.count("charge.refunded") == await _refund_count(db, intent_id)


async def _refund_count(db: Database, intent_id: str) -> int:
    async with db.transaction() as tx:
        value = await fetch_value(
            tx,
            "SELECT count(*) AS n FROM payment.refunds WHERE payment_intent_id = :id",
            {"id": intent_id},
        )
    return int(value)


async def test_concurrent_partial_refunds_stop_at_the_charge(
    service: PaymentService, db: Database
) -> None:
    intent_id = await paid_intent(service, 1000)

    async def refund() -> Any:
        return await service.create_refund(
            TRUSTED,
            payment_intent_id=intent_id,
            amount_cents=300,
            reason="requested_by_customer",
            idempotency_key=key(),
        )

    results = await asyncio.gather(*(refund() for _ in range(10)), return_exceptions=True)
    assert sum(not isinstance(r, BaseException) for r in results) == 3
    assert (await service.get_payment_intent(TRUSTED, intent_id)).amount_refunded_cents == 900


async def test_the_table_itself_refuses_a_refund_beyond_the_charge(
    service: PaymentService, db: Database
) -> None:
    intent_id = await paid_intent(service, 1000)
    await service.create_refund(
        TRUSTED,
        payment_intent_id=intent_id,
        amount_cents=600,
        reason="duplicate",
        idempotency_key=key(),
    )
    async with db.transaction() as tx:
        charge = await tx.fetch_one(
            "SELECT charge_id FROM payment.charges WHERE payment_intent_id = :id", {"id": intent_id}
        )
    assert charge is not None
    bad = [
        (None, 500),  # a second "first" refund
        (600, 500),  # beyond the charge
        (300, 100),  # not starting where the last one ended
    ]
    for previous, amount in bad:
        with pytest.raises(DatabaseError) as caught:
            async with db.transaction() as tx:
                await tx.execute(
                    "INSERT INTO payment.refunds (refund_id, charge_id, payment_intent_id, "
                    " amount_cents, currency, charge_amount_cents, previous_total_cents, reason, "
                    " status, created_at) VALUES (:r, :c, :i, :a, 'USD', 1000, :p, 'duplicate', "
                    " 'succeeded', now())",
                    {
                        "r": "re_" + "z" * 26,
                        "c": charge["charge_id"],
                        "i": intent_id,
                        "a": amount,
                        "p": previous,
                    },
                )
        assert caught.value.sqlstate in {"23505", "23503", CHECK_VIOLATION}


async def test_fault_injection_is_seeded_and_transient(db: Database, clock: FakeClock) -> None:
    def run_with(seed: int) -> PaymentService:
        return PaymentService(
            db, fingerprint_key=b"k", clock=clock, faults=Faults(error_rate=0.5, seed=seed)
        )

    outcomes = []
    for _ in range(2):
        faulty = run_with(7)
        statuses = []
        for _ in range(8):
            intent = await new_intent(faulty)
            result = await faulty.confirm_payment_intent(
                ALICE,
                payment_intent_id=intent.id,
                payment_method="pm_card_visa",
                idempotency_key=key(),
            )
            statuses.append(result.status)
        outcomes.append(statuses)
    assert outcomes[0] == outcomes[1]
    assert set(outcomes[0]) == {"succeeded", "requires_payment_method"}


async def test_requires_action_waits_for_authentication_or_a_cancel(
    service: PaymentService, db: Database
) -> None:
    intent = await new_intent(service)
    for _ in range(2):
        waiting = await service.confirm_payment_intent(
            ALICE,
            payment_intent_id=intent.id,
            payment_method="pm_card_authenticationRequired",
            idempotency_key=key(),
        )
        assert waiting.status == "requires_action"
    canceled = await service.cancel_payment_intent(
        ALICE, payment_intent_id=intent.id, idempotency_key=key()
    )
    assert canceled.status == "canceled"
    assert canceled.next_action is None
    assert await charges(db, intent.id) == []
    assert await events_of(service, intent.id) == ["payment_intent.canceled"]
