"""Public identifiers: a short type prefix and 130 random bits, unguessable by design.

:func:`new_id` makes them and :func:`id_pattern` says what they look like, side by side, so
that every model that accepts an id accepts exactly what this module makes.
"""

from __future__ import annotations

import base64
import secrets

ID_BODY = "[a-z2-7]{26}"
"""What follows ``prefix_`` in an id: 26 lowercase base32 characters."""


def new_id(prefix: str) -> str:
    """``prefix_`` followed by 26 lowercase base32 characters (130 bits from the OS CSPRNG)."""
    raw = base64.b32encode(secrets.token_bytes(17)).decode().lower().rstrip("=")
    return f"{prefix}_{raw[:26]}"


def id_pattern(prefix: str) -> str:
    """The regular expression a whole id made by ``new_id(prefix)`` matches."""
    return f"^{prefix}_{ID_BODY}$"


def new_code(length: int = 10) -> str:
    """A code for people to read out (upper-case letters and digits, no 0/O/1/I)."""
    alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
    return "".join(secrets.choice(alphabet) for _ in range(length))
