"""E-mail templates: a validated context in, a subject, a plain-text and an HTML part out.

Each template has a pydantic model of its context. Nothing is rendered until the whole context
is valid, and Jinja runs with ``StrictUndefined``, so an e-mail is complete or not made at all.
HTML is autoescaped; the text part and the subject are not HTML and are not escaped. Money comes
in as integer minor units and dates as ISO dates, and both leave formatted for people.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Annotated, Any, Literal

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from pydantic import AwareDatetime, BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints
from pydantic import ValidationError as PydanticValidationError

from servers.core.app import describe_validation
from servers.core.errors import DomainError, invalid_argument
from servers.core.ids import id_pattern
from servers.core.types import Cents, Currency, IsoDate

from .models import Recipient, TemplateField, TemplateInfo, TemplateList

UNKNOWN_TEMPLATE = "UNKNOWN_TEMPLATE"
MAX_CONTEXT_BYTES = 16_384

Tier = Literal["standard", "non_stop", "double_fun"]
TIER_NAMES: dict[str, str] = {
    "standard": "Standard",
    "non_stop": "Non-stop",
    "double_fun": "Double Fun",
}

_ISO_DATETIME_CHARS = frozenset("0123456789-:T.+Z")


def _iso_datetime_only(value: object) -> object:
    if isinstance(value, datetime):
        return value
    if isinstance(value, str) and set(value) <= _ISO_DATETIME_CHARS and "T" in value:
        return value
    raise ValueError("must be a date and time with its offset, e.g. 2030-06-20T10:15:00Z")


IsoDateTime = Annotated[AwareDatetime, BeforeValidator(_iso_datetime_only)]
CustomerName = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True, min_length=1, max_length=200, pattern=r"^[^\x00-\x1f\x7f]+$"
    ),
]
TicketNumber = Annotated[str, StringConstraints(pattern=r"^TKT-[0-9A-Z]{4,16}$")]
OrderId = Annotated[str, StringConstraints(pattern=id_pattern("ord"))]
ConfirmationCode = Annotated[str, StringConstraints(pattern=r"^[A-Z0-9][A-Z0-9-]{3,31}$")]
DeclineCode = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z_]{0,63}$")]
SupportReference = Annotated[str, StringConstraints(pattern=r"^SUP-[0-9A-Z]{8}$")]
CustomerText = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True,
        min_length=1,
        max_length=2000,
        pattern=r"^[^\x00-\x08\x0b-\x1f\x7f]+$",
    ),
]
PreferredContact = Annotated[str, StringConstraints(pattern=r"^(email|\+?[0-9][0-9 ().\-]{5,30})$")]


# Formatting for people -----------------------------------------------------------------------

_SYMBOLS = {"USD": "$", "EUR": "€", "GBP": "£"}
# ISO 4217 currencies without minor units: their "cents" are whole units.
_NO_MINOR_UNITS = frozenset({"JPY", "KRW", "ISK", "CLP", "VND", "XAF", "XOF"})
_WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)


def format_money(cents: int, currency: str) -> str:
    """``$1,234.50`` for USD (also EUR, GBP); ``1,234.50 CHF`` for the others."""
    whole_units = currency in _NO_MINOR_UNITS
    number = f"{cents:,}" if whole_units else f"{cents // 100:,}.{cents % 100:02d}"
    symbol = _SYMBOLS.get(currency)
    return f"{symbol}{number}" if symbol else f"{number} {currency}"


def format_date(day: date) -> str:
    """``Thursday, 20 June 2030``: written out, so no reader mistakes day for month."""
    return f"{_WEEKDAYS[day.weekday()]}, {day.day} {_MONTHS[day.month - 1]} {day.year}"


def format_datetime(moment: datetime) -> str:
    """``Thursday, 20 June 2030 at 10:15 UTC``."""
    utc = moment.astimezone(UTC)
    return f"{format_date(utc.date())} at {utc:%H:%M} UTC"


def tier_name(tier: str) -> str:
    return TIER_NAMES[tier]


# Contexts ------------------------------------------------------------------------------------


class Context(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class UpgradeConfirmed(Context):
    customer_name: CustomerName = Field(description="Name to greet the customer by.")
    ticket_number: TicketNumber = Field(description="The upgraded ticket, TKT-...")
    order_id: OrderId = Field(description="The upgrade order, ord_...")
    tier: Tier = Field(description="standard, non_stop or double_fun.")
    visit_date: IsoDate = Field(description="Date of the upgraded visit (ISO date).")
    amount_cents: Cents = Field(description="Amount paid, in minor units (cents).")
    currency: Currency = Field("USD", description="ISO 4217 currency code.")
    confirmation_code: ConfirmationCode = Field(description="Code to show at the entrance.")


class PaymentFailed(Context):
    customer_name: CustomerName = Field(description="Name to greet the customer by.")
    ticket_number: TicketNumber = Field(description="The ticket being upgraded, TKT-...")
    order_id: OrderId = Field(description="The upgrade order, ord_...")
    tier: Tier = Field(description="standard, non_stop or double_fun.")
    visit_date: IsoDate = Field(description="Date of the visit (ISO date).")
    amount_cents: Cents = Field(description="Amount that could not be charged, in cents.")
    currency: Currency = Field("USD", description="ISO 4217 currency code.")
    decline_code: DeclineCode = Field(
        description="The gateway's decline code, e.g. insufficient_funds, expired_card."
    )
    hold_expires_at: IsoDateTime = Field(
        description="Until when the seat stays held for another try (ISO 8601, with offset)."
    )


class UpgradeCancelled(Context):
    customer_name: CustomerName = Field(description="Name to greet the customer by.")
    ticket_number: TicketNumber = Field(description="The ticket, TKT-...")
    order_id: OrderId = Field(description="The cancelled upgrade order, ord_...")
    tier: Tier = Field(description="The tier that was cancelled.")
    visit_date: IsoDate = Field(description="Date of the cancelled upgraded visit (ISO date).")
    refund_cents: Cents = Field(description="Amount refunded, in minor units (cents).")
    currency: Currency = Field("USD", description="ISO 4217 currency code.")


class HoldExpired(Context):
    customer_name: CustomerName = Field(description="Name to greet the customer by.")
    ticket_number: TicketNumber = Field(description="The ticket, TKT-...")
    order_id: OrderId = Field(description="The upgrade order whose hold expired, ord_...")
    tier: Tier = Field(description="The tier that was held.")
    visit_date: IsoDate = Field(description="Date that was held (ISO date).")


class SupportRequestReceived(Context):
    customer_name: CustomerName = Field(description="Name to greet the customer by.")
    reference: SupportReference = Field(description="The case reference, SUP-XXXXXXXX.")
    summary: CustomerText = Field(description="What the customer asked, in their words.")
    preferred_contact: PreferredContact = Field(
        description="'email' (the address on file) or the phone number to call."
    )
    answer_by: IsoDateTime = Field(description="When someone will have answered (ISO 8601).")
    ticket_number: TicketNumber | None = Field(None, description="The ticket it is about.")
    order_id: OrderId | None = Field(None, description="The upgrade order it is about.")


class SupportCaseOpened(SupportRequestReceived):
    """For the support inbox: the same facts, and how to reach the customer."""

    customer_email: Recipient = Field(description="The customer's e-mail address.")


class UpgradeChanged(Context):
    customer_name: CustomerName = Field(description="Name to greet the customer by.")
    ticket_number: TicketNumber = Field(description="The upgraded ticket, TKT-...")
    order_id: OrderId = Field(description="The upgrade order, ord_...")
    from_tier: Tier = Field(description="The tier before the change.")
    from_visit_date: IsoDate = Field(description="The visit date before the change (ISO date).")
    tier: Tier = Field(description="The tier after the change.")
    visit_date: IsoDate = Field(description="The visit date after the change (ISO date).")
    amount_cents: Cents = Field(description="The upgrade's price after the change, in cents.")
    charged_cents: Cents = Field(description="The difference charged, in cents (0 if none).")
    refunded_cents: Cents = Field(description="The difference refunded, in cents (0 if none).")
    currency: Currency = Field("USD", description="ISO 4217 currency code.")
    confirmation_code: ConfirmationCode = Field(description="Code to show at the entrance.")


# What a decline means to a customer, and what they can do about it.
DECLINES: dict[str, tuple[str, str]] = {
    "generic_decline": (
        "Your card was declined.",
        "Try another card, or ask your bank why the payment was refused.",
    ),
    "insufficient_funds": (
        "Your card was declined for insufficient funds.",
        "Try another card, or top up this one and try again.",
    ),
    "expired_card": (
        "Your card has expired.",
        "Try again with a card that is still valid.",
    ),
    "incorrect_cvc": (
        "The security code (CVC) of your card was not correct.",
        "Check the three digits on the back of your card and try again.",
    ),
    "processing_error": (
        "An error occurred while processing your card.",
        "Nothing was charged. Please try again in a few minutes.",
    ),
}
_UNKNOWN_DECLINE = (
    "Your payment could not be completed.",
    "Try again, or use another card.",
)


def decline_reason(code: str) -> str:
    return DECLINES.get(code, _UNKNOWN_DECLINE)[0]


def decline_advice(code: str) -> str:
    return DECLINES.get(code, _UNKNOWN_DECLINE)[1]


_ORDER = "ord_" + "a" * 26
_SUPPORT_EXAMPLE: dict[str, Any] = {
    "customer_name": "Jane Smith",
    "reference": "SUP-7KQ2M9XD",
    "summary": "I upgraded the wrong ticket and want to move it to my other one.",
    "preferred_contact": "email",
    "answer_by": "2030-06-03T13:00:00Z",
    "ticket_number": "TKT-JS0003",
    "order_id": _ORDER,
}


@dataclass(frozen=True)
class TemplateSpec:
    name: str
    description: str
    model: type[Context]
    example: dict[str, Any]


SPECS: dict[str, TemplateSpec] = {
    spec.name: spec
    for spec in (
        TemplateSpec(
            "upgrade_confirmed",
            "Sent when an upgrade is paid: tier, date, amount and the confirmation code.",
            UpgradeConfirmed,
            {
                "customer_name": "Jane Smith",
                "ticket_number": "TKT-JS0001",
                "order_id": _ORDER,
                "tier": "double_fun",
                "visit_date": "2030-06-20",
                "amount_cents": 7500,
                "currency": "USD",
                "confirmation_code": "UPG-7KQ2M9XD",
            },
        ),
        TemplateSpec(
            "payment_failed",
            "Sent after a declined payment: what failed, what to do, and until when the seat "
            "is held.",
            PaymentFailed,
            {
                "customer_name": "Jane Smith",
                "ticket_number": "TKT-JS0001",
                "order_id": _ORDER,
                "tier": "non_stop",
                "visit_date": "2030-06-20",
                "amount_cents": 5000,
                "currency": "USD",
                "decline_code": "insufficient_funds",
                "hold_expires_at": "2030-06-01T10:15:00Z",
            },
        ),
        TemplateSpec(
            "upgrade_cancelled",
            "Sent when a confirmed upgrade is cancelled: the amount refunded.",
            UpgradeCancelled,
            {
                "customer_name": "Jane Smith",
                "ticket_number": "TKT-JS0001",
                "order_id": _ORDER,
                "tier": "standard",
                "visit_date": "2030-06-20",
                "refund_cents": 2500,
                "currency": "USD",
            },
        ),
        TemplateSpec(
            "upgrade_changed",
            "Sent when a confirmed upgrade moves to another date or tier: before and after, "
            "and the difference charged or refunded.",
            UpgradeChanged,
            {
                "customer_name": "Jane Smith",
                "ticket_number": "TKT-JS0001",
                "order_id": _ORDER,
                "from_tier": "non_stop",
                "from_visit_date": "2030-06-20",
                "tier": "double_fun",
                "visit_date": "2030-06-27",
                "amount_cents": 7500,
                "charged_cents": 2500,
                "refunded_cents": 0,
                "currency": "USD",
                "confirmation_code": "UPG-7KQ2M9XD",
            },
        ),
        TemplateSpec(
            "hold_expired",
            "Sent when a held seat was released because it was not paid in time.",
            HoldExpired,
            {
                "customer_name": "Jane Smith",
                "ticket_number": "TKT-JS0001",
                "order_id": _ORDER,
                "tier": "double_fun",
                "visit_date": "2030-06-20",
            },
        ),
        TemplateSpec(
            "support_request_received",
            "Sent to a customer who asked for a person: their case reference and when someone "
            "will answer.",
            SupportRequestReceived,
            _SUPPORT_EXAMPLE,
        ),
        TemplateSpec(
            "support_case_opened",
            "Sent to the support inbox when a customer asks for a person: who, about what, how "
            "to reach them and by when.",
            SupportCaseOpened,
            {**_SUPPORT_EXAMPLE, "customer_email": "jane.smith@example.com"},
        ),
    )
}


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    html: str


def _field_type(schema: Mapping[str, Any]) -> str:
    if "enum" in schema:
        return " | ".join(json.dumps(v) for v in schema["enum"])
    kind = str(schema.get("type", "any"))
    return f"{kind} ({schema['format']})" if "format" in schema else kind


class Templates:
    """The Jinja environment of the package's ``templates/`` folder and the template specs."""

    def __init__(self) -> None:
        self._env = Environment(
            loader=PackageLoader("servers.notify", "templates"),
            autoescape=select_autoescape(enabled_extensions=("html",), default=False),
            undefined=StrictUndefined,
            keep_trailing_newline=True,
        )
        self._env.filters.update(
            money=format_money,
            long_date=format_date,
            long_datetime=format_datetime,
            tier_name=tier_name,
            decline_reason=decline_reason,
            decline_advice=decline_advice,
        )

    def spec(self, name: str) -> TemplateSpec:
        spec = SPECS.get(name)
        if spec is None:
            raise DomainError(
                UNKNOWN_TEMPLATE,
                f"there is no template {name[:64]!r}; templates: {', '.join(sorted(SPECS))}",
            )
        return spec

    def validate(self, name: str, context: Mapping[str, Any]) -> Context:
        spec = self.spec(name)
        size = len(json.dumps(context, default=str).encode())
        if size > MAX_CONTEXT_BYTES:
            raise invalid_argument(
                f"context is {size} bytes of JSON; at most {MAX_CONTEXT_BYTES} are accepted"
            )
        try:
            return spec.model.model_validate(context)
        except PydanticValidationError as exc:
            raise invalid_argument(
                f"context does not fit template {name}: {describe_validation(exc, limit=12)}"
            ) from None

    def render(self, name: str, context: Mapping[str, Any]) -> Rendered:
        values = dict(self.validate(name, context))
        subject = self._env.get_template(f"{name}.subject").render(values).strip()
        if "\r" in subject or "\n" in subject:
            raise invalid_argument(f"the subject of {name} would span several lines")
        return Rendered(
            subject=subject,
            text=self._env.get_template(f"{name}.txt").render(values),
            html=self._env.get_template(f"{name}.html").render(values),
        )

    def catalogue(self) -> TemplateList:
        infos = []
        for spec in SPECS.values():
            schema = spec.model.model_json_schema()
            required = set(schema.get("required", []))
            infos.append(
                TemplateInfo(
                    name=spec.name,
                    description=spec.description,
                    fields=[
                        TemplateField(
                            name=field,
                            type=_field_type(prop),
                            required=field in required,
                            description=str(prop.get("description", "")),
                        )
                        for field, prop in schema["properties"].items()
                    ],
                    example=spec.example,
                )
            )
        return TemplateList(templates=infos)
