"""Hypothesis as a generator of examples for async tests over expensive fixtures.

Building an in-memory stack of servers per Hypothesis example is far too slow, and ``@given``
does not drive async tests over session-scoped loops well. So a test builds its stack once,
collects examples first with :func:`examples` (a synchronous ``@given`` run, deterministic with
``derandomize=True``), then awaits a call for each of them. No shrinking: a failing test names
the example in its assertion message instead.
"""

from __future__ import annotations

from typing import Any, TypeVar

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

T = TypeVar("T")

EXAMPLES = 25

JSON_VALUES: st.SearchStrategy[Any] = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=40),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=6,
)
"""Any JSON value, nested a little: what a client could send in place of anything."""


def examples(strategy: st.SearchStrategy[T], n: int = EXAMPLES) -> list[T]:
    """Up to ``n`` values of a strategy, the same ones on every run."""
    found: list[T] = []

    @settings(
        max_examples=n,
        deadline=None,
        derandomize=True,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        # Only collecting: nothing here is a test whose health Hypothesis should judge.
        suppress_health_check=list(HealthCheck),
    )
    @given(strategy)
    def collect(value: T) -> None:
        found.append(value)

    collect()
    assert found, "the strategy generated nothing"
    return found
