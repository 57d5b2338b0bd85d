"""Idempotency keys stored in the same transaction as the work they protect.

The first call with a key inserts a row and does the work; the row is filled with the result
when the transaction commits. A concurrent call with the same key blocks on the row's unique
index until the first commits, then reads the stored result; if the first rolled back, the
second simply does the work. Same key, different arguments: ``IDEMPOTENCY_MISMATCH``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from pydantic import BaseModel

from .db import Database, Json, Params, Row, Transaction
from .errors import IDEMPOTENCY_MISMATCH, DomainError


def request_fingerprint(arguments: dict[str, Any]) -> str:
    canonical = json.dumps(arguments, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


M = TypeVar("M", bound=BaseModel)


class IdempotencyStore:
    """Keys of one schema's ``idempotency_keys`` table, namespaced by caller and tool."""

    def __init__(self, schema: str):
        if not schema.isidentifier():
            raise ValueError(f"bad schema name {schema!r}")
        self._table = f"{schema}.idempotency_keys"
        self._claim = (
            f"WITH claim AS (INSERT INTO {self._table} (caller, tool, key, request_hash, response) "
            "VALUES (:claim_caller, :claim_tool, :claim_key, :claim_hash, :claim_response) "
            "ON CONFLICT DO NOTHING RETURNING key)"
        )
        """The key claimed, as a ``WITH``: ``claim`` holds the key when this call owns it."""

    async def claim(
        self,
        tx: Transaction,
        *,
        caller: str,
        tool: str,
        key: str,
        arguments: dict[str, Any],
        response: dict[str, Any] | None = None,
    ) -> dict[str, Any] | None:
        """None when this call owns the key (do the work); otherwise the stored result.

        A ``response`` known before the work (an id the caller made up) is stored with the
        claim, which spares :meth:`store`'s round trip: it commits or rolls back with the work
        all the same."""
        inserted = await tx.fetch_one(
            f"{self._claim} SELECT key FROM claim",
            self._claim_params(caller, tool, key, arguments, response),
        )
        if inserted is not None:
            return None
        return await self.stored(tx, caller=caller, tool=tool, key=key, arguments=arguments)

    async def claim_and_write(
        self,
        tx: Transaction,
        *,
        caller: str,
        tool: str,
        key: str,
        arguments: dict[str, Any],
        response: dict[str, Any],
        write: str,
        params: Params,
    ) -> Row | None:
        """Claims the key and does the work in one statement: ``write`` reads ``claim``, which
        holds one row when this call owns the key and none otherwise (``INSERT ... SELECT ...
        FROM claim RETURNING ...``). The row ``write`` returns, or None when the key was
        claimed before; :meth:`stored` then gives the earlier result.

        One statement makes the claim and the work whole on its own, so it needs no
        transaction around it (``Database.autocommit()``): a concurrent call with the same key
        waits for it to end, as for a transaction's claim. ``response`` is known before the
        work; ``params`` may not use the claim's names (``claim_*``)."""
        claim = self._claim_params(caller, tool, key, arguments, response)
        if claim.keys() & params.keys():
            raise ValueError(f"parameters {sorted(claim.keys() & params.keys())} are the claim's")
        return await tx.fetch_one(f"{self._claim} {write}", {**params, **claim})

    async def stored(
        self, tx: Transaction, *, caller: str, tool: str, key: str, arguments: dict[str, Any]
    ) -> dict[str, Any]:
        """The result stored for a key claimed before, or ``IDEMPOTENCY_MISMATCH`` when the
        key was claimed for other arguments."""
        row = await tx.fetch_one(
            f"SELECT request_hash, response FROM {self._table} "
            "WHERE caller = :caller AND tool = :tool AND key = :key",
            {"caller": caller, "tool": tool, "key": key},
        )
        if row is None or row["response"] is None:
            raise RuntimeError("idempotency row vanished or was committed without a response")
        if row["request_hash"] != request_fingerprint(arguments):
            raise DomainError(
                IDEMPOTENCY_MISMATCH,
                f"idempotency key {key!r} was already used for {tool} with different arguments; "
                "use a new key for a new request",
            )
        earlier: dict[str, Any] = row["response"]
        return earlier

    @staticmethod
    def _claim_params(
        caller: str,
        tool: str,
        key: str,
        arguments: dict[str, Any],
        response: dict[str, Any] | None,
    ) -> dict[str, Any]:
        return {
            "claim_caller": caller,
            "claim_tool": tool,
            "claim_key": key,
            "claim_hash": request_fingerprint(arguments),
            "claim_response": None if response is None else Json(response),
        }

    async def run_once(
        self,
        db: Database,
        *,
        caller: str,
        tool: str,
        key: str,
        arguments: dict[str, Any],
        model: type[M],
        work: Callable[[Transaction], Awaitable[M]],
    ) -> M:
        """Runs ``work`` once per key, in one transaction with the key's record; a repeat with
        the same arguments returns the first result, parsed as ``model``."""
        async with db.transaction() as tx:
            stored = await self.claim(tx, caller=caller, tool=tool, key=key, arguments=arguments)
            if stored is not None:
                return model.model_validate(stored)
            result = await work(tx)
            await self.store(
                tx, caller=caller, tool=tool, key=key, response=result.model_dump(mode="json")
            )
            return result

    async def store(
        self, tx: Transaction, *, caller: str, tool: str, key: str, response: dict[str, Any]
    ) -> None:
        await tx.execute(
            f"UPDATE {self._table} SET response = :response "
            "WHERE caller = :caller AND tool = :tool AND key = :key",
            {"caller": caller, "tool": tool, "key": key, "response": Json(response)},
        )
