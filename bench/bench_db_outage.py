"""What does a PostgreSQL outage do to callers, and how soon after it do calls succeed again?

``python -m bench.bench_db_outage [--outage 20] [--pool 5]``

Starts a persistent embedded PostgreSQL in a temporary directory and opens the database the way
every server does (``open_database`` with the default settings), then runs one caller that reads
``SELECT 1`` every 0.25 s (each call waits for its answer, as a tool call does). After warming
``--pool`` connections it stops PostgreSQL (fast shutdown), keeps it down for ``--outage``
seconds and starts it again on the same port. Printed: how long failing calls took to answer
``UNAVAILABLE`` during the outage (median and maximum), and the recovery time: from PostgreSQL
accepting connections again until the end of the first call that succeeds.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import shutil
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from servers.core.db import Database, DatabaseUnavailable
from servers.core.db.connect import open_database
from servers.data.settings import DataSettings
from ticketing.pg import EmbeddedPostgres

CALL_INTERVAL = 0.25


@dataclass(frozen=True)
class Call:
    started: float
    ended: float
    ok: bool


async def select_one(db: Database) -> None:
    async with db.read() as tx:
        await tx.fetch_one("SELECT 1 AS ok")


async def caller(db: Database, calls: list[Call], restarted: asyncio.Event) -> None:
    """Calls until one that ended after PostgreSQL was back succeeded."""
    while True:
        started = time.monotonic()
        try:
            await select_one(db)
            ok = True
        except DatabaseUnavailable:
            ok = False
        calls.append(Call(started, time.monotonic(), ok))
        if ok and restarted.is_set():
            return
        await asyncio.sleep(CALL_INTERVAL)


async def measure(pg: EmbeddedPostgres, outage: float, pool: int) -> None:
    db = await open_database(
        DataSettings(
            database_url=pg.url(),
            auth_issuer="http://127.0.0.1:9000/",
            auth_jwks_url="http://127.0.0.1:9000/.well-known/jwks.json",
        )
    )
    # Several connections in the pool, as after a burst of traffic.
    await asyncio.gather(*(select_one(db) for _ in range(pool)))
    calls: list[Call] = []
    restarted = asyncio.Event()
    task = asyncio.create_task(caller(db, calls, restarted))
    await asyncio.sleep(1)
    down_at = time.monotonic()
    await asyncio.to_thread(pg.stop)
    await asyncio.sleep(outage)
    await asyncio.to_thread(pg.start)
    up_at = time.monotonic()
    restarted.set()
    await task
    await db.close()

    during = [call for call in calls if down_at <= call.started < up_at]
    failed = [call.ended - call.started for call in during if not call.ok]
    late = [call.ended - call.started for call in during if call.ok]
    recovered = min(call.ended for call in calls if call.ok and call.ended >= up_at)
    print(f"outage {outage:g} s (measured {up_at - down_at:.1f} s): {len(during)} calls in it")
    if failed:
        print(
            f"  {len(failed)} answered UNAVAILABLE after median {statistics.median(failed):.2f} s, "
            f"max {max(failed):.2f} s"
        )
    if late:
        print(
            f"  {len(late)} waited until after the outage and succeeded (up to {max(late):.1f} s)"
        )
    print(f"  recovery: first success {recovered - up_at:.2f} s after PostgreSQL was back")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--outage", type=float, default=20.0, help="seconds PostgreSQL is down")
    parser.add_argument("--pool", type=int, default=5, help="connections warmed before")
    args = parser.parse_args()
    # The pool logs each failed reconnection attempt; the figures are what this run is about.
    logging.getLogger("psycopg.pool").setLevel(logging.ERROR)
    base = Path(tempfile.mkdtemp(prefix="bench-db-outage-"))
    base.chmod(0o755)  # as root, PostgreSQL runs as an unprivileged user who must reach it
    pg = EmbeddedPostgres(base / "cluster", log=lambda _message: None)
    try:
        pg.start()
        asyncio.run(measure(pg, args.outage, args.pool))
    finally:
        pg.stop()
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
