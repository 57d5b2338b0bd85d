"""Hosted checkout, like Stripe Checkout: one page per payment where the customer enters a card
or passes a 3-D Secure challenge, so that a card number never goes through a conversation, a
model or another server.

A session's id is the secret of its URL (130 random bits): whoever holds the link may pay that
one intent, and nothing else. Its state follows its intent: paid is ``complete``; canceled, or
past ``expires_at``, is ``expired``. A card typed into the page reaches
:func:`~servers.payment.cards.validate_card` and is forgotten; only what a payment method keeps
(brand, last four, expiry, keyed fingerprint) is stored.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from servers.core.db import Row, Transaction
from servers.core.errors import DomainError
from servers.core.ids import new_id

from . import repository as repo
from .cards import validate_card
from .links import checkout_url
from .models import CheckoutSession, CheckoutStatus, PaymentIntent, PaymentMethod
from .service import INVALID_STATE, PERMISSION_DENIED, Caller, PaymentService

CHECKOUT_SESSION_NOT_FOUND = "CHECKOUT_SESSION_NOT_FOUND"
CHECKOUT_EXPIRED = "CHECKOUT_EXPIRED"
INVALID_EXPIRY = "INVALID_EXPIRY"

MAX_SESSION_TIME = timedelta(hours=24)
"""The longest a checkout page stays open, as with Stripe Checkout."""

_PAYABLE = ("requires_payment_method", "requires_action")


@dataclass(frozen=True)
class CheckoutPage:
    """What the hosted page shows: the session and where its payment stands."""

    session: CheckoutSession
    intent: PaymentIntent


@dataclass
class Checkout:
    payments: PaymentService

    async def create_checkout_session(
        self,
        caller: Caller,
        *,
        payment_intent_id: str,
        expires_at: datetime,
        success_url: str | None,
        cancel_url: str | None,
        idempotency_key: str,
    ) -> CheckoutSession:
        """A page where the intent's customer pays it (services only)."""
        if caller.customer is not None:
            raise DomainError(
                PERMISSION_DENIED,
                "checkout sessions are opened by services (the ticket server), not customers",
            )
        now = self.payments.clock()
        if not now < expires_at <= now + MAX_SESSION_TIME:
            raise DomainError(
                INVALID_EXPIRY, "expires_at must lie in the future, at most 24 hours from now"
            )
        arguments = {
            "payment_intent_id": payment_intent_id,
            "expires_at": expires_at.isoformat(),
            "success_url": success_url,
            "cancel_url": cancel_url,
        }

        async def work(tx: Transaction) -> CheckoutSession:
            intent = await self.payments.visible_intent(tx, caller, payment_intent_id, lock=True)
            if intent.status not in _PAYABLE:
                raise DomainError(
                    INVALID_STATE,
                    f"payment intent {intent.id} is {intent.status}; only an intent waiting "
                    "for payment can be paid through a checkout page",
                )
            session_id = new_id("cs")
            await repo.insert_session(
                tx,
                {
                    "checkout_session_id": session_id,
                    "payment_intent_id": intent.id,
                    "success_url": success_url,
                    "cancel_url": cancel_url,
                    "expires_at": expires_at,
                    "created_by": caller.client_id,
                    "created_at": now,
                },
            )
            row = await repo.session(tx, session_id)
            assert row is not None
            return self._view(row, intent, now)

        return await self.payments.idempotency.run_once(
            self.payments.db,
            caller=caller.namespace,
            tool="create_checkout_session",
            key=idempotency_key,
            arguments=arguments,
            model=CheckoutSession,
            work=work,
        )

    async def page(self, checkout_session_id: str) -> CheckoutPage:
        """The session and its intent, whatever their state; NOT_FOUND for an unknown id."""
        async with self.payments.db.read() as tx:
            row, intent = await self._session(tx, checkout_session_id, lock=False)
        return CheckoutPage(self._view(row, intent, self.payments.clock()), intent)

    async def pay(
        self,
        checkout_session_id: str,
        *,
        card_number: str,
        exp_month: int,
        exp_year: int,
        cvc: str,
        save_card: bool,
    ) -> CheckoutPage:
        """Charges the card typed into the page (a decline is in the intent's
        last_payment_error); a card that asks for 3-D Secure leaves it requires_action, and the
        same page then shows the challenge. Paying a paid session again changes nothing."""
        now = self.payments.clock()
        card = validate_card(card_number, exp_month, exp_year, cvc, now)
        async with self.payments.db.transaction() as tx:
            row, intent = await self._open_session(tx, checkout_session_id, now)
            if intent.status in _PAYABLE:
                method = await self.payments.store_method(
                    tx, intent.customer_ref, card, now, saved=save_card
                )
                intent = await self.payments.charge(tx, intent, await _method(tx, method), now)
        return CheckoutPage(self._view(row, intent, now), intent)

    async def authenticate(self, checkout_session_id: str, *, approve: bool) -> CheckoutPage:
        """The customer's answer to the 3-D Secure challenge: approved, the card is charged;
        refused, the intent waits for another card. A second answer changes nothing."""
        now = self.payments.clock()
        async with self.payments.db.transaction() as tx:
            row, intent = await self._open_session(tx, checkout_session_id, now)
            if intent.status == "requires_action" and intent.payment_method is not None:
                if approve:
                    method = await repo.method(tx, intent.payment_method)
                    assert method is not None
                    intent = await self.payments.charge(tx, intent, method, now, authenticated=True)
                else:
                    intent = await self.payments.fail_authentication(tx, intent, now)
        return CheckoutPage(self._view(row, intent, now), intent)

    async def _session(
        self, tx: Transaction, checkout_session_id: str, *, lock: bool
    ) -> tuple[Row, PaymentIntent]:
        row = await repo.session(tx, checkout_session_id)
        if row is None:
            raise DomainError(CHECKOUT_SESSION_NOT_FOUND, "this checkout link is not valid")
        intent = await repo.intent(tx, row["payment_intent_id"], lock=lock)
        assert intent is not None
        return row, intent

    async def _open_session(
        self, tx: Transaction, checkout_session_id: str, now: datetime
    ) -> tuple[Row, PaymentIntent]:
        """The session with its intent locked; CHECKOUT_EXPIRED unless it is open or paid."""
        row, intent = await self._session(tx, checkout_session_id, lock=True)
        if _status(row, intent, now) == "expired":
            raise DomainError(CHECKOUT_EXPIRED, "this checkout has expired; nothing was charged")
        return row, intent

    def _view(self, row: Row, intent: PaymentIntent, now: datetime) -> CheckoutSession:
        return CheckoutSession(
            id=row["checkout_session_id"],
            url=checkout_url(self.payments.public_url, row["checkout_session_id"]),
            status=_status(row, intent, now),
            payment_intent_id=intent.id,
            amount_cents=intent.amount_cents,
            currency=intent.currency,
            description=intent.description,
            customer_ref=intent.customer_ref,
            success_url=row["success_url"],
            cancel_url=row["cancel_url"],
            expires_at=row["expires_at"],
            created_at=row["created_at"],
        )


def _status(row: Row, intent: PaymentIntent, now: datetime) -> CheckoutStatus:
    if intent.status == "succeeded":
        return "complete"
    if intent.status == "canceled" or now >= row["expires_at"]:
        return "expired"
    return "open"


async def _method(tx: Transaction, method: PaymentMethod) -> dict[str, Any]:
    row = await repo.method(tx, method.payment_method_id)
    assert row is not None
    return dict(row)
