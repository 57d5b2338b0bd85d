"""Templates: every part complete, money and dates written for people, HTML escaped, and
Property 12 at this layer: the confirmation e-mail carries code, tier, date and amount as given."""

from __future__ import annotations

import string
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from servers.core.errors import INVALID_ARGUMENT, DomainError
from servers.core.ids import id_pattern
from servers.notify.rendering import (
    MAX_CONTEXT_BYTES,
    SPECS,
    UNKNOWN_TEMPLATE,
    Templates,
    format_date,
    format_datetime,
    format_money,
)

TEMPLATES = Templates()
MONTHS = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
]
WEEKDAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
TIER_NAMES = {"standard": "Standard", "non_stop": "Non-stop", "double_fun": "Double Fun"}


def usd(cents: int) -> str:
    """The test's own oracle for US dollars, independent of the code under test."""
    dollars, rest = divmod(cents, 100)
    return "$" + f"{dollars:,}" + "." + str(rest).zfill(2)


def people_date(day: date) -> str:
    return f"{WEEKDAYS[day.weekday()]}, {day.day} {MONTHS[day.month - 1]} {day.year}"


confirmation_contexts = st.fixed_dictionaries(
    {
        "customer_name": st.text(
            alphabet=string.ascii_letters + " '-.&<>\"éøß", min_size=1, max_size=60
        ).filter(lambda s: s.strip() != ""),
        "ticket_number": st.from_regex(r"\ATKT-[0-9A-Z]{4,16}\Z"),
        "order_id": st.from_regex(id_pattern("ord"), fullmatch=True),
        "tier": st.sampled_from(["standard", "non_stop", "double_fun"]),
        "visit_date": st.dates(date(2000, 1, 1), date(2200, 12, 31)).map(date.isoformat),
        "amount_cents": st.integers(0, 100_000_000),
        "currency": st.just("USD"),
        "confirmation_code": st.from_regex(r"\A[A-Z0-9][A-Z0-9-]{3,31}\Z"),
    }
)


@settings(max_examples=200, deadline=None, derandomize=True)
@given(confirmation_contexts)
def test_property_12_confirmation_carries_code_tier_date_and_amount(ctx: dict[str, Any]) -> None:
    rendered = TEMPLATES.render("upgrade_confirmed", ctx)
    expected = [
        ctx["confirmation_code"],
        TIER_NAMES[ctx["tier"]],
        people_date(date.fromisoformat(ctx["visit_date"])),
        usd(ctx["amount_cents"]),
    ]
    for part in (rendered.text, rendered.html):
        for value in expected:
            assert value in part
    assert ctx["confirmation_code"] in rendered.subject
    assert "\n" not in rendered.subject
    assert "\r" not in rendered.subject


def test_every_template_renders_its_example_in_all_three_parts() -> None:
    for name, spec in SPECS.items():
        rendered = TEMPLATES.render(name, spec.example)
        assert rendered.subject
        assert spec.example["ticket_number"] in rendered.text
        assert spec.example["ticket_number"] in rendered.html
        assert rendered.html.startswith("<!DOCTYPE html>")
        assert "{{" not in rendered.text + rendered.html + rendered.subject


def test_html_is_escaped_and_text_is_not() -> None:
    ctx = {**SPECS["hold_expired"].example, "customer_name": "Tom <b>&</b> Jerry"}
    rendered = TEMPLATES.render("hold_expired", ctx)
    assert "Tom &lt;b&gt;&amp;&lt;/b&gt; Jerry" in rendered.html
    assert "<b>" not in rendered.html
    assert "Hello Tom <b>&</b> Jerry," in rendered.text


def test_payment_failed_says_what_failed_what_to_do_and_until_when() -> None:
    ctx = {
        **SPECS["payment_failed"].example,
        "decline_code": "expired_card",
        "hold_expires_at": "2030-06-01T12:15:00+02:00",
    }
    text = TEMPLATES.render("payment_failed", ctx).text
    assert "Your card has expired." in text
    assert "card that is still valid" in text
    assert "Saturday, 1 June 2030 at 10:15 UTC" in text
    unknown = TEMPLATES.render("payment_failed", {**ctx, "decline_code": "do_not_honor"}).text
    assert "Your payment could not be completed." in unknown


