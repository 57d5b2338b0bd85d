"""Types of the payment server: argument types of its tools and the records it returns."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from servers.core.ids import ID_BODY, id_pattern

IntentStatus = Literal[
    "requires_payment_method", "requires_action", "processing", "succeeded", "canceled"
]
Brand = Literal["visa", "mastercard", "amex", "discover", "unknown"]
RefundReason = Literal["requested_by_customer", "duplicate", "fraudulent"]
EventType = Literal[
    "payment_intent.succeeded",
    "payment_intent.payment_failed",
    "payment_intent.canceled",
    "charge.refunded",
]

PaymentIntentId = Annotated[str, StringConstraints(pattern=id_pattern("pi"))]
PaymentMethodId = Annotated[str, StringConstraints(pattern=id_pattern("pm"))]
CheckoutSessionId = Annotated[str, StringConstraints(pattern=id_pattern("cs"))]
CheckoutStatus = Literal["open", "complete", "expired"]
# Where the page sends the customer afterwards: a web address, never a script or data URL.
ReturnUrl = Annotated[str, StringConstraints(max_length=2000, pattern=r"^https?://[^\s<>\"']+$")]
EventId = Annotated[str, StringConstraints(pattern=id_pattern("evt"))]
PaymentMethodRef = Annotated[
    str, StringConstraints(pattern=rf"^(pm_{ID_BODY}|pm_card_[A-Za-z]{{1,60}})$")
]
CardNumber = Annotated[str, StringConstraints(pattern=r"^([0-9 \-]{1,40}|pm_card_[A-Za-z]{1,60})$")]
Cvc = Annotated[str, StringConstraints(pattern=r"^[0-9]{1,8}$")]
CustomerRef = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.:@\-]{1,100}$")]
Description = Annotated[
    str, StringConstraints(max_length=500, pattern=r"^[^\x00-\x08\x0b-\x1f\x7f]*$")
]
Metadata = Annotated[
    dict[
        Annotated[str, StringConstraints(min_length=1, max_length=40)],
        Annotated[str, StringConstraints(max_length=500)],
    ],
    Field(max_length=20),
]


class Record(BaseModel):
    model_config = ConfigDict(frozen=True)


class PaymentMethod(Record):
    payment_method_id: str
    brand: Brand
    last4: str
    exp_month: int
    exp_year: int
    fingerprint: str
    created_at: datetime
    detached_at: datetime | None = Field(
        None, description="When the customer removed it; a detached card cannot pay."
    )


class PaymentMethodList(Record):
    payment_methods: list[PaymentMethod] = Field(description="Newest first; none detached.")


class PaymentError(Record):
    code: str = Field(description="card_declined, expired_card, incorrect_cvc, processing_error.")
    decline_code: str = Field(description="Why the card was declined, e.g. insufficient_funds.")
    message: str
    charge_id: str | None = None


class NextAction(Record):
    type: Literal["authenticate"]
    message: str
    url: str = Field(
        description="The payment server's page where the customer passes the challenge."
    )


class PaymentIntent(Record):
    id: str
    status: IntentStatus
    amount_cents: int
    currency: str
    amount_received_cents: int
    amount_refunded_cents: int
    description: str | None
    customer_ref: str | None
    metadata: dict[str, str]
    client_secret: str
    payment_method: str | None
    latest_charge: str | None
    last_payment_error: PaymentError | None
    next_action: NextAction | None
    created_at: datetime
    updated_at: datetime
    canceled_at: datetime | None


class Refund(Record):
    id: str
    payment_intent_id: str
    charge_id: str
    amount_cents: int
    currency: str
    reason: RefundReason
    status: Literal["succeeded"]
    created_at: datetime


class Event(Record):
    id: str
    type: EventType
    payment_intent_id: str
    created_at: datetime
    data: dict[str, Any] = Field(description="The object the event is about, as it was then.")


class EventList(Record):
    events: list[Event]
    has_more: bool


class CheckoutSession(Record):
    id: str
    url: str = Field(description="The hosted page to send the customer to; its id is secret.")
    status: CheckoutStatus = Field(
        description="open; complete once paid; expired after expires_at or when the payment "
        "was canceled."
    )
    payment_intent_id: str
    amount_cents: int
    currency: str
    description: str | None
    customer_ref: str | None
    success_url: str | None
    cancel_url: str | None
    expires_at: datetime
    created_at: datetime
