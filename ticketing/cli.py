"""``ticketing``: the project's command line (run the stack, manage databases, get tokens)."""

from __future__ import annotations

# Every command starts with importing this module, so it imports only what all of them need;
# each command imports its own heavy modules (FastMCP for `docs`, the runner, the database kit,
# the mail sink's web server) when it runs.
import asyncio
import json
import os
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer

from servers.devidp.cli import app as token_app
from ticketing.layout import DATABASE_NAME, DEV_DIR, dev_cluster_dir, shared_cluster_dir

if TYPE_CHECKING:
    from servers.core.db import Database
    from ticketing.mailsink import Mailbox

app = typer.Typer(
    help="Ticket upgrades as MCP servers: development commands.", add_completion=False
)
db_app = typer.Typer(help="Migrate, seed or reset the database.", add_completion=False)
app.add_typer(db_app, name="db")
app.add_typer(token_app, name="token")
mail_app = typer.Typer(
    help="E-mails caught by the local SMTP sink (make run's 127.0.0.1:1025).", add_completion=False
)
app.add_typer(mail_app, name="mail")

T = TypeVar("T")


@app.callback()
def _defaults() -> None:
    # Commands that read customers (``token --user``) find the dev cluster without being told.
    configured = os.environ.get("IDP_DATABASE_URL") or os.environ.get("DATABASE_URL")
    if configured:
        return
    # Both places the cluster may be (see ticketing.pg.cluster_dir), looked at without
    # importing the PostgreSQL tooling every command would then load.
    for cluster in (DEV_DIR / "pg", shared_cluster_dir(DEV_DIR / "pg")):
        remembered = cluster / "ticketing-port"
        if not remembered.exists():
            continue
        port = remembered.read_text().strip()
        os.environ["IDP_DATABASE_URL"] = f"postgresql://postgres@127.0.0.1:{port}/{DATABASE_NAME}"


@app.command()
def run() -> None:
    """Start PostgreSQL, migrate, seed, and run every server until Ctrl-C."""
    from ticketing import stack

    stack.run()


@contextmanager
def _database_url() -> Iterator[str]:
    """DATABASE_URL, or the embedded dev cluster (started for the command if not running)."""
    from ticketing import stack
    from ticketing.pg import EmbeddedPostgres, EmbeddedPostgresError

    external = os.environ.get("DATABASE_URL")
    if external:
        yield external
        return
    pg = EmbeddedPostgres(dev_cluster_dir(), log=lambda m: typer.echo(m, err=True))
    try:
        pg.start()
    except EmbeddedPostgresError as exc:
        remembered = dev_cluster_dir() / "ticketing-port"
        if "already running" in str(exc) and remembered.exists():
            port = int(remembered.read_text().strip())
            yield f"postgresql://postgres@127.0.0.1:{port}/{DATABASE_NAME}"
            return
        raise
    try:
        with stack._autocommit(pg.url()) as conn:
            if not conn.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE_NAME,)
            ).fetchone():
                pg.create_database(DATABASE_NAME)
        yield pg.url(DATABASE_NAME)
    finally:
        pg.stop()


def _with_db(work: Callable[[Database], Awaitable[T]]) -> T:
    from servers.core.db.postgres import PostgresDatabase

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
    from ticketing.db import migrate_all

    applied = _with_db(migrate_all)
    for component, migration in applied:
        typer.echo(f"applied {component} {migration.version:04d}_{migration.name}")
    typer.echo(f"{len(applied)} migrations applied")


@db_app.command("seed")
def db_seed() -> None:
    """Insert the demo customers and tickets (idempotent; dates relative to today)."""
    from ticketing.db import seed_all

    inserted = _with_db(lambda db: seed_all(db, date.today()))
    typer.echo(f"{inserted} rows inserted")


@db_app.command("reset")
def db_reset(
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
) -> None:
    """Drop everything, migrate and seed again (development only)."""
    from ticketing.db import migrate_all, reset_all, seed_all

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
    from ticketing.docs import ROOT, generate_blocks, stale_documents

    stale = stale_documents(asyncio.run(generate_blocks()), write=not check)
    for path in stale:
        typer.echo(f"{path.relative_to(ROOT)} {'is stale' if check else 'updated'}", err=check)
    if check and stale:
        raise typer.Exit(1)
    if not stale:
        typer.echo("documentation is up to date")


def _mailbox() -> Mailbox:
    from ticketing.mailsink import DEFAULT_DIR, Mailbox

    return Mailbox(Path(os.environ.get("MAIL_SINK_DIR", DEFAULT_DIR)))


@mail_app.command("list")
def mail_list(
    to: Annotated[
        str | None, typer.Option("--to", help="Only e-mails to this address.", metavar="EMAIL")
    ] = None,
    as_json: Annotated[
        bool,
        typer.Option(
            "--json", help="A JSON array of {message_id, to, subject, received_at, copies}."
        ),
    ] = False,
) -> None:
    """List the e-mails the sink received, oldest first, each Message-ID once as a mailbox
    shows it; one the sender repeated says how many times it came."""
    received = _mailbox().inbox(to)
    if as_json:
        typer.echo(json.dumps([r.summary() for r in received], indent=2))
        return
    if not received:
        typer.echo("no e-mails")
        return
    for r in received:
        repeats = f"  (received {r.copies} times)" if r.copies > 1 else ""
        typer.echo(f"{r.received_at[:19]}  {r.to:<32}  {r.subject}{repeats}\n    {r.message_id}")


@mail_app.command("show")
def mail_show(
    message_id: Annotated[str, typer.Argument(help="The Message-ID, as `mail list` shows it.")],
) -> None:
    """Print an e-mail as it was received (headers, text and HTML parts; the first copy)."""
    mailbox = _mailbox()
    wanted = message_id if message_id.startswith("<") else f"<{message_id}>"
    for r in mailbox.inbox():
        if r.message_id == wanted:
            typer.echo(mailbox.raw(r).decode("utf-8", errors="replace"))
            return
    typer.echo(f"no e-mail with Message-ID {wanted}", err=True)
    raise typer.Exit(1)


@mail_app.command("clear")
def mail_clear() -> None:
    """Delete every e-mail the sink kept."""
    typer.echo(f"{_mailbox().clear()} e-mails deleted")


if __name__ == "__main__":
    app()
