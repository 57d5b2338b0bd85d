"""``python -m servers.ticket`` runs the ticket server (settings from TICKET_* variables)."""

from __future__ import annotations

import logging
from zoneinfo import ZoneInfo

import anyio
import httpx

from servers.core.app import build_http_app, run, serve
from servers.core.client import ClientCredentials, HttpServiceClient
from servers.core.logs import configure_logging
from servers.core.scopes import (
    DATA_READ,
    DATA_WRITE,
    NOTIFY_SEND,
    PAYMENTS_READ,
    PAYMENTS_REFUND,
    PAYMENTS_WRITE,
)
from servers.core.settings import load_settings
from servers.core.subjects import CustomerSubjects

from .gateways import DataGateway, NotifyGateway, PaymentGateway
from .help.desk import HelpDesk, venue_library
from .help.gateway import SupportGateway
from .help.search import HelpIndex
from .journey import Journey
from .server import RESOURCE, SCOPES, build_server
from .service import TicketService
from .settings import TicketSettings
from .webhooks import WEBHOOK_PATH, PaymentEvents

log = logging.getLogger(__name__)


async def main() -> None:
    settings = load_settings(TicketSettings)
    configure_logging(settings.log_level, service="ticket")
    secret = settings.secret

    def client(url: str, *scopes: str) -> HttpServiceClient:
        # One token per server, carrying only that server's scopes.
        credentials = ClientCredentials(settings.issuer, settings.client_id, secret, scopes)
        return HttpServiceClient(url, credentials=credentials, name="ticket-server")

    data_client = client(settings.data_url, DATA_READ, DATA_WRITE)
    payment_client = client(settings.payment_url, PAYMENTS_READ, PAYMENTS_WRITE, PAYMENTS_REFUND)
    notify_client = client(settings.notify_url, NOTIFY_SEND)
    data = DataGateway(data_client)
    payments = PaymentGateway(payment_client)
    notify = NotifyGateway(notify_client)
    service = TicketService(
        data, venue_tz=ZoneInfo(settings.venue_tz), hold_minutes=settings.hold_minutes
    )
    journey = Journey(service, data, payments, notify)
    support = settings.support_hours
    help_desk = HelpDesk(
        index=HelpIndex(
            venue_library(
                hold_minutes=settings.hold_minutes,
                support=support,
                support_email=settings.support_inbox,
            )
        ),
        tickets=service,
        cases=SupportGateway(data_client),
        notify=notify,
        support=support,
        support_inbox=settings.support_inbox,
    )
    # The payment server's events: posted to the webhook route, or handed on by the REST edge.
    events = (
        None
        if settings.webhook_secret is None
        else PaymentEvents(journey, settings.webhook_secret.get_secret_value())
    )
    mcp = build_server(
        service,
        journey,
        operator_client_ids=frozenset(settings.operator_client_ids),
        help_desk=help_desk,
        payment_events=events,
    )
    if events is not None:
        mcp.custom_route(WEBHOOK_PATH, methods=["POST"])(events.handle)

    data_health = settings.data_url.removesuffix("/mcp") + "/health"

    # One client for every check: building one per /health call cost ~21 ms of CPU each.
    health_http = httpx.AsyncClient(timeout=2.0)

    async def health() -> None:
        # Ready when the data server it depends on is: make run waits for both.
        (await health_http.get(data_health)).raise_for_status()

    app = await build_http_app(
        mcp,
        settings,
        resource=RESOURCE,
        scopes=SCOPES,
        health=health,
        subjects=CustomerSubjects(data),
    )
    async with (
        health_http,
        data_client,
        payment_client,
        notify_client,
        anyio.create_task_group() as tasks,
    ):
        tasks.start_soon(sweep_forever, journey, settings.sweep_seconds)
        await serve(app, settings)
        # While the clients are still open: the e-mails of the last payments answered.
        await journey.drain()
        tasks.cancel_scope.cancel()


async def sweep_forever(journey: Journey, every_seconds: float) -> None:
    """Expire lapsed holds (or confirm them, if their payment went through) on a timer."""
    while True:
        await anyio.sleep(every_seconds)
        try:
            swept = await journey.sweep_holds()
        except Exception:
            log.exception("hold sweep failed; trying again in %s s", every_seconds)
            continue
        if swept:
            log.info("hold sweep reconciled %d orders", swept)


if __name__ == "__main__":
    run(main)
