"""The venue's help texts: every figure they state is the one the rules and settings enforce,
the file cannot name a placeholder the server does not fill, and search finds the right topic."""

from __future__ import annotations

import re
from datetime import time
from zoneinfo import ZoneInfo

import pytest

from servers.ticket import rules
from servers.ticket.help.desk import venue_library
from servers.ticket.help.hours import SupportHours
from servers.ticket.help.search import HelpIndex, stem
from servers.ticket.help.texts import HelpLibrary, HelpTextError, load_library, raw_file
from servers.ticket.settings import TicketSettings

# Deliberately not the defaults, so that a figure copied into the text instead of filled in
# from the setting shows up.
HOLD_MINUTES = 7
SUPPORT = SupportHours(
    venue_tz=ZoneInfo("Europe/Paris"),
    opens=time(8, 30),
    closes=time(18, 0),
    days=frozenset({0, 1, 2, 3, 4, 5}),
    response_hours=3,
)
INBOX = "help-desk@example.org"
DURATION = re.compile(r"(\d+)\s+(?:[a-z]+\s+)?(hours?|minutes?|days?|dates?)\b")


@pytest.fixture(scope="module")
def library() -> HelpLibrary:
    return venue_library(hold_minutes=HOLD_MINUTES, support=SUPPORT, support_email=INBOX)


def body(library: HelpLibrary, uri: str) -> str:
    return " ".join(next(t for t in library.topics if t.uri == uri).body.split())


def test_the_file_writes_no_duration_as_a_number() -> None:
    """Every cut-off, hold and window is a placeholder, so it cannot disagree with the rule."""
    outside_placeholders = re.sub(r"\{\{[^}]*\}\}", "", raw_file())
    assert DURATION.findall(outside_placeholders) == []


def test_every_stated_duration_is_an_enforced_figure(library: HelpLibrary) -> None:
    cutoff = int(rules.UPGRADE_CUTOFF.total_seconds() // 3600)
    enforced = {
        ("hours", cutoff),
        ("minutes", HOLD_MINUTES),
        ("dates", rules.DEFAULT_CALENDAR_DAYS),
        ("dates", rules.MAX_CALENDAR_DAYS),
        ("hours", SUPPORT.response_hours),
    }
    stated = {
        (unit if unit.endswith("s") else unit + "s", int(n))
        for topic in library.topics
        for n, unit in DURATION.findall(topic.body)
    }
    assert stated == enforced


def test_the_policies_state_the_rules_where_they_apply(library: HelpLibrary) -> None:
    cutoff = f"{int(rules.UPGRADE_CUTOFF.total_seconds() // 3600)} hours"
    start = f"{rules.VISIT_STARTS_AT:%H:%M}"
    refunds = body(library, "help://policies/refunds")
    assert f"cancelled until {cutoff} before the visit" in refunds
    assert f"starts at {start}" in refunds
    assert f"after {HOLD_MINUTES} minutes" in refunds
    upgrades = body(library, "help://policies/upgrades")
    assert f"held for {HOLD_MINUTES} minutes" in upgrades
    assert f"Upgrades close {cutoff} before the visit" in upgrades
    assert f"next {rules.DEFAULT_CALENDAR_DAYS} bookable dates" in upgrades
    assert f"up to {rules.MAX_CALENDAR_DAYS} dates ahead" in upgrades
    assert f"more than {cutoff} away" in body(library, "help://policies/changes")
    contact = body(library, "help://contact")
    assert "Monday to Saturday, 08:30-18:00 (Europe/Paris time)" in contact
    assert "within 3 working hours" in contact
    assert INBOX in contact


def test_the_tiers_and_prices_are_the_catalogue(library: HelpLibrary) -> None:
    tiers = next(t for t in library.topics if t.uri == "help://tiers/what-is-included").body
    for info in rules.CATALOGUE.values():
        line = next(line for line in tiers.splitlines() if f"**{info.name}**" in line)
        for included in info.includes:
            assert included in line
        for kind, prices in rules.BASE_PRICES.items():
            cents = prices.get(info.tier)
            stated = f"from {kind} ${cents // 100}.{cents % 100:02d}" if cents else f"from {kind} "
            assert (stated in line) == (cents is not None)


def test_the_default_settings_fill_the_texts_too() -> None:
    settings = TicketSettings.model_construct()
    library = venue_library(
        hold_minutes=settings.hold_minutes,
        support=settings.support_hours,
        support_email=settings.support_inbox,
    )
    assert f"held for {settings.hold_minutes} minutes" in body(library, "help://policies/upgrades")


@pytest.mark.parametrize(
    ("source", "complaint"),
    [
        (
            'version = "1"\n[[topics]]\nuri = "help://a"\ntitle = "A"\nbody = "{{ nope }}"\n',
            "unknown placeholder {{ nope }}",
        ),
        (
            'version = "1"\n[[topics]]\nuri = "help://a"\ntitle = "A"\n'
            'body = "{{ hold minutes }}"\n',
            "placeholder is not written",
        ),
        ('[[topics]]\nuri = "help://a"\ntitle = "A"\nbody = "x"\n', "needs a version"),
        ('version = "1"\n', "no topics"),
        (
            'version = "1"\n[[topics]]\nuri = "http://a"\ntitle = "A"\nbody = "x"\n',
            "must look like help://",
        ),
        (
            'version = "1"\n' + '[[topics]]\nuri = "help://a"\ntitle = "A"\nbody = "x"\n' * 2,
            "repeats a topic uri",
        ),
        ("version = ", "not valid TOML"),
    ],
)
def test_a_broken_file_is_refused_with_the_reason(source: str, complaint: str) -> None:
    with pytest.raises(HelpTextError, match=re.escape(complaint)):
        load_library({"hold_minutes": "15"}, source)


@pytest.mark.parametrize(
    ("question", "topic"),
    [
        ("Can I get my money back if I cancel?", "help://policies/refunds"),
        ("refunds", "help://policies/refunds"),
        ("I use a wheelchair", "help://venue/accessibility"),
        ("how long is my seat held while I pay", "help://policies/upgrades"),
        ("is it safe to give my credit card number", "help://payments/security"),
        ("move my upgrade to a different date", "help://policies/changes"),
        ("what does Double Fun include", "help://tiers/what-is-included"),
        ("what time do the gates open", "help://venue/opening-hours"),
        ("I want to talk to a person", "help://contact"),
    ],
)
def test_a_question_finds_its_topic_first(library: HelpLibrary, question: str, topic: str) -> None:
    hits = HelpIndex(library).search(question, limit=3)
    assert hits[0].topic.uri == topic
    assert hits == sorted(hits, key=lambda h: -h.score)


def test_the_snippet_is_the_matching_paragraph(library: HelpLibrary) -> None:
    [hit] = HelpIndex(library).search("hold runs out", limit=1)
    assert "until the hold runs out" in hit.snippet
    assert "\n" not in hit.snippet


def test_words_that_match_nothing_find_nothing(library: HelpLibrary) -> None:
    assert HelpIndex(library).search("xyzzy plugh", limit=5) == []
    assert HelpIndex(library).search("the and of", limit=5) == []


@pytest.mark.parametrize(
    "forms",
    [
        ("refund", "refunds", "refunded", "refunding"),
        ("charge", "charges", "charged", "charging"),
        ("wheelchair", "wheelchairs"),
        ("box", "boxes"),
    ],
)
def test_word_forms_meet_one_stem(forms: tuple[str, ...]) -> None:
    assert len({stem(f) for f in forms}) == 1
