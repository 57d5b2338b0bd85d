"""``python -m servers.payment`` runs the payment server (settings from PAYMENT_* variables)."""

from __future__ import annotations

import asyncio
import contextlib
import secrets

from servers.core.app import build_http_app, run, serve
from servers.core.auth import SubjectResolver
from servers.core.backoff import Backoff
from servers.core.client import ClientCredentials, HttpServiceClient, pooled_session
from servers.core.clock import utc_now
from servers.core.db.connect import open_database, ping
from servers.core.logs import configure_logging
from servers.core.scopes import DATA_WRITE
from servers.core.settings import load_settings
from servers.core.subjects import CustomerSubjects, DataSignIns

from .server import RESOURCE, SCOPES, build_server
from .service import Faults, PaymentService
from .settings import PaymentSettings
from .webhooks import WebhookWorker, configure_endpoints


async def main() -> None:
    settings = load_settings(PaymentSettings)
    configure_logging(settings.log_level, service="payment")
    db = await open_database(settings)
    try:
        secret = settings.webhook_secret.get_secret_value() if settings.webhook_secret else None
        await configure_endpoints(db, settings.webhook_urls, secret, utc_now())
        service = PaymentService(
            db,
            fingerprint_key=(
                settings.fingerprint_key.get_secret_value().encode()
                if settings.fingerprint_key
                else secrets.token_bytes(32)
            ),
            faults=Faults(
                latency_seconds=settings.fault_latency_ms / 1000,
                error_rate=settings.fault_error_rate,
                seed=settings.fault_seed,
            ),
            public_url=settings.base_url,
        )
        data_client = _data_client(settings)
        subjects: SubjectResolver | None = None
        if data_client is not None:
            # A Cognito user's saved cards are kept under the customer id the ticket server
            # knows them by, not under Cognito's UUID.
            subjects = CustomerSubjects(DataSignIns(data_client))
        app = await build_http_app(
            build_server(service),
            settings,
            resource=RESOURCE,
            scopes=SCOPES,
            health=lambda: ping(db),
            subjects=subjects,
        )
        async with contextlib.AsyncExitStack() as stack:
            if data_client is not None:
                await stack.enter_async_context(data_client)
            http = await stack.enter_async_context(pooled_session(10.0))
            worker = WebhookWorker(
                db,
                http,
                backoff=Backoff(
                    settings.webhook_base_delay_seconds, settings.webhook_max_delay_seconds
                ),
                max_attempts=settings.webhook_max_attempts,
            )
            deliveries = asyncio.create_task(worker.run())
            try:
                await serve(app, settings)
            finally:
                deliveries.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await deliveries
    finally:
        await db.close()


def _data_client(settings: PaymentSettings) -> HttpServiceClient | None:
    """The data server's client, for customers' sign-ins only (``data/write``)."""
    if settings.data_url is None or settings.client_secret is None:
        return None
    credentials = ClientCredentials(
        settings.issuer,
        settings.client_id,
        settings.client_secret.get_secret_value(),
        (DATA_WRITE,),
    )
    return HttpServiceClient(settings.data_url, credentials=credentials, name="payment-server")


if __name__ == "__main__":
    run(main)
