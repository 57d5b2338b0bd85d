"""Choices the UI can render as buttons (``options`` events), read off a tool's answer.

They are found by the answer's shape, not by the tool's name, so any tool that answers the
tiers of a ticket, the days of a calendar or a list of the customer's tickets offers them: the
customer picks instead of typing. A choice's ``value`` is what the customer picked (a tier, an
ISO date, a ticket number); the UI sends it back as their message.
"""

from __future__ import annotations

from typing import Any

MAX_DATES = 14
"""A calendar offers at most this many of its bookable dates as buttons (the soonest)."""


def options_of(answer: dict[str, Any]) -> dict[str, Any] | None:
    """The ``options`` event a tool's structured answer offers, or None."""
    for key, kind, choose in (
        ("tiers", "tier", _tiers),
        ("days", "date", _dates),
        ("tickets", "ticket", _tickets),
    ):
        rows = answer.get(key)
        if isinstance(rows, list) and all(isinstance(r, dict) for r in rows):
            choices = choose(rows)
            if choices:
                return {"type": "options", "kind": kind, "choices": choices}
    return None


def _money(cents: Any, currency: Any) -> str:
    if not isinstance(cents, int):
        return ""
    return f" ({cents // 100}.{cents % 100:02d} {currency})"


def _tiers(rows: list[dict[str, Any]]) -> list[dict[str, str]]:
    return [
        {
            "label": f"{r.get('name') or r['tier']}"
            + _money(r.get("from_price_cents"), r.get("currency")),
            "value": str(r["tier"]),
        }
        for r in rows
        if r.get("available") is True and isinstance(r.get("tier"), str)
    ]


def _dates(rows: list[dict[str, Any]]) -> list[dict[str, str]]:
    bookable = [r for r in rows if r.get("available") is True and isinstance(r.get("date"), str)]
    return [
        {
            "label": f"{r['date']}{_money(r.get('price_cents'), r.get('currency'))}",
            "value": str(r["date"]),
        }
        for r in bookable[:MAX_DATES]
    ]


def _tickets(rows: list[dict[str, Any]]) -> list[dict[str, str]]:
    return [
        {
            "label": f"{r['ticket_number']} ({r.get('ticket_type', 'ticket')}, "
            f"{r.get('visit_date', '')})",
            "value": str(r["ticket_number"]),
        }
        for r in rows
        if isinstance(r.get("ticket_number"), str) and r.get("status", "active") == "active"
    ]
