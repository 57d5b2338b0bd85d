"""The payment server's events, received: signature checked, duplicates ignored, paid orders
confirmed through the same idempotent path the paying call takes.

Two ways in, one handling (:class:`PaymentEvents`):

- ``POST /webhooks/payment``, the payment server's own delivery where it can reach this server
  directly (``make run``, the tests);
- the service-only tool ``receive_payment_event``, through which the REST edge hands on an
  event it received and checked (in AWS, AgentCore routes nothing but ``/mcp`` to a server).
  The signature travels with the event and is checked here again, so a client holding the
  scope still cannot make up an event.
"""

from __future__ import annotations

import json
import logging
import re
from collections import OrderedDict
from typing import Annotated, Any, Final

from fastmcp import FastMCP
from pydantic import BaseModel, ConfigDict, Field
from starlette.requests import Request
from starlette.responses import JSONResponse

from servers.core.app import CREATES, requires
from servers.core.errors import UNAVAILABLE, DomainError
from servers.core.ids import id_pattern
from servers.core.limits import MAX_BODY_BYTES
from servers.core.scopes import TICKETS_WEBHOOKS
from servers.core.webhooks import SIGNATURE_HEADER, WebhookSignatureError, verify_webhook

from .journey import Journey

log = logging.getLogger(__name__)

WEBHOOK_PATH = "/webhooks/payment"
EVENT_TOOL = "receive_payment_event"
INVALID_WEBHOOK: Final = "INVALID_WEBHOOK"
"""A bad signature or a body that is not a payment event: sending it again cannot help."""
_REMEMBERED_EVENTS = 10_000
_ORDER_ID = re.compile(id_pattern("ord"))
RETRY_AFTER_SECONDS = 30


class InvalidEvent(ValueError):
    """A signed body that is not a payment event this server can read."""


class EventReceipt(BaseModel):
    """What became of a payment event."""

    model_config = ConfigDict(frozen=True)

    event_id: str = Field(description="The event's id, evt_...")
    duplicate: bool = Field(description="True when this event had been received before.")
    order_id: str | None = Field(
        description="The upgrade order the event is about; null when it names none of ours."
    )
    order_status: str | None = Field(
        description="The order's status once the event was handled; null when nothing was "
        "done (another kind of event, a duplicate, or an order this server does not know)."
    )


class PaymentEvents:
    """Receives the payment server's signed events (see the module's docstring).

    - handled, or needing nothing (another kind of event, or one about an order this server
      does not know: logged and ignored, so the sender stops retrying something that can never
      succeed): a receipt;
    - a bad signature or a body that is not a payment event: ``INVALID_WEBHOOK``;
    - handling failed (a server it needs is down): ``UNAVAILABLE``, so that the sender tries
      again later.
    """

    def __init__(self, journey: Journey, secret: str):
        self.journey = journey
        self.secret = secret
        self._handled: OrderedDict[str, None] = OrderedDict()

    async def receive(self, body: bytes, signature: str) -> EventReceipt:
        try:
            verify_webhook(body, signature, self.secret)
            event_id, kind, order_id = _read(body)
        except (WebhookSignatureError, InvalidEvent) as exc:
            log.warning("payment webhook refused: %s", exc)
            raise DomainError(INVALID_WEBHOOK, "invalid webhook") from None
        if event_id in self._handled:
            return EventReceipt(
                event_id=event_id, duplicate=True, order_id=order_id, order_status=None
            )
        status: str | None = None
        if kind == "payment_intent.succeeded":
            if order_id is None:
                log.warning("payment webhook %s names no order of ours; ignored", event_id)
            else:
                status = await self._reconcile(event_id, order_id)
        self._handled[event_id] = None
        if len(self._handled) > _REMEMBERED_EVENTS:
            self._handled.popitem(last=False)
        return EventReceipt(
            event_id=event_id, duplicate=False, order_id=order_id, order_status=status
        )

    async def _reconcile(self, event_id: str, order_id: str) -> str | None:
        try:
            status = await self.journey.reconcile(order_id)
        except DomainError as exc:
            level = logging.WARNING if exc.code == UNAVAILABLE else logging.ERROR
            log.log(level, "payment webhook %s: order %s not handled: %s", event_id, order_id, exc)
            raise _try_later() from None
        except Exception:
            log.exception("payment webhook %s: order %s failed", event_id, order_id)
            raise _try_later() from None
        if status is None:
            log.warning("payment webhook %s: no order %s; ignored", event_id, order_id)
        else:
            log.info("payment webhook %s: order %s is %s", event_id, order_id, status)
        return status

    async def handle(self, request: Request) -> JSONResponse:
        """``POST /webhooks/payment``: 2xx once handled, 400 for ``INVALID_WEBHOOK``, 503 with
        ``Retry-After`` when the payment server should try again. Never 500."""
        body = await request.body()
        try:
            receipt = await self.receive(body, request.headers.get(SIGNATURE_HEADER, ""))
        except DomainError as exc:
            if exc.code == INVALID_WEBHOOK:
                return JSONResponse({"error": "invalid webhook"}, status_code=400)
            return JSONResponse(
                {"error": "not handled yet; retry later"},
                status_code=503,
                headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
            )
        if receipt.duplicate:
            return JSONResponse({"received": True, "duplicate": True})
        return JSONResponse({"received": True})


EventBody = Annotated[
    str,
    Field(
        min_length=2,
        max_length=MAX_BODY_BYTES,
        description="The event exactly as the payment server sent and signed it (its JSON body).",
    ),
]
EventSignature = Annotated[
    str,
    Field(
        min_length=1,
        max_length=1024,
        description=f"The event's {SIGNATURE_HEADER} header as received: t=<unix>,v1=<hex>.",
    ),
]


def register_event_tool(mcp: FastMCP, events: PaymentEvents) -> None:
    @mcp.tool(name=EVENT_TOOL, annotations=CREATES, meta=requires(TICKETS_WEBHOOKS))
    async def receive_payment_event(event: EventBody, signature: EventSignature) -> EventReceipt:
        """Our REST edge only: hand on a payment event received from the payment gateway, as
        it was signed. A paid order is confirmed; the same event again changes nothing.
        INVALID_WEBHOOK: the signature or the event is not valid (do not send it again);
        UNAVAILABLE: not handled yet, send it again later."""
        return await events.receive(event.encode(), signature)


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


def _try_later() -> DomainError:
    return DomainError(UNAVAILABLE, "not handled yet; send it again later")
