"""``python -m host`` runs the concierge host (settings from HOST_* variables)."""

from __future__ import annotations

from servers.core.app import run, serve
from servers.core.db.connect import open_database, ping
from servers.core.logs import configure_logging
from servers.core.settings import load_settings

from .assemble import assembled
from .memory.factory import build_memory
from .providers.factory import build_provider
from .settings import HostSettings
from .webapp import build_app as build_web_app


async def main() -> None:
    settings = load_settings(HostSettings)
    configure_logging(settings.log_level, service="host")
    provider = build_provider(settings)
    db = await open_database(settings)
    try:
        web = build_web_app(
            settings.web_dist,
            {
                "issuer": settings.issuer,
                "client_id": settings.web_client_id,
                "ticket_url": settings.ticket_url,
                "payment_url": settings.payment_url,
            },
        )
        async with assembled(
            settings, provider, build_memory(settings, db), lambda: ping(db), web=web
        ) as app:
            await serve(app, settings)
    finally:
        await db.close()


if __name__ == "__main__":
    run(main)
