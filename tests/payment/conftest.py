"""Fixtures of the payment tests: a service over the ``db`` fixture (both backends) with a
clock the test moves, a webhook receiver."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.routing import Route

from servers.core.db import Database
from servers.payment.service import PaymentService

from .support import START, FakeClock, Receiver


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(START)


@pytest.fixture
def service(db: Database, clock: FakeClock) -> PaymentService:
    return PaymentService(db, fingerprint_key=b"test-fingerprint-key", clock=clock)


@pytest.fixture
async def receiver(clock: FakeClock) -> AsyncIterator[Receiver]:
    receiver = Receiver(clock, failures=2)
    app = Starlette(routes=[Route("/hooks", receiver.handle, methods=["POST"])])
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=receiver.port, log_config=None, lifespan="off")
    )
    task = asyncio.create_task(server.serve())
    # uvicorn sets a flag, not an event, once it listens.
    while not server.started:  # noqa: ASYNC110
        await asyncio.sleep(0.01)
    yield receiver
    server.should_exit = True
    await task
