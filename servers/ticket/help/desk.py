"""The help desk: answers from the venue's help texts, and the hand-off to a person.

Knows nothing of MCP, like :class:`~servers.ticket.service.TicketService`, whose ticket look-up
it shares so that another customer's ticket is refused here exactly as everywhere else.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from servers.core.errors import DomainError

from ..gateways import NotifyGateway
from ..journey import ORDER_NOT_FOUND
from ..service import Caller, TicketService
from .gateway import SupportGateway
from .hours import SupportHours
from .models import HelpAnswer, HelpHit, SupportRequest
from .search import HelpIndex
from .texts import HelpLibrary, facts, load_library

NO_MATCH = (
    "Nothing in the help texts matches; try other words, or call request_human_help to have a "
    "person answer."
)
NOT_ANSWERED = "If this does not answer the question, request_human_help hands it to a person."


def venue_library(*, hold_minutes: int, support: SupportHours, support_email: str) -> HelpLibrary:
    """The packaged help texts, filled in with this server's figures."""
    return load_library(
        facts(hold_minutes=hold_minutes, support=support, support_email=support_email)
    )


@dataclass
class HelpDesk:
    index: HelpIndex
    tickets: TicketService
    cases: SupportGateway
    notify: NotifyGateway
    support: SupportHours
    support_inbox: str

    @property
    def library(self) -> HelpLibrary:
        return self.index.library

    def search(self, query: str, limit: int) -> HelpAnswer:
        hits = self.index.search(query, limit)
        return HelpAnswer(
            query=query,
            version=self.library.version,
            results=[
                HelpHit(uri=h.topic.uri, title=h.topic.title, snippet=h.snippet, score=h.score)
                for h in hits
            ],
            next_step=NOT_ANSWERED if hits else NO_MATCH,
        )

    async def request_human_help(
        self,
        caller: Caller,
        *,
        summary: str,
        preferred_contact: str,
        ticket_number: str | None,
        order_id: str | None,
        idempotency_key: str,
    ) -> SupportRequest:
        owner = caller.acting_for(None)
        customer, ticket_number, _ = await asyncio.gather(
            self.tickets.data.get_customer(owner),
            self._ticket(caller, ticket_number),
            self._check_order(owner, order_id),
        )
        case = await self.cases.open_case(
            customer_id=owner,
            summary=summary,
            preferred_contact=preferred_contact,
            ticket_number=ticket_number,
            order_id=order_id,
            # Namespaced by customer: two customers' keys never meet.
            idempotency_key=f"help:{owner}:{idempotency_key}",
        )
        # From the stored opening time, so that a retry computes (and e-mails) the same answer.
        answer_by = self.support.answer_by(case.created_at)
        context: dict[str, object] = {
            "customer_name": customer.full_name,
            "reference": case.reference,
            "summary": case.summary,
            "preferred_contact": case.preferred_contact,
            "answer_by": answer_by.isoformat(),
            "ticket_number": case.ticket_number,
            "order_id": case.order_id,
        }
        # Keyed by the case: a retried request sends neither e-mail twice.
        await asyncio.gather(
            self.notify.send(
                "support_case_opened",
                self.support_inbox,
                {**context, "customer_email": customer.email},
                key=f"support:{case.reference}:inbox",
                reference=case.reference,
            ),
            self.notify.send(
                "support_request_received",
                customer.email,
                context,
                key=f"support:{case.reference}:customer",
                reference=case.reference,
            ),
        )
        how = "by e-mail" if case.preferred_contact == "email" else "by phone"
        return SupportRequest(
            reference=case.reference,
            status=case.status,
            summary=case.summary,
            preferred_contact=case.preferred_contact,
            ticket_number=case.ticket_number,
            order_id=case.order_id,
            created_at=case.created_at,
            answer_by=answer_by,
            message=f"A person from our support team will answer {how} by "
            f"{answer_by:%Y-%m-%d %H:%M} UTC ({self.support.describe()}). The reference is "
            f"{case.reference}; an e-mail confirming it is on its way.",
        )

    async def _ticket(self, caller: Caller, reference: str | None) -> str | None:
        """The caller's ticket as written loosely (``jd0001``), by its number; anyone else's
        is the same TICKET_NOT_FOUND as a missing one."""
        if reference is None:
            return None
        return (await self.tickets.get_ticket(caller, reference)).ticket_number

    async def _check_order(self, owner: str, order_id: str | None) -> None:
        # The owner's order only, as the journey asks: anyone else's is the same "no order".
        if order_id is not None and await self.tickets.data.get_order(order_id, owner) is None:
            raise DomainError(ORDER_NOT_FOUND, f"no order {order_id}")
