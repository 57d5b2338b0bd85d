"""The databases of every component: which migrations each owns, and how to seed and reset."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from servers.core.db import Database
from servers.core.migrate import Migration, load_migrations, migrate
from servers.data.seed import seed as seed_data


@dataclass(frozen=True)
class Component:
    name: str
    package: str
    schema: str


COMPONENTS: tuple[Component, ...] = (
    Component("data", "servers.data", "data"),
    Component("notify", "servers.notify", "notify"),
    Component("payment", "servers.payment", "payment"),
    Component("host", "host", "host"),
)


async def migrate_all(db: Database) -> list[tuple[str, Migration]]:
    """Apply every component's pending migrations; returns what was applied now."""
    applied = []
    for component in COMPONENTS:
        for migration in await migrate(db, component.name, load_migrations(component.package)):
            applied.append((component.name, migration))
    return applied


async def seed_all(db: Database, today: date) -> int:
    return await seed_data(db, today)


async def reset_all(db: Database) -> None:
    """Drop every component's schema and its migration records (development only)."""
    async with db.transaction() as tx:
        for component in COMPONENTS:
            await tx.execute(f"DROP SCHEMA IF EXISTS {component.schema} CASCADE")
        await tx.execute("DROP TABLE IF EXISTS public.schema_migrations")
