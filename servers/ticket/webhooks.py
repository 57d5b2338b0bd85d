"""The payment server's webhooks, received: signature checked, duplicates ignored, paid orders
confirmed through the same idempotent path the paying call takes."""

from __future__ import annotations

import json
import logging
import re
from collections import OrderedDict
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse

from servers.core.errors import UNAVAILABLE, DomainError
from servers.core.ids import id_pattern
from servers.core.webhooks import SIGNATURE_HEADER, WebhookSignatureError, verify_webhook

from .journey import Journey

log = logging.getLogger(__name__)

WEBHOOK_PATH = "/webhooks/payment"
_REMEMBERED_EVENTS = 10_000
_ORDER_ID = re.compile(id_pattern("ord"))
RETRY_AFTER_SECONDS = 30


class InvalidEvent(ValueError):
    """A signed body that is not a payment event this server can read."""


class PaymentWebhook:
    """``POST /webhooks/payment``, served by ``handle``.

    - 2xx once an event is handled, or needs nothing: another kind of event, or one about an
      order this server does not know (logged and ignored, so the payment server stops
      retrying something that can never succeed);
    - 400 for a bad signature or a body that is not a payment event: retrying cannot help;
    - 503 with ``Retry-After`` when handling failed (a server it needs is down), so that the
      payment server retries. Never 500.
    """

    def __init__(self, journey: Journey, secret: str):
        self.journey = journey
        self.secret = secret
        self._handled: OrderedDict[str, None] = OrderedDict()

    async def handle(self, request: Request) -> JSONResponse:
        body = await request.body()
        try:
            verify_webhook(body, request.headers.get(SIGNATURE_HEADER, ""), self.secret)
            event_id, kind, order_id = _read(body)
        except (WebhookSignatureError, InvalidEvent) as exc:
            log.warning("payment webhook refused: %s", exc)
            return JSONResponse({"error": "invalid webhook"}, status_code=400)
        if event_id in self._handled:
            return JSONResponse({"received": True, "duplicate": True})
        if kind == "payment_intent.succeeded":
            if order_id is None:
                log.warning("payment webhook %s names no order of ours; ignored", event_id)
            else:
                try:
                    status = await self.journey.reconcile(order_id)
                except DomainError as exc:
                    return _try_later(event_id, order_id, exc)
                except Exception:
                    log.exception("payment webhook %s: order %s failed", event_id, order_id)
                    return _try_later(event_id, order_id, None)
                if status is None:
                    log.warning("payment webhook %s: no order %s; ignored", event_id, order_id)
                else:
                    log.info("payment webhook %s: order %s is %s", event_id, order_id, status)
        self._handled[event_id] = None
        if len(self._handled) > _REMEMBERED_EVENTS:
            self._handled.popitem(last=False)
        return JSONResponse({"received": True})


def _read(body: bytes) -> tuple[str, str, str | None]:
    """The event's id, type and the order id in its intent's metadata (None when there is no
    well-formed one: an intent this server did not open)."""
    try:
        event: Any = json.loads(body)
    except ValueError as exc:
        raise InvalidEvent(f"the body is not JSON: {exc}") from None
    if not isinstance(event, dict):
        raise InvalidEvent("the body is not an event object")
    event_id, kind, data = event.get("id"), event.get("type"), event.get("data")
    if not isinstance(event_id, str) or not event_id or not isinstance(kind, str):
        raise InvalidEvent("the event has no id or type")
    intent = data.get("object") if isinstance(data, dict) else None
    if not isinstance(intent, dict):
        raise InvalidEvent(f"event {event_id[:64]!r} has no data.object")
    metadata = intent.get("metadata")
    order_id = metadata.get("order_id") if isinstance(metadata, dict) else None
    if isinstance(order_id, str) and _ORDER_ID.fullmatch(order_id):
        return event_id, kind, order_id
    return event_id, kind, None


def _try_later(event_id: str, order_id: str, error: DomainError | None) -> JSONResponse:
    if error is not None:
        level = logging.WARNING if error.code == UNAVAILABLE else logging.ERROR
        log.log(level, "payment webhook %s: order %s not handled: %s", event_id, order_id, error)
    return JSONResponse(
        {"error": "not handled yet; retry later"},
        status_code=503,
        headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
    )