def test_cancellation_states_the_refund() -> None:
    ctx = {**SPECS["upgrade_cancelled"].example, "refund_cents": 123456, "currency": "EUR"}
    assert "Refunded: €1,234.56" in TEMPLATES.render("upgrade_cancelled", ctx).text


@pytest.mark.parametrize(
    ("cents", "currency", "expected"),
    [
        (0, "USD", "$0.00"),
        (5, "USD", "$0.05"),
        (7500, "USD", "$75.00"),
        (123456789, "USD", "$1,234,567.89"),
        (2500, "GBP", "£25.00"),
        (2500, "CHF", "25.00 CHF"),
        (2500, "JPY", "2,500 JPY"),
    ],
)
def test_money_is_formatted_for_people(cents: int, currency: str, expected: str) -> None:
    assert format_money(cents, currency) == expected


def test_dates_are_written_out() -> None:
    assert format_date(date(2026, 12, 24)) == "Thursday, 24 December 2026"
    moment = datetime(2026, 12, 24, 23, 30, tzinfo=UTC) + timedelta(hours=1)
    assert format_datetime(moment) == "Friday, 25 December 2026 at 00:30 UTC"


def refused(name: str, ctx: Any) -> DomainError:
    with pytest.raises(DomainError) as caught:
        TEMPLATES.render(name, ctx)
    return caught.value


def test_unknown_template_names_the_known_ones() -> None:
    error = refused("welcome", {})
    assert error.code == UNKNOWN_TEMPLATE
    assert "upgrade_confirmed" in error.message


@pytest.mark.parametrize(
    ("change", "complaint"),
    [
        ({"confirmation_code": None}, "confirmation_code"),
        ({"amount_cents": 12.5}, "amount_cents"),
        ({"amount_cents": "7500"}, "amount_cents"),
        ({"amount_cents": True}, "amount_cents"),
        ({"visit_date": "20/06/2030"}, "visit_date"),
        ({"tier": "gold"}, "tier"),
        ({"customer_name": "Jane\r\nBcc: everyone@example.com"}, "customer_name"),
        ({"confirmation_code": "UPG-1\nX"}, "confirmation_code"),
        ({"surprise": 1}, "surprise"),
    ],
)
def test_a_wrong_field_is_a_clear_error(change: dict[str, Any], complaint: str) -> None:
    ctx = {**SPECS["upgrade_confirmed"].example, **change}
    ctx = {k: v for k, v in ctx.items() if v is not None}
    error = refused("upgrade_confirmed", ctx)
    assert error.code == INVALID_ARGUMENT
    assert complaint in error.message
    assert "upgrade_confirmed" in error.message


def test_an_oversized_context_is_refused_before_validation() -> None:
    ctx = {**SPECS["hold_expired"].example, "customer_name": "x" * MAX_CONTEXT_BYTES}
    error = refused("hold_expired", ctx)
    assert error.code == INVALID_ARGUMENT
    assert f"at most {MAX_CONTEXT_BYTES}" in error.message


def test_payment_hold_time_must_carry_its_offset() -> None:
    for value in ("2030-06-01T10:15:00", 1906000000, "tomorrow"):
        ctx = {**SPECS["payment_failed"].example, "hold_expires_at": value}
        assert "hold_expires_at" in refused("payment_failed", ctx).message


def test_catalogue_lists_each_template_with_its_fields() -> None:
    catalogue = {t.name: t for t in TEMPLATES.catalogue().templates}
    assert set(catalogue) == set(SPECS)
    fields = {f.name: f for f in catalogue["upgrade_confirmed"].fields}
    assert fields["amount_cents"].required
    assert fields["amount_cents"].type == "integer"
    assert not fields["currency"].required
    assert fields["visit_date"].type == "string (date)"
    assert '"double_fun"' in fields["tier"].type
    assert all(f.description for t in catalogue.values() for f in t.fields)
