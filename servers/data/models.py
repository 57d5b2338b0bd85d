"""Types of the data server: argument types of its tools and the records it returns."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, EmailStr, Field, StringConstraints

from servers.core.ids import id_pattern

TicketType = Literal["general", "standard", "vip", "premium"]
TicketStatus = Literal["active", "used", "cancelled", "expired"]
Tier = Literal["standard", "non_stop", "double_fun"]
OrderStatus = Literal["awaiting_payment", "confirmed", "expired", "cancelled", "refunded"]
ReleaseReason = Literal["expired", "cancelled"]

TIERS: tuple[Tier, ...] = ("standard", "non_stop", "double_fun")

CustomerId = Annotated[str, StringConstraints(pattern=id_pattern("cus"))]
TicketNumber = Annotated[str, StringConstraints(pattern=r"^TKT-[0-9A-Z]{4,16}$")]
OrderId = Annotated[str, StringConstraints(pattern=id_pattern("ord"))]
PaymentIntentId = Annotated[str, StringConstraints(pattern=r"^pi_[A-Za-z0-9_]{8,64}$")]
RefundId = Annotated[str, StringConstraints(pattern=r"^re_[A-Za-z0-9_]{8,64}$")]
FullName = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True, min_length=1, max_length=200, pattern=r"^[^\x00-\x1f\x7f]+$"
    ),
]
Email = Annotated[EmailStr, StringConstraints(max_length=254)]


class Record(BaseModel):
    model_config = ConfigDict(frozen=True)


class Customer(Record):
    customer_id: str
    email: str
    full_name: str
    created_at: datetime


class Ticket(Record):
    ticket_number: str
    customer_id: str
    ticket_type: TicketType
    status: TicketStatus
    visit_date: date
    upgrade_tier: Tier | None
    original_price_cents: int
    currency: str
    metadata: dict[str, Any]
    created_at: datetime
    updated_at: datetime


class Order(Record):
    order_id: str
    ticket_number: str
    customer_id: str
    tier: Tier
    visit_date: date
    amount_cents: int
    currency: str
    status: OrderStatus
    hold_expires_at: datetime
    payment_intent_id: str | None
    confirmation_code: str | None
    refund_id: str | None
    created_at: datetime
    updated_at: datetime
    confirmed_at: datetime | None
    closed_at: datetime | None


class TicketDetail(Ticket):
    open_order: Order | None = Field(
        description="The ticket's live hold (awaiting payment, not expired) or confirmed "
        "upgrade, if it has one: a ticket has at most one, and none may be started beside it."
    )


class ConfirmedOrder(Order):
    customer: Customer = Field(
        description="The order's customer: whom the confirmation e-mail goes to."
    )


class TicketList(Record):
    tickets: list[Ticket]


class OrderList(Record):
    orders: list[Order]


class InventoryDay(Record):
    date: date
    tier: Tier
    capacity: int
    held: int = Field(description="Seats under unexpired holds.")
    sold: int = Field(description="Seats of confirmed upgrades.")
    seats_left: int


class Inventory(Record):
    days: list[InventoryDay]


class TicketInventory(Record):
    ticket: TicketDetail
    days: list[InventoryDay] = Field(description="The seats of each date of the range.")


class ExpiredHolds(Record):
    expired: list[Order]


class Violation(Record):
    kind: Literal["oversold", "ticket_order_mismatch", "upgrade_without_order", "stale_hold"]
    detail: str
    ref: str = Field(description="The date/tier, order or ticket concerned.")


class IntegrityReport(Record):
    ok: bool
    violations: list[Violation]


ChangeId = Annotated[str, StringConstraints(pattern=id_pattern("chg"))]
ChangeStatus = Literal["held", "applied", "released"]
ChangeReleaseReason = Literal["declined", "expired", "cancelled"]
DeclineCode = Annotated[str, StringConstraints(pattern=r"^[a-z_]{1,64}$")]


class RefundPart(Record):
    payment_intent_id: str
    amount_cents: int


class OrderChange(Record):
    change_id: str
    order_id: str
    status: ChangeStatus = Field(
        description="held (a seat on the new date and tier is held), applied (the order and "
        "ticket moved to it) or released (the old upgrade stands)."
    )
    from_tier: Tier
    from_visit_date: date
    from_amount_cents: int
    to_tier: Tier
    to_visit_date: date
    to_amount_cents: int
    currency: str
    hold_expires_at: datetime
    charge_intent_id: str | None = Field(description="The payment of a higher price's difference.")
    refund_plan: list[RefundPart] = Field(
        description="The refunds that give back a lower price's difference, newest payment first."
    )
    release_reason: ChangeReleaseReason | None
    decline_code: str | None
    created_at: datetime
    updated_at: datetime
    closed_at: datetime | None


class OrderPayment(Record):
    payment_intent_id: str
    charged_cents: int
    refunded_cents: int = Field(description="Given back by changes to a lower price.")


class OrderPayments(Record):
    order_id: str
    payments: list[OrderPayment] = Field(description="The order's first payment, then changes'.")
