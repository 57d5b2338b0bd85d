"""The shared argument types refuse what lax parsing would silently reinterpret."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import TypeAdapter, ValidationError

from servers.core.types import Cents, IsoDate

dates: TypeAdapter[date] = TypeAdapter(IsoDate)
cents: TypeAdapter[int] = TypeAdapter(Cents)


@given(st.dates())
def test_every_iso_date_round_trips(day: date) -> None:
    assert dates.validate_python(day.isoformat()) == day
    assert dates.validate_python(day) == day


@pytest.mark.parametrize(
    "value",
    [
        "0",
        0,
        1_700_000_000,
        "2026-1-1",
        "2026-12-01T10:00:00",
        "tomorrow",
        "",
        None,
        datetime(2026, 12, 1),
        2026.5,
        "2026-02-30",
    ],
)
def test_non_dates_are_refused(value: Any) -> None:
    with pytest.raises(ValidationError):
        dates.validate_python(value)


@given(st.integers(min_value=0, max_value=100_000_000))
def test_cents_accept_whole_amounts(amount: int) -> None:
    assert cents.validate_python(amount) == amount


@pytest.mark.parametrize("value", [True, False, 1.0, 19.99, "100", -1, 100_000_001, None])
def test_cents_refuse_anything_but_a_plain_integer_in_range(value: Any) -> None:
    with pytest.raises(ValidationError):
        cents.validate_python(value)
