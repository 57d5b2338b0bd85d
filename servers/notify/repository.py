"""SQL of the notify server. Every function runs in what it is given: a transaction, or
autocommit (``Database.autocommit()``) where one statement is the whole change."""

from __future__ import annotations

from datetime import datetime

from servers.core.db import Json, Row, Transaction

from .models import Message, MessageSummary

_SUMMARY_COLS = (
    "message_id, template, recipient AS to, subject, status, reference, attempts, max_attempts, "
    "next_attempt_at, last_error, created_at, updated_at, sent_at"
)
_MESSAGE_COLS = f"{_SUMMARY_COLS}, sender, header_message_id, body_text AS text, body_html AS html"
_MAX_ERROR = 1000


def message_of(row: Row) -> Message:
    return Message.model_validate(row)


QUEUE_IF_CLAIMED = (
    "INSERT INTO notify.messages (message_id, caller, idempotency_key, template, sender, "
    " recipient, subject, body_text, body_html, reference, header_message_id, status, "
    " attempts, max_attempts, next_attempt_at, created_at, updated_at) "
    "SELECT :message_id, :caller, :idempotency_key, :template, :sender, :recipient, "
    " :subject, :body_text, :body_html, :reference, :header_message_id, 'queued', 0, "
    f" :max_attempts, :now, :now, :now FROM claim RETURNING {_MESSAGE_COLS}"
)
"""Queues a message in the statement that claims its idempotency key
(:meth:`~servers.core.idempotency.IdempotencyStore.claim_and_write`): ``claim`` holds a row
only when the key was free."""


async def message(tx: Transaction, message_id: str, *, lock: bool = False) -> Message | None:
    row = await tx.fetch_one(
        f"SELECT {_MESSAGE_COLS} FROM notify.messages WHERE message_id = :id"
        + (" FOR UPDATE" if lock else ""),
        {"id": message_id},
    )
    return None if row is None else message_of(row)


async def messages(
    tx: Transaction,
    *,
    recipient: str | None,
    reference: str | None,
    status: str | None,
    limit: int,
) -> list[MessageSummary]:
    rows = await tx.fetch_all(
        f"SELECT {_SUMMARY_COLS} FROM notify.messages "
        "WHERE (CAST(:recipient AS text) IS NULL OR lower(recipient) = lower(:recipient)) "
        "AND (CAST(:reference AS text) IS NULL OR reference = :reference) "
        "AND (CAST(:status AS text) IS NULL OR status = :status) "
        "ORDER BY created_at DESC, message_id LIMIT :limit",
        {"recipient": recipient, "reference": reference, "status": status, "limit": limit},
    )
    return [MessageSummary.model_validate(r) for r in rows]


async def requeue_dead(
    tx: Transaction, message_id: str, extra_attempts: int, now: datetime
) -> Message:
    row = await tx.fetch_one(
        "UPDATE notify.messages SET status = 'queued', next_attempt_at = :now, "
        " max_attempts = attempts + :extra, updated_at = :now "
        f"WHERE message_id = :id AND status = 'dead' RETURNING {_MESSAGE_COLS}",
        {"id": message_id, "extra": extra_attempts, "now": now},
    )
    assert row is not None
    return message_of(row)


# Delivery -------------------------------------------------------------------------------------


