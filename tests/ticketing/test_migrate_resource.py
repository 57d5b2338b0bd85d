"""The migrations custom resource over the RDS Data API: its local stand-in (every call checked
against botocore's model) on a real, empty PostgreSQL database."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import asynccontextmanager
from typing import Any, cast

import anyio
import pytest

from servers.core.db import Database
from servers.core.db.base import DatabaseUnavailable
from servers.core.db.dataapi import DataApiDatabase
from ticketing.db import COMPONENTS
from ticketing.local_aws.dataapi import LOCAL_RESOURCE_ARN, LOCAL_SECRET_ARN, LocalDataApi
from ticketing.migrate_resource import SAFETY_SECONDS, handle
from ticketing.pg import EmbeddedPostgres

URL = "https://cloudformation-custom-resource-response-uswest2.s3.amazonaws.com/x?sig=1"


@pytest.fixture
def empty_api(pg: EmbeddedPostgres) -> Iterator[LocalDataApi]:
    """The Data API stand-in over a database with nothing in it, as a new cluster has."""
    name = f"m_{uuid.uuid4().hex[:16]}"
    pg.create_database(name)
    api = LocalDataApi(pg.url(name))
    yield api
    api.close()
    pg.drop_database(name)


class Responses:
    """What the handler PUT to CloudFormation's response URL."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, dict[str, Any]]] = []

    async def __call__(self, url: str, body: bytes) -> None:
        self.sent.append((url, json.loads(body)))


def event(kind: str, api: LocalDataApi, **extra: str) -> dict[str, Any]:
    return {
        "RequestType": kind,
        "ResponseURL": URL,
        "StackId": "arn:aws:cloudformation:us-west-2:111111111111:stack/TicketingData/1",
        "RequestId": str(uuid.uuid4()),
        "LogicalResourceId": "Migrations",
        "ResourceType": "Custom::Migrations",
        "ResourceProperties": {
            "ServiceToken": "arn:aws:lambda:us-west-2:111111111111:function:migrate",
            "ClusterArn": LOCAL_RESOURCE_ARN,
            "SecretArn": LOCAL_SECRET_ARN,
            "Database": api.dbname,
            "Region": "us-west-2",
            "MigrationsHash": "abc",
        },
        **extra,
    }


def opener(api: LocalDataApi) -> Any:
    def open_database(properties: Mapping[str, Any]) -> Database:
        assert properties["ClusterArn"] == LOCAL_RESOURCE_ARN
        return DataApiDatabase(
            api.client(),
            resource_arn=str(properties["ClusterArn"]),
            secret_arn=str(properties["SecretArn"]),
            database=str(properties["Database"]),
        )

    return open_database


async def test_create_migrates_every_component_and_update_applies_only_whats_new(
    empty_api: LocalDataApi,
) -> None:
    sent = Responses()
    created = await handle(event("Create", empty_api), 300, opener(empty_api), sent)
    assert created["Status"] == "SUCCESS", created
    applied = created["Data"]["Applied"].split(",")
    assert {a.split(":")[0] for a in applied} == {c.name for c in COMPONENTS}
    assert sent.sent == [(URL, created)]

    db = opener(empty_api)(event("Update", empty_api)["ResourceProperties"])
    try:
        async with db.transaction() as tx:
            rows = await tx.fetch_all(
                "SELECT component, version FROM public.schema_migrations ORDER BY 1, 2"
            )
            customers = await tx.fetch_one("SELECT to_regclass('data.customers') AS t")
    finally:
        await db.close()
    assert [f"{r['component']}:{r['version']:04d}" for r in rows] == sorted(applied)
    assert customers == {"t": "data.customers"}

    again = event("Update", empty_api, PhysicalResourceId=created["PhysicalResourceId"])
    updated = await handle(again, 300, opener(empty_api), sent)
    assert updated["Status"] == "SUCCESS"
    assert updated["Data"] == {"Applied": ""}
    assert updated["PhysicalResourceId"] == created["PhysicalResourceId"]


async def test_delete_keeps_the_schemas_and_touches_no_database(empty_api: LocalDataApi) -> None:
    def no_database(properties: Mapping[str, Any]) -> Database:
        raise AssertionError("Delete must not open the database")

    sent = Responses()
    deleted = await handle(
        event("Delete", empty_api, PhysicalResourceId="ticketing-migrations"),
        300,
        no_database,
        sent,
    )
    assert deleted["Status"] == "SUCCESS"
    assert deleted["PhysicalResourceId"] == "ticketing-migrations"
    assert len(sent.sent) == 1


async def test_a_database_outage_fails_the_deploy_with_a_code_and_no_details(
    empty_api: LocalDataApi,
) -> None:
    def unavailable(properties: Mapping[str, Any]) -> Database:
        raise DatabaseUnavailable("connection to 10.0.0.1 refused; SELECT secret FROM x")

    sent = Responses()
    failed = await handle(event("Create", empty_api), 300, unavailable, sent)
    assert failed["Status"] == "FAILED"
    assert failed["Reason"].startswith("UNAVAILABLE: the database did not answer (request id ")
    assert "10.0.0.1" not in failed["Reason"]
    assert "SELECT" not in failed["Reason"]
    assert sent.sent == [(URL, failed)]


async def test_an_unexpected_error_is_answered_not_left_hanging(empty_api: LocalDataApi) -> None:
    def broken(properties: Mapping[str, Any]) -> Database:
        raise KeyError("SecretArn=arn:aws:secretsmanager:...:secret:db")

    sent = Responses()
    failed = await handle(event("Update", empty_api), 300, broken, sent)
    assert failed["Status"] == "FAILED"
    assert failed["Reason"].startswith("INTERNAL: see the function's log (request id ")
    assert "secret" not in failed["Reason"].lower()
    assert len(sent.sent) == 1


class Stuck:
    """A database whose first transaction never starts (a cluster that does not answer)."""

    closed = False

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Any]:
        await anyio.sleep_forever()
        yield None

    async def close(self) -> None:
        self.closed = True


async def test_a_database_that_never_answers_fails_in_time_and_is_closed(
    empty_api: LocalDataApi,
) -> None:
    stuck = Stuck()
    sent = Responses()
    # SAFETY_SECONDS before the function's limit, it gives up and answers (1 s at the least).
    failed = await handle(
        event("Create", empty_api), SAFETY_SECONDS + 0.5, lambda _: cast(Database, stuck), sent
    )
    assert failed["Status"] == "FAILED"
    assert failed["Reason"].startswith("TIMEOUT: the migrations did not finish in time")
    assert stuck.closed
    assert len(sent.sent) == 1
