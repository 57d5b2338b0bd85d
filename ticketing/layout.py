"""Where the local stack keeps its state, importable without the runner's dependencies.

Every CLI command reads these (``ticketing token --user`` finds the dev cluster through them), so
they live apart from ``ticketing.stack``, whose imports (httpx, psycopg, the database kit) would
otherwise slow every command's start-up.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Final

DEV_DIR: Final = Path(".dev")
DATABASE_NAME: Final = "ticketing"
SHARED_CLUSTER_ROOT: Final = Path("/var/tmp")  # noqa: S108 - ownership checked in pg.cluster_dir


def shared_cluster_dir(preferred: Path) -> Path:
    """The place under /var/tmp for a cluster meant for ``preferred`` that PostgreSQL's user
    cannot reach (root in a 0700 checkout); the hash names the checkout, so each keeps its own."""
    digest = hashlib.sha256(str(preferred.expanduser().absolute()).encode()).hexdigest()[:16]
    return SHARED_CLUSTER_ROOT / f"ticketing-{digest}" / "pg"


def dev_cluster_dir() -> Path:
    """Where ``make run`` keeps its PostgreSQL cluster: ``.dev/pg``, or, as root in a checkout
    the unprivileged PostgreSQL user cannot reach, ``/var/tmp/ticketing-<hash>/pg``."""
    # Imported here: psycopg comes with it, which commands that never touch the cluster skip.
    from ticketing.pg import cluster_dir

    return cluster_dir(DEV_DIR / "pg")
