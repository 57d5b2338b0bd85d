"""Fixtures of the data service tests: the service over the ``db`` fixture, on a clock the
test moves by hand."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from servers.core.db import Database
from servers.data.service import DataService

START = datetime(2030, 6, 3, 9, 0, tzinfo=UTC)


class FakeClock:
    """A clock the test moves by hand."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, *, minutes: float) -> None:
        self.now += timedelta(minutes=minutes)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(START)


@pytest.fixture
def svc(db: Database, clock: FakeClock) -> DataService:
    return DataService(db, clock=clock)
