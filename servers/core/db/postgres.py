"""The psycopg backend: a pooled connection to any PostgreSQL server."""

from __future__ import annotations

import logging
import re
import select
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from functools import lru_cache
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from .base import DatabaseError, DatabaseUnavailable, Json, Params, Row

# admin_shutdown, crash_shutdown, cannot_connect_now
_SHUTTING_DOWN = frozenset({"57P01", "57P02", "57P03"})
_NAMED = re.compile(r"(?<![:\w]):([A-Za-z_]\w*)")

log = logging.getLogger(__name__)


@lru_cache(maxsize=512)
def to_pyformat(sql: str) -> str:
    """Rewrite ``:name`` placeholders as psycopg's ``%(name)s``, leaving ``::casts`` alone."""
    return _NAMED.sub(r"%(\1)s", sql.replace("%", "%%"))


def _adapt(params: Params | None) -> dict[str, Any] | None:
    if params is None:
        return None
    return {k: Jsonb(v.value) if isinstance(v, Json) else v for k, v in params.items()}


def translate_error(exc: psycopg.Error) -> DatabaseError:
    diag = exc.diag
    sqlstate = exc.sqlstate or ""
    if isinstance(exc, psycopg.OperationalError) and (
        not sqlstate or sqlstate.startswith("08") or sqlstate in _SHUTTING_DOWN
    ):
        return DatabaseUnavailable(
            diag.message_primary or "the database connection failed", sqlstate=exc.sqlstate
        )
    return DatabaseError(
        diag.message_primary or type(exc).__name__,
        sqlstate=exc.sqlstate,
        constraint=diag.constraint_name,
    )


class PostgresTransaction:
    def __init__(self, conn: psycopg.AsyncConnection[Row]):
        self._conn = conn

    async def _run(self, sql: str, params: Params | None) -> psycopg.AsyncCursor[Row]:
        try:
            if params is None:
                return await self._conn.execute(sql.encode())
            return await self._conn.execute(to_pyformat(sql), _adapt(params))
        except psycopg.Error as exc:
            raise translate_error(exc) from exc

    async def fetch_all(self, sql: str, params: Params | None = None) -> list[Row]:
        cur = await self._run(sql, params)
        return await cur.fetchall()

    async def fetch_one(self, sql: str, params: Params | None = None) -> Row | None:
        cur = await self._run(sql, params)
        return await cur.fetchone()

    async def execute(self, sql: str, params: Params | None = None) -> int:
        cur = await self._run(sql, params)
        return cur.rowcount


def _has_input(conn: psycopg.AsyncConnection[Any]) -> bool:
    """Whether the server sent an idle connection anything (or closed it), without waiting."""
    if conn.closed or conn.broken:
        return True
    readable, _, _ = select.select([conn.fileno()], [], [], 0)
    return bool(readable)


async def _configure(conn: psycopg.AsyncConnection[Any]) -> None:
    # Timestamps leave the database as aware UTC datetimes whatever the server's own zone is.
    await conn.execute("SET TIME ZONE 'UTC'")


class PostgresDatabase:
    """A :class:`~servers.core.db.base.Database` over a psycopg async connection pool.

    Built to ride out a database outage of any length. During one, a call answers
    :class:`DatabaseUnavailable` after at most ``timeout`` seconds of waiting for a connection
    (each connection attempt gives up after ``connect_timeout``). Afterwards, calls succeed
    again within seconds: the pool keeps retrying a lost connection with a growing backoff only
    for ``reconnect_timeout`` seconds, then hands the slot back, and the next call opens a new
    connection at once. Without that bound the backoff doubles for five minutes, and after a long
    outage the next attempt could be a minute or more away. Connections left broken by the
    outage are found when taken from the pool, before a caller's statement is sent.
    """

    def __init__(
        self,
        url: str,
        *,
        min_size: int = 1,
        max_size: int = 20,
        timeout: float = 5.0,
        connect_timeout: int = 5,
        reconnect_timeout: float = 5.0,
    ):
        self._pool: AsyncConnectionPool[psycopg.AsyncConnection[Row]] = AsyncConnectionPool(
            url,
            min_size=min_size,
            max_size=max_size,
            timeout=timeout,
            reconnect_timeout=reconnect_timeout,
            open=False,
            configure=_configure,
            check=self._check,
            reconnect_failed=self._gave_up,
            # Autocommit, so that read() sends its statements alone; transaction() still wraps
            # its own in BEGIN ... COMMIT.
            kwargs={
                "row_factory": dict_row,
                "autocommit": True,
                "connect_timeout": connect_timeout,
            },
            name="ticketing",
        )

    async def _gave_up(self, pool: AsyncConnectionPool[Any]) -> None:
        log.warning(
            "PostgreSQL unreachable for %g s; the next call tries to connect again",
            pool.reconnect_timeout,
        )

    async def _check(self, conn: psycopg.AsyncConnection[Any]) -> None:
        """Check a connection taken from the pool; a broken one means the server went away.

        An idle connection has nothing to read unless the server said something to it. A
        server that stops, crashes or ends the session sends a message or closes the socket,
        so an idle connection with nothing to read is used as it is, without a query's round
        trip per transaction. Anything to read gets the query: the connection is used if it
        answers, else dropped.

        The server closes every session when it stops, so the other idle connections are
        broken too: they are dropped and replaced together, rather than each costing a later
        caller a failed check and the pool's growing pause between checks.
        """
        if not _has_input(conn):
            return
        try:
            await AsyncConnectionPool.check_connection(conn)
        except psycopg.Error:
            await self._pool.drain()
            raise

    async def open(self) -> PostgresDatabase:
        try:
            # The pool stops retrying the first connection after reconnect_timeout.
            await self._pool.open(wait=True, timeout=self._pool.reconnect_timeout)
        except psycopg.Error as exc:
            raise translate_error(exc) from exc
        except PoolTimeout as exc:
            raise DatabaseUnavailable(f"could not connect to PostgreSQL: {exc}") from exc
        return self

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[PostgresTransaction]:
        try:
            async with self._pool.connection() as conn, conn.transaction():
                yield PostgresTransaction(conn)
        except psycopg.Error as exc:
            raise translate_error(exc) from exc
        except PoolTimeout as exc:
            raise DatabaseUnavailable(f"no database connection available: {exc}") from exc

    def read(self) -> AbstractAsyncContextManager[PostgresTransaction]:
        return self.autocommit()

    @asynccontextmanager
    async def autocommit(self) -> AsyncIterator[PostgresTransaction]:
        # The pool's connections are in autocommit mode: each statement commits as it ends.
        try:
            async with self._pool.connection() as conn:
                yield PostgresTransaction(conn)
        except psycopg.Error as exc:
            raise translate_error(exc) from exc
        except PoolTimeout as exc:
            raise DatabaseUnavailable(f"no database connection available: {exc}") from exc

    async def close(self) -> None:
        await self._pool.close()
