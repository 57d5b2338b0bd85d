"""Counting the database round trips of a call: a :class:`~servers.core.db.Database` wrapper
for tests that pin how many a hot tool makes, or how a statement it sends is planned."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import TypeVar

from servers.core.db import Database, Params, Row, Transaction

T = TypeVar("T")


class Counted:
    """A transaction whose statements are counted."""

    def __init__(self, tx: Transaction, counter: CountingDatabase) -> None:
        self._tx = tx
        self._counter = counter

    async def fetch_all(self, sql: str, params: Params | None = None) -> list[Row]:
        self._counter.count(sql, params)
        return await self._tx.fetch_all(sql, params)

    async def fetch_one(self, sql: str, params: Params | None = None) -> Row | None:
        self._counter.count(sql, params)
        return await self._tx.fetch_one(sql, params)

    async def execute(self, sql: str, params: Params | None = None) -> int:
        self._counter.count(sql, params)
        return await self._tx.execute(sql, params)


class CountingDatabase:
    """The ``db`` fixture, counting round trips (statements, and BEGIN and COMMIT) and keeping
    the statements, for a test that explains one."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self.round_trips = 0
        self.statements: list[tuple[str, Params | None]] = []

    def count(self, sql: str, params: Params | None) -> None:
        self.round_trips += 1
        self.statements.append((sql, params))

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Transaction]:
        self.round_trips += 2
        async with self._db.transaction() as tx:
            yield Counted(tx, self)

    def read(self) -> AbstractAsyncContextManager[Transaction]:
        return self.autocommit()  # as both backends read

    @asynccontextmanager
    async def autocommit(self) -> AsyncIterator[Transaction]:
        async with self._db.autocommit() as tx:
            yield Counted(tx, self)

    async def close(self) -> None:
        await self._db.close()


async def round_trips(counting: CountingDatabase, call: Callable[[], Awaitable[T]]) -> int:
    before = counting.round_trips
    await call()
    return counting.round_trips - before
