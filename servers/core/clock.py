"""The time of day, as every service reads it: one injectable function, so tests move it."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

Clock = Callable[[], datetime]
"""Returns the current time, always aware and in UTC."""


def utc_now() -> datetime:
    return datetime.now(UTC)
