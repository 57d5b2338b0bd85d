"""Types of the notify server: argument types of its tools and the records it returns."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, EmailStr, Field, StringConstraints

from servers.core.ids import id_pattern

MessageStatus = Literal["queued", "sending", "sent", "failed", "dead"]
TemplateName = Literal[
    "upgrade_confirmed",
    "payment_failed",
    "upgrade_cancelled",
    "hold_expired",
    "support_request_received",
    "support_case_opened",
    "upgrade_changed",
]

MessageId = Annotated[str, StringConstraints(pattern=id_pattern("msg"))]


def _bare_address(value: object) -> object:
    # email-validator trims surrounding whitespace (U+2028 included); an address that came
    # with any is refused rather than quietly trimmed into another one.
    if isinstance(value, str) and any(c.isspace() or not c.isprintable() for c in value):
        raise ValueError(
            "must be a bare address, without spaces, line breaks or control characters"
        )
    return value


Recipient = Annotated[EmailStr, BeforeValidator(_bare_address), StringConstraints(max_length=254)]
Reference = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.:\-]{1,128}$")]


class Record(BaseModel):
    model_config = ConfigDict(frozen=True)


class MessageSummary(Record):
    message_id: str
    template: str
    to: str
    subject: str
    status: MessageStatus = Field(
        description="queued -> sending -> sent, or failed (retried later) -> dead."
    )
    reference: str | None
    attempts: int
    max_attempts: int
    next_attempt_at: datetime | None = Field(description="When a queued or failed one is due.")
    last_error: str | None
    created_at: datetime
    updated_at: datetime
    sent_at: datetime | None


class Message(MessageSummary):
    sender: str
    header_message_id: str = Field(description="The Message-ID header, stable across attempts.")
    text: str
    html: str


class MessageList(Record):
    messages: list[MessageSummary]


class Preview(Record):
    template: str
    subject: str
    text: str
    html: str


class TemplateField(Record):
    name: str
    type: str = Field(description="JSON type, with its format where there is one.")
    required: bool
    description: str


class TemplateInfo(Record):
    name: str
    description: str
    fields: list[TemplateField]
    example: dict[str, Any] = Field(description="A valid context, to start from.")


class TemplateList(Record):
    templates: list[TemplateInfo]
