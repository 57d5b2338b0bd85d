"""Finding a customer's ticket from what they typed: pure functions over ticket numbers.

People write ``tkt-jd0001``, ``TKT JD 0001`` or just ``jd0001`` for ``TKT-JD0001``. A reference
is matched only against the caller's own tickets, so it can never reach anyone else's.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date

from .rules import TICKET_TYPES, TicketType

PREFIX = "TKT"
TICKET_NUMBER = re.compile(rf"^{PREFIX}-[0-9A-Z]{{4,16}}$")
_NOT_ALNUM = re.compile(r"[^0-9A-Z]")
_WORD = re.compile(r"[a-z]+")
MIN_PARTIAL = 2


def compact(text: str) -> str:
    """``text`` in capitals with everything but letters and digits left out."""
    return _NOT_ALNUM.sub("", text.upper())


def _forms(number: str) -> tuple[str, str]:
    """How a ticket number may be written, compacted: in full, or without its prefix."""
    full = compact(number)
    return full, full.removeprefix(PREFIX)


def matches(reference: str, number: str) -> bool:
    """Whether ``reference`` is a way of writing ticket ``number`` in full."""
    written = compact(reference)
    return bool(written) and written in _forms(number)


def resolve(reference: str, owned: Iterable[str]) -> str | None:
    """The one ticket among ``owned`` that ``reference`` writes; None when none or several do."""
    found = {number for number in owned if matches(reference, number)}
    return found.pop() if len(found) == 1 else None


def is_canonical(reference: str) -> bool:
    return TICKET_NUMBER.fullmatch(reference) is not None


# Searching ------------------------------------------------------------------------------------

_MONTHS = {
    name.lower(): number
    for number in range(1, 13)
    for name in (calendar.month_name[number], calendar.month_abbr[number])
}
_NUMERIC_DATE = re.compile(r"^(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})$")
_DAY = re.compile(r"^\d{1,2}(st|nd|rd|th)?$")
_YEAR = re.compile(r"^\d{4}$")


@dataclass(frozen=True)
class DateQuery:
    """A visit date as written: a full date, or a day of a month in any year."""

    month: int
    day: int
    year: int | None = None

    def matches(self, visit: date) -> bool:
        return (visit.month, visit.day) == (self.month, self.day) and self.year in (
            None,
            visit.year,
        )

    def __str__(self) -> str:
        written = f"{calendar.month_name[self.month]} {self.day}"
        return written if self.year is None else date(self.year, self.month, self.day).isoformat()


def parse_date(query: str) -> DateQuery | None:
    """``2026-12-24``, ``2026/12/24``, ``24 Dec``, ``December 24, 2026``...; None otherwise
    (and for a date that does not exist). All-numeric day-first or month-first forms are
    ambiguous and not guessed."""
    text = query.strip().lower()
    numeric = _NUMERIC_DATE.fullmatch(text)
    if numeric:
        year, month, day = (int(g) for g in numeric.groups())
        return _valid(month, day, year)
    words = [w for w in re.split(r"[\s,]+", text) if w and w != "of"]
    months = [_MONTHS[w.rstrip(".")] for w in words if w.rstrip(".") in _MONTHS]
    days = [int(re.sub(r"\D", "", w)) for w in words if _DAY.fullmatch(w)]
    years = [int(w) for w in words if _YEAR.fullmatch(w)]
    if len(months) != 1 or len(days) != 1 or len(years) > 1 or len(words) != 2 + len(years):
        return None
    return _valid(months[0], days[0], years[0] if years else None)


def _valid(month: int, day: int, year: int | None) -> DateQuery | None:
    try:
        date(year or 2000, month, day)  # 2000 is a leap year: 29 February exists
    except ValueError:
        return None
    return DateQuery(month, day, year)


def ticket_types_in(query: str) -> set[TicketType]:
    """The ticket types ``query`` names (``vip``, ``general tickets``...)."""
    words = {w.removesuffix("s") for w in _WORD.findall(query.lower())}
    return {t for t in TICKET_TYPES if t in words}


@dataclass(frozen=True)
class Candidate:
    number: str
    ticket_type: TicketType
    visit_date: date


@dataclass(frozen=True)
class Found:
    numbers: list[str]
    criterion: str
    """What the query was taken for, in words."""


def search(query: str, tickets: Sequence[Candidate]) -> Found:
    """The tickets a query means: by visit date, by ticket type, or by part of the number."""
    when = parse_date(query)
    if when is not None:
        hits = [t.number for t in tickets if when.matches(t.visit_date)]
        return Found(hits, f"visiting on {when}")
    kinds = ticket_types_in(query)
    if kinds:
        hits = [t.number for t in tickets if t.ticket_type in kinds]
        return Found(hits, "of type " + " or ".join(sorted(kinds)))
    part = compact(query).removeprefix(PREFIX)
    if len(part) < MIN_PARTIAL:
        return Found([], "by too short a part of a number")
    hits = [t.number for t in tickets if part in compact(t.number)]
    return Found(hits, f"whose number contains {part}")
