"""``python -m servers.notify`` runs the notify server and its delivery worker (``NOTIFY_*``)."""

from __future__ import annotations

import asyncio
import contextlib
import random
from datetime import timedelta

from servers.core.app import build_http_app, run, serve
from servers.core.backoff import Backoff
from servers.core.clock import utc_now
from servers.core.db.connect import open_database, ping
from servers.core.logs import configure_logging
from servers.core.settings import load_settings

from .delivery import DeliveryWorker
from .mailers import build_mailer
from .server import RESOURCE, SCOPES, build_server
from .service import NotifyService
from .settings import NotifySettings

WORKER_STOP_SECONDS = 10.0


async def main() -> None:
    settings = load_settings(NotifySettings)
    configure_logging(settings.log_level, service="notify")
    db = await open_database(settings)
    mailer = build_mailer(settings)
    try:
        worker = DeliveryWorker(
            db,
            mailer,
            backoff=Backoff(
                settings.retry_base_seconds, settings.retry_max_seconds, random.Random()
            ),
            clock=utc_now,
            lease=timedelta(seconds=settings.lease_seconds),
            batch=settings.worker_batch,
            concurrency=settings.worker_concurrency,
            poll_seconds=settings.worker_poll_seconds,
            reply_to=settings.reply_to,
        )
        service = NotifyService(
            db,
            sender=settings.mail_from,
            message_id_domain=settings.sender_domain,
            max_attempts=settings.max_attempts,
            on_queued=worker.wake,
        )
        app = await build_http_app(
            build_server(service),
            settings,
            resource=RESOURCE,
            scopes=SCOPES,
            health=lambda: ping(db),
        )
        stop = asyncio.Event()
        delivering = asyncio.create_task(worker.run(stop))
        try:
            await serve(app, settings)
        finally:
            # Let the round under way record its outcomes; what is cut off is retried by the
            # next start once its lease runs out.
            stop.set()
            worker.wake()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(delivering, WORKER_STOP_SECONDS)
    finally:
        await mailer.aclose()
        await db.close()


if __name__ == "__main__":
    run(main)
