"""Fixtures shared by every test: one throwaway PostgreSQL cluster per session, a migrated
database that every test gets empty (emptied after the one before, or cloned anew from the
migrated template when that test changed its schema), and the database interface over either
backend."""

from __future__ import annotations

import asyncio
import tempfile
import uuid
from collections.abc import AsyncIterator, Generator, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
import pytest
from xdist.scheduler import LoadScopeScheduling

from servers.core.db import Database
from servers.core.db.dataapi import DataApiDatabase
from servers.core.db.postgres import PostgresDatabase
from tests.http.conftest import FullStack, running_full_stack
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


@pytest.fixture(scope="session")
def full_stack(pg: EmbeddedPostgres, template_db: str) -> Generator[FullStack, None, None]:
    """Every server of ``make run`` as a process (tests/http/conftest.py), shared by all the
    modules a test process runs (tests/http, tests/host, tests/conformance...): starting one
    costs 10-15 s of a worker's time. So a test makes its own customers and tickets and
    leaves the stack as it found it (a server it restarts, a process it adds); a module that
    changes the seeded customers' tickets starts a stack of its own under this name."""
    with running_full_stack(pg, template_db) as stack:
        yield stack


class ReusedDatabase:
    """A migrated, empty database for one test at a time: emptied after each test rather than
    cloned from the template anew, unless the test changed its schema.

    Cloning costs 100-400 ms here, mostly in the kernel (it writes the whole database, system
    catalogs included), which was most of many modules' time (tests/data/test_service.py: 56 s
    of setup against 21 s of tests). Emptying the tables costs a few milliseconds. A test that
    changed the schema (its tables, columns, constraints, functions or applied migrations), or
    left the tables locked, gets a new clone instead, so every test starts as from the
    template."""

    def __init__(self, pg: EmbeddedPostgres, template: str):
        self._pg = pg
        self._template = template
        self.url = ""
        self._name = ""
        self._clone()
        with psycopg.connect(self.url) as conn:
            self._schema = _schema_of(conn)
            tables = conn.execute(_TABLES).fetchall()
            sequences = conn.execute(_SEQUENCES).fetchall()
        # Foreign keys are not checked while emptying (replica mode), so any order will do.
        self._empty = "".join(
            [
                "SET session_replication_role = replica;",
                *(f"DELETE FROM {table};" for (table,) in tables),
                *(f"SELECT setval('{seq}', {start}, false);" for seq, start in sequences),
            ]
        )

    def reset(self) -> None:
        try:
            # Reading the schema waits for table locks too: neither waits long.
            with psycopg.connect(self.url, autocommit=True, options="-c lock_timeout=2s") as conn:
                if _schema_of(conn) == self._schema:
                    conn.execute(self._empty)
                    return
        except psycopg.Error:
            pass  # the schema's tables gone, or held by a session the test left behind
        self._pg.drop_database(self._name)
        self._clone()

    def _clone(self) -> None:
        self._name = f"t_{uuid.uuid4().hex[:16]}"
        self._pg.create_database(self._name, template=self._template)
        self.url = self._pg.url(self._name)


_TABLES = (
    "SELECT format('%I.%I', schemaname, tablename) FROM pg_tables "
    "WHERE schemaname NOT IN ('pg_catalog', 'information_schema') "
    "AND (schemaname, tablename) <> ('public', 'schema_migrations')"
)
_SEQUENCES = "SELECT format('%I.%I', schemaname, sequencename), start_value FROM pg_sequences"
_SCHEMA = """
SELECT md5(string_agg(item, ',' ORDER BY item)) FROM (
  SELECT format('%s:%s', c.oid::regclass, c.relkind)
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')
      AND n.nspname NOT LIKE 'pg_%temp%'
  UNION ALL
  SELECT format('%s.%s:%s', a.attrelid::regclass, a.attname, a.atttypid::regtype)
    FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
    JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE a.attnum > 0 AND NOT a.attisdropped
      AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')
  UNION ALL
  SELECT format('%s:%s', conrelid::regclass, pg_get_constraintdef(oid)) FROM pg_constraint
    WHERE connamespace NOT IN ('pg_catalog'::regnamespace, 'information_schema'::regnamespace)
  UNION ALL
  SELECT p.oid::regprocedure::text FROM pg_proc p
    WHERE pronamespace NOT IN ('pg_catalog'::regnamespace, 'information_schema'::regnamespace)
  UNION ALL
  SELECT format('%s:%s', tgrelid::regclass, tgname) FROM pg_trigger WHERE NOT tgisinternal
  UNION ALL
  SELECT 'migration:' || row_to_json(m)::text FROM public.schema_migrations m
) AS schema(item)
"""


def _schema_of(conn: psycopg.Connection[Any]) -> str:
    row = conn.execute(_SCHEMA).fetchone()
    assert row is not None
    return str(row[0])


@pytest.fixture(scope="session")
def reused_database(pg: EmbeddedPostgres, template_db: str) -> ReusedDatabase:
    return ReusedDatabase(pg, template_db)


@pytest.fixture
def database_url(reused_database: ReusedDatabase) -> Iterator[str]:
    """A migrated, empty database for one test (:class:`ReusedDatabase`)."""
    yield reused_database.url
    reused_database.reset()


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
