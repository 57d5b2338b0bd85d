"""``python -m servers.data`` runs the data server (settings from DATA_* variables)."""

from __future__ import annotations

from servers.core.app import build_http_app, run, serve
from servers.core.db.connect import open_database, ping
from servers.core.logs import configure_logging
from servers.core.settings import load_settings

from .server import RESOURCE, SCOPES, build_server
from .service import CapacityDefaults, DataService
from .settings import DataSettings


async def main() -> None:
    settings = load_settings(DataSettings)
    configure_logging(settings.log_level, service="data")
    db = await open_database(settings)
    try:
        service = DataService(
            db,
            capacity=CapacityDefaults(
                standard=settings.capacity_standard,
                non_stop=settings.capacity_non_stop,
                double_fun=settings.capacity_double_fun,
            ),
        )
        app = await build_http_app(
            build_server(service),
            settings,
            resource=RESOURCE,
            scopes=SCOPES,
            health=lambda: ping(db),
        )
        await serve(app, settings)
    finally:
        await db.close()


if __name__ == "__main__":
    run(main)
