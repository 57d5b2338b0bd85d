"""``python -m host`` runs the concierge host (settings from HOST_* variables)."""

from __future__ import annotations

from contextlib import AsyncExitStack

from servers.core.app import run, serve
from servers.core.client import ClientCredentials, HttpServiceClient
from servers.core.db.connect import open_database, ping
from servers.core.logs import configure_logging
from servers.core.scopes import TICKETS_CATALOGUE
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
        async with AsyncExitStack() as stack:
            web = build_web_app(
                settings.web_dist,
                {
                    "issuer": settings.issuer,
                    "client_id": settings.web_client_id,
                    "ticket_url": settings.ticket_url,
                    "payment_url": settings.payment_url,
                },
                await stack.enter_async_context(public_prices(settings))
                if settings.client_secret is not None
                else None,
            )
            app = await stack.enter_async_context(
                assembled(settings, provider, build_memory(settings, db), lambda: ping(db), web=web)
            )
            await serve(app, settings)
    finally:
        await db.close()


def public_prices(settings: HostSettings) -> HttpServiceClient:
    """The ticket server's catalogue for visitors' price pages, called with the host's own
    catalogue-only token (the one the visitors' concierge uses)."""
    assert settings.client_secret is not None
    credentials = ClientCredentials(
        settings.issuer,
        settings.client_id,
        settings.client_secret.get_secret_value(),
        [TICKETS_CATALOGUE],
    )
    return HttpServiceClient(settings.ticket_url, credentials=credentials, name="host")


if __name__ == "__main__":
    run(main)
