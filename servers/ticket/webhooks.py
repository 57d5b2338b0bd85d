"""The payment server's webhooks, received: signature checked, duplicates ignored, paid orders
confirmed through the same idempotent path the paying call takes."""

from __future__ import annotations

import json
import logging
from collections import OrderedDict

from starlette.requests import Request
from starlette.responses import JSONResponse

from servers.core.webhooks import SIGNATURE_HEADER, WebhookSignatureError, verify_webhook

from .journey import Journey

log = logging.getLogger(__name__)

WEBHOOK_PATH = "/webhooks/payment"
_REMEMBERED_EVENTS = 10_000


class PaymentWebhook:
    """``POST /webhooks/payment``, served by ``handle``. Answers 2xx once an event is handled
    (or needs nothing), so the payment server stops retrying; 400 for a bad signature; 500 when
    handling failed, so that it retries."""

    def __init__(self, journey: Journey, secret: str):
        self.journey = journey
        self.secret = secret
        self._handled: OrderedDict[str, None] = OrderedDict()

    async def handle(self, request: Request) -> JSONResponse:
        body = await request.body()
        try:
            verify_webhook(body, request.headers.get(SIGNATURE_HEADER, ""), self.secret)
            event = json.loads(body)
            event_id, kind = str(event["id"]), str(event["type"])
            intent = event["data"]["object"]
        except (WebhookSignatureError, ValueError, KeyError, TypeError) as exc:
            log.warning("payment webhook refused: %s", exc)
            return JSONResponse({"error": "invalid webhook"}, status_code=400)
        if event_id in self._handled:
            return JSONResponse({"received": True, "duplicate": True})
        order_id = (intent.get("metadata") or {}).get("order_id")
        if kind == "payment_intent.succeeded" and isinstance(order_id, str):
            status = await self.journey.reconcile(order_id)
            log.info("payment webhook %s: order %s is %s", event_id, order_id, status)
        self._handled[event_id] = None
        if len(self._handled) > _REMEMBERED_EVENTS:
            self._handled.popitem(last=False)
        return JSONResponse({"received": True})
