"""The ``database_url`` fixture's database (tests/conftest.py, ``ReusedDatabase``): every test
starts from it as from a fresh clone of the migrated template."""

from __future__ import annotations

import psycopg

from tests.conftest import ReusedDatabase
from ticketing.pg import EmbeddedPostgres


def rows(url: str, table: str) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute(f"SELECT count(*) FROM {table}").fetchone()
    assert row is not None
    return int(row[0])


def test_rows_are_gone_and_sequences_restart_on_the_same_database(
    pg: EmbeddedPostgres, template_db: str
) -> None:
    database = ReusedDatabase(pg, template_db)
    url = database.url
    with psycopg.connect(url) as conn:
        conn.execute(
            "INSERT INTO data.customers (customer_id, email, full_name, created_at) "
            f"VALUES ('cus_{'a' * 26}', 'reused@example.com', 'Reused', now())"
        )
        first = conn.execute("SELECT nextval('payment.events_seq_seq')").fetchone()
    database.reset()
    assert database.url == url
    assert rows(url, "data.customers") == 0
    assert rows(url, "public.schema_migrations") == rows(
        pg.url(template_db), "public.schema_migrations"
    )
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT nextval('payment.events_seq_seq')").fetchone() == first


def test_a_changed_schema_gets_a_new_clone(pg: EmbeddedPostgres, template_db: str) -> None:
    database = ReusedDatabase(pg, template_db)
    for change in (
        "CREATE TABLE public.extra (x int)",
        "ALTER TABLE data.customers ADD COLUMN extra int",
        "ALTER TABLE data.customers DROP CONSTRAINT customers_pkey CASCADE",
        "DROP SCHEMA payment CASCADE",
        "DELETE FROM public.schema_migrations",
    ):
        url = database.url
        with psycopg.connect(url) as conn:
            conn.execute(change)
        database.reset()
        assert database.url != url, change
        with psycopg.connect(database.url) as conn:
            assert conn.execute("SELECT to_regclass('public.extra')").fetchone() == (None,)
        assert rows(database.url, "payment.events") == 0


def test_tables_a_test_left_locked_get_a_new_clone(pg: EmbeddedPostgres, template_db: str) -> None:
    database = ReusedDatabase(pg, template_db)
    url = database.url
    left_behind = psycopg.connect(url)  # its transaction holds the lock until the end
    left_behind.execute("LOCK TABLE data.tickets IN ACCESS EXCLUSIVE MODE")
    database.reset()  # waits for the lock no longer than its lock_timeout
    left_behind.close()  # ended by the reset's DROP DATABASE ... WITH (FORCE)
    assert database.url != url
    assert rows(database.url, "data.tickets") == 0
