"""The other servers as the ticket server sees them: typed calls over a ServiceClient.

Records are parsed into this server's own small models (extra fields ignored) rather than
imported from the data server, so that each server deploys and evolves on its own. The other
servers' error codes this server acts on are part of that contract and are read only here: a
refusal the service must handle comes back as ``None`` or as one of the exceptions below,
never as a code for the service to compare.
"""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, ConfigDict

from servers.core.client import RemoteToolError, ToolCaller

from .rules import TicketType, Tier

# The data server's refusals this server handles.
DATA_CUSTOMER_NOT_FOUND = "CUSTOMER_NOT_FOUND"
DATA_TICKET_NOT_FOUND = "TICKET_NOT_FOUND"
DATA_ORDER_NOT_FOUND = "ORDER_NOT_FOUND"
DATA_HOLD_EXPIRED = "HOLD_EXPIRED"
DATA_ORDER_EXISTS = "ORDER_EXISTS"
# The data server's refusals of a hold for the ticket itself (whose, its type, state or visit).
DATA_TICKET_REFUSALS = frozenset(
    {DATA_TICKET_NOT_FOUND, "TICKET_NOT_ACTIVE", "TICKET_NOT_ELIGIBLE"}
)
# The payment server's refusal of an intent that is past being confirmed (or cancelled).
PAYMENT_INVALID_STATE = "INVALID_STATE"
PAYMENT_METHOD_NOT_FOUND = "PAYMENT_METHOD_NOT_FOUND"
# The payment server's refusal of a key reused with other arguments (another card).
PAYMENT_IDEMPOTENCY_MISMATCH = "IDEMPOTENCY_MISMATCH"
# The codes of a payment error that says the processor failed, not the card: worth a retry.
PAYMENT_TRANSIENT_ERRORS = frozenset({"processing_error"})


class HoldLapsed(Exception):
    """The data server will not confirm the order: its hold expired and the date filled up."""


class OrderExists(Exception):
    """The ticket already has an open upgrade order: a live hold or a confirmed upgrade (the
    data server checks it atomically with the reservation)."""


class TicketRefused(Exception):
    """The data server will not hold a seat for the ticket: it is not the customer's, or its
    type, state or visit does not allow the upgrade. Its wording is in the data server's terms;
    the ticket server words the refusal itself."""


class IntentPastConfirming(Exception):
    """The payment server will not confirm (or cancel) the intent: something else already
    moved it on (paid, cancelled or in progress). Its own wording stays in the log."""


class KeyReused(Exception):
    """The payment server refuses the confirmation: its key was used with other arguments.
    Its wording names the derived key and its own tool, so it stays in the log."""


