"""The notify server's rules: render once, queue once per idempotency key, retry what is dead.

It knows nothing of MCP: it takes plain values and returns records or raises
:class:`~servers.core.errors.DomainError`. Delivery is the worker's job (``delivery.py``); the
service only writes the outbox and nudges the worker.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import TypeAdapter
from pydantic import ValidationError as PydanticValidationError

from servers.core.clock import Clock, utc_now
from servers.core.db import Database, Transaction
from servers.core.errors import DomainError, invalid_argument
from servers.core.idempotency import IdempotencyStore
from servers.core.ids import new_id

from . import repository as repo
from .models import Message, MessageList, Preview, Recipient, Reference, TemplateList
from .rendering import Templates

MESSAGE_NOT_FOUND = "MESSAGE_NOT_FOUND"
MAX_LIST = 500

_RECIPIENT: TypeAdapter[str] = TypeAdapter(Recipient)
_REFERENCE: TypeAdapter[str] = TypeAdapter(Reference)


def refuse_line_breaks(name: str, value: str) -> None:
    """A header value with CR or LF could smuggle in headers of its own: never accepted."""
    if "\r" in value or "\n" in value:
        raise invalid_argument(f"{name} must not contain line breaks (CR or LF)")


def _nothing() -> None:
    return None


@dataclass
class NotifyService:
    db: Database
    sender: str
    message_id_domain: str
    templates: Templates = field(default_factory=Templates)
    clock: Clock = utc_now
    max_attempts: int = 6
    on_queued: Callable[[], None] = _nothing
    idempotency: IdempotencyStore = field(default_factory=lambda: IdempotencyStore("notify"))

    async def send_email(
        self,
        *,
        template: str,
        to: str,
        context: Mapping[str, Any],
        idempotency_key: str,
        reference: str | None,
        caller: str,
    ) -> Message:
        to = _checked_recipient(to)
        if reference is not None:
            refuse_line_breaks("reference", reference)
            _checked(_REFERENCE, "reference", reference)
        # Rendered before anything is stored: a context that cannot make a whole e-mail is
        # refused with nothing queued.
        rendered = self.templates.render(template, context)
        arguments = {"template": template, "to": to, "context": context, "reference": reference}
        message_id = new_id("msg")
        # One statement claims the key and queues the message, both or neither: no BEGIN and
        # COMMIT around it, a third of send_email's CPU (bench/README.md, "Round trips to
        # PostgreSQL").
        async with self.db.autocommit() as tx:
            queued = await self.idempotency.claim_and_write(
                tx,
                caller=caller,
                tool="send_email",
                key=idempotency_key,
                arguments=arguments,
                response={"message_id": message_id},
                write=repo.QUEUE_IF_CLAIMED,
                params={
                    "message_id": message_id,
                    "caller": caller,
                    "idempotency_key": idempotency_key,
                    "template": template,
                    "sender": self.sender,
                    "recipient": to,
                    "subject": rendered.subject,
                    "body_text": rendered.text,
                    "body_html": rendered.html,
                    "reference": reference,
                    "header_message_id": f"<{message_id}@{self.message_id_domain}>",
                    "max_attempts": self.max_attempts,
                    "now": self.clock(),
                },
            )
            if queued is None:
                stored = await self.idempotency.stored(
                    tx, caller=caller, tool="send_email", key=idempotency_key, arguments=arguments
                )
                return await _message(tx, stored["message_id"])
        message = repo.message_of(queued)
        self.on_queued()
        return message

    def preview_email(self, template: str, context: Mapping[str, Any]) -> Preview:
        rendered = self.templates.render(template, context)
        return Preview(
            template=template, subject=rendered.subject, text=rendered.text, html=rendered.html
        )

    def list_templates(self) -> TemplateList:
        return self.templates.catalogue()

    async def get_message(self, message_id: str) -> Message:
        async with self.db.read() as tx:
            return await _message(tx, message_id)

    async def list_messages(
        self,
        *,
        recipient: str | None = None,
        reference: str | None = None,
        status: str | None = None,
        limit: int = 100,
    ) -> MessageList:
        if not 1 <= limit <= MAX_LIST:
            raise invalid_argument(f"limit must be between 1 and {MAX_LIST}")
        async with self.db.read() as tx:
            found = await repo.messages(
                tx, recipient=recipient, reference=reference, status=status, limit=limit
            )
        return MessageList(messages=found)

    async def retry_message(self, message_id: str) -> Message:
        """A dead message goes back in the queue with a fresh set of attempts; any other is
        returned as it is, so that a repeated call queues nothing twice."""
        async with self.db.transaction() as tx:
            message = await _message(tx, message_id, lock=True)
            if message.status != "dead":
                return message
            message = await repo.requeue_dead(tx, message_id, self.max_attempts, self.clock())
        self.on_queued()
        return message


async def _message(tx: Transaction, message_id: str, *, lock: bool = False) -> Message:
    message = await repo.message(tx, message_id, lock=lock)
    if message is None:
        raise DomainError(MESSAGE_NOT_FOUND, f"no message {message_id}")
    return message


def _checked(adapter: TypeAdapter[str], name: str, value: str) -> str:
    try:
        return adapter.validate_python(value)
    except PydanticValidationError:
        raise invalid_argument(f"{name} {value[:80]!r} is not valid") from None


def _checked_recipient(to: str) -> str:
    refuse_line_breaks("to", to)
    try:
        return _RECIPIENT.validate_python(to)
    except PydanticValidationError:
        raise invalid_argument(f"to {to[:80]!r} is not a valid e-mail address") from None
