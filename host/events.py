"""The events of a chat turn, as docs/ARCHITECTURE.md "Chat request" lists them, and how a
tool's answer is put for the customer (no codes, no other systems' ids) and for the model."""

from __future__ import annotations

import re
from typing import Any

from servers.core.errors import INTERNAL, UNAVAILABLE, split_code

from .redact import redact, redact_value

CARD_NUMBER_REFUSED = "CARD_NUMBER_REFUSED"
STEP_LIMIT = "STEP_LIMIT"
TIME_LIMIT = "TIME_LIMIT"
MODEL_UNAVAILABLE = "MODEL_UNAVAILABLE"
CONFIRMATION_CLOSED = "CONFIRMATION_CLOSED"
UNEXPECTED = "UNEXPECTED"

_REQUEST_ID = re.compile(r"\s*\(request id [^)]*\)")
_TROUBLE = "the service could not do this right now; try again in a moment"


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


def done() -> dict[str, Any]:
    return {"type": "done"}


def payment_required(order: dict[str, Any]) -> dict[str, Any] | None:
    """For an order awaiting payment, what the UI needs to take it; else None."""
    if order.get("status") != "awaiting_payment":
        return None
    return {
        "type": "payment_required",
        "order_id": order.get("order_id"),
        "amount_cents": order.get("amount_cents"),
        "currency": order.get("currency"),
        "hold_expires_at": order.get("hold_expires_at"),
    }


def for_model(ok: bool, text_: str) -> str:
    """A tool's answer as the model is given it: codes kept (it reasons with them), request
    ids and internal failures' details not."""
    if ok:
        return redact(text_)
    coded = split_code(text_)
    if coded is None:
        return f"ERROR: {redact(_REQUEST_ID.sub('', text_))}"
    code, message = coded
    if code in (INTERNAL, UNAVAILABLE):
        return f"{UNAVAILABLE}: {_TROUBLE}"
    return f"{code}: {redact(_REQUEST_ID.sub('', message))}"


def for_customer(ok: bool, text_: str) -> str:
    """A one-line outcome the customer may see: plain words only."""
    if ok:
        return "done"
    coded = split_code(text_)
    if coded is None:
        return _TROUBLE
    code, message = coded
    if code in (INTERNAL, UNAVAILABLE):
        return _TROUBLE
    return redact(_REQUEST_ID.sub("", message))
