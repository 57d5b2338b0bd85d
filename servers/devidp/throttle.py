"""Slowing down password guessing and bounding self-registration.

Login: failures are counted per account (the e-mail typed, known or not, so that the answer does
not tell which accounts exist) and per client address. After ``limit`` failures in a row the key
is locked for ``base_seconds``, doubling with each further failure up to ``max_seconds``. A
success clears the account's count; an address's count fades after ``forget_seconds`` without a
failure. Both tables are bounded, so a flood of distinct keys cannot exhaust memory.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

MAX_KEYS = 10_000


@dataclass
class _Failures:
    count: int
    last: float
    locked_until: float


class _FailureCounter:
    def __init__(
        self,
        clock: Callable[[], float],
        *,
        limit: int,
        base_seconds: float,
        max_seconds: float,
        forget_seconds: float,
    ) -> None:
        self._clock = clock
        self._limit = limit
        self._base = base_seconds
        self._max = max_seconds
        self._forget = forget_seconds
        self._entries: dict[str, _Failures] = {}

    def _current(self, key: str) -> _Failures | None:
        entry = self._entries.get(key)
        if entry is not None and self._clock() - entry.last > self._forget:
            del self._entries[key]
            return None
        return entry

    def retry_after(self, key: str) -> float:
        entry = self._current(key)
        return 0.0 if entry is None else max(0.0, entry.locked_until - self._clock())

    def failed(self, key: str) -> None:
        now = self._clock()
        entry = self._current(key)
        if entry is None:
            if len(self._entries) >= MAX_KEYS:
                self._evict(now)
            entry = self._entries[key] = _Failures(count=0, last=now, locked_until=0.0)
        entry.count += 1
        entry.last = now
        if entry.count >= self._limit:
            delay = min(self._max, self._base * 2 ** min(entry.count - self._limit, 32))
            entry.locked_until = now + delay

    def clear(self, key: str) -> None:
        self._entries.pop(key, None)

    def _evict(self, now: float) -> None:
        self._entries = {k: e for k, e in self._entries.items() if now - e.last <= self._forget}
        # Still full: forget the entries that failed longest ago.
        while len(self._entries) >= MAX_KEYS:
            del self._entries[min(self._entries, key=lambda k: self._entries[k].last)]


class LoginThrottle:
    """Per-account and per-address lock-outs after repeated wrong passwords."""

    def __init__(
        self,
        clock: Callable[[], float],
        *,
        account_limit: int = 5,
        address_limit: int = 20,
        base_seconds: float = 30,
        max_seconds: float = 900,
        forget_seconds: float = 3600,
    ) -> None:
        self._accounts = _FailureCounter(
            clock,
            limit=account_limit,
            base_seconds=base_seconds,
            max_seconds=max_seconds,
            forget_seconds=forget_seconds,
        )
        self._addresses = _FailureCounter(
            clock,
            limit=address_limit,
            base_seconds=base_seconds,
            max_seconds=max_seconds,
            forget_seconds=forget_seconds,
        )

    def retry_after(self, account: str, address: str) -> int:
        """Whole seconds until a sign-in may be tried again; 0 when it may be tried now."""
        wait = max(self._accounts.retry_after(account), self._addresses.retry_after(address))
        return math.ceil(wait)

    def failed(self, account: str, address: str) -> None:
        self._accounts.failed(account)
        self._addresses.failed(address)

    def succeeded(self, account: str) -> None:
        self._accounts.clear(account)


class RateLimiter:
    """At most ``limit`` events per key in any ``window_seconds`` (a sliding log, bounded)."""

    def __init__(self, clock: Callable[[], float], *, limit: int, window_seconds: float) -> None:
        self._clock = clock
        self._limit = limit
        self._window = window_seconds
        self._events: dict[str, list[float]] = {}

    def acquire(self, key: str) -> int:
        """0 and the event counted, or the whole seconds to wait before the next one."""
        now = self._clock()
        recent = [t for t in self._events.get(key, []) if now - t < self._window]
        if len(recent) >= self._limit:
            self._events[key] = recent
            return max(1, math.ceil(recent[0] + self._window - now))
        if key not in self._events and len(self._events) >= MAX_KEYS:
            self._events = {
                k: ts for k, ts in self._events.items() if ts and now - ts[-1] < self._window
            }
            if len(self._events) >= MAX_KEYS:
                return math.ceil(self._window)
        recent.append(now)
        self._events[key] = recent
        return 0
