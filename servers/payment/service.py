"""The payment gateway's rules: intents, charges, refunds and events, atomic under any
concurrency, with outcomes that depend on the card alone (plus optional, seeded fault injection).

It knows nothing of MCP: it takes plain, already-validated values and a :class:`Caller`, and
returns records or raises :class:`~servers.core.errors.DomainError`.
"""

from __future__ import annotations

import asyncio
import random
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel

from servers.core.clock import Clock, utc_now
from servers.core.db import Database, Transaction
from servers.core.errors import DomainError, invalid_argument
from servers.core.idempotency import IdempotencyStore
from servers.core.ids import new_id

from . import repository as repo
from .cards import (
    FAULT,
    Card,
    Decline,
    card_of_token,
    decline_for,
    validate_card,
)
from .links import checkout_url
from .models import (
    Event,
    EventList,
    EventType,
    PaymentIntent,
    PaymentMethod,
    PaymentMethodList,
    Refund,
    RefundReason,
)

PAYMENT_INTENT_NOT_FOUND = "PAYMENT_INTENT_NOT_FOUND"
PAYMENT_METHOD_NOT_FOUND = "PAYMENT_METHOD_NOT_FOUND"
EVENT_NOT_FOUND = "EVENT_NOT_FOUND"
INVALID_STATE = "INVALID_STATE"
REFUND_EXCEEDS_CHARGE = "REFUND_EXCEEDS_CHARGE"
PERMISSION_DENIED = "PERMISSION_DENIED"
INVALID_AMOUNT = "INVALID_AMOUNT"

MAX_EVENTS = 100
CHALLENGE_TIME = timedelta(minutes=15)
"""How long a 3-D Secure challenge page opened by confirm_payment_intent stays open."""
DEFAULT_PUBLIC_URL = "http://127.0.0.1:8000"


@dataclass(frozen=True)
class Caller:
    """Who calls: a service (``customer`` None) or a customer acting for themself."""

    client_id: str
    customer: str | None = None

    @property
    def namespace(self) -> str:
        """Idempotency keys are per caller: two customers of one app may pick the same key."""
        return self.client_id if self.customer is None else f"{self.client_id}:{self.customer}"


TRUSTED = Caller("in-process")
"""A service calling the service directly, without a tool call (tests, the host's own jobs)."""


@dataclass
class Faults:
    """Injected processor trouble, off by default: latency per charge and a rate of transient
    ``processing_error`` declines, drawn from a seeded generator so a run can be replayed."""

    latency_seconds: float = 0.0
    error_rate: float = 0.0
    seed: int | None = None
    _random: random.Random = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._random = random.Random(self.seed)

    async def strike(self) -> bool:
        """Waits the added latency; True when this charge should meet a transient fault."""
        if self.latency_seconds > 0:
            await asyncio.sleep(self.latency_seconds)
        return self.error_rate > 0 and self._random.random() < self.error_rate


