"""Hypothesis as a generator of examples for async tests over expensive fixtures.

Building an in-memory stack of servers per Hypothesis example is far too slow, and ``@given``
does not drive async tests over session-scoped loops well. So a test builds its stack once,
collects examples first with :func:`examples` (a synchronous ``@given`` run, deterministic with
``derandomize=True``), then awaits a call for each of them. No shrinking: a failing test names
the example in its assertion message instead.
"""

from __future__ import annotations

from typing import TypeVar

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

T = TypeVar("T")

EXAMPLES = 25


def examples(strategy: st.SearchStrategy[T], n: int = EXAMPLES) -> list[T]:
    """Up to ``n`` values of a strategy, the same ones on every run."""
    found: list[T] = []

    @settings(
        max_examples=n,
        deadline=None,
        derandomize=True,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=[
            HealthCheck.function_scoped_fixture,
            HealthCheck.too_slow,
            HealthCheck.filter_too_much,
        ],
    )
    @given(strategy)
    def collect(value: T) -> None:
        found.append(value)

    collect()
    assert found, "the strategy generated nothing"
    return found
