"""The migration runner: in order, once, and never over an edited file."""

from __future__ import annotations

import asyncio

import pytest

from servers.core.db import Database
from servers.core.migrate import Migration, MigrationError, load_migrations, migrate


def test_data_migrations_are_numbered_and_split_into_statements() -> None:
    migrations = load_migrations("servers.data")
    assert [m.version for m in migrations] == sorted(m.version for m in migrations)
    assert migrations[0].version == 1
    statements = migrations[0].statements()
    assert any(s.startswith("CREATE TABLE data.customers") for s in statements)
    assert all(not s.startswith("--") or "\n" in s for s in statements)


async def test_applies_pending_migrations_once(db: Database) -> None:
    first = Migration(1, "t", "CREATE TABLE public.t (x int);\n-- a comment\n")
    second = Migration(
        2, "t_more", "INSERT INTO public.t VALUES (1); INSERT INTO public.t VALUES (2);"
    )
    assert await migrate(db, "test", [first]) == [first]
    assert await migrate(db, "test", [first, second]) == [second]
    assert await migrate(db, "test", [first, second]) == []
    async with db.transaction() as tx:
        rows = await tx.fetch_all("SELECT x FROM public.t ORDER BY x")
    assert [r["x"] for r in rows] == [1, 2]


async def test_an_edited_migration_is_refused(db: Database) -> None:
    await migrate(db, "test", [Migration(1, "t", "CREATE TABLE public.t (x int)")])
    with pytest.raises(MigrationError, match="changed after it was applied"):
        await migrate(db, "test", [Migration(1, "t", "CREATE TABLE public.t (y int)")])


async def test_a_failing_migration_leaves_nothing_behind(db: Database) -> None:
    broken = Migration(1, "broken", "CREATE TABLE public.half (x int); SELECT 1/0;")
    with pytest.raises(Exception, match="division by zero"):
        await migrate(db, "test", [broken])
    async with db.transaction() as tx:
        half = await tx.fetch_one("SELECT to_regclass('public.half') AS t")
        recorded = await tx.fetch_one(
            "SELECT count(*) AS n FROM public.schema_migrations WHERE component = 'test'"
        )
    assert half == {"t": None}
    assert recorded == {"n": 0}


async def test_concurrent_runners_apply_each_migration_once(db: Database) -> None:
    migration = Migration(1, "t", "CREATE TABLE public.t (x int)")
    results = await asyncio.gather(*(migrate(db, "race", [migration]) for _ in range(5)))
    assert sorted(len(r) for r in results) == [0, 0, 0, 0, 1]