class Remote(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")


class RemoteTicket(Remote):
    ticket_number: str
    customer_id: str
    ticket_type: TicketType
    status: str
    visit_date: date
    upgrade_tier: Tier | None
    original_price_cents: int
    currency: str


class RemoteOrder(Remote):
    order_id: str
    ticket_number: str
    customer_id: str
    tier: Tier
    visit_date: date
    amount_cents: int
    currency: str
    status: str
    hold_expires_at: datetime
    payment_intent_id: str | None
    confirmation_code: str | None


class RemoteTicketDetail(RemoteTicket):
    open_order: RemoteOrder | None


class RemoteSeats(Remote):
    date: date
    tier: Tier
    seats_left: int


class RemoteCustomer(Remote):
    customer_id: str
    email: str
    full_name: str


class RemoteConfirmedOrder(RemoteOrder):
    customer: RemoteCustomer


class RemoteTicketInventory(Remote):
    ticket: RemoteTicketDetail
    days: list[RemoteSeats]


class RemotePaymentError(Remote):
    code: str
    decline_code: str
    message: str


class RemoteNextAction(Remote):
    url: str


class RemoteIntent(Remote):
    id: str
    status: str
    amount_cents: int
    amount_received_cents: int
    currency: str
    client_secret: str
    latest_charge: str | None
    last_payment_error: RemotePaymentError | None
    next_action: RemoteNextAction | None = None


class RemoteCheckout(Remote):
    id: str
    url: str
    status: str
    expires_at: datetime


class RemoteRefund(Remote):
    id: str
    amount_cents: int


class DataGateway:
    """The data server's tools that the ticket server uses, reads and writes."""

    def __init__(self, client: ToolCaller):
        self.client = client

    async def get_ticket(self, ticket_number: str, owner: str) -> RemoteTicketDetail | None:
        """The owner's ticket with its open order (live hold or confirmed upgrade), in one
        call; None when there is none, or it is anyone else's (the data server answers both
        alike)."""
        try:
            found = await self.client.call(
                "get_ticket", {"ticket_number": ticket_number, "customer_id": owner}
            )
        except RemoteToolError as exc:
            if exc.code == DATA_TICKET_NOT_FOUND:
                return None
            raise
        return RemoteTicketDetail.model_validate(found)

    async def get_ticket_with_seats(
        self, ticket_number: str, owner: str, start: date, end: date, tier: Tier
    ) -> tuple[RemoteTicketDetail, dict[date, int]] | None:
        """:meth:`get_ticket` and :meth:`seats` in one call (a ticket's calendar); None as
        :meth:`get_ticket` answers it."""
        try:
            found = await self.client.call(
                "get_ticket_and_inventory",
                {
                    "ticket_number": ticket_number,
                    "customer_id": owner,
                    "start_date": start.isoformat(),
                    "end_date": end.isoformat(),
                    "tier": tier,
                },
            )
        except RemoteToolError as exc:
            if exc.code == DATA_TICKET_NOT_FOUND:
                return None
            raise
        both = RemoteTicketInventory.model_validate(found)
        return both.ticket, {d.date: d.seats_left for d in both.days}

    async def list_tickets(self, customer_id: str) -> list[RemoteTicket]:
        """The customer's tickets; none for a customer the data server does not know."""
        try:
            found = await self.client.call("list_tickets", {"customer_id": customer_id})
        except RemoteToolError as exc:
            if exc.code == DATA_CUSTOMER_NOT_FOUND:
                return []
            raise
        return [RemoteTicket.model_validate(t) for t in found["tickets"]]

    async def seats(self, start: date, end: date, tier: Tier) -> dict[date, int]:
        found = await self.client.call(
            "get_date_inventory",
            {"start_date": start.isoformat(), "end_date": end.isoformat(), "tier": tier},
        )
        days = [RemoteSeats.model_validate(d) for d in found["days"]]
        return {d.date: d.seats_left for d in days}

    async def get_customer(self, customer_id: str) -> RemoteCustomer:
        return RemoteCustomer.model_validate(
            await self.client.call("get_customer", {"customer_id": customer_id})
        )

    async def sign_in_customer(
        self, *, issuer: str, subject: str, email: str, full_name: str
    ) -> RemoteCustomer:
        """The customer of a sign-in identity (servers/core/subjects.py)."""
        arguments = {"issuer": issuer, "subject": subject, "email": email, "full_name": full_name}
        return RemoteCustomer.model_validate(await self.client.call("sign_in_customer", arguments))

    async def reserve(
        self,
        *,
        ticket_number: str,
        owner: str,
        tier: Tier,
        visit_date: date,
        prices: dict[TicketType, int],
        ticket_visit_from: date,
        currency: str,
        hold_minutes: int,
        idempotency_key: str,
    ) -> RemoteOrder:
        """The hold of a seat for ``owner``'s ticket, priced by its type, if its visit is on or
        after ``ticket_visit_from``; raises :class:`TicketRefused` when the ticket is not one
        of theirs meeting those conditions, :class:`OrderExists` when it has an open order."""
        try:
            found = await self.client.call(
                "reserve_upgrade",
                {
                    "ticket_number": ticket_number,
                    "customer_id": owner,
                    "tier": tier,
                    "visit_date": visit_date.isoformat(),
                    "prices": prices,
                    "ticket_visit_from": ticket_visit_from.isoformat(),
                    "currency": currency,
                    "hold_minutes": hold_minutes,
                    "idempotency_key": idempotency_key,
                },
            )
        except RemoteToolError as exc:
            if exc.code == DATA_ORDER_EXISTS:
                raise OrderExists(exc.message) from exc
            if exc.code in DATA_TICKET_REFUSALS:
                raise TicketRefused(exc.message) from exc
            raise
        return RemoteOrder.model_validate(found)

    async def get_order(self, order_id: str, owner: str | None = None) -> RemoteOrder | None:
        """The order, or None when there is none; with ``owner``, also None when it is anyone
        else's (the data server answers both alike)."""
        arguments = (
            {"order_id": order_id}
            if owner is None
            else {"order_id": order_id, "customer_id": owner}
        )
        try:
            found = await self.client.call("get_order", arguments)
        except RemoteToolError as exc:
            if exc.code == DATA_ORDER_NOT_FOUND:
                return None
            raise
        return RemoteOrder.model_validate(found)

    async def awaiting_payment(self) -> list[RemoteOrder]:
        found = await self.client.call("list_orders", {"status": "awaiting_payment"})
        return [RemoteOrder.model_validate(o) for o in found["orders"]]

    async def orders_of_customer(self, customer_id: str) -> list[RemoteOrder]:
        found = await self.client.call("list_orders", {"customer_id": customer_id})
        return [RemoteOrder.model_validate(o) for o in found["orders"]]

    async def attach_payment(self, order_id: str, payment_intent_id: str) -> RemoteOrder:
        return RemoteOrder.model_validate(
            await self.client.call(
                "attach_payment", {"order_id": order_id, "payment_intent_id": payment_intent_id}
            )
        )

    async def confirm_order(
        self, order_id: str, payment_intent_id: str, amount_cents: int
    ) -> RemoteConfirmedOrder:
        """The confirmed order with its customer, whom to e-mail (confirming twice is harmless);
        raises :class:`HoldLapsed` when the hold expired and its seat went to someone else."""
        try:
            found = await self.client.call(
                "confirm_order",
                {
                    "order_id": order_id,
                    "payment_intent_id": payment_intent_id,
                    "amount_cents": amount_cents,
                },
            )
        except RemoteToolError as exc:
            if exc.code == DATA_HOLD_EXPIRED:
                raise HoldLapsed(exc.message) from exc
            raise
        return RemoteConfirmedOrder.model_validate(found)

    async def release_order(self, order_id: str, reason: str) -> RemoteOrder:
        return RemoteOrder.model_validate(
            await self.client.call("release_order", {"order_id": order_id, "reason": reason})
        )

    async def mark_refunded(self, order_id: str, refund_id: str) -> RemoteOrder:
        return RemoteOrder.model_validate(
            await self.client.call("mark_refunded", {"order_id": order_id, "refund_id": refund_id})
        )


class PaymentGateway:
    """The payment server's tools, called with the ticket server's own token."""

    def __init__(self, client: ToolCaller):
        self.client = client

    async def create_intent(
        self,
        *,
        amount_cents: int,
        currency: str,
        description: str,
        customer_ref: str,
        metadata: dict[str, str],
        idempotency_key: str,
    ) -> RemoteIntent:
        return RemoteIntent.model_validate(
            await self.client.call(
                "create_payment_intent",
                {
                    "amount_cents": amount_cents,
                    "currency": currency,
                    "description": description,
                    "customer_ref": customer_ref,
                    "metadata": metadata,
                    "idempotency_key": idempotency_key,
                },
            )
        )

    async def confirm(
        self,
        payment_intent_id: str,
        payment_method: str,
        idempotency_key: str,
    ) -> RemoteIntent:
        """The intent after the attempt (a decline is an answer, with its error); raises
        :class:`IntentPastConfirming` when the intent was already paid, cancelled or is being
        paid by another call, and :class:`KeyReused` when the key was used for another card."""
        try:
            found = await self.client.call(
                "confirm_payment_intent",
                {
                    "payment_intent_id": payment_intent_id,
                    "payment_method": payment_method,
                    "idempotency_key": idempotency_key,
                },
            )
        except RemoteToolError as exc:
            if exc.code == PAYMENT_INVALID_STATE:
                raise IntentPastConfirming(exc.message) from exc
            if exc.code == PAYMENT_IDEMPOTENCY_MISMATCH:
                raise KeyReused(exc.message) from exc
            raise
        return RemoteIntent.model_validate(found)

    async def open_checkout(
        self, payment_intent_id: str, expires_at: datetime, idempotency_key: str
    ) -> RemoteCheckout:
        """The payment server's hosted page where the customer pays the intent by card: the
        card never reaches this server."""
        try:
            found = await self.client.call(
                "create_checkout_session",
                {
                    "payment_intent_id": payment_intent_id,
                    "expires_at": expires_at.isoformat(),
                    "idempotency_key": idempotency_key,
                },
            )
        except RemoteToolError as exc:
            if exc.code == PAYMENT_INVALID_STATE:
                raise IntentPastConfirming(exc.message) from exc
            raise
        return RemoteCheckout.model_validate(found)

    async def get_intent(self, payment_intent_id: str) -> RemoteIntent:
        return RemoteIntent.model_validate(
            await self.client.call("get_payment_intent", {"payment_intent_id": payment_intent_id})
        )

    async def cancel(self, payment_intent_id: str, idempotency_key: str) -> RemoteIntent:
        """The cancelled intent; raises :class:`IntentPastConfirming` when it was paid (or is
        being paid) first."""
        try:
            found = await self.client.call(
                "cancel_payment_intent",
                {"payment_intent_id": payment_intent_id, "idempotency_key": idempotency_key},
            )
        except RemoteToolError as exc:
            if exc.code == PAYMENT_INVALID_STATE:
                raise IntentPastConfirming(exc.message) from exc
            raise
        return RemoteIntent.model_validate(found)

    async def refund(self, payment_intent_id: str, idempotency_key: str) -> RemoteRefund:
        return RemoteRefund.model_validate(
            await self.client.call(
                "create_refund",
                {
                    "payment_intent_id": payment_intent_id,
                    "reason": "requested_by_customer",
                    "idempotency_key": idempotency_key,
                },
            )
        )


class NotifyGateway:
    """The notify server's send_email, called with the ticket server's own token."""

    def __init__(self, client: ToolCaller):
        self.client = client

    async def send(
        self, template: str, to: str, context: dict[str, object], *, key: str, reference: str
    ) -> None:
        await self.client.call(
            "send_email",
            {
                "template": template,
                "to": to,
                "context": context,
                "idempotency_key": key,
                "reference": reference,
            },
        )
