"""The database interface every server uses: transactions that run named-parameter SQL.

SQL is written once, with ``:name`` placeholders (the RDS Data API's style), and runs unchanged on
both backends. Values going in and out are plain Python: ``str``, ``int``, ``bool``, ``None``,
``datetime.date``, aware ``datetime.datetime`` (UTC), and ``dict``/``list`` for ``jsonb``
parameters wrapped in :class:`Json`. Rows come back as dicts keyed by column name.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True)
class Json:
    """A value to be stored in a ``jsonb`` column."""

    value: Any


Params = Mapping[str, Any]
Row = dict[str, Any]


class Transaction(Protocol):
    """One database transaction; every statement runs inside it."""

    async def fetch_all(self, sql: str, params: Params | None = None) -> list[Row]: ...

    async def fetch_one(self, sql: str, params: Params | None = None) -> Row | None: ...

    async def execute(self, sql: str, params: Params | None = None) -> int:
        """Run a statement; returns the number of rows it affected."""
        ...


class Database(Protocol):
    """A connection source. ``transaction()`` commits on success and rolls back on error.

    ``read()`` runs statements that only read, each on its own, with no transaction around
    them: under PostgreSQL's READ COMMITTED every statement takes its own snapshot anyway, so a
    transaction gives reads nothing, and costs two more round trips (BEGIN, COMMIT) or, on the
    Data API, two more calls (BeginTransaction, CommitTransaction). Never write in ``read()``.

    ``autocommit()`` runs statements the same way, each committed as it ends, for a change one
    statement makes whole (a ``WITH`` can hold several writes, all or none of which happen):
    the same two round trips fewer. Statements in it are not atomic together; a change that
    needs two statements, or a read and then a write that depends on it, needs
    ``transaction()``.
    """

    def transaction(self) -> AbstractAsyncContextManager[Transaction]: ...

    def read(self) -> AbstractAsyncContextManager[Transaction]: ...

    def autocommit(self) -> AbstractAsyncContextManager[Transaction]: ...

    async def close(self) -> None: ...


class DatabaseError(Exception):
    """A database failure, translated from the backend's own exception types.

    ``sqlstate`` is PostgreSQL's five-character SQLSTATE when the server reported one, so that
    callers can react to, say, a unique violation (``23505``) the same way on every backend.
    """

    def __init__(self, message: str, *, sqlstate: str | None = None, constraint: str | None = None):
        super().__init__(message)
        self.sqlstate = sqlstate
        self.constraint = constraint


class DatabaseUnavailable(DatabaseError):
    """The database cannot be reached or is not serving right now: worth retrying later.

    Only connection-level failures are raised as this, so that a bad statement is never
    mistaken for an outage.
    """


UNIQUE_VIOLATION = "23505"
FOREIGN_KEY_VIOLATION = "23503"
CHECK_VIOLATION = "23514"
SERIALIZATION_FAILURE = "40001"
DEADLOCK_DETECTED = "40P01"


async def fetch_value(tx: Transaction, sql: str, params: Params | None = None) -> Any:
    """The first column of the first row, or None."""
    row = await tx.fetch_one(sql, params)
    return None if row is None else next(iter(row.values()))
