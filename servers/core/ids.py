"""Public identifiers: a short type prefix and 130 random bits, unguessable by design."""

from __future__ import annotations

import base64
import secrets


def new_id(prefix: str) -> str:
    """``prefix_`` followed by 26 lowercase base32 characters (130 bits from the OS CSPRNG)."""
    raw = base64.b32encode(secrets.token_bytes(17)).decode().lower().rstrip("=")
    return f"{prefix}_{raw[:26]}"


def new_code(length: int = 10) -> str:
    """A code for people to read out (upper-case letters and digits, no 0/O/1/I)."""
    alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
    return "".join(secrets.choice(alphabet) for _ in range(length))
