"""Domain errors: a stable code a program can branch on, and a message a person can act on.

Services raise :class:`DomainError`; the server kit turns it into an MCP tool error whose text is
``CODE: message``. Anything else that escapes a tool is logged with the request id and answered
``INTERNAL: ...`` without details.
"""

from __future__ import annotations

from typing import Final

INVALID_ARGUMENT: Final = "INVALID_ARGUMENT"
NOT_FOUND: Final = "NOT_FOUND"
IDEMPOTENCY_MISMATCH: Final = "IDEMPOTENCY_MISMATCH"
INTERNAL: Final = "INTERNAL"
UNAVAILABLE: Final = "UNAVAILABLE"
UNKNOWN_TOOL: Final = "UNKNOWN_TOOL"
NOT_ALLOWED: Final = "NOT_ALLOWED"


class DomainError(Exception):
    """A call that cannot be carried out, for a reason the caller can understand."""

    def __init__(self, code: str, message: str):
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"


def split_code(text: str) -> tuple[str, str] | None:
    """``("SOLD_OUT", "no seats")`` for ``"SOLD_OUT: no seats"``; None for text without a code."""
    code, sep, message = text.partition(": ")
    if sep and code.isupper() and code.replace("_", "").isalpha():
        return code, message
    return None


def invalid_argument(message: str) -> DomainError:
    return DomainError(INVALID_ARGUMENT, message)
