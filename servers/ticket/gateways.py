"""The other servers as the ticket server sees them: typed calls over a ServiceClient.

Records are parsed into this server's own small models (extra fields ignored) rather than
imported from the data server, so that each server deploys and evolves on its own.
"""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, ConfigDict

from servers.core.client import ToolCaller

from .rules import TicketType, Tier


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


class RemotePaymentError(Remote):
    code: str
    decline_code: str
    message: str


class RemoteIntent(Remote):
    id: str
    status: str
    amount_cents: int
    amount_received_cents: int
    currency: str
    client_secret: str
    latest_charge: str | None
    last_payment_error: RemotePaymentError | None


class RemoteRefund(Remote):
    id: str
    amount_cents: int


class DataGateway:
    """The data server's tools that the ticket server uses, reads and writes."""

    def __init__(self, client: ToolCaller):
        self.client = client

    async def get_ticket(self, ticket_number: str, owner: str) -> RemoteTicketDetail:
        """The owner's ticket with its open order (live hold or confirmed upgrade), in one
        call; anyone else's is TICKET_NOT_FOUND, answered by the data server as a missing one."""
        return RemoteTicketDetail.model_validate(
            await self.client.call(
                "get_ticket", {"ticket_number": ticket_number, "customer_id": owner}
            )
        )

    async def list_tickets(self, customer_id: str) -> list[RemoteTicket]:
        found = await self.client.call("list_tickets", {"customer_id": customer_id})
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

    async def reserve(
        self,
        *,
        ticket_number: str,
        tier: Tier,
        visit_date: date,
        amount_cents: int,
        currency: str,
        hold_minutes: int,
        idempotency_key: str,
    ) -> RemoteOrder:
        return RemoteOrder.model_validate(
            await self.client.call(
                "reserve_upgrade",
                {
                    "ticket_number": ticket_number,
                    "tier": tier,
                    "visit_date": visit_date.isoformat(),
                    "amount_cents": amount_cents,
                    "currency": currency,
                    "hold_minutes": hold_minutes,
                    "idempotency_key": idempotency_key,
                },
            )
        )

    async def get_order(self, order_id: str, owner: str | None = None) -> RemoteOrder:
        """The order; with ``owner``, anyone else's is ORDER_NOT_FOUND, as a missing one."""
        arguments = (
            {"order_id": order_id}
            if owner is None
            else {"order_id": order_id, "customer_id": owner}
        )
        return RemoteOrder.model_validate(await self.client.call("get_order", arguments))

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
    ) -> RemoteOrder:
        return RemoteOrder.model_validate(
            await self.client.call(
                "confirm_order",
                {
                    "order_id": order_id,
                    "payment_intent_id": payment_intent_id,
                    "amount_cents": amount_cents,
                },
            )
        )

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
        *,
        authenticated: bool = False,
    ) -> RemoteIntent:
        return RemoteIntent.model_validate(
            await self.client.call(
                "confirm_payment_intent",
                {
                    "payment_intent_id": payment_intent_id,
                    "payment_method": payment_method,
                    "idempotency_key": idempotency_key,
                    "authenticated": authenticated,
                },
            )
        )

    async def get_intent(self, payment_intent_id: str) -> RemoteIntent:
        return RemoteIntent.model_validate(
            await self.client.call("get_payment_intent", {"payment_intent_id": payment_intent_id})
        )

    async def cancel(self, payment_intent_id: str, idempotency_key: str) -> RemoteIntent:
        return RemoteIntent.model_validate(
            await self.client.call(
                "cancel_payment_intent",
                {"payment_intent_id": payment_intent_id, "idempotency_key": idempotency_key},
            )
        )

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
