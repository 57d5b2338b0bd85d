"""Card numbers never reach the model, the memory or the logs: this finds and removes them.

A card number is a run of 13 to 19 digits, possibly grouped with spaces or dashes, that passes
the Luhn check (as every real and test card number does). Other digit runs, such as order
numbers or dates, are left alone.
"""

from __future__ import annotations

import re
from typing import Any

CARD_REMOVED = "[card number removed]"

_DIGIT_RUN = re.compile(r"(?<![\d])\d(?:[ -]?\d){12,18}(?![\d])")


def luhn_valid(digits: str) -> bool:
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char)
        if position % 2 == 1:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


def _is_card(run: str) -> bool:
    digits = run.replace(" ", "").replace("-", "")
    return 13 <= len(digits) <= 19 and luhn_valid(digits)


def has_card_number(text: str) -> bool:
    return any(_is_card(m.group()) for m in _DIGIT_RUN.finditer(text))


def redact(text: str) -> str:
    """``text`` with every card number replaced by :data:`CARD_REMOVED`."""
    return _DIGIT_RUN.sub(lambda m: CARD_REMOVED if _is_card(m.group()) else m.group(), text)


def redact_value(value: Any) -> Any:
    """The same for every string inside a JSON-like value (tool arguments and results)."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {k: redact_value(v) for k, v in value.items()}
    if isinstance(value, list):
        return [redact_value(v) for v in value]
    return value


_TAIL = re.compile(r"[\d -]*$")


class StreamRedactor:
    """Redacts text that arrives in fragments: a card number split across two fragments is
    still caught, because a trailing run of digits (and separators) is held back until the
    next fragment shows where it ends."""

    def __init__(self) -> None:
        self._held = ""

    def feed(self, fragment: str) -> str:
        text = self._held + fragment
        tail = _TAIL.search(text)
        cut = tail.start() if tail else len(text)
        self._held = text[cut:]
        return redact(text[:cut])

    def flush(self) -> str:
        text, self._held = self._held, ""
        return redact(text)
