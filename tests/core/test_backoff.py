"""The one backoff every retrying worker uses (webhook deliveries, e-mail deliveries)."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest

from servers.core.backoff import Backoff


def test_backoff_doubles_up_to_the_cap_without_jitter() -> None:
    backoff = Backoff(2, 30, jitter=0)
    assert [backoff.delay(n).total_seconds() for n in range(1, 6)] == [2, 4, 8, 16, 30]


def test_equal_jitter_waits_between_half_and_all_and_is_seeded() -> None:
    backoff = Backoff(10.0, 100.0, random.Random(42))
    delays = [backoff.delay(n).total_seconds() for n in range(1, 9)]
    for n, delay in enumerate(delays, start=1):
        ceiling = min(100.0, 10.0 * 2 ** (n - 1))
        assert ceiling / 2 <= delay <= ceiling
    again = Backoff(10.0, 100.0, random.Random(42))
    assert delays == [again.delay(n).total_seconds() for n in range(1, 9)]
    assert len(set(delays)) == len(delays), "jittered, not fixed"


def test_a_huge_attempt_count_stays_at_the_cap() -> None:
    assert Backoff(1.0, 5.0, random.Random(0)).delay(1000) <= timedelta(seconds=5)


@pytest.mark.parametrize("jitter", [-0.1, 1.5])
def test_jitter_is_a_share_of_the_delay(jitter: float) -> None:
    with pytest.raises(ValueError, match="jitter"):
        Backoff(1.0, 5.0, jitter=jitter)
