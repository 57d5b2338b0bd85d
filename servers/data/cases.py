"""Support cases: a customer's request for a person, stored with what it is about.

The ticket server opens a case for the customer (``request_human_help``); ops list and close
them here with their ``data/*`` scopes. Apart from :mod:`servers.data.service` so that the
upgrade records and the support desk evolve on their own; both share one database and one
idempotency table.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import Field, StringConstraints

from servers.core.clock import Clock, utc_now
from servers.core.db import Database, Row, Transaction
from servers.core.errors import DomainError
from servers.core.idempotency import IdempotencyStore
from servers.core.ids import new_code

from . import repository as repo
from .models import Record
from .service import CUSTOMER_NOT_FOUND, ORDER_NOT_FOUND, TICKET_NOT_FOUND

CASE_NOT_FOUND = "CASE_NOT_FOUND"
MAX_CASES = 500

CaseStatus = Literal["open", "closed"]
CaseReference = Annotated[str, StringConstraints(pattern=r"^SUP-[0-9A-Z]{8}$")]
CaseText = Annotated[
    str,
    StringConstraints(
        # Line breaks and tabs are kept (a customer writes paragraphs); other controls are not.
        strip_whitespace=True,
        min_length=1,
        max_length=2000,
        pattern=r"^[^\x00-\x08\x0b-\x1f\x7f]+$",
    ),
]
PreferredContact = Annotated[
    str,
    StringConstraints(strip_whitespace=True, pattern=r"^(email|\+?[0-9][0-9 ().\-]{5,30})$"),
]


class SupportCase(Record):
    reference: str = Field(description="What the customer quotes: SUP- and 8 characters.")
    customer_id: str
    summary: str
    preferred_contact: str = Field(description="'email', or the phone number to call.")
    ticket_number: str | None
    order_id: str | None
    status: CaseStatus
    created_at: datetime
    closed_at: datetime | None
    resolution: str | None
    closed_by: str | None = Field(description="The client that closed it.")


class SupportCaseList(Record):
    cases: list[SupportCase]


_COLS = (
    "reference, customer_id, summary, preferred_contact, ticket_number, order_id, status, "
    "created_at, closed_at, resolution, closed_by"
)


def _case(row: Row) -> SupportCase:
    return SupportCase.model_validate(row)


@dataclass
class SupportCases:
    db: Database
    idempotency: IdempotencyStore
    clock: Clock = utc_now

    async def open_case(
        self,
        *,
        customer_id: str,
        summary: str,
        preferred_contact: str,
        ticket_number: str | None,
        order_id: str | None,
        idempotency_key: str,
        caller: str,
    ) -> SupportCase:
        """A new open case. The ticket and order, when named, must be the customer's own:
        anyone else's is TICKET_NOT_FOUND / ORDER_NOT_FOUND, exactly as a missing one."""
        arguments: dict[str, Any] = {
            "customer_id": customer_id,
            "summary": summary,
            "preferred_contact": preferred_contact,
            "ticket_number": ticket_number,
            "order_id": order_id,
        }

        async def work(tx: Transaction) -> SupportCase:
            if await repo.customer_by_id(tx, customer_id) is None:
                raise DomainError(CUSTOMER_NOT_FOUND, f"no customer {customer_id}")
            if ticket_number is not None and (
                await repo.ticket(tx, ticket_number, owner=customer_id) is None
            ):
                raise DomainError(TICKET_NOT_FOUND, f"no ticket {ticket_number}")
            if order_id is not None and await repo.order(tx, order_id, owner=customer_id) is None:
                raise DomainError(ORDER_NOT_FOUND, f"no order {order_id}")
            for _ in range(5):
                row = await tx.fetch_one(
                    "INSERT INTO data.support_cases (reference, customer_id, summary,"
                    " preferred_contact, ticket_number, order_id, status, created_at) "
                    "VALUES (:reference, :customer_id, :summary, :preferred_contact,"
                    " :ticket_number, :order_id, 'open', :now) "
                    f"ON CONFLICT (reference) DO NOTHING RETURNING {_COLS}",
                    {**arguments, "reference": f"SUP-{new_code(8)}", "now": self.clock()},
                )
                if row is not None:
                    return _case(row)
            raise RuntimeError("could not draw a free support case reference")

        return await self.idempotency.run_once(
            self.db,
            caller=caller,
            tool="open_support_case",
            key=idempotency_key,
            arguments=arguments,
            model=SupportCase,
            work=work,
        )

    async def get_case(self, reference: str) -> SupportCase:
        async with self.db.read() as tx:
            return await _find(tx, reference)

    async def list_cases(
        self, *, status: CaseStatus | None, customer_id: str | None, limit: int = MAX_CASES
    ) -> SupportCaseList:
        """Oldest first: the case waiting longest is the one to answer next."""
        async with self.db.read() as tx:
            rows = await tx.fetch_all(
                f"SELECT {_COLS} FROM data.support_cases "
                "WHERE (CAST(:s AS text) IS NULL OR status = :s)"
                " AND (CAST(:c AS text) IS NULL OR customer_id = :c) "
                "ORDER BY created_at, reference LIMIT :limit",
                {"s": status, "c": customer_id, "limit": limit},
            )
        return SupportCaseList(cases=[_case(r) for r in rows])

    async def close_case(self, reference: str, resolution: str, *, caller: str) -> SupportCase:
        """Closes an open case; closing a closed case returns it as it was closed."""
        async with self.db.transaction() as tx:
            row = await tx.fetch_one(
                "UPDATE data.support_cases SET status = 'closed', resolution = :resolution,"
                " closed_by = :caller, closed_at = :now "
                f"WHERE reference = :reference AND status = 'open' RETURNING {_COLS}",
                {
                    "reference": reference,
                    "resolution": resolution,
                    "caller": caller,
                    "now": self.clock(),
                },
            )
            return _case(row) if row is not None else await _find(tx, reference)


async def _find(tx: Transaction, reference: str) -> SupportCase:
    row = await tx.fetch_one(
        f"SELECT {_COLS} FROM data.support_cases WHERE reference = :r", {"r": reference}
    )
    if row is None:
        raise DomainError(CASE_NOT_FOUND, f"no support case {reference}")
    return _case(row)
