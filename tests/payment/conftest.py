"""Fixtures of the payment tests: a service over the ``db`` fixture (both backends) with a
clock the test moves."""

from __future__ import annotations

import pytest

from servers.core.db import Database
from servers.payment.service import PaymentService

from .support import START, FakeClock


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(START)


@pytest.fixture
def service(db: Database, clock: FakeClock) -> PaymentService:
    return PaymentService(db, fingerprint_key=b"test-fingerprint-key", clock=clock)
