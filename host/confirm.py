"""The confirmation step the model cannot skip.

Before ``select_upgrade`` (holding a seat) and ``pay_upgrade`` (charging) the customer must have
said yes to the tier, the date and the amount; so too before ``cancel_upgrade`` (with the
refund) and ``change_upgrade`` (with the difference charged or refunded), which move money just
as much, so that no instruction slipped into a message or a tool's answer can do either. The
host does not take the model's word for it: when the model asks for one of these tools, the host
looks the amount up itself (a quote, or the order), asks the customer with an ``options`` event,
and runs the tool only after the customer's own answer to that very proposal arrived in a chat
request (``context.confirmation`` with the proposal's id, which the model is never shown). A yes
to holding the upgrade also covers paying the order it opens, for the same amount. A date the
calendar shows sold out is refused before asking: the customer is never asked to agree to a hold
that cannot be made.

The state lives in the session (``Session.state``), so it survives between turns and requests.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from dataclasses import asdict, dataclass
from typing import Any, Literal

from .toolbox import Toolbox, ToolOutcome

SELECT = "select_upgrade"
PAY = "pay_upgrade"
CANCEL = "cancel_upgrade"
CHANGE = "change_upgrade"
GATED = frozenset({SELECT, PAY, CANCEL, CHANGE})
CALENDAR = "get_availability_calendar"


@dataclass(frozen=True)
class Proposal:
    id: str
    action: Literal["select", "pay", "cancel", "change"]
    ticket_number: str
    tier: str
    date: str
    amount_cents: int
    currency: str
    order_id: str | None = None

    def describe(self) -> str:
        cents = abs(self.amount_cents)
        amount = f"{cents // 100}.{cents % 100:02d} {self.currency}"
        upgrade = f"the {self.tier} upgrade of {self.ticket_number}"
        if self.action == "cancel":
            refund = f"refund {amount}" if cents else "nothing to refund"
            return f"Cancel {upgrade} on {self.date}: {refund}"
        if self.action == "change":
            money = "charge" if self.amount_cents > 0 else "refund"
            return f"Move {upgrade} to {self.date}: {money} {amount}"
        verb = "Hold" if self.action == "select" else "Pay for"
        return f"{verb} {upgrade} on {self.date}: {amount}"

    def options_event(self) -> dict[str, Any]:
        public = {k: v for k, v in asdict(self).items() if k != "id"}
        return {
            "type": "options",
            "kind": "confirm",
            "choices": [
                {"label": f"Yes: {self.describe()}", "value": "yes", "confirmation_id": self.id},
                {"label": "No", "value": "no", "confirmation_id": self.id},
            ],
            "confirmation": {"id": self.id, **public},
        }


@dataclass(frozen=True)
class Allowed:
    idempotency_key: str
    proposal: Proposal | None


@dataclass(frozen=True)
class Ask:
    proposal: Proposal
    new: bool


@dataclass(frozen=True)
class Refused:
    outcome: ToolOutcome


Decision = Allowed | Ask | Refused


async def _unavailable(toolbox: Toolbox, ticket: Any, tier: Any, day: Any) -> ToolOutcome | None:
    """The calendar's refusal of the date (sold out) if it has one: the customer is not asked
    to agree to a hold that cannot be made. Without an answer, the hold itself will tell."""
    calendar = await toolbox.call(
        CALENDAR, {"ticket_number": ticket, "tier": tier, "start_date": day, "end_date": day}
    )
    days = calendar.data.get("days") if calendar.ok else None
    if not isinstance(days, list):
        return None
    for entry in days:
        if isinstance(entry, dict) and entry.get("date") == day and entry.get("available") is False:
            return ToolOutcome(False, {}, str(entry.get("reason") or "SOLD_OUT: no seats left"))
    return None


class Confirmations:
    """The confirmations of one session, kept in (and written back to) its ``state``."""

    def __init__(self, state: dict[str, Any]):
        self.state = state
        state.setdefault("pending", None)
        state.setdefault("approved", [])
        state.setdefault("orders", {})

    @property
    def pending(self) -> Proposal | None:
        raw = self.state["pending"]
        return None if raw is None else Proposal(**raw)

    def answer(self, confirmation_id: str, yes: bool) -> Proposal | None:
        """Records the customer's answer to the open proposal; None if that is not it."""
        pending = self.pending
        if pending is None or not secrets.compare_digest(pending.id, confirmation_id):
            return None
        self.state["pending"] = None
        if yes:
            if pending.action == "pay" and pending.order_id is not None:
                self.state["orders"][pending.order_id] = pending.amount_cents
            else:
                self.state["approved"].append(asdict(pending))
        return pending

    async def decide(self, toolbox: Toolbox, name: str, arguments: dict[str, Any]) -> Decision:
        if name == SELECT:
            return await self._select(toolbox, arguments)
        if name == CANCEL:
            return await self._cancel(toolbox, arguments)
        if name == CHANGE:
            return await self._change(toolbox, arguments)
        return await self._pay(toolbox, arguments)

    def _approved(self, action: str, **wanted: Any) -> Allowed | None:
        """The customer's yes to this very action, if they gave it."""
        for raw in self.state["approved"]:
            if raw["action"] == action and all(raw[k] == v for k, v in wanted.items()):
                return Allowed(f"host-{raw['id']}", Proposal(**raw))
        return None

    async def _select(self, toolbox: Toolbox, arguments: dict[str, Any]) -> Decision:
        wanted = (arguments.get("ticket_number"), arguments.get("tier"), arguments.get("date"))
        approved = self._approved("select", ticket_number=wanted[0], tier=wanted[1], date=wanted[2])
        if approved is not None:
            return approved
        quote = await toolbox.call(
            "quote_upgrade", dict(zip(("ticket_number", "tier", "date"), wanted, strict=True))
        )
        if not quote.ok:
            return Refused(quote)
        full = await _unavailable(toolbox, *wanted)
        if full is not None:
            return Refused(full)
        return self._ask(
            action="select",
            ticket_number=str(quote.data["ticket_number"]),
            tier=str(quote.data["tier"]),
            date=str(quote.data["date"]),
            amount_cents=int(quote.data["total_cents"]),
            currency=str(quote.data["currency"]),
        )

    async def _pay(self, toolbox: Toolbox, arguments: dict[str, Any]) -> Decision:
        order_id = arguments.get("order_id")
        if isinstance(order_id, str) and order_id in self.state["orders"]:
            # A retry with another card after a decline gets its own key; the same card again
            # replays the first answer.
            attempt = json.dumps(
                [arguments.get("payment_method"), arguments.get("authenticated")], sort_keys=True
            )
            digest = hashlib.sha256(f"{order_id}|{attempt}".encode()).hexdigest()[:32]
            return Allowed(f"host-pay-{digest}", None)
        order = await toolbox.call("get_upgrade_order", {"order_id": order_id})
        if not order.ok:
            return Refused(order)
        return self._ask(
            action="pay",
            ticket_number=str(order.data["ticket_number"]),
            tier=str(order.data["tier"]),
            date=str(order.data["visit_date"]),
            amount_cents=int(order.data["amount_cents"]),
            currency=str(order.data["currency"]),
            order_id=str(order.data["order_id"]),
        )

    async def _cancel(self, toolbox: Toolbox, arguments: dict[str, Any]) -> Decision:
        order_id = arguments.get("order_id")
        approved = self._approved("cancel", order_id=order_id)
        if approved is not None:
            return approved
        order = await toolbox.call("get_upgrade_order", {"order_id": order_id})
        if not order.ok:
            return Refused(order)
        paid = order.data["status"] == "confirmed"
        return self._ask(
            action="cancel",
            ticket_number=str(order.data["ticket_number"]),
            tier=str(order.data["tier"]),
            date=str(order.data["visit_date"]),
            amount_cents=int(order.data["amount_cents"]) if paid else 0,
            currency=str(order.data["currency"]),
            order_id=str(order.data["order_id"]),
        )

    async def _change(self, toolbox: Toolbox, arguments: dict[str, Any]) -> Decision:
        order_id, day = arguments.get("order_id"), arguments.get("date")
        asked = {"order_id": order_id, "date": day, "tier": arguments.get("tier")}
        quote = await toolbox.call("quote_change", {k: v for k, v in asked.items() if v})
        if not quote.ok:
            return Refused(quote)
        if not quote.data.get("available", True):
            reason = quote.data.get("reason") or "NOT_AVAILABLE: the change cannot be made now"
            return Refused(ToolOutcome(False, {}, str(reason)))
        tier = str(quote.data["tier"])
        approved = self._approved("change", order_id=order_id, date=day, tier=tier)
        if approved is not None:
            return approved
        return self._ask(
            action="change",
            ticket_number=str(quote.data["ticket_number"]),
            tier=tier,
            date=str(quote.data["date"]),
            amount_cents=int(quote.data["difference_cents"]),
            currency=str(quote.data["currency"]),
            order_id=str(quote.data["order_id"]),
        )

    def _ask(self, **fields: Any) -> Ask:
        pending = self.pending
        if pending is not None and {k: getattr(pending, k) for k in fields} == fields:
            return Ask(pending, new=False)
        proposal = Proposal(id=secrets.token_urlsafe(16), **fields)
        self.state["pending"] = asdict(proposal)
        return Ask(proposal, new=True)

    def done(self, proposal: Proposal, order: dict[str, Any]) -> None:
        """After an approved action succeeded: the approval is used up; an approved hold's
        order may be paid without asking again if it costs what the customer agreed to."""
        self.state["approved"] = [a for a in self.state["approved"] if a["id"] != proposal.id]
        if proposal.action != "select":
            return
        if order.get("amount_cents") == proposal.amount_cents and "order_id" in order:
            self.state["orders"][str(order["order_id"])] = proposal.amount_cents
