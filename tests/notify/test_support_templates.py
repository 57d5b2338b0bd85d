"""The two e-mails of a request for a person: the customer's and the support inbox's."""

from __future__ import annotations

import pytest

from servers.core.errors import DomainError
from servers.notify.rendering import SPECS, Templates

TEMPLATES = Templates()
CUSTOMER = SPECS["support_request_received"].example
INBOX = SPECS["support_case_opened"].example


def test_the_customer_gets_the_reference_the_deadline_and_their_words() -> None:
    rendered = TEMPLATES.render(
        "support_request_received",
        {
            **CUSTOMER,
            "summary": "Line one <b>bold</b>\nLine two",
            "preferred_contact": "+1 555 0100",
        },
    )
    assert rendered.subject == (
        "We have your request SUP-7KQ2M9XD: someone will answer by Monday, 3 June 2030 at 13:00 UTC"
    )
    assert "by phone on +1 555 0100" in rendered.text
    assert "Line one <b>bold</b>\nLine two" in rendered.text
    assert "Line one &lt;b&gt;bold&lt;/b&gt;" in rendered.html
    assert "<b>bold</b>" not in rendered.html
    assert "Hello Jane Smith," in rendered.text
    assert "change to your ticket upgrade" not in rendered.html


def test_the_inbox_gets_who_how_to_reach_them_and_what_about() -> None:
    rendered = TEMPLATES.render("support_case_opened", {**INBOX, "order_id": None})
    assert rendered.subject.startswith("Support case SUP-7KQ2M9XD from Jane Smith")
    assert "Jane Smith <jane.smith@example.com>" in rendered.text
    assert "Contact:    e-mail jane.smith@example.com" in rendered.text
    assert "Ticket:     TKT-JS0003" in rendered.text
    assert "Order:" not in rendered.text
    assert "Hello Jane Smith" not in rendered.html


@pytest.mark.parametrize(
    ("field", "value"),
    [("reference", "SUP-1"), ("preferred_contact", "pigeon"), ("summary", "a\x07b")],
)
def test_a_bad_context_is_refused(field: str, value: str) -> None:
    with pytest.raises(DomainError, match=field):
        TEMPLATES.render("support_request_received", {**CUSTOMER, field: value})
