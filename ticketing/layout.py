"""Where the local stack keeps its state, importable without the runner's dependencies.

Every CLI command reads these (``ticketing token --user`` finds the dev cluster through them), so
they live apart from ``ticketing.stack``, whose imports (httpx, psycopg, the database kit) would
otherwise slow every command's start-up.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

DEV_DIR: Final = Path(".dev")
DATABASE_NAME: Final = "ticketing"


def dev_cluster_dir() -> Path:
    """Where ``make run`` keeps its PostgreSQL cluster: ``.dev/pg``, or, as root in a checkout
    the unprivileged PostgreSQL user cannot reach, ``/var/tmp/ticketing-<hash>/pg``."""
    # Imported here: psycopg comes with it, which commands that never touch the cluster skip.
    from ticketing.pg import cluster_dir

    return cluster_dir(DEV_DIR / "pg")
