"""Versioned plain-SQL migrations, applied in order, once, under an advisory lock.

A component keeps its migrations as ``<package>/migrations/NNNN_description.sql``. Applied
versions are recorded with a checksum in ``public.schema_migrations``; editing an applied file is
refused rather than silently ignored. Each file may hold several statements; they are split with
sqlparse so that the same files run over the RDS Data API, which takes one statement per call.
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass
from importlib.resources import files

import sqlparse

from .db import Database, Transaction

log = logging.getLogger(__name__)

_FILE = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")
_LOCK_KEY = 7_331_001


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()

    def statements(self) -> list[str]:
        return [s for s in (str(x).strip() for x in sqlparse.split(self.sql)) if _has_code(s)]


def _has_code(statement: str) -> bool:
    return bool(sqlparse.format(statement, strip_comments=True).strip().rstrip(";").strip())


def load_migrations(package: str) -> list[Migration]:
    """The migrations shipped in ``package.migrations``, ordered by version."""
    found = []
    for entry in files(f"{package}.migrations").iterdir():
        match = _FILE.match(entry.name)
        if match:
            found.append(Migration(int(match[1]), match[2], entry.read_text(encoding="utf-8")))
    found.sort(key=lambda m: m.version)
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise ValueError(f"duplicate migration versions in {package}: {versions}")
    return found


class MigrationError(RuntimeError):
    pass


async def _ensure_table(tx: Transaction) -> None:
    await tx.execute(
        "CREATE TABLE IF NOT EXISTS public.schema_migrations ("
        " component text NOT NULL, version integer NOT NULL, name text NOT NULL,"
        " checksum text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now(),"
        " PRIMARY KEY (component, version))"
    )


async def migrate(db: Database, component: str, migrations: list[Migration]) -> list[Migration]:
    """Apply the pending migrations of ``component``; returns those applied now."""
    applied_now: list[Migration] = []
    async with db.transaction() as tx:
        # Several servers may start at once; the lock makes them take turns.
        await tx.execute("SELECT pg_advisory_xact_lock(:key)", {"key": _LOCK_KEY})
        await _ensure_table(tx)
        rows = await tx.fetch_all(
            "SELECT version, checksum FROM public.schema_migrations WHERE component = :c",
            {"c": component},
        )
        done = {r["version"]: r["checksum"] for r in rows}
        for migration in migrations:
            if migration.version in done:
                if done[migration.version] != migration.checksum:
                    raise MigrationError(
                        f"migration {migration.version:04d}_{migration.name} of {component} "
                        "was changed after it was applied; add a new migration instead"
                    )
                continue
            log.info("applying migration %s %04d_%s", component, migration.version, migration.name)
            for statement in migration.statements():
                await tx.execute(statement)
            await tx.execute(
                "INSERT INTO public.schema_migrations (component, version, name, checksum) "
                "VALUES (:c, :v, :n, :s)",
                {
                    "c": component,
                    "v": migration.version,
                    "n": migration.name,
                    "s": migration.checksum,
                },
            )
            applied_now.append(migration)
    return applied_now
