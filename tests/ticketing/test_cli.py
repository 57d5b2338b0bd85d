"""``ticketing db ...`` against the database DATABASE_URL names."""

from __future__ import annotations

import psycopg
import pytest
from typer.testing import CliRunner

from ticketing.cli import app
from ticketing.pg import EmbeddedPostgres


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
