"""Types of the help tools: their arguments and answers."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import Field, StringConstraints

from ..models import Answer

HelpQuery = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=300)]
Summary = Annotated[
    str,
    StringConstraints(
        # Line breaks and tabs are kept (a customer writes paragraphs); other controls are not.
        strip_whitespace=True,
        min_length=10,
        max_length=2000,
        pattern=r"^[^\x00-\x08\x0b-\x1f\x7f]+$",
    ),
]
PreferredContact = Annotated[
    str,
    StringConstraints(strip_whitespace=True, pattern=r"^(email|\+?[0-9][0-9 ().\-]{5,30})$"),
]


class HelpHit(Answer):
    uri: str = Field(description="The topic's resource, e.g. help://policies/refunds.")
    title: str
    snippet: str = Field(description="The topic's passage that best matches the question.")
    score: float = Field(description="Relevance; higher is better. Only for ordering.")


class HelpAnswer(Answer):
    query: str
    version: str = Field(description="Version of the venue's help texts the answer comes from.")
    results: list[HelpHit] = Field(description="Best first; empty when nothing matches.")
    next_step: str | None = Field(
        description="What to do when the results do not answer the question."
    )


class SupportRequest(Answer):
    reference: str = Field(description="The case reference to quote, SUP-XXXXXXXX.")
    status: Literal["open", "closed"]
    summary: str
    preferred_contact: str
    ticket_number: str | None
    order_id: str | None
    created_at: datetime
    answer_by: datetime = Field(description="When a person will have answered (UTC).")
    message: str = Field(description="What happens next, in words for the customer.")
