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
