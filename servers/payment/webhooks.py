"""Delivery of the events' outbox to the webhook endpoints: signed, retried with exponential
backoff and jitter until acknowledged (any 2xx), refused (a 4xx that no retry can change) or
out of attempts; at least once per endpoint."""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass, field
from datetime import datetime

import aiohttp

from servers.core.backoff import Backoff
from servers.core.client import send_once_more_if_closed
from servers.core.clock import Clock, utc_now
from servers.core.db import Database, Row, Transaction
from servers.core.ids import new_id
from servers.core.webhooks import SIGNATURE_HEADER, sign_webhook

from . import repository as repo

log = logging.getLogger(__name__)

# Client errors that say "not now" rather than "never": time-out, too early, too many requests.
_RETRYABLE_CLIENT_ERRORS = frozenset({408, 425, 429})


def refused(status_code: int | None) -> bool:
    """Whether the endpoint answered that it will never accept the event: retrying it would
    only repeat the same answer."""
    return (
        status_code is not None
        and 400 <= status_code < 500
        and status_code not in _RETRYABLE_CLIENT_ERRORS
    )


async def configure_endpoints(
    db: Database, urls: list[str], secret: str | None, now: datetime
) -> None:
    """Make the endpoint table say what the settings say: these URLs, enabled, this secret."""
    async with db.transaction() as tx:
        for url in await repo.enabled_endpoint_urls(tx):
            if url not in urls:
                await repo.disable_endpoint(tx, url, now)
        for url in urls:
            assert secret is not None
            await repo.ensure_endpoint(tx, new_id("we"), url, secret, now)


def payload_of(event: Row) -> bytes:
    body = {
        "id": event["event_id"],
        "type": event["type"],
        "created": int(event["created_at"].timestamp()),
        "data": event["data"],
    }
    return json.dumps(body, separators=(",", ":"), sort_keys=True).encode()


@dataclass
class WebhookWorker:
    """Delivers over ``http``, a :func:`~servers.core.client.pooled_session`: aiohttp as the
    service client, since a POST costs it about 160 µs of CPU against httpx's 700."""

    db: Database
    http: aiohttp.ClientSession
    clock: Clock = utc_now
    backoff: Backoff = field(default_factory=lambda: Backoff(2.0, 3600.0))
    max_attempts: int = 10
    batch: int = 20

    async def deliver_due(self) -> int:
        """Attempts every delivery that is due now, once; returns how many were attempted."""
        attempted = 0
        while attempted < self.batch:
            outcome = await self._deliver_one()
            if outcome is None:
                break
            attempted += outcome
        return attempted

    async def run(self, poll_seconds: float = 1.0) -> None:
        while True:
            try:
                if await self.deliver_due():
                    continue
            except Exception:
                log.exception("webhook delivery round failed")
            await asyncio.sleep(poll_seconds)

    async def _deliver_one(self) -> int | None:
        """Attempts the earliest due delivery: 1 when attempted, 0 when it was paused instead
        (its endpoint is disabled), None when nothing is due."""
        # The row stays locked while its POST is in flight: two workers never send the same
        # attempt, and SKIP LOCKED lets each take different deliveries.
        async with self.db.transaction() as tx:
            now = self.clock()
            # The earliest pending delivery, read alone so that the walk of the partial index
            # stops at the first; its endpoint and event are joined to that one row. Joined
            # before the LIMIT, the planner would read and sort every due delivery whenever its
            # statistics predate a backlog (bench/README.md, "Payment: confirmations").
            due = await tx.fetch_one(
                "SELECT due.event_id, due.endpoint_id, due.attempts, e.url, e.secret, e.enabled, "
                " ev.type, ev.data, ev.created_at FROM ("
                " SELECT event_id, endpoint_id, attempts FROM payment.webhook_deliveries "
                " WHERE status = 'pending' AND next_attempt_at <= :now "
                " ORDER BY next_attempt_at LIMIT 1 FOR UPDATE SKIP LOCKED) due "
                "JOIN payment.webhook_endpoints e USING (endpoint_id) "
                "JOIN payment.events ev USING (event_id)",
                {"now": now},
            )
            if due is None:
                return None
            if not due["enabled"]:
                await self._pause(tx, due)
                return 0
            body = payload_of(due)
            header = sign_webhook(body, due["secret"], int(now.timestamp()))
            status_code, error = await self._post(due["url"], body, header)
            await self._record(tx, due, now, status_code, error)
            return 1

    async def _pause(self, tx: Transaction, due: Row) -> None:
        # The endpoint is read again, under a share lock: enabled since the claim read it, the
        # delivery stays pending; enabled after this, its unpausing waits for the lock and then
        # finds the delivery paused.
        await tx.execute(
            "UPDATE payment.webhook_deliveries SET status = 'paused' "
            "WHERE event_id = :event_id AND endpoint_id = :endpoint_id AND NOT ("
            " SELECT enabled FROM payment.webhook_endpoints WHERE endpoint_id = :endpoint_id "
            " FOR SHARE)",
            {"event_id": due["event_id"], "endpoint_id": due["endpoint_id"]},
        )

    async def _post(self, url: str, body: bytes, header: str) -> tuple[int | None, str | None]:
        try:
            # Safe to send twice: an endpoint takes an event at least once anyway. A redirect
            # is an answer like any other that is not 2xx: not followed.
            answer = await send_once_more_if_closed(
                self.http,
                "POST",
                url,
                headers={"Content-Type": "application/json", SIGNATURE_HEADER: header},
                body=body,
                allow_redirects=False,
            )
        except (aiohttp.ClientError, TimeoutError) as exc:
            return None, f"{type(exc).__name__}: {exc}"[:500]
        if 200 <= answer.status < 300:
            return answer.status, None
        return answer.status, f"HTTP {answer.status}"

    async def _record(
        self, tx: Transaction, due: Row, now: datetime, status_code: int | None, error: str | None
    ) -> None:
        attempt = due["attempts"] + 1
        if error is None:
            status, next_at, delivered = "delivered", now, now
        elif refused(status_code) or attempt >= self.max_attempts:
            status, next_at, delivered = "failed", now, None
            log.warning(
                "webhook %s to endpoint %s given up after %d attempts (%s)",
                due["event_id"],
                due["endpoint_id"],
                attempt,
                error,
            )
        else:
            status, next_at, delivered = "pending", now + self.backoff.delay(attempt), None
        # The attempt and the delivery's new state in one statement (PostgreSQL runs a WITH's
        # INSERT whether or not the UPDATE reads it).
        await tx.execute(
            "WITH attempt AS ("
            " INSERT INTO payment.webhook_attempts (event_id, endpoint_id, attempt, status_code, "
            "  error, attempted_at) "
            " VALUES (:event_id, :endpoint_id, :attempt, :code, :error, :now)) "
            "UPDATE payment.webhook_deliveries SET status = :status, attempts = :attempt, "
            " next_attempt_at = :next, delivered_at = :delivered "
            "WHERE event_id = :event_id AND endpoint_id = :endpoint_id",
            {
                "event_id": due["event_id"],
                "endpoint_id": due["endpoint_id"],
                "attempt": attempt,
                "code": status_code,
                "error": error,
                "now": now,
                "status": status,
                "next": next_at,
                "delivered": delivered,
            },
        )
