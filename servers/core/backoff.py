"""How long to wait before retrying something that failed: exponential, capped, with jitter."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import timedelta


@dataclass(frozen=True)
class Backoff:
    """Attempt n waits ``min(max, base * 2**(n-1))`` shortened by a random share of up to
    ``jitter`` (by default "equal jitter": between half and all of it), so that retries of many
    deliveries that failed together do not arrive together. Tests pass a seeded ``rng``, or
    ``jitter=0`` for exact delays."""

    base_seconds: float
    max_seconds: float
    rng: random.Random = field(default_factory=random.Random)
    jitter: float = 0.5

    def __post_init__(self) -> None:
        if not 0 <= self.jitter <= 1:
            raise ValueError("jitter is a share of the delay, between 0 and 1")

    def delay(self, attempts: int) -> timedelta:
        """The wait after ``attempts`` failed attempts, before the next one."""
        # The exponent is capped so that a large attempt count cannot overflow the float.
        ceiling = min(self.max_seconds, self.base_seconds * 2.0 ** min(attempts - 1, 60))
        return timedelta(seconds=ceiling * (1 - self.jitter * self.rng.random()))
