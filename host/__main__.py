"""``python -m host`` runs the concierge host (settings from HOST_* variables)."""

from __future__ import annotations

from servers.core.app import run, serve
from servers.core.db.connect import open_database, ping
from servers.core.logs import configure_logging
from servers.core.settings import load_settings

from .api import build_app
from .loop import Concierge, Limits
from .memory.factory import build_memory
from .providers.factory import build_provider
from .settings import HostSettings
from .toolbox import McpServer
from .webapp import build_app as build_web_app


async def main() -> None:
    settings = load_settings(HostSettings)
    configure_logging(settings.log_level, service="host")
    provider = build_provider(settings)
    db = await open_database(settings)
    try:
        memory = build_memory(settings, db)
        concierge = None
        if provider is not None:
            concierge = Concierge(
                provider,
                memory,
                [
                    McpServer("ticket", settings.ticket_url),
                    McpServer("payment", settings.payment_url),
                ],
                Limits(
                    max_steps=settings.max_steps,
                    turn_timeout_seconds=settings.turn_timeout_seconds,
                    tool_timeout_seconds=settings.tool_timeout_seconds,
                    model_retries=settings.model_retries,
                ),
            )
        web = build_web_app(
            settings.web_dist,
            {
                "issuer": settings.issuer,
                "client_id": settings.web_client_id,
                "ticket_url": settings.ticket_url,
                "payment_url": settings.payment_url,
            },
        )
        app = build_app(
            settings, memory=memory, concierge=concierge, health=lambda: ping(db), web=web
        )
        await serve(app, settings)
    finally:
        await db.close()


if __name__ == "__main__":
    run(main)
