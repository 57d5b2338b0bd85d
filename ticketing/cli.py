"""``ticketing``: the project's command line (run the stack, manage databases, get tokens)."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from datetime import date
from typing import Annotated, TypeVar

import typer

from servers.core.db import Database
from servers.core.db.postgres import PostgresDatabase
from servers.devidp.cli import app as token_app
from ticketing import stack
from ticketing.db import migrate_all, reset_all, seed_all
from ticketing.docs import ROOT, generate_blocks, stale_documents
from ticketing.pg import EmbeddedPostgres, EmbeddedPostgresError

app = typer.Typer(
    help="Ticket upgrades as MCP servers: development commands.", add_completion=False
)
db_app = typer.Typer(help="Migrate, seed or reset the database.", add_completion=False)
app.add_typer(db_app, name="db")
app.add_typer(token_app, name="token")

T = TypeVar("T")


@app.callback()
def _defaults() -> None:
    # Commands that read customers (``token --user``) find the dev cluster without being told.
    remembered = stack.DEV_DIR / "pg" / "ticketing-port"
    configured = os.environ.get("IDP_DATABASE_URL") or os.environ.get("DATABASE_URL")
    if not configured and remembered.exists():
        port = remembered.read_text().strip()
        os.environ["IDP_DATABASE_URL"] = (
            f"postgresql://postgres@127.0.0.1:{port}/{stack.DATABASE_NAME}"
        )


@app.command()
def run() -> None:
    """Start PostgreSQL, migrate, seed, and run every server until Ctrl-C."""
    stack.run()


@contextmanager
def _database_url() -> Iterator[str]:
    """DATABASE_URL, or the embedded dev cluster (started for the command if not running)."""
    external = os.environ.get("DATABASE_URL")
    if external:
        yield external
        return
    pg = EmbeddedPostgres(stack.DEV_DIR / "pg", log=lambda m: typer.echo(m, err=True))
    try:
        pg.start()
    except EmbeddedPostgresError as exc:
        remembered = stack.DEV_DIR / "pg" / "ticketing-port"
        if "already running" in str(exc) and remembered.exists():
            port = int(remembered.read_text().strip())
            yield f"postgresql://postgres@127.0.0.1:{port}/{stack.DATABASE_NAME}"
            return
        raise
    try:
        with stack._autocommit(pg.url()) as conn:
            if not conn.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", (stack.DATABASE_NAME,)
            ).fetchone():
                pg.create_database(stack.DATABASE_NAME)
        yield pg.url(stack.DATABASE_NAME)
    finally:
        pg.stop()


def _with_db(work: Callable[[Database], Awaitable[T]]) -> T:
    async def run(url: str) -> T:
        db = await PostgresDatabase(url, max_size=2).open()
        try:
            return await work(db)
        finally:
            await db.close()

    with _database_url() as url:
        return asyncio.run(run(url))


@db_app.command("migrate")
def db_migrate() -> None:
    """Apply pending migrations of every component."""
    applied = _with_db(migrate_all)
    for component, migration in applied:
        typer.echo(f"applied {component} {migration.version:04d}_{migration.name}")
    typer.echo(f"{len(applied)} migrations applied")


@db_app.command("seed")
def db_seed() -> None:
    """Insert the demo customers and tickets (idempotent; dates relative to today)."""
    inserted = _with_db(lambda db: seed_all(db, date.today()))
    typer.echo(f"{inserted} rows inserted")


@db_app.command("reset")
def db_reset(
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
) -> None:
    """Drop everything, migrate and seed again (development only)."""
    if not yes:
        typer.confirm("Drop every table of the development database?", abort=True)

    async def reset(db: Database) -> int:
        await reset_all(db)
        await migrate_all(db)
        return await seed_all(db, date.today())

    typer.echo(f"reset; {_with_db(reset)} seed rows inserted")


@app.command()
def docs(
    check: Annotated[
        bool, typer.Option("--check", help="Only report whether the READMEs are up to date.")
    ] = False,
) -> None:
    """Regenerate the tool and configuration tables in the READMEs."""
    stale = stale_documents(asyncio.run(generate_blocks()), write=not check)
    for path in stale:
        typer.echo(f"{path.relative_to(ROOT)} {'is stale' if check else 'updated'}", err=check)
    if check and stale:
        raise typer.Exit(1)
    if not stale:
        typer.echo("documentation is up to date")


if __name__ == "__main__":
    app()
