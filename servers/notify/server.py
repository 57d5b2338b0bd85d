"""The notify server's MCP tools: thin, typed wrappers over :class:`NotifyService`."""

from __future__ import annotations

from typing import Annotated, Any

from mcp_types import ToolAnnotations
from pydantic import Field

from servers.core.app import READ_ONLY, KitMCP, create_mcp, requires
from servers.core.auth import current_caller
from servers.core.scopes import NOTIFY_READ, NOTIFY_SEND
from servers.core.types import IdempotencyKey, StrictInt

from .models import (
    Message,
    MessageId,
    MessageList,
    MessageStatus,
    Preview,
    Recipient,
    Reference,
    TemplateList,
    TemplateName,
)
from .service import MAX_LIST, NotifyService

RESOURCE = "notify"
SCOPES = (NOTIFY_SEND, NOTIFY_READ)

INSTRUCTIONS = """\
Transactional e-mail for ticket upgrades. send_email renders a template with a validated context
and queues the e-mail; a worker delivers it with retries, so the answer is the queued message and
get_message shows how delivery went. The same idempotency_key always returns the same message and
never sends a second e-mail. list_templates says what each template's context needs;
preview_email renders without sending. Errors start with a stable code such as UNKNOWN_TEMPLATE,
INVALID_ARGUMENT or MESSAGE_NOT_FOUND."""

# Queues an e-mail that leaves for the outside world; retried safely with the same key.
SENDS = ToolAnnotations(
    readOnlyHint=False, destructiveHint=False, idempotentHint=True, openWorldHint=True
)

_KEY = Field(
    description="A unique key per e-mail to send (8-128 of A-Z a-z 0-9 _ . : -), e.g. "
    "'upgrade_confirmed:ord_...'. Retrying with the same key returns the first message."
)
_TEMPLATE = Field(description="Template name; list_templates shows each one's context.")
_CONTEXT = Field(
    description="The template's values as a JSON object (see list_templates): money in integer "
    "cents, dates as YYYY-MM-DD. At most 16 KiB."
)


def build_server(service: NotifyService) -> KitMCP:
    mcp = create_mcp("notify", instructions=INSTRUCTIONS)

    @mcp.tool(annotations=SENDS, meta=requires(NOTIFY_SEND))
    async def send_email(
        template: Annotated[TemplateName, _TEMPLATE],
        to: Annotated[Recipient, Field(description="Recipient e-mail address.")],
        context: Annotated[dict[str, Any], _CONTEXT],
        idempotency_key: Annotated[IdempotencyKey, _KEY],
        reference: Annotated[
            Reference | None,
            Field(description="What the e-mail is about, e.g. an order id; for list_messages."),
        ] = None,
    ) -> Message:
        """Render a template and queue the e-mail for delivery; returns the queued message.

        Nothing is queued when the address, the template or its context is invalid."""
        return await service.send_email(
            template=template,
            to=to,
            context=context,
            idempotency_key=idempotency_key,
            reference=reference,
            caller=current_caller().client_id,
        )

    @mcp.tool(annotations=READ_ONLY, meta=requires(NOTIFY_SEND, NOTIFY_READ))
    async def preview_email(
        template: Annotated[TemplateName, _TEMPLATE],
        context: Annotated[dict[str, Any], _CONTEXT],
    ) -> Preview:
        """Render a template without sending: subject, plain text and HTML."""
        return service.preview_email(template, context)

    @mcp.tool(annotations=READ_ONLY, meta=requires(NOTIFY_SEND, NOTIFY_READ))
    async def list_templates() -> TemplateList:
        """Every template with the context fields it needs and an example context."""
        return service.list_templates()

    @mcp.tool(annotations=READ_ONLY, meta=requires(NOTIFY_READ))
    async def get_message(
        message_id: Annotated[MessageId, Field(description="Message id, msg_...")],
    ) -> Message:
        """Get one message: delivery status, attempts, last error, and what was sent."""
        return await service.get_message(message_id)

    @mcp.tool(annotations=READ_ONLY, meta=requires(NOTIFY_READ))
    async def list_messages(
        recipient: Annotated[
            Recipient | None, Field(description="Only messages to this address.")
        ] = None,
        reference: Annotated[
            Reference | None, Field(description="Only messages with this reference.")
        ] = None,
        status: Annotated[MessageStatus | None, Field(description="Only this status.")] = None,
        limit: Annotated[
            StrictInt, Field(ge=1, le=MAX_LIST, description="At most this many messages.")
        ] = 100,
    ) -> MessageList:
        """List messages, newest first."""
        return await service.list_messages(
            recipient=recipient, reference=reference, status=status, limit=limit
        )

    @mcp.tool(annotations=SENDS, meta=requires(NOTIFY_SEND))
    async def retry_message(
        message_id: Annotated[MessageId, Field(description="A dead message, msg_...")],
    ) -> Message:
        """Queue a dead message again with a fresh set of attempts; any other message is
        returned unchanged."""
        return await service.retry_message(message_id)

    return mcp
