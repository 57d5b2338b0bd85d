"""Fixtures shared by every test: one throwaway PostgreSQL cluster per session, a fresh
database per test cloned from a migrated template, and the database interface over either
backend."""

from __future__ import annotations

import asyncio
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from xdist.scheduler import LoadScopeScheduling

from servers.core.db import Database
from servers.core.db.dataapi import DataApiDatabase
from servers.core.db.postgres import PostgresDatabase
from ticketing.db import migrate_all
from ticketing.local_aws.dataapi import LOCAL_RESOURCE_ARN, LOCAL_SECRET_ARN, LocalDataApi
from ticketing.pg import EmbeddedPostgres

TEMPLATE = "ticketing_template"


@contextmanager
def throwaway_postgres() -> Iterator[EmbeddedPostgres]:
    """A PostgreSQL cluster in a temporary directory, removed at the end (also used by the
    browser suite's stack, tests/web/stack.py)."""
    # Not under pytest's temp dirs: as root, the server runs as an unprivileged user who must be
    # able to reach its data directory, and pytest's are private to root.
    base = Path(tempfile.mkdtemp(prefix="ticketing-test-pg-"))
    base.chmod(0o755)
    with EmbeddedPostgres(base / "cluster", persistent=False) as server:
        yield server
    base.rmdir()


def migrated_template(pg: EmbeddedPostgres) -> str:
    """The migrated, empty database every test database is cloned from; returns its name."""
    pg.create_database(TEMPLATE)

    async def build() -> None:
        db = await PostgresDatabase(pg.url(TEMPLATE), min_size=1, max_size=1).open()
        try:
            await migrate_all(db)
        finally:
            await db.close()

    asyncio.run(build())
    return TEMPLATE


@pytest.fixture(scope="session")
def pg() -> Iterator[EmbeddedPostgres]:
    with throwaway_postgres() as server:
        yield server


@pytest.fixture(scope="session")
def template_db(pg: EmbeddedPostgres) -> str:
    return migrated_template(pg)


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


# Modules that listen on, or are called back at, a fixed port: the Inspector's OAuth callback.
# (The web app's origin, 8080, is the browser suite's: web/e2e, `make e2e`, never under pytest.)
FIXED_PORT = ("tests/conformance/test_inspector_oauth.py",)


class ModuleScheduling(LoadScopeScheduling):  # type: ignore[misc]  # xdist is untyped
    """``pytest -n N --dist loadscope`` (make test): each module runs whole on one worker, so its
    module-scoped stack starts once, and the fixed-port modules share one scope, so they run in
    turn. (xdist's ``loadgroup`` would say this with markers, but with pytest 9.2 its group
    never reaches the node ids it schedules by.)"""

    def _split_scope(self, nodeid: str) -> str:
        module = nodeid.split("::")[0]
        return "fixed-port" if module.startswith(FIXED_PORT) else module


def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> LoadScopeScheduling | None:
    return ModuleScheduling(config, log) if config.getvalue("dist") == "loadscope" else None
