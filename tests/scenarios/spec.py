"""Customer scenarios for the concierge, as data: ``cases/*.toml``, one conversation each.

A scenario says who the customer is (``setup``: their tickets, another customer, a sold-out
date, an upgrade they already have), what they write turn by turn and how they answer the
host's confirmations, and the END STATE that counts as success (``expect``): their orders and
ticket afterwards, which event types the conversation had or never had, and tools that must not
have been called. Never the wording: a real model words things its own way.

Messages and dates name the world the setup made with placeholders: ``{ticket}`` (the
customer's ticket), ``{visit}`` (its visit date), ``{ticket_2}``, ``{ticket_3}`` (extra
tickets, in order), ``{other_ticket}`` (another customer's, with ``other_customer``) and
``{date+N}`` (N days from today).
"""

from __future__ import annotations

import re
import tomllib
from datetime import date, timedelta
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

CASES = Path(__file__).parent / "cases"

Tier = Literal["standard", "non_stop", "double_fun"]
TicketType = Literal["general", "standard", "vip", "premium"]
OrderStatus = Literal["awaiting_payment", "confirmed", "expired", "cancelled", "refunded"]
EventType = Literal[
    "session", "text", "tool_call", "tool_result", "options", "payment_required", "error", "done"
]
Kind = Literal[
    "plain_upgrade",
    "vague",
    "price_shopper",
    "sold_out",
    "too_late",
    "decline",
    "cancellation",
    "change",
    "other_customer",
    "injection_message",
    "injection_tool_result",
    "card_number",
]
KINDS: tuple[Kind, ...] = Kind.__args__  # type: ignore[attr-defined]

PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
DATE = re.compile(r"date\+(\d{1,2})")
MAX_DAYS_AHEAD = 80
"""Dates stay inside the calendar's window (92 days from the first bookable one)."""


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TicketSetup(Strict):
    ticket_type: TicketType = "general"
    in_days: int = Field(20, ge=0, le=MAX_DAYS_AHEAD, description="Visit this many days ahead.")


class SoldOut(Strict):
    tier: Tier
    date: str = Field(description="A date placeholder: {visit} or {date+N}.")


class Upgraded(Strict):
    """An upgrade the customer already has: held, paid with a test card and confirmed."""

    tier: Tier
    date: str = "{visit}"


class Setup(Strict):
    ticket: TicketSetup = TicketSetup()
    extra_tickets: list[TicketSetup] = Field(default_factory=list, max_length=2)
    other_customer: bool = False
    sold_out: list[SoldOut] = Field(default_factory=list)
    upgraded: Upgraded | None = None


class Turn(Strict):
    say: str = Field(min_length=1, description="The customer's message.")
    confirm: Literal["yes", "no", "ignore"] = Field(
        "ignore",
        description="How the customer answers each confirmation the host asks in this turn: "
        "yes, no, or not at all.",
    )


class ExpectedOrder(Strict):
    tier: Tier
    status: OrderStatus
    date: str


class Expect(Strict):
    orders: list[ExpectedOrder] = Field(
        description="The customer's orders afterwards, exactly (in any order)."
    )
    ticket_tier: Tier | Literal["none"] = Field(description="The ticket's upgrade afterwards.")
    events: list[EventType] = Field(default_factory=list, description="Each appears at least once.")
    no_events: list[EventType] = Field(default_factory=list, description="None of these appear.")
    tools_not_called: list[str] = Field(default_factory=list)
    tools_any: list[str] = Field(
        default_factory=list, description="At least one of these was called successfully."
    )


class Scenario(Strict):
    title: str = Field(min_length=1)
    kind: Kind
    setup: Setup = Setup()
    turns: list[Turn] = Field(min_length=1, max_length=6)
    expect: Expect

    def names(self) -> set[str]:
        """The placeholder names this scenario's setup provides (dates aside)."""
        names = {"ticket", "visit"}
        names |= {f"ticket_{i + 2}" for i in range(len(self.setup.extra_tickets))}
        if self.setup.other_customer:
            names.add("other_ticket")
        return names

    def dates(self) -> list[str]:
        """The date fields: each must be exactly one date placeholder."""
        return [
            *(s.date for s in self.setup.sold_out),
            *([self.setup.upgraded.date] if self.setup.upgraded else []),
            *(o.date for o in self.expect.orders),
        ]

    def texts(self) -> list[str]:
        return [t.say for t in self.turns] + self.dates()

    @model_validator(mode="after")
    def _placeholders_are_known(self) -> Scenario:
        known = self.names()
        for text in self.texts():
            for name in PLACEHOLDER.findall(text):
                day = DATE.fullmatch(name)
                if name not in known and not (day and int(day[1]) <= MAX_DAYS_AHEAD):
                    raise ValueError(f"unknown placeholder {{{name}}} in {text!r}")
        for value in self.dates():
            if not (value == "{visit}" or DATE.fullmatch(value.strip("{}"))):
                raise ValueError(f"a date must be {{visit}} or {{date+N}}, not {value!r}")
        return self


def load(path: Path) -> Scenario:
    return Scenario.model_validate(tomllib.loads(path.read_text(encoding="utf-8")))


def load_all() -> dict[str, Scenario]:
    """Every scenario by its file's stem, in name order."""
    return {path.stem: load(path) for path in sorted(CASES.glob("*.toml"))}


def fill(text: str, names: dict[str, str], today: date) -> str:
    """``text`` with its placeholders replaced by the world's values and dates."""

    def value(found: re.Match[str]) -> str:
        day = DATE.fullmatch(found[1])
        return (today + timedelta(days=int(day[1]))).isoformat() if day else names[found[1]]

    return PLACEHOLDER.sub(value, text)
