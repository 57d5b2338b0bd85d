"""A PostgreSQL outage, over a real embedded server that is stopped and started again.

During the outage every call answers DatabaseUnavailable after a bounded wait (the pytest time-out
is what would catch the unbounded 30 s waits: no timing is asserted); once the server is back,
calls succeed again, and the way the pool recovers does not depend on how long the outage was.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg_pool import AsyncConnectionPool

from servers.core.db import Database, DatabaseUnavailable
from servers.core.db.connect import open_database
from servers.core.db.postgres import PostgresDatabase
from servers.data.settings import DataSettings
from ticketing.pg import EmbeddedPostgres


def db_settings(
    database_url: str,
    *,
    db_acquire_timeout: float = 5.0,
    db_connect_timeout: int = 5,
    db_reconnect_timeout: float = 5.0,
) -> DataSettings:
    """The settings of a server with storage, the issuer named so no DEV_MODE is needed."""
    return DataSettings(
        database_url=database_url,
        db_acquire_timeout=db_acquire_timeout,
        db_connect_timeout=db_connect_timeout,
        db_reconnect_timeout=db_reconnect_timeout,
        auth_issuer="http://127.0.0.1:9000/",
        auth_jwks_url="http://127.0.0.1:9000/.well-known/jwks.json",
    )


GAVE_UP = "PostgreSQL unreachable for"


@pytest.fixture
def restartable_pg() -> Iterator[EmbeddedPostgres]:
    # Persistent, so that stop() keeps the cluster and start() brings it back on the same port
    # and socket; not under pytest's temp dirs, which the server's user cannot reach as root.
    base = Path(tempfile.mkdtemp(prefix="ticketing-outage-"))
    base.chmod(0o755)
    pg = EmbeddedPostgres(base / "cluster", log=lambda _message: None)
    pg.start()
    yield pg
    pg.stop()
    shutil.rmtree(base, ignore_errors=True)


async def select_one(db: Database) -> None:
    async with db.read() as tx:
        assert await tx.fetch_one("SELECT 1 AS ok") == {"ok": 1}


async def recovered(db: Database, within: float = 60.0) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            await select_one(db)
        except DatabaseUnavailable:
            await asyncio.sleep(0.1)
        else:
            return True
    return False


async def test_settings_bound_every_wait_of_the_pool(database_url: str) -> None:
    settings = db_settings(
        database_url=database_url,
        db_acquire_timeout=2.5,
        db_connect_timeout=4,
        db_reconnect_timeout=1.5,
    )
    db = await open_database(settings)
    try:
        assert isinstance(db, PostgresDatabase)
        pool = db._pool
        assert pool.timeout == 2.5
        assert pool.reconnect_timeout == 1.5
        assert isinstance(pool.kwargs, dict)
        assert pool.kwargs["connect_timeout"] == 4
        await select_one(db)
    finally:
        await db.close()


def test_default_waits_are_a_few_seconds() -> None:
    settings = DataSettings(
        database_url="postgresql://127.0.0.1/unused",
        auth_issuer="http://127.0.0.1:9000/",
        auth_jwks_url="http://127.0.0.1:9000/.well-known/jwks.json",
    )
    assert settings.db_acquire_timeout <= 5
    assert settings.db_connect_timeout <= 5
    assert settings.db_reconnect_timeout <= 10


@pytest.mark.timeout(60)
async def test_calls_fail_fast_during_an_outage_and_succeed_after_it(
    restartable_pg: EmbeddedPostgres,
) -> None:
    # Opened as every server opens its database, with a shorter wait than the default 5 s to
    # keep the test short; before the fix the setting did not exist and each wait was 30 s.
    settings = db_settings(database_url=restartable_pg.url(), db_acquire_timeout=1.0)
    db = await open_database(settings)
    try:
        # Three pooled connections, as after a burst: the outage breaks them all.
        await asyncio.gather(*(select_one(db) for _ in range(3)))
        restartable_pg.stop()
        # Before the fix, the calls after the broken connections each waited 30 s for one.
        for _ in range(6):
            with pytest.raises(DatabaseUnavailable):
                await select_one(db)
        restartable_pg.start()
        assert await recovered(db)
        await asyncio.gather(*(select_one(db) for _ in range(5)))
    finally:
        await db.close()


@pytest.mark.timeout(60)
async def test_the_pool_never_waits_longer_to_reconnect_however_long_the_outage(
    restartable_pg: EmbeddedPostgres, caplog: pytest.LogCaptureFixture
) -> None:
    """An outage longer than several reconnect horizons leaves the pool as a short one does.

    The pool retries a lost connection with a doubling backoff for ``reconnect_timeout`` only,
    then gives the slot up; the next call connects at once. So however long the outage, no
    retry is ever further away than that horizon: the outage here lasts until the pool has given
    up twice (whatever that takes in wall time), and the server is then back in use.
    """
    caplog.set_level(logging.WARNING, logger="servers.core.db.postgres")
    db = await PostgresDatabase(
        restartable_pg.url(), timeout=1.0, connect_timeout=2, reconnect_timeout=0.5
    ).open()
    try:
        await select_one(db)
        restartable_pg.stop()
        while sum(GAVE_UP in record.getMessage() for record in caplog.records) < 2:
            with pytest.raises(DatabaseUnavailable):
                await select_one(db)
        restartable_pg.start()
        assert await recovered(db)
        await asyncio.gather(*(select_one(db) for _ in range(5)))
    finally:
        await db.close()


class CountedChecks:
    """Counts the pool's connection checks that cost a query."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.count = 0
        check = AsyncConnectionPool.check_connection

        async def counted(conn: psycopg.AsyncConnection[Any]) -> None:
            self.count += 1
            await check(conn)

        monkeypatch.setattr(AsyncConnectionPool, "check_connection", counted)


async def test_a_healthy_idle_connection_is_used_without_a_check_query(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    checks = CountedChecks(monkeypatch)
    db = await PostgresDatabase(database_url, max_size=1).open()
    try:
        for _ in range(5):
            await select_one(db)
        async with db.transaction() as tx:
            await tx.execute("SELECT 1")
    finally:
        await db.close()
    assert checks.count == 0


async def test_a_session_the_server_ended_is_replaced_before_the_caller_sees_it(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    checks = CountedChecks(monkeypatch)
    db = await PostgresDatabase(database_url, max_size=1).open()
    try:
        async with db.read() as tx:
            row = await tx.fetch_one("SELECT pg_backend_pid() AS pid")
        assert row is not None
        ended = row["pid"]
        async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as admin:
            # Waits until the session has ended, so its last words are in the socket.
            await admin.execute("SELECT pg_terminate_backend(%s, 10000)", (ended,))
        async with db.read() as tx:
            row = await tx.fetch_one("SELECT pg_backend_pid() AS pid")
        assert row is not None
        assert row["pid"] != ended
    finally:
        await db.close()
    assert checks.count == 1


@pytest.mark.timeout(60)
async def test_the_first_call_after_a_restart_succeeds(restartable_pg: EmbeddedPostgres) -> None:
    """The restart ends every pooled session; each is found broken before a caller uses it."""
    db = await PostgresDatabase(restartable_pg.url(), max_size=3).open()
    try:
        await asyncio.gather(*(select_one(db) for _ in range(3)))
        restartable_pg.stop()
        restartable_pg.start()
        await asyncio.gather(*(select_one(db) for _ in range(3)))
    finally:
        await db.close()
