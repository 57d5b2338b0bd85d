"""The data server's MCP tools: thin, typed wrappers over :class:`DataService`."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from servers.core.app import CREATES, READ_ONLY, UPDATES, KitMCP, create_mcp, requires
from servers.core.auth import current_caller
from servers.core.scopes import DATA_READ, DATA_WRITE
from servers.core.types import Cents, Currency, IdempotencyKey, IsoDate, StrictInt

from .case_tools import register_support_case_tools
from .cases import SupportCases
from .change_tools import register_change_tools
from .changes import OrderChanges
from .identities import Identities, register_identity_tools
from .models import (
    ConfirmedOrder,
    Customer,
    CustomerId,
    Email,
    ExpiredHolds,
    FullName,
    IntegrityReport,
    Inventory,
    InventoryDay,
    Order,
    OrderId,
    OrderList,
    OrderStatus,
    PaymentIntentId,
    RefundId,
    ReleaseReason,
    Ticket,
    TicketDetail,
    TicketInventory,
    TicketList,
    TicketNumber,
    TicketStatus,
    TicketType,
    Tier,
)
from .service import DataService

RESOURCE = "data"
SCOPES = (DATA_READ, DATA_WRITE)

INSTRUCTIONS = """\
The system of record of ticket upgrades: customers, tickets, upgrade orders and the seats of each
date and tier. Services call it; customers never do. Writes are atomic and safe to retry: tools
that create something take an idempotency_key, the others are idempotent by nature. Errors start
with a stable code such as SOLD_OUT, ORDER_EXISTS or TICKET_NOT_FOUND."""

_KEY = Field(
    description="A unique key per intended write (8-128 of A-Z a-z 0-9 _ . : -). "
    "Retrying with the same key returns the first result."
)

_OWNER = Field(
    description="When given, only this customer's: anyone else's answers exactly like a "
    "missing one (same code, same message, same query)."
)


def build_server(service: DataService) -> KitMCP:
    mcp = create_mcp("data", instructions=INSTRUCTIONS)

    @mcp.tool(annotations=READ_ONLY, meta=requires(DATA_READ))
    async def find_customer(
        email: Annotated[Email, Field(description="The customer's e-mail address.")],
    ) -> Customer:
        """Find a customer by e-mail address (case-insensitive)."""
        return await service.find_customer(email)

    @mcp.tool(annotations=READ_ONLY, meta=requires(DATA_READ))
    async def get_customer(
        customer_id: Annotated[CustomerId, Field(description="Customer id, cus_...")],
    ) -> Customer:
        """Get a customer by id."""
        return await service.get_customer(customer_id)

    @mcp.tool(annotations=CREATES, meta=requires(DATA_WRITE))
    async def create_customer(
        email: Annotated[Email, Field(description="E-mail address; unique per customer.")],
        full_name: Annotated[FullName, Field(description="Name as it appears in e-mails.")],
        idempotency_key: Annotated[IdempotencyKey, _KEY],
    ) -> Customer:
        """Create a customer. EMAIL_TAKEN when the address is already registered."""
        return await service.create_customer(
            email=email,
            full_name=full_name,
            idempotency_key=idempotency_key,
            caller=current_caller().client_id,
        )

    @mcp.tool(annotations=READ_ONLY, meta=requires(DATA_READ))
    async def list_tickets(
        customer_id: Annotated[CustomerId, Field(description="Customer id, cus_...")],
        status: Annotated[
            TicketStatus | None, Field(description="Only tickets in this status.")
        ] = None,
    ) -> TicketList:
        """List a customer's tickets, soonest visit first."""
        return await service.list_tickets(customer_id, status)

    @mcp.tool(annotations=READ_ONLY, meta=requires(DATA_READ))
    async def get_ticket(
        ticket_number: Annotated[TicketNumber, Field(description="Ticket number, TKT-...")],
        customer_id: Annotated[CustomerId | None, _OWNER] = None,
    ) -> TicketDetail:
        """Get one ticket: owner, type, status, visit date, current upgrade tier, and its open
        upgrade order (a live hold or a confirmed upgrade), if any."""
        return await service.get_ticket(ticket_number, customer_id)

    @mcp.tool(annotations=READ_ONLY, meta=requires(DATA_READ))
    async def get_ticket_and_inventory(
        ticket_number: Annotated[TicketNumber, Field(description="Ticket number, TKT-...")],
        start_date: Annotated[IsoDate, Field(description="First date (ISO date).")],
        end_date: Annotated[IsoDate, Field(description="Last date, inclusive; at most 366 days.")],
        tier: Annotated[Tier, Field(description="The tier whose seats are counted.")],
        customer_id: Annotated[CustomerId | None, _OWNER] = None,
    ) -> TicketInventory:
        """get_ticket and get_date_inventory of one tier in one call: a ticket with its open
        upgrade order, and the seats of each date of the range (a ticket's calendar)."""
        return await service.get_ticket_and_inventory(
            ticket_number, customer_id, start_date, end_date, tier
        )

    @mcp.tool(annotations=CREATES, meta=requires(DATA_WRITE))
    async def issue_ticket(
        customer_id: Annotated[CustomerId, Field(description="Owner of the new ticket.")],
        ticket_type: Annotated[TicketType, Field(description="general, standard, vip or premium.")],
        visit_date: Annotated[IsoDate, Field(description="Visit date (ISO date).")],
        price_cents: Annotated[Cents, Field(description="Price paid, in cents.")],
        idempotency_key: Annotated[IdempotencyKey, _KEY],
        currency: Annotated[Currency, Field(description="ISO 4217 currency code.")] = "USD",
    ) -> Ticket:
        """Issue an active ticket to a customer (operators and tests)."""
        return await service.issue_ticket(
            customer_id=customer_id,
            ticket_type=ticket_type,
            visit_date=visit_date,
            price_cents=price_cents,
            currency=currency,
            idempotency_key=idempotency_key,
            caller=current_caller().client_id,
        )

    @mcp.tool(annotations=READ_ONLY, meta=requires(DATA_READ))
    async def get_date_inventory(
        start_date: Annotated[IsoDate, Field(description="First date (ISO date).")],
        end_date: Annotated[IsoDate, Field(description="Last date, inclusive; at most 366 days.")],
        tier: Annotated[Tier | None, Field(description="Only this tier.")] = None,
    ) -> Inventory:
        """Seats per date and tier: capacity, held (unexpired holds), sold and seats_left."""
        return await service.get_date_inventory(start_date, end_date, tier)

    @mcp.tool(annotations=UPDATES, meta=requires(DATA_WRITE))
    async def set_capacity(
        date: Annotated[IsoDate, Field(description="The date (ISO date).")],
        tier: Annotated[Tier, Field(description="standard, non_stop or double_fun.")],
        capacity: Annotated[StrictInt, Field(ge=0, le=100_000, description="Seats for that date.")],
    ) -> InventoryDay:
        """Set the seats of a date and tier; refused below what is already held or sold."""
        return await service.set_capacity(date, tier, capacity)

    @mcp.tool(annotations=CREATES, meta=requires(DATA_WRITE))
    async def reserve_upgrade(
        ticket_number: Annotated[TicketNumber, Field(description="Ticket to upgrade.")],
        tier: Annotated[Tier, Field(description="Tier to upgrade to.")],
        visit_date: Annotated[IsoDate, Field(description="Date of the upgraded visit.")],
        prices: Annotated[
            dict[TicketType, Cents],
            Field(
                min_length=1,
                description="The upgrade's price in cents for each ticket type that may take "
                "it; the order costs the ticket's. A ticket of a type not listed is "
                "TICKET_NOT_ELIGIBLE.",
            ),
        ],
        currency: Annotated[Currency, Field(description="ISO 4217 currency code.")],
        idempotency_key: Annotated[IdempotencyKey, _KEY],
        hold_minutes: Annotated[
            StrictInt, Field(ge=1, le=60, description="How long the seat is held for payment.")
        ] = 15,
        customer_id: Annotated[
            CustomerId | None,
            Field(
                description="Only a ticket of this customer: another's is TICKET_NOT_FOUND, as "
                "a missing one."
            ),
        ] = None,
        ticket_visit_from: Annotated[
            IsoDate | None,
            Field(
                description="Only a ticket whose own visit is on or after this date; an "
                "earlier one is TICKET_NOT_ELIGIBLE."
            ),
        ] = None,
    ) -> Order:
        """Hold a seat for an upgrade: an order awaiting payment until the hold expires.

        Atomic, and checked in this order: TICKET_NOT_ELIGIBLE when the ticket's type has no
        price, TICKET_NOT_ACTIVE for used/cancelled/expired tickets, TICKET_NOT_ELIGIBLE when its
        visit is before ticket_visit_from, ORDER_EXISTS when it already has a live hold or a
        confirmed upgrade, SOLD_OUT when no seat is left."""
        return await service.reserve_upgrade(
            ticket_number=ticket_number,
            tier=tier,
            visit_date=visit_date,
            prices=prices,
            currency=currency,
            hold_minutes=hold_minutes,
            idempotency_key=idempotency_key,
            caller=current_caller().client_id,
            owner=customer_id,
            ticket_visit_from=ticket_visit_from,
        )

    @mcp.tool(annotations=UPDATES, meta=requires(DATA_WRITE))
    async def attach_payment(
        order_id: Annotated[OrderId, Field(description="Order id, ord_...")],
        payment_intent_id: Annotated[PaymentIntentId, Field(description="Payment intent, pi_...")],
    ) -> Order:
        """Record the payment intent that pays an order awaiting payment."""
        return await service.attach_payment(order_id, payment_intent_id)

    @mcp.tool(annotations=UPDATES, meta=requires(DATA_WRITE))
    async def confirm_order(
        order_id: Annotated[OrderId, Field(description="Order id, ord_...")],
        payment_intent_id: Annotated[PaymentIntentId, Field(description="The paying intent.")],
        amount_cents: Annotated[Cents, Field(description="Amount the payment captured.")],
    ) -> ConfirmedOrder:
        """Confirm a paid order: applies tier and date to the ticket, issues a confirmation code;
        answers with the order and its customer (whom to e-mail).

        Idempotent: confirming a confirmed order returns it unchanged."""
        return await service.confirm_order_with_customer(order_id, payment_intent_id, amount_cents)

    @mcp.tool(annotations=UPDATES, meta=requires(DATA_WRITE))
    async def release_order(
        order_id: Annotated[OrderId, Field(description="Order id, ord_...")],
        reason: Annotated[ReleaseReason, Field(description="expired or cancelled.")],
    ) -> Order:
        """Release the seat of an order awaiting payment (expired hold or cancelled)."""
        return await service.release_order(order_id, reason)

    @mcp.tool(annotations=UPDATES, meta=requires(DATA_WRITE))
    async def mark_refunded(
        order_id: Annotated[OrderId, Field(description="Order id, ord_...")],
        refund_id: Annotated[RefundId, Field(description="The refund, re_...")],
    ) -> Order:
        """Mark a confirmed order refunded and put the ticket back as it was before."""
        return await service.mark_refunded(order_id, refund_id)

    @mcp.tool(annotations=READ_ONLY, meta=requires(DATA_READ))
    async def get_order(
        order_id: Annotated[OrderId, Field(description="Order id, ord_...")],
        customer_id: Annotated[CustomerId | None, _OWNER] = None,
    ) -> Order:
        """Get one upgrade order."""
        return await service.get_order(order_id, customer_id)

    @mcp.tool(annotations=READ_ONLY, meta=requires(DATA_READ))
    async def list_orders(
        customer_id: Annotated[
            CustomerId | None, Field(description="Only this customer's.")
        ] = None,
        ticket_number: Annotated[
            TicketNumber | None, Field(description="Only this ticket's.")
        ] = None,
        status: Annotated[OrderStatus | None, Field(description="Only this status.")] = None,
    ) -> OrderList:
        """List upgrade orders, newest first (at most 500)."""
        return await service.list_orders(
            customer_id=customer_id, ticket_number=ticket_number, status=status
        )

    @mcp.tool(annotations=UPDATES, meta=requires(DATA_WRITE))
    async def expire_holds() -> ExpiredHolds:
        """Expire every hold past its expiry time; returns the orders expired now."""
        return await service.expire_holds()

    @mcp.tool(annotations=READ_ONLY, meta=requires(DATA_READ))
    async def check_integrity() -> IntegrityReport:
        """Look for impossible states: oversold dates, tickets and orders that disagree,
        holds long past expiry still open."""
        return await service.check_integrity()

    register_support_case_tools(
        mcp, SupportCases(service.db, service.idempotency, clock=service.clock)
    )
    register_change_tools(mcp, OrderChanges(service))
    register_identity_tools(mcp, Identities(service.db, clock=service.clock))
    return mcp
