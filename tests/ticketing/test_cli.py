"""``ticketing db ...`` against the database DATABASE_URL names."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest
from typer.testing import CliRunner

from ticketing.cli import app
from ticketing.pg import EmbeddedPostgres

# What only some commands need: `docs` (FastMCP, every server), `run` (the runner, httpx), the
# database commands (psycopg), `mail` (the sink's web server). Every command imports the CLI.
HEAVY_MODULES = (
    "fastmcp",
    "mcp",
    "starlette",
    "uvicorn",
    "httpx",
    "psycopg",
    "ticketing.docs",
    "ticketing.stack",
)


@pytest.fixture
def empty_url(pg: EmbeddedPostgres) -> str:
    pg.drop_database("cli_test")
    pg.create_database("cli_test")
    return pg.url("cli_test")


def count(url: str, sql: str) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute(sql).fetchone()
    assert row is not None
    return int(row[0])


def test_migrate_seed_and_reset(empty_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", empty_url)
    runner = CliRunner()

    first = runner.invoke(app, ["db", "migrate"])
    assert first.exit_code == 0, first.output
    assert "applied data 0001_init" in first.output
    again = runner.invoke(app, ["db", "migrate"])
    assert "0 migrations applied" in again.output

    seeded = runner.invoke(app, ["db", "seed"])
    assert seeded.exit_code == 0, seeded.output
    customers = count(empty_url, "SELECT count(*) FROM data.customers")
    assert customers == 5
    assert "0 rows inserted" in runner.invoke(app, ["db", "seed"]).output

    with psycopg.connect(empty_url) as conn:
        conn.execute("DELETE FROM data.upgrade_orders")
        conn.execute("DELETE FROM data.tickets WHERE ticket_number = 'TKT-JD0001'")
    refused = runner.invoke(app, ["db", "reset"], input="n\n")
    assert refused.exit_code != 0
    assert count(empty_url, "SELECT count(*) FROM data.tickets") == 13

    reset = runner.invoke(app, ["db", "reset", "--yes"])
    assert reset.exit_code == 0, reset.output
    assert count(empty_url, "SELECT count(*) FROM data.tickets") == 14
    assert count(empty_url, "SELECT count(*) FROM data.upgrade_orders") == 1


@pytest.mark.parametrize(
    "command",
    [["--help"], ["token", "--client", "ops"], ["mail", "list"]],
    ids=["help", "client token", "mail list"],
)
def test_a_command_imports_only_what_it_needs(command: list[str], tmp_path: Path) -> None:
    # Start-up time is mostly imports (FastMCP alone took 2 s); which modules a command loads is
    # what can be checked without timing anything.
    script = (
        "import json, sys\n"
        "from ticketing.cli import app\n"
        f"sys.argv = ['ticketing', *{command!r}]\n"
        "try:\n"
        "    app()\n"
        "except SystemExit:\n"
        "    pass\n"
        f"print(json.dumps([m for m in {HEAVY_MODULES!r} if m in sys.modules]), file=sys.stderr)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=tmp_path,  # the dev identity provider's key is made under ./.dev
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert json.loads(result.stderr.strip().splitlines()[-1]) == []
