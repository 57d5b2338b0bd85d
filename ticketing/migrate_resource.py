"""The migrations as a CloudFormation custom resource: an AWS Lambda function (the project's
Lambda image, infra/docker/lambda.Dockerfile) that applies every component's pending migrations
over the RDS Data API, with the runner ``ticketing db migrate`` uses (:func:`migrate_all`).

``Create`` and ``Update`` migrate; the stack changes the resource's ``MigrationsHash`` property
whenever a migration file changes, so a deploy with a new migration runs it. ``Delete`` does
nothing: the schemas outlive the resource, as the cluster does (deletion protection).

The function answers CloudFormation itself (a ``PUT`` of the result to the pre-signed
``ResponseURL``), always, even on failure or when its time runs short, so a stack never waits
an hour for an answer. A failure's reason is a stable code and plain words; SQL, values and
tracebacks go to the function's log only.
"""

from __future__ import annotations

import asyncio
import json
import logging
import urllib.request
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Protocol

import anyio

from servers.core.db import Database
from servers.core.db.base import DatabaseUnavailable
from servers.core.db.dataapi import connect_dataapi
from servers.core.logs import configure_logging, new_request_id
from servers.core.migrate import MigrationError
from ticketing.db import migrate_all

log = logging.getLogger(__name__)

Event = Mapping[str, Any]
OpenDatabase = Callable[[Mapping[str, Any]], Database]
"""A database from the resource's properties (``ClusterArn``, ``SecretArn``, ``Database``,
``Region``)."""
Send = Callable[[str, bytes], Awaitable[None]]
"""PUTs a response body to CloudFormation's ``ResponseURL``."""

SAFETY_SECONDS = 20.0
"""Time kept back from the function's limit to send the answer after giving up."""


class LambdaContext(Protocol):
    def get_remaining_time_in_millis(self) -> int: ...


def _dataapi(properties: Mapping[str, Any]) -> Database:
    return connect_dataapi(
        str(properties["ClusterArn"]),
        str(properties["SecretArn"]),
        str(properties["Database"]),
        str(properties["Region"]),
        max_concurrency=1,
    )


async def _put(url: str, body: bytes) -> None:
    # The URL is CloudFormation's pre-signed S3 URL: the signature covers an empty content type.
    request = urllib.request.Request(  # noqa: S310 (an https URL CloudFormation gave)
        url, data=body, method="PUT", headers={"content-type": ""}
    )

    def send() -> None:
        with urllib.request.urlopen(request, timeout=30) as answer:  # noqa: S310 (as above)
            answer.read()

    await anyio.to_thread.run_sync(send)


async def _migrate(properties: Mapping[str, Any], open_database: OpenDatabase) -> str:
    db = open_database(properties)
    try:
        applied = await migrate_all(db)
    finally:
        await db.close()
    return ",".join(f"{component}:{m.version:04d}" for component, m in applied)


async def handle(
    event: Event,
    seconds_left: float,
    open_database: OpenDatabase = _dataapi,
    send: Send = _put,
) -> dict[str, Any]:
    """Carries out one custom-resource request and sends CloudFormation the answer, which it
    also returns."""
    request_id = new_request_id()
    kind = str(event["RequestType"])
    properties: Mapping[str, Any] = event.get("ResourceProperties", {})
    physical = str(event.get("PhysicalResourceId") or f"{properties.get('Database')}-migrations")
    status, reason, data = "SUCCESS", "", {}
    if kind in ("Create", "Update"):
        try:
            with anyio.fail_after(max(seconds_left - SAFETY_SECONDS, 1.0)):
                applied = await _migrate(properties, open_database)
            data = {"Applied": applied}
            log.info("migrations applied: %s", applied or "none pending")
        except MigrationError as exc:
            status, reason = "FAILED", f"MIGRATION_REFUSED: {exc}"
        except DatabaseUnavailable:
            log.exception("database unavailable (request id %s)", request_id)
            status = "FAILED"
            reason = f"UNAVAILABLE: the database did not answer (request id {request_id})"
        except TimeoutError:
            status = "FAILED"
            reason = f"TIMEOUT: the migrations did not finish in time (request id {request_id})"
        except Exception:
            log.exception("migration failed (request id %s)", request_id)
            status = "FAILED"
            reason = f"INTERNAL: see the function's log (request id {request_id})"
    response = {
        "Status": status,
        "Reason": reason or f"{kind} done (request id {request_id})",
        "PhysicalResourceId": physical,
        "StackId": event["StackId"],
        "RequestId": event["RequestId"],
        "LogicalResourceId": event["LogicalResourceId"],
        "Data": data,
    }
    await send(str(event["ResponseURL"]), json.dumps(response).encode())
    return response


def handler(event: Event, context: LambdaContext) -> None:
    """The Lambda entry point."""
    configure_logging("INFO", service="migrations")
    asyncio.run(handle(event, context.get_remaining_time_in_millis() / 1000))
