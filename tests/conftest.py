"""Fixtures shared by every test: one throwaway PostgreSQL cluster per session, a fresh
database per test cloned from a migrated template, and the database interface over either
backend."""

from __future__ import annotations

import asyncio
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from servers.core.db import Database
from servers.core.db.dataapi import DataApiDatabase
from servers.core.db.postgres import PostgresDatabase
from ticketing.db import migrate_all
from ticketing.local_aws.dataapi import LOCAL_RESOURCE_ARN, LOCAL_SECRET_ARN, LocalDataApi
from ticketing.pg import EmbeddedPostgres

TEMPLATE = "ticketing_template"


@pytest.fixture(scope="session")
def pg() -> Iterator[EmbeddedPostgres]:
    # Not under pytest's temp dirs: as root, the server runs as an unprivileged user who must be
    # able to reach its data directory, and pytest's are private to root.
    base = Path(tempfile.mkdtemp(prefix="ticketing-test-pg-"))
    base.chmod(0o755)
    with EmbeddedPostgres(base / "cluster", persistent=False) as server:
        yield server
    base.rmdir()


@pytest.fixture(scope="session")
def template_db(pg: EmbeddedPostgres) -> str:
    pg.create_database(TEMPLATE)

    async def build() -> None:
        db = await PostgresDatabase(pg.url(TEMPLATE), min_size=1, max_size=1).open()
        try:
            await migrate_all(db)
        finally:
            await db.close()

    asyncio.run(build())
    return TEMPLATE


@pytest.fixture
def database_url(pg: EmbeddedPostgres, template_db: str) -> Iterator[str]:
    """A fresh, migrated, empty database for one test."""
    name = f"t_{uuid.uuid4().hex[:16]}"
    pg.create_database(name, template=template_db)
    yield pg.url(name)
    pg.drop_database(name)


@pytest.fixture(params=["postgres", "dataapi"])
def db_backend(request: pytest.FixtureRequest) -> str:
    """Which backend the ``db`` fixture uses: every repository test runs against both."""
    backend: str = request.param
    return backend


@pytest.fixture
async def db(database_url: str, db_backend: str) -> AsyncIterator[Database]:
    database: Database
    local_api: LocalDataApi | None = None
    if db_backend == "postgres":
        database = await PostgresDatabase(database_url, max_size=30).open()
    elif db_backend == "dataapi":
        local_api = LocalDataApi(database_url)
        database = DataApiDatabase(
            local_api.client(),
            resource_arn=LOCAL_RESOURCE_ARN,
            secret_arn=LOCAL_SECRET_ARN,
            database=local_api.dbname,
        )
    else:
        raise NotImplementedError(db_backend)
    try:
        yield database
    finally:
        await database.close()
        if local_api is not None:
            local_api.close()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Under ``pytest -n N --dist loadgroup`` (make test): each module runs whole on one worker,
    so its module-scoped stack starts once; the modules that need a fixed port share one worker,
    in turn: those marked ``fixed_port`` and all of tests/web (the web app's origin, 8080, is
    one the identity provider has registered callbacks for)."""
    for item in items:
        module = item.nodeid.split("::")[0]
        fixed = item.get_closest_marker("fixed_port") or module.startswith("tests/web/")
        group = "fixed-port" if fixed else module
        item.add_marker(pytest.mark.xdist_group(group))