async def claim_due(
    tx: Transaction, *, now: datetime, lease_until: datetime, token: str, limit: int
) -> list[Message]:
    """Take up to ``limit`` due messages for one worker, skipping rows other workers hold.

    Due: queued or failed ones whose time has come, and claims whose lease ran out (their
    worker died or hung). Each claim counts as an attempt, made or not.
    """
    # The earliest ``limit`` of each kind, each read in order from its partial index, then the
    # earliest ``limit`` of both: the same messages as ordering every due one, without reading
    # the whole backlog on every claim (one ORDER BY over both kinds cannot use an index, so it
    # read and sorted every queued message: bench/README.md, "E-mail"). The rows of the first
    # two that are not claimed stay locked only until the transaction around it ends (in
    # autocommit, the statement's own).
    rows = await tx.fetch_all(
        "WITH waiting AS ("
        " SELECT message_id, next_attempt_at AS due FROM notify.messages"
        " WHERE status IN ('queued', 'failed') AND next_attempt_at <= :now"
        " ORDER BY next_attempt_at LIMIT :limit FOR UPDATE SKIP LOCKED), "
        "lapsed AS ("
        " SELECT message_id, lease_expires_at AS due FROM notify.messages"
        " WHERE status = 'sending' AND lease_expires_at <= :now AND attempts < max_attempts"
        " ORDER BY lease_expires_at LIMIT :limit FOR UPDATE SKIP LOCKED) "
        "UPDATE notify.messages SET status = 'sending', attempts = attempts + 1, "
        " lease_token = :token, lease_expires_at = :lease_until, next_attempt_at = NULL, "
        " updated_at = :now "
        "WHERE message_id IN ("
        " SELECT message_id FROM (SELECT * FROM waiting UNION ALL SELECT * FROM lapsed) AS c"
        " ORDER BY due LIMIT :limit) "
        f"RETURNING {_MESSAGE_COLS}",
        {"now": now, "lease_until": lease_until, "token": token, "limit": limit},
    )
    return [message_of(r) for r in rows]


async def exhausted_leases(tx: Transaction, *, now: datetime, limit: int) -> list[str]:
    """Claims that ran out of lease with no attempt left: dead, since none may be made."""
    rows = await tx.fetch_all(
        "UPDATE notify.messages SET status = 'dead', lease_token = NULL, "
        " lease_expires_at = NULL, updated_at = :now, "
        " last_error = COALESCE(last_error, 'the worker stopped while sending the last attempt') "
        "WHERE message_id IN ("
        " SELECT message_id FROM notify.messages"
        " WHERE status = 'sending' AND lease_expires_at <= :now AND attempts >= max_attempts"
        " LIMIT :limit FOR UPDATE SKIP LOCKED) RETURNING message_id",
        {"now": now, "limit": limit},
    )
    return [r["message_id"] for r in rows]


async def mark_sent(
    tx: Transaction, sent: list[tuple[str, str, str | None]], now: datetime
) -> set[str]:
    """Marks each ``(message_id, lease token, provider id)`` sent, in one statement; returns
    the ids whose claim was still held (for the others the lease ran out and another worker
    took them)."""
    rows = await tx.fetch_all(
        "UPDATE notify.messages m SET status = 'sent', sent_at = :now, updated_at = :now, "
        " provider_message_id = s.provider_id, lease_token = NULL, lease_expires_at = NULL "
        "FROM jsonb_to_recordset(CAST(:sent AS jsonb)) "
        " AS s(message_id text, token text, provider_id text) "
        "WHERE m.message_id = s.message_id AND m.lease_token = s.token "
        "RETURNING m.message_id",
        {
            "sent": Json([{"message_id": m, "token": t, "provider_id": p} for m, t, p in sent]),
            "now": now,
        },
    )
    return {row["message_id"] for row in rows}


async def mark_failed(
    tx: Transaction,
    message_id: str,
    token: str,
    error: str,
    retry_at: datetime | None,
    now: datetime,
) -> bool:
    """``retry_at`` None: the message is dead. False when the claim was lost."""
    count = await tx.execute(
        "UPDATE notify.messages SET "
        " status = CASE WHEN CAST(:retry_at AS timestamptz) IS NULL THEN 'dead' ELSE 'failed' END,"
        " next_attempt_at = :retry_at, last_error = :error, updated_at = :now, "
        " lease_token = NULL, lease_expires_at = NULL "
        "WHERE message_id = :id AND lease_token = :token",
        {
            "id": message_id,
            "token": token,
            "error": error[:_MAX_ERROR],
            "retry_at": retry_at,
            "now": now,
        },
    )
    return count == 1
