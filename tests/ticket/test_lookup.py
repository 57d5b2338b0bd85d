"""Loose ticket references and ticket searches: Hypothesis over the pure rules, then the
service over the seeded customers (a reference never reaches another customer's ticket)."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from servers.core.errors import DomainError
from servers.data.seed import CUSTOMERS, seed_id
from servers.ticket import lookup
from servers.ticket.service import Caller, TicketService
from tests.hypothesis_examples import examples

NUMBERS = st.from_regex(r"TKT-[0-9A-Z]{4,16}", fullmatch=True)
SEPARATORS = st.sampled_from([" ", "-", "  ", " - ", ".", "_", "/"])


@st.composite
def written(draw: st.DrawFn, number: str) -> str:
    """``number`` as a person might write it: any case, separators anywhere, with or without
    its prefix, padded with spaces."""
    body = number.removeprefix("TKT-")
    text = draw(st.sampled_from(["TKT", "tkt", "Tkt", ""]))
    for char in body:
        if draw(st.booleans()):
            text += draw(SEPARATORS)
        text += char.lower() if draw(st.booleans()) else char
    return draw(st.sampled_from(["", " "])) + text + draw(st.sampled_from(["", " "]))


@given(st.data(), NUMBERS, st.lists(NUMBERS, max_size=6))
def test_any_way_of_writing_an_owned_number_resolves_to_it(
    data: st.DataObject, number: str, others: list[str]
) -> None:
    reference = data.draw(written(number))
    owned = [number, *others]
    meant = {n for n in owned if lookup.matches(reference, n)}
    if meant == {number}:
        assert lookup.resolve(reference, owned) == number
    else:  # another of the owner's numbers is written the same way: no guessing
        assert lookup.resolve(reference, owned) is None


@given(st.data(), NUMBERS, st.lists(NUMBERS, max_size=6))
def test_a_reference_resolves_only_to_one_of_the_given_numbers(
    data: st.DataObject, number: str, owned: list[str]
) -> None:
    reference = data.draw(written(number))
    resolved = lookup.resolve(reference, [n for n in owned if n != number])
    assert resolved is None or resolved in owned
    assert resolved is None or lookup.compact(resolved) != lookup.compact(number)


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("2026-12-24", lookup.DateQuery(12, 24, 2026)),
        ("2026/12/24", lookup.DateQuery(12, 24, 2026)),
        ("Dec 24", lookup.DateQuery(12, 24)),
        ("24th of December 2026", lookup.DateQuery(12, 24, 2026)),
        ("december 24, 2026", lookup.DateQuery(12, 24, 2026)),
        ("2026-02-30", None),
        ("12/24", None),
        ("jd0001", None),
    ],
)
def test_visit_dates_as_people_write_them(query: str, expected: lookup.DateQuery | None) -> None:
    assert lookup.parse_date(query) == expected


JOHN_ID = seed_id("cus", "john.doe@example.com")
OWNERS = {t.number: seed_id("cus", email) for email, (_, ts) in CUSTOMERS.items() for t in ts}


@st.composite
def lookups(draw: st.DrawFn) -> tuple[str, str, str]:
    """(a seeded ticket, a way of writing it, the customer who asks)."""
    number = draw(st.sampled_from(sorted(OWNERS)))
    return number, draw(written(number)), draw(st.sampled_from(sorted(set(OWNERS.values()))))


async def test_a_loose_reference_finds_the_callers_own_ticket_and_nobody_elses(
    tickets: TicketService,
) -> None:
    for number, reference, asking in examples(lookups(), 60):
        caller = Caller(customer_id=asking)
        where = f"{asking} asks for {reference!r} ({number})"
        if OWNERS[number] == asking:
            found = await tickets.get_ticket(caller, reference)
            assert found.ticket_number == number, where
        else:
            with pytest.raises(DomainError) as refused:
                await tickets.get_ticket(caller, reference)
            assert str(refused.value) == (
                f"TICKET_NOT_FOUND: no ticket of yours matches {reference.strip()!r}; "
                "list_my_tickets shows your tickets and their numbers"
            ), where


async def test_searching_looks_only_at_the_callers_tickets(tickets: TicketService) -> None:
    john = Caller(customer_id=JOHN_ID)
    everything = await tickets.find_my_ticket(john, "TKT")
    assert everything.tickets == []
    some = await tickets.find_my_ticket(john, "0001")
    assert [t.ticket_number for t in some.tickets] == ["TKT-JD0001"]
    premium = await tickets.find_my_ticket(john, "premium tickets")
    assert [t.ticket_number for t in premium.tickets] == ["TKT-JD0004"]
    visit = premium.tickets[0].visit_date
    on_day = await tickets.find_my_ticket(john, f"{visit:%B} {visit.day}")
    assert [t.ticket_number for t in on_day.tickets] == ["TKT-JD0004"]
    nobody = await tickets.find_my_ticket(john, date(2030, 1, 1).isoformat())
    assert nobody.tickets == []
    assert "list_my_tickets" in nobody.message
