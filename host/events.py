"""The events of a chat turn, as docs/ARCHITECTURE.md "Chat request" lists them, and how a
tool's answer is put for the customer (no codes, no other systems' ids) and for the model."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any

from servers.core.errors import INTERNAL, INVALID_ARGUMENT, UNAVAILABLE, split_code

from .redact import redact, redact_value

CARD_NUMBER_REFUSED = "CARD_NUMBER_REFUSED"
STEP_LIMIT = "STEP_LIMIT"
TIME_LIMIT = "TIME_LIMIT"
MODEL_UNAVAILABLE = "MODEL_UNAVAILABLE"
CONFIRMATION_CLOSED = "CONFIRMATION_CLOSED"
UNEXPECTED = "UNEXPECTED"

TICKET_NOT_FOUND = "TICKET_NOT_FOUND"
TICKET_ARGUMENT = "ticket_number"
_NOT_FOUND = "_NOT_FOUND"
_NOT_VALID = "Some details of that request were not valid."
_SECRET = re.compile(r"secret|password|token", re.IGNORECASE)
_REQUEST_ID = re.compile(r"\s*\(request id [^)]*\)")
_TROUBLE = "the service could not do this right now; try again in a moment"
_HOST_WORDS = {
    # The host's own refusals are worded for the model; the customer gets these instead.
    "CONFIRMATION_REQUIRED": "Waiting for your answer to the question on your screen.",
    CARD_NUMBER_REFUSED: "Card numbers can't go through the chat.",
    "TOOL_LIMIT": "Skipped: that was too many steps at once.",
    TIME_LIMIT: "Skipped: that took too long.",
    "UNKNOWN_TOOL": _TROUBLE,
}


def session(session_id: str) -> dict[str, Any]:
    return {"type": "session", "session_id": session_id}


def text(delta: str) -> dict[str, Any]:
    return {"type": "text", "delta": delta}


def tool_call(call_id: str, name: str, arguments: dict[str, Any]) -> dict[str, Any]:
    return {"type": "tool_call", "id": call_id, "name": name, "arguments": redact_value(arguments)}


def tool_result(call_id: str, name: str, ok: bool, summary: str) -> dict[str, Any]:
    return {"type": "tool_result", "id": call_id, "name": name, "ok": ok, "summary": summary}


def error(code: str, message: str) -> dict[str, Any]:
    return {"type": "error", "code": code, "message": message}


def done(usage: dict[str, int] | None = None) -> dict[str, Any]:
    """The turn's end; after a model answered, what the turn cost (model calls and tokens), so
    the usage is kept with the turn's events and any client can show or total it."""
    return {"type": "done"} if usage is None else {"type": "done", "usage": usage}


def payment_required(answer: dict[str, Any]) -> dict[str, Any] | None:
    """For an order awaiting payment (a tool's answer: the order, or a payment naming it),
    what the UI needs to take it, the hold's end for its countdown and, when the customer must
    act on the payment server's page (checkout, 3-D Secure), its address; else None."""
    order = answer.get("order", answer)
    if not isinstance(order, dict) or order.get("status") != "awaiting_payment":
        return None
    event = {
        "type": "payment_required",
        "order_id": order.get("order_id"),
        "amount_cents": order.get("amount_cents"),
        "currency": order.get("currency"),
        "hold_expires_at": order.get("hold_expires_at"),
    }
    if isinstance(answer.get("checkout_url"), str):
        event["checkout_url"] = answer["checkout_url"]
    return event


def for_model(ok: bool, text_: str, answer: dict[str, Any] | None = None) -> str:
    """A tool's answer as the model is given it: codes kept (it reasons with them), request
    ids, internal failures' details and secrets (a payment's client secret, which only a
    browser paying by itself needs) not. The memory keeps what the model was given."""
    if ok:
        return json.dumps(redact_value(without_secrets(answer))) if answer else redact(text_)
    coded = split_code(text_)
    if coded is None:
        return f"ERROR: {redact(_REQUEST_ID.sub('', text_))}"
    code, message = coded
    if code in (INTERNAL, UNAVAILABLE):
        return f"{UNAVAILABLE}: {_TROUBLE}"
    return f"{code}: {redact(_REQUEST_ID.sub('', message))}"


def without_secrets(value: Any) -> Any:
    """``value`` without the fields whose names say they are secret, however deep."""
    if isinstance(value, dict):
        return {k: without_secrets(v) for k, v in value.items() if not _SECRET.search(k)}
    if isinstance(value, list):
        return [without_secrets(v) for v in value]
    return value


def for_customer(ok: bool, text_: str, answer: dict[str, Any] | None = None) -> str:
    """A one-line outcome the customer may see: plain words only, no codes, no field names
    or patterns from a validation error."""
    if ok:
        return _payment_words(answer or {}) or "done"
    coded = split_code(text_)
    if coded is None:
        return _TROUBLE
    code, message = coded
    if code in (INTERNAL, UNAVAILABLE):
        return _TROUBLE
    if code in _HOST_WORDS:
        return _HOST_WORDS[code]
    if code.endswith(_NOT_FOUND):
        return f"I can't find that {code.removesuffix(_NOT_FOUND).replace('_', ' ').lower()}."
    if code == INVALID_ARGUMENT:
        return unknown_ticket() if is_ticket_reference_error(text_) else _NOT_VALID
    return redact(_REQUEST_ID.sub("", message))


def unknown_ticket() -> str:
    return "I can't find that ticket."


def is_ticket_reference_error(text_: str) -> bool:
    """Whether a tool refused a ticket reference: one that matches none of the caller's
    tickets (another customer's answers the same) or that is no ticket number at all."""
    coded = split_code(text_)
    if coded is None:
        return False
    code, message = coded
    return code == TICKET_NOT_FOUND or (
        code == INVALID_ARGUMENT and message.startswith(f"{TICKET_ARGUMENT}:")
    )


def _payment_words(answer: dict[str, Any]) -> str | None:
    """A payment's outcome in plain words: the ticket server's ``payment_status`` values."""
    status = answer.get("payment_status")
    order = answer.get("order")
    until = _clock(order.get("hold_expires_at")) if isinstance(order, dict) else None
    held = f" The seat stays held until {until}." if until else ""
    if status == "succeeded":
        return "Paid: the upgrade is confirmed and a confirmation e-mail is on its way."
    if status == "declined":
        return f"The card was declined, so nothing was charged.{held} Another card can be tried."
    if status == "requires_action":
        return (
            "Your bank asks you to approve this payment: open the secure payment page and "
            f"approve it there.{held}"
        )
    if status == "requires_checkout":
        return f"Open the secure payment page to pay by card.{held}"
    if status == "failed":
        return "The payment did not go through and nothing was charged; try again in a moment."
    return None


def _clock(value: Any) -> str | None:
    try:
        moment = datetime.fromisoformat(str(value))
    except ValueError:
        return None
    return f"{moment.astimezone(UTC):%H:%M} UTC" if moment.tzinfo else None
