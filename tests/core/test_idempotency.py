"""Idempotency keys claimed in the statement that does the work (``claim_and_write``, in
``Database.autocommit()``): the claim and the work happen both or neither, a repeat gets the
first answer, and other arguments under the same key are refused. Over both backends."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest

from servers.core.db import Database, DatabaseError
from servers.core.errors import IDEMPOTENCY_MISMATCH, DomainError
from servers.core.idempotency import IdempotencyStore

STORE = IdempotencyStore("notify")  # any schema of ours with an idempotency_keys table
ECHO = "SELECT key, CAST(:value AS integer) AS value FROM claim"
"""Work that returns a row when the key was claimed: what ``claim`` holds, and a value."""
FAILING = "SELECT key, 1 / CAST(:value AS integer) AS value FROM claim"
"""Work that fails, with a value of 0, after the claim's INSERT has run."""


async def claim(db: Database, key: str, value: int, write: str = ECHO) -> dict[str, Any] | None:
    async with db.autocommit() as tx:
        return await STORE.claim_and_write(
            tx,
            caller="ticket-server",
            tool="test",
            key=key,
            arguments={"value": value},
            response={"value": value},
            write=write,
            params={"value": value},
        )


async def stored(db: Database, key: str, value: int) -> dict[str, Any]:
    async with db.read() as tx:
        return await STORE.stored(
            tx, caller="ticket-server", tool="test", key=key, arguments={"value": value}
        )


async def test_the_first_call_does_the_work_and_a_repeat_gets_its_answer(db: Database) -> None:
    key = uuid.uuid4().hex
    assert await claim(db, key, 7) == {"key": key, "value": 7}
    assert await claim(db, key, 7) is None
    assert await stored(db, key, 7) == {"value": 7}


async def test_other_arguments_under_a_claimed_key_are_refused(db: Database) -> None:
    key = uuid.uuid4().hex
    await claim(db, key, 7)
    assert await claim(db, key, 8) is None
    with pytest.raises(DomainError) as refused:
        await stored(db, key, 8)
    assert refused.value.code == IDEMPOTENCY_MISMATCH


async def test_work_that_fails_leaves_the_key_free(db: Database) -> None:
    """The claim's INSERT ran before the work failed, in the same statement: neither stays."""
    key = uuid.uuid4().hex
    with pytest.raises(DatabaseError):
        await claim(db, key, 0, write=FAILING)
    assert await claim(db, key, 7) == {"key": key, "value": 7}


async def test_concurrent_calls_with_one_key_do_the_work_once(db: Database) -> None:
    key = uuid.uuid4().hex
    answers = await asyncio.gather(*(claim(db, key, 7) for _ in range(8)))
    assert sorted(answers, key=lambda a: a is None) == [{"key": key, "value": 7}] + [None] * 7


async def test_the_work_may_not_use_the_claims_parameter_names(db: Database) -> None:
    async with db.autocommit() as tx:
        with pytest.raises(ValueError, match="claim_key"):
            await STORE.claim_and_write(
                tx,
                caller="ticket-server",
                tool="test",
                key="k",
                arguments={},
                response={},
                write=ECHO,
                params={"value": 1, "claim_key": "other"},
            )