@dataclass
class PaymentService:
    db: Database
    fingerprint_key: bytes
    clock: Clock = utc_now
    public_url: str = DEFAULT_PUBLIC_URL
    faults: Faults = field(default_factory=Faults)
    idempotency: IdempotencyStore = field(default_factory=lambda: IdempotencyStore("payment"))

    # Payment methods --------------------------------------------------------------------------

    async def create_payment_method(
        self,
        caller: Caller,
        *,
        card_number: str,
        exp_month: int | None,
        exp_year: int | None,
        cvc: str | None,
    ) -> PaymentMethod:
        now = self.clock()
        if card_number.startswith("pm_card_"):
            card = card_of_token(card_number, now)
        elif exp_month is None or exp_year is None or cvc is None:
            raise invalid_argument("a card number needs exp_month, exp_year and cvc")
        else:
            card = validate_card(card_number, exp_month, exp_year, cvc, now)
        async with self.db.transaction() as tx:
            return await self.store_method(tx, caller.customer, card, now)

    async def store_method(
        self,
        tx: Transaction,
        owner: str | None,
        card: Card,
        now: datetime,
        *,
        saved: bool = True,
    ) -> PaymentMethod:
        """Keeps what may be kept of a card (never its number or CVC); a card not ``saved``
        is detached at once, so it pays only the payment it was entered for."""
        return PaymentMethod.model_validate(
            await self._insert_method(tx, owner, card, now, saved=saved)
        )

    async def _insert_method(
        self, tx: Transaction, owner: str | None, card: Card, now: datetime, *, saved: bool
    ) -> dict[str, Any]:
        """The stored method's row, as :func:`repo.method` reads it."""
        return await repo.insert_method(tx, self._method_row(owner, card, now, saved=saved))

    def _method_row(
        self, owner: str | None, card: Card, now: datetime, *, saved: bool
    ) -> dict[str, Any]:
        """The row of a new method of ``card``; a card not ``saved`` is detached at once, so
        it pays only the payment it was entered for."""
        return {
            "payment_method_id": new_id("pm"),
            "owner": owner,
            "brand": card.brand,
            "last4": card.last4,
            "exp_month": card.exp_month,
            "exp_year": card.exp_year,
            "fingerprint": card.fingerprint(self.fingerprint_key),
            "behavior": card.behavior,
            "created_at": now,
            "detached_at": None if saved else now,
        }

    async def list_payment_methods(self, caller: Caller) -> PaymentMethodList:
        owner = self._customer_only(caller, "saved payment methods")
        async with self.db.read() as tx:
            rows = await repo.methods_of(tx, owner)
        return PaymentMethodList(payment_methods=[PaymentMethod.model_validate(r) for r in rows])

    async def detach_payment_method(self, caller: Caller, payment_method_id: str) -> PaymentMethod:
        """Detaches the caller's method; detaching it again answers the same."""
        owner = self._customer_only(caller, "saved payment methods")
        async with self.db.transaction() as tx:
            row = await repo.method(tx, payment_method_id)
            if row is None or row["owner"] != owner:
                raise DomainError(
                    PAYMENT_METHOD_NOT_FOUND, f"no payment method {payment_method_id}"
                )
            await repo.detach_method(tx, payment_method_id, self.clock())
            detached = await repo.method(tx, payment_method_id)
        return PaymentMethod.model_validate(detached)

    def _customer_only(self, caller: Caller, what: str) -> str:
        if caller.customer is None:
            raise DomainError(
                PERMISSION_DENIED, f"{what} belong to a customer: call with the customer's token"
            )
        return caller.customer

    # Payment intents --------------------------------------------------------------------------

    async def create_payment_intent(
        self,
        caller: Caller,
        *,
        amount_cents: int,
        currency: str,
        description: str | None,
        customer_ref: str | None,
        metadata: dict[str, str],
        idempotency_key: str,
    ) -> PaymentIntent:
        if caller.customer is not None:
            raise DomainError(
                PERMISSION_DENIED,
                "payment intents are created by services (the ticket server), not customers",
            )
        if amount_cents <= 0:
            raise DomainError(INVALID_AMOUNT, "amount_cents must be at least 1")
        arguments = {
            "amount_cents": amount_cents,
            "currency": currency,
            "description": description,
            "customer_ref": customer_ref,
            "metadata": metadata,
        }

        async def work(tx: Transaction) -> PaymentIntent:
            intent_id = new_id("pi")
            return await repo.insert_intent(
                tx,
                {
                    **arguments,
                    "payment_intent_id": intent_id,
                    "client_secret": f"{intent_id}_secret_{secrets.token_urlsafe(24)}",
                    "created_by": caller.client_id,
                    "now": self.clock(),
                },
            )

        return await self.idempotency.run_once(
            self.db,
            caller=caller.namespace,
            tool="create_payment_intent",
            key=idempotency_key,
            arguments=arguments,
            model=PaymentIntent,
            work=work,
        )

    async def get_payment_intent(self, caller: Caller, payment_intent_id: str) -> PaymentIntent:
        async with self.db.read() as tx:
            return await self.visible_intent(tx, caller, payment_intent_id)

    async def confirm_payment_intent(
        self,
        caller: Caller,
        *,
        payment_intent_id: str,
        payment_method: str,
        idempotency_key: str,
    ) -> PaymentIntent:
        """Charges the card once. A decline is a result (the intent with its error), not an
        exception; the intent row stays locked from the state check to the charge. A card that
        asks for 3-D Secure leaves the intent requires_action with the hosted page where the
        customer passes the challenge: no caller can vouch for that instead."""

        async def work(tx: Transaction) -> PaymentIntent:
            intent = await self.visible_intent(tx, caller, payment_intent_id, lock=True)
            if intent.status not in ("requires_payment_method", "requires_action"):
                raise DomainError(
                    INVALID_STATE,
                    f"payment intent {intent.id} is {intent.status}; only an intent that "
                    "requires a payment method or an action can be confirmed",
                )
            now = self.clock()
            if payment_method.startswith("pm_card_"):
                # A test token pays this payment only: its method, not saved as one of the
                # customer's, is stored with the charge.
                card = card_of_token(payment_method, now)
                method = self._method_row(caller.customer, card, now, saved=False)
                method = _usable(caller, intent, method, payment_method)
                return await self.charge(tx, intent, method, now, new_method=True)
            method = await self._usable_method(tx, caller, intent, payment_method)
            return await self.charge(tx, intent, method, now)

        return await self.idempotency.run_once(
            self.db,
            caller=caller.namespace,
            tool="confirm_payment_intent",
            key=idempotency_key,
            arguments={"payment_intent_id": payment_intent_id, "payment_method": payment_method},
            model=PaymentIntent,
            work=work,
        )

    async def charge(
        self,
        tx: Transaction,
        intent: PaymentIntent,
        method: dict[str, Any],
        now: datetime,
        *,
        authenticated: bool = False,
        new_method: bool = False,
    ) -> PaymentIntent:
        """Charges the locked intent with the method, or asks for 3-D Secure when its card
        needs it and the customer has not passed the challenge (``authenticated``, said only by
        the hosted page). A ``new_method`` is stored here, with the charge when there is one."""
        if method["behavior"] == "authentication_required" and not authenticated:
            if new_method:
                await repo.insert_method(tx, method)
            return await self._require_action(tx, intent, method, now)
        # The simulated processor answers inside this transaction, so "processing" is never
        # committed; a real processor's adapter would commit it before calling out.
        decline: Decline | None
        if await self.faults.strike():
            decline = FAULT
        elif (method["exp_year"], method["exp_month"]) < (now.year, now.month):
            decline = decline_for("expired_card", 0)
        elif method["behavior"] == "transient_processing_error":
            # Only this card's outcome depends on the intent's history: the others spare the query.
            earlier = await repo.transient_failures(tx, intent.id)
            decline = decline_for(method["behavior"], earlier)
        else:
            decline = decline_for(method["behavior"], 0)
        charge_id = new_id("ch")
        changes: dict[str, Any] = {
            "payment_method_id": method["payment_method_id"],
            "next_action": None,
            "updated_at": now,
        }
        if decline is None:
            changes |= {
                "status": "succeeded",
                "amount_received_cents": intent.amount_cents,
                "last_payment_error": None,
            }
        else:
            changes |= {
                "status": "requires_payment_method",
                "last_payment_error": {
                    "code": decline.code,
                    "decline_code": decline.decline_code,
                    "message": decline.message,
                    "charge_id": charge_id,
                },
            }
        after = await repo.charge_intent(
            tx,
            intent.id,
            {
                "charge_id": charge_id,
                "payment_method_id": method["payment_method_id"],
                "amount_cents": intent.amount_cents,
                "currency": intent.currency,
                "status": "failed" if decline else "succeeded",
                "failure_code": decline.code if decline else None,
                "decline_code": decline.decline_code if decline else None,
                "failure_message": decline.message if decline else None,
                "created_at": now,
            },
            changes,
            new_method=method if new_method else None,
        )
        kind: EventType = (
            "payment_intent.succeeded" if decline is None else "payment_intent.payment_failed"
        )
        await self._event(tx, kind, after, after, now)
        return after

    async def _require_action(
        self, tx: Transaction, intent: PaymentIntent, method: dict[str, Any], now: datetime
    ) -> PaymentIntent:
        page = await repo.open_session_of(tx, intent.id, now)
        if page is None:
            page = {"checkout_session_id": new_id("cs")}
            await repo.insert_session(
                tx,
                {
                    **page,
                    "payment_intent_id": intent.id,
                    "success_url": None,
                    "cancel_url": None,
                    "expires_at": now + CHALLENGE_TIME,
                    # Opened by this server itself, for the challenge.
                    "created_by": "payment-server",
                    "created_at": now,
                },
            )
        return await repo.update_intent(
            tx,
            intent.id,
            {
                "status": "requires_action",
                "payment_method_id": method["payment_method_id"],
                "next_action": {
                    "type": "authenticate",
                    "message": "the card needs 3-D Secure: the customer approves the payment "
                    "on the page at url",
                    "url": checkout_url(self.public_url, page["checkout_session_id"]),
                },
                "last_payment_error": None,
                "updated_at": now,
            },
        )

    async def fail_authentication(
        self, tx: Transaction, intent: PaymentIntent, now: datetime
    ) -> PaymentIntent:
        """The customer refused the 3-D Secure challenge: the intent waits for another card."""
        after = await repo.update_intent(
            tx,
            intent.id,
            {
                "status": "requires_payment_method",
                "next_action": None,
                "last_payment_error": {
                    "code": "payment_intent_authentication_failure",
                    "decline_code": "authentication_required",
                    "message": "The card's 3-D Secure authentication was not approved.",
                    "charge_id": None,
                },
                "updated_at": now,
            },
        )
        await self._event(tx, "payment_intent.payment_failed", after, after, now)
        return after

    async def cancel_payment_intent(
        self, caller: Caller, *, payment_intent_id: str, idempotency_key: str
    ) -> PaymentIntent:
        async def work(tx: Transaction) -> PaymentIntent:
            intent = await self.visible_intent(tx, caller, payment_intent_id, lock=True)
            if intent.status == "canceled":
                return intent
            if intent.status not in ("requires_payment_method", "requires_action"):
                raise DomainError(
                    INVALID_STATE,
                    f"payment intent {intent.id} is {intent.status} and cannot be canceled"
                    + ("; refund it instead" if intent.status == "succeeded" else ""),
                )
            now = self.clock()
            after = await repo.update_intent(
                tx,
                intent.id,
                {"status": "canceled", "canceled_at": now, "next_action": None, "updated_at": now},
            )
            await self._event(tx, "payment_intent.canceled", after, after, now)
            return after

        return await self.idempotency.run_once(
            self.db,
            caller=caller.namespace,
            tool="cancel_payment_intent",
            key=idempotency_key,
            arguments={"payment_intent_id": payment_intent_id},
            model=PaymentIntent,
            work=work,
        )

    # Refunds ----------------------------------------------------------------------------------

    async def create_refund(
        self,
        caller: Caller,
        *,
        payment_intent_id: str,
        amount_cents: int | None,
        reason: RefundReason,
        idempotency_key: str,
    ) -> Refund:
        """Refunds all that is left, or part of it; the intent's row lock orders concurrent
        refunds, and the refund chain's constraints stop an excess even without it."""

        async def work(tx: Transaction) -> Refund:
            intent = await self.visible_intent(tx, caller, payment_intent_id, lock=True)
            charge = await repo.successful_charge(tx, intent.id)
            if intent.status != "succeeded" or charge is None:
                raise DomainError(
                    INVALID_STATE,
                    f"payment intent {intent.id} is {intent.status}; only a succeeded payment "
                    "can be refunded",
                )
            refunded = await repo.refund_total(tx, charge["charge_id"])
            left = charge["amount_cents"] - refunded
            amount = left if amount_cents is None else amount_cents
            if amount <= 0 or amount > left:
                raise DomainError(
                    REFUND_EXCEEDS_CHARGE,
                    f"{amount} cents cannot be refunded: {left} of the "
                    f"{charge['amount_cents']} cents charged are left to refund",
                )
            now = self.clock()
            refund = await repo.insert_refund(
                tx,
                {
                    "refund_id": new_id("re"),
                    "charge_id": charge["charge_id"],
                    "payment_intent_id": intent.id,
                    "amount_cents": amount,
                    "currency": charge["currency"],
                    "charge_amount_cents": charge["amount_cents"],
                    "previous_total_cents": refunded or None,
                    "reason": reason,
                    "created_at": now,
                },
            )
            after = await repo.update_intent(
                tx, intent.id, {"amount_refunded_cents": refunded + amount, "updated_at": now}
            )
            await self._event(tx, "charge.refunded", after, refund, now)
            return refund

        return await self.idempotency.run_once(
            self.db,
            caller=caller.namespace,
            tool="create_refund",
            key=idempotency_key,
            arguments={
                "payment_intent_id": payment_intent_id,
                "amount_cents": amount_cents,
                "reason": reason,
            },
            model=Refund,
            work=work,
        )

    # Events -----------------------------------------------------------------------------------

    async def list_events(self, caller: Caller, *, since: str | None, limit: int) -> EventList:
        limit = max(1, min(limit, MAX_EVENTS))
        async with self.db.read() as tx:
            if since is not None and await repo.event(tx, since, caller.customer) is None:
                raise DomainError(EVENT_NOT_FOUND, f"no event {since}")
            events = await repo.events_after(tx, since, caller.customer, limit + 1)
        return EventList(events=events[:limit], has_more=len(events) > limit)

    async def get_event(self, caller: Caller, event_id: str) -> Event:
        async with self.db.read() as tx:
            found = await repo.event(tx, event_id, caller.customer)
        if found is None:
            raise DomainError(EVENT_NOT_FOUND, f"no event {event_id}")
        return found

    # Helpers ----------------------------------------------------------------------------------

    async def visible_intent(
        self, tx: Transaction, caller: Caller, payment_intent_id: str, *, lock: bool = False
    ) -> PaymentIntent:
        """The intent, or the same NOT_FOUND for a missing one and another customer's."""
        intent = await repo.intent(tx, payment_intent_id, lock=lock)
        if intent is None or (
            caller.customer is not None and intent.customer_ref != caller.customer
        ):
            raise DomainError(PAYMENT_INTENT_NOT_FOUND, f"no payment intent {payment_intent_id}")
        return intent

    async def _usable_method(
        self, tx: Transaction, caller: Caller, intent: PaymentIntent, ref: str
    ) -> dict[str, Any]:
        """The stored payment method row if this caller may pay this intent with it."""
        row = await repo.method(tx, ref)
        # A detached card pays no more, except the payment it is already attached to.
        if row is not None and row["detached_at"] and ref != intent.payment_method:
            row = None
        return _usable(caller, intent, row, ref)

    async def _event(
        self,
        tx: Transaction,
        kind: EventType,
        intent: PaymentIntent,
        subject: BaseModel,
        now: datetime,
    ) -> Event:
        return await repo.insert_event(
            tx,
            {
                "event_id": new_id("evt"),
                "type": kind,
                "payment_intent_id": intent.id,
                "customer_ref": intent.customer_ref,
                "data": {"object": subject.model_dump(mode="json")},
                "now": now,
            },
        )


def _usable(
    caller: Caller, intent: PaymentIntent, row: dict[str, Any] | None, ref: str
) -> dict[str, Any]:
    """The method's row, if the caller may pay the intent with it: a method that is not there,
    not the caller's, or not the intent's customer's is refused as a missing one."""
    owner = None if row is None else row["owner"]
    if (
        row is None
        or (caller.customer is not None and owner != caller.customer)
        or (owner is not None and owner != intent.customer_ref)
    ):
        raise DomainError(PAYMENT_METHOD_NOT_FOUND, f"no payment method {ref}")
    return row
