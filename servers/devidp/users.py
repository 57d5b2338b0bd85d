"""Customers who may log in: rows of the data server's ``data.customers`` table."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Protocol

import psycopg
from psycopg.rows import class_row

CONNECT_TIMEOUT_SECONDS = 5

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Customer:
    customer_id: str
    email: str
    full_name: str | None


class UserDirectoryError(Exception):
    """Customers cannot be looked up right now (no database configured, unreachable, ...)."""


class UserDirectory(Protocol):
    async def find(self, email: str) -> Customer | None: ...


def normalize_email(email: str) -> str:
    """E-mails are stored lowercase."""
    return email.strip().lower()


async def find_customer(database_url: str, email: str) -> Customer | None:
    """The customer with this e-mail (case-insensitive), or None."""
    async with (
        await psycopg.AsyncConnection.connect(
            database_url, autocommit=True, connect_timeout=CONNECT_TIMEOUT_SECONDS
        ) as conn,
        conn.cursor(row_factory=class_row(Customer)) as cur,
    ):
        await cur.execute(
            "SELECT customer_id, email, full_name FROM data.customers WHERE email = %s",
            (normalize_email(email),),
        )
        return await cur.fetchone()


async def customer_emails(database_url: str, *, limit: int = 10) -> list[str]:
    """Some customers' e-mails, oldest first: a hint for whoever typed an unknown one."""
    async with await psycopg.AsyncConnection.connect(
        database_url, autocommit=True, connect_timeout=CONNECT_TIMEOUT_SECONDS
    ) as conn:
        cur = await conn.execute(
            "SELECT email FROM data.customers ORDER BY created_at, email LIMIT %s", (limit,)
        )
        return [str(row[0]) for row in await cur.fetchall()]


class PostgresUserDirectory:
    """The real :class:`UserDirectory`, one short connection per lookup (logins are rare)."""

    def __init__(self, database_url: str) -> None:
        self._database_url = database_url

    async def find(self, email: str) -> Customer | None:
        try:
            return await find_customer(self._database_url, email)
        except psycopg.errors.UndefinedTable as exc:
            raise UserDirectoryError(
                "table data.customers does not exist yet: run the data server's migrations"
            ) from exc
        except psycopg.Error as exc:
            # The detail may name hosts and users; it goes to the log, not to the browser.
            logger.warning("customer lookup failed: %s: %s", type(exc).__name__, exc)
            raise UserDirectoryError(
                "cannot reach the customer database; see the identity provider's log"
            ) from exc


class UnconfiguredUserDirectory:
    """Used when no database URL is set: client credentials work, logins explain why not."""

    async def find(self, email: str) -> Customer | None:
        raise UserDirectoryError(
            "no customer database configured: set IDP_DATABASE_URL (or DATABASE_URL)"
        )
