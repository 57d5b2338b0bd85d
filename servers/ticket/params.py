"""The arguments the ticket server's tools share, typed and described once."""

from __future__ import annotations

from typing import Annotated

from mcp_types import ToolAnnotations
from pydantic import Field

from servers.core.types import IdempotencyKey, IsoDate

from .models import CustomerId, OrderId, PaymentMethodRef, TicketRef
from .rules import TicketType, Tier

Ticket = Annotated[
    TicketRef,
    Field(description="Ticket number as written, e.g. TKT-JD0001, 'tkt jd 0001' or JD0001."),
]
SearchQuery = Annotated[
    str,
    Field(
        min_length=1,
        max_length=80,
        description="A visit date (2026-12-24, 'Dec 24'), a ticket type (vip) or part of a "
        "ticket number (JD00).",
    ),
]
ForCustomer = Annotated[CustomerId, Field(description="The customer to act for, cus_...")]
Order = Annotated[OrderId, Field(description="Upgrade order id, ord_...")]
UpgradeTier = Annotated[Tier, Field(description="standard, non_stop or double_fun.")]
Kind = Annotated[TicketType, Field(description="Ticket type: general, standard, vip or premium.")]
VisitDate = Annotated[IsoDate, Field(description="The date of the upgraded visit, YYYY-MM-DD.")]
StartDate = Annotated[
    IsoDate | None, Field(description="First date; default the first bookable one.")
]
EndDate = Annotated[IsoDate | None, Field(description="Last date; default 60 days on; at most 92.")]
Key = Annotated[
    IdempotencyKey,
    Field(
        description="A unique key per intended action (8-128 of A-Z a-z 0-9 _ . : -); retrying "
        "with the same key returns the first answer."
    ),
]
Method = Annotated[
    PaymentMethodRef,
    Field(
        description="A saved payment method (pm_...) or a test token such as pm_card_visa; "
        "leave it out to get a checkout page for the customer instead."
    ),
]

# Paying reaches the payment processor: an open world, and retry-safe only through its key.
PAYS = ToolAnnotations(
    readOnlyHint=False, destructiveHint=False, idempotentHint=True, openWorldHint=True
)
