"""The memory store on PostgreSQL (schema ``host``, migrated by the project's runner)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from servers.core.clock import utc_now
from servers.core.db import Database
from servers.core.db.base import Json, Row, Transaction
from servers.core.ids import new_id

from ..providers.base import Message
from ..redact import redact_value
from .base import SESSION_ID, Session, block_from_json, block_to_json
from .facts import RECALL_LIMIT, facts_of_turn


class PostgresMemory:
    def __init__(self, db: Database):
        self.db = db

    async def new_session(self, customer_id: str) -> Session:
        now = utc_now()
        session = Session(new_id("ses"), customer_id, now)
        async with self.db.transaction() as tx:
            await tx.execute(
                "INSERT INTO host.sessions (session_id, customer_id, state, created_at,"
                " updated_at) VALUES (:id, :customer, :state, :now, :now)",
                {"id": session.session_id, "customer": customer_id, "state": Json({}), "now": now},
            )
        return session

    async def open_session(self, customer_id: str, session_id: str) -> Session | None:
        if not SESSION_ID.fullmatch(session_id):
            return None
        key = {"id": session_id, "customer": customer_id}
        async with self.db.transaction() as tx:
            await tx.execute(
                "INSERT INTO host.sessions (session_id, customer_id, state, created_at,"
                " updated_at) VALUES (:id, :customer, :state, :now, :now)"
                " ON CONFLICT (session_id) DO NOTHING",
                {**key, "state": Json({}), "now": utc_now()},
            )
            # Session ids are one space for every customer here: another's answers None.
            row = await tx.fetch_one(
                "SELECT session_id, customer_id, state, created_at FROM host.sessions"
                " WHERE session_id = :id AND customer_id = :customer",
                key,
            )
        return None if row is None else _session(row)

    async def session(self, customer_id: str, session_id: str) -> Session | None:
        async with self.db.read() as tx:
            row = await tx.fetch_one(
                "SELECT session_id, customer_id, state, created_at FROM host.sessions"
                " WHERE session_id = :id AND customer_id = :customer",
                {"id": session_id, "customer": customer_id},
            )
        return None if row is None else _session(row)

    async def messages(self, session: Session) -> list[Message]:
        async with self.db.read() as tx:
            rows = await tx.fetch_all(
                "SELECT role, blocks FROM host.turns WHERE session_id = :id ORDER BY seq",
                {"id": session.session_id},
            )
        return [
            Message(row["role"], tuple(block_from_json(b) for b in row["blocks"])) for row in rows
        ]

    async def events(self, session: Session) -> list[dict[str, Any]]:
        async with self.db.read() as tx:
            rows = await tx.fetch_all(
                "SELECT payload FROM host.events WHERE session_id = :id ORDER BY seq",
                {"id": session.session_id},
            )
        return [row["payload"] for row in rows]

    async def save_turn(
        self, session: Session, messages: list[Message], events: list[dict[str, Any]]
    ) -> None:
        now = utc_now()
        key = {"id": session.session_id}
        async with self.db.transaction() as tx:
            # The row lock orders two turns of one session, so their sequence numbers differ.
            await tx.fetch_one("SELECT 1 FROM host.sessions WHERE session_id = :id FOR UPDATE", key)
            turn = await _next_seq(tx, "host.turns", key)
            for offset, message in enumerate(messages):
                await tx.execute(
                    "INSERT INTO host.turns (session_id, seq, role, blocks, created_at)"
                    " VALUES (:id, :seq, :role, :blocks, :now)",
                    {
                        **key,
                        "seq": turn + offset,
                        "role": message.role,
                        "blocks": Json([block_to_json(b) for b in message.blocks]),
                        "now": now,
                    },
                )
            event = await _next_seq(tx, "host.events", key)
            for offset, payload in enumerate(events):
                await tx.execute(
                    "INSERT INTO host.events (session_id, seq, payload, created_at)"
                    " VALUES (:id, :seq, :payload, :now)",
                    {
                        **key,
                        "seq": event + offset,
                        "payload": Json(redact_value(payload)),
                        "now": now,
                    },
                )
            await tx.execute(
                "UPDATE host.sessions SET state = :state, updated_at = :now WHERE session_id = :id",
                {**key, "state": Json(session.state), "now": now},
            )
            for fact in facts_of_turn(messages):
                await tx.execute(
                    "INSERT INTO host.facts (customer_id, fact, session_id, remembered_at)"
                    " VALUES (:customer, :fact, :id, :now) ON CONFLICT (customer_id, fact)"
                    " DO UPDATE SET session_id = :id, remembered_at = :now",
                    {**key, "customer": session.customer_id, "fact": fact, "now": now},
                )

    async def recall(self, customer_id: str, query: str) -> list[str]:
        # No ranking by relevance here: a customer's facts are few, the most recent win.
        async with self.db.read() as tx:
            rows = await tx.fetch_all(
                "SELECT fact FROM host.facts WHERE customer_id = :customer"
                " ORDER BY remembered_at DESC, fact LIMIT :limit",
                {"customer": customer_id, "limit": RECALL_LIMIT},
            )
        return [row["fact"] for row in rows]


async def _next_seq(tx: Transaction, table: str, key: dict[str, str]) -> int:
    row = await tx.fetch_one(
        f"SELECT coalesce(max(seq), 0) + 1 AS next FROM {table} WHERE session_id = :id", key
    )
    assert row is not None
    return int(row["next"])


def _session(row: Row) -> Session:
    created: datetime = row["created_at"]
    return Session(row["session_id"], row["customer_id"], created, dict(row["state"]))
