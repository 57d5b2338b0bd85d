"""``ticketing mail ...`` over a sink folder, the sink's inbox (one entry per Message-ID, repeats
counted), the sink answering real SMTP, and its index reading headers as the email package does."""

from __future__ import annotations

import json
import smtplib
from collections.abc import Iterator
from email.header import decode_header, make_header
from email.message import EmailMessage
from email.parser import BytesHeaderParser
from email.policy import compat32
from pathlib import Path

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from servers.notify.delivery import build_email
from tests.notify.support import DOMAIN, claimed_message
from tests.ticketing.support import sink_on
from ticketing.cli import app
from ticketing.mailsink import Mailbox, _plain_fields, indexed_headers


def email(to: str, subject: str, message_id: str | None, body: str = "hello") -> bytes:
    message = EmailMessage()
    message["From"] = "no-reply@example.com"
    message["To"] = to
    message["Subject"] = subject
    if message_id is not None:
        message["Message-ID"] = message_id
    message.set_content(body)
    return message.as_bytes()


@pytest.fixture
def mailbox(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Mailbox:
    monkeypatch.setenv("MAIL_SINK_DIR", str(tmp_path / "mail"))
    return Mailbox(tmp_path / "mail")


@pytest.fixture
def smtp_port(mailbox: Mailbox) -> Iterator[int]:
    with sink_on(mailbox) as port:
        yield port


def run(*args: str) -> str:
    result = CliRunner().invoke(app, ["mail", *args])
    assert result.exit_code == 0, result.output
    return result.output


def test_list_as_json_filters_by_recipient(mailbox: Mailbox) -> None:
    mailbox.add(["jane@example.com"], email("jane@example.com", "First", "<a@x>"))
    mailbox.add(["john@example.com"], email("john@example.com", "Second", "<b@x>"))
    mailbox.add(["Jane@Example.com"], email("Jane@Example.com", "Third", "<c@x>"))
    everything = json.loads(run("list", "--json"))
    assert [m["message_id"] for m in everything] == ["<a@x>", "<b@x>", "<c@x>"]
    assert set(everything[0]) == {"message_id", "to", "subject", "received_at", "copies"}
    assert [m["copies"] for m in everything] == [1, 1, 1]
    jane = json.loads(run("list", "--to", "jane@example.com", "--json"))
    assert [m["subject"] for m in jane] == ["First", "Third"]
    text = run("list", "--to", "john@example.com")
    assert "Second" in text
    assert "First" not in text


def test_show_and_clear(mailbox: Mailbox) -> None:
    assert run("list") == "no e-mails\n"
    mailbox.add(["jane@example.com"], email("jane@example.com", "Hello", "<a@x>"))
    assert "Subject: Hello" in run("show", "a@x")
    missing = CliRunner().invoke(app, ["mail", "show", "<nope@x>"])
    assert missing.exit_code == 1
    assert "1 e-mails deleted" in run("clear")
    assert json.loads(run("list", "--json")) == []


def test_the_same_message_id_twice_is_one_entry_received_twice(mailbox: Mailbox) -> None:
    mailbox.add(["jane@example.com"], email("jane@example.com", "Hello", "<same@x>", "first"))
    mailbox.add(["john@example.com"], email("john@example.com", "Other", "<other@x>"))
    mailbox.add(["jane@example.com"], email("jane@example.com", "Hello", "<same@x>", "again"))
    [same, other] = mailbox.inbox()
    assert (same.message_id, same.copies, other.message_id, other.copies) == (
        "<same@x>",
        2,
        "<other@x>",
        1,
    )
    transmissions = mailbox.messages()
    assert [r.message_id for r in transmissions] == ["<same@x>", "<other@x>", "<same@x>"]
    # The entry is the first copy, as a mailbox that drops the repeat keeps it.
    assert same.received_at == transmissions[0].received_at
    assert same.last_received_at == transmissions[2].received_at
    assert mailbox.email(same).get_content().strip() == "first"
    assert [e.message_id for e in mailbox.inbox(to="jane@example.com")] == ["<same@x>"]


def test_different_message_ids_are_different_entries(mailbox: Mailbox) -> None:
    mailbox.add(["jane@example.com"], email("jane@example.com", "Hello", "<a@x>"))
    mailbox.add(["jane@example.com"], email("jane@example.com", "Hello", "<b@x>"))
    assert [(e.message_id, e.copies) for e in mailbox.inbox()] == [("<a@x>", 1), ("<b@x>", 1)]


def test_an_email_without_message_id_is_always_kept(mailbox: Mailbox) -> None:
    for _ in range(3):
        mailbox.add(["jane@example.com"], email("jane@example.com", "No id", None))
    entries = mailbox.inbox()
    assert [(e.message_id, e.copies, e.subject) for e in entries] == [("", 1, "No id")] * 3
    assert len({(e.first.file, e.first.offset) for e in entries}) == 3


def test_list_shows_each_message_once_and_how_often_it_came(mailbox: Mailbox) -> None:
    for _ in range(3):
        mailbox.add(["jane@example.com"], email("jane@example.com", "Repeated", "<r@x>"))
    mailbox.add(["jane@example.com"], email("jane@example.com", "Single", "<s@x>"))
    text = run("list")
    assert text.count("<r@x>") == 1
    assert "Repeated  (received 3 times)" in text
    assert "Single\n" in text
    assert "received 1 times" not in text
    listed = json.loads(run("list", "--json"))
    assert [(m["message_id"], m["copies"]) for m in listed] == [("<r@x>", 3), ("<s@x>", 1)]
    assert "2 e-mails deleted" in run("clear")
    assert mailbox.messages() == []


def test_the_sink_over_smtp_keeps_a_repeat_once_and_counts_it(
    mailbox: Mailbox, smtp_port: int
) -> None:
    data = email("jane@example.com", "Hello", "<same@x>")
    with smtplib.SMTP("127.0.0.1", smtp_port) as client:
        client.sendmail("no-reply@example.com", ["jane@example.com"], data)
        client.sendmail("no-reply@example.com", ["jane@example.com"], data)
    [entry] = mailbox.inbox()
    assert (entry.message_id, entry.copies) == ("<same@x>", 2)
    assert entry.first.recipients == ["jane@example.com"]
    assert mailbox.email(entry)["Subject"] == "Hello"
    received = mailbox.messages()
    assert [r.message_id for r in received] == ["<same@x>", "<same@x>"]
    assert mailbox.email(received[1])["Subject"] == "Hello"


def test_the_index_decodes_encoded_and_folded_headers(mailbox: Mailbox) -> None:
    subject = "Votre surclassement « Non-stop » est confirmé pour le 24 décembre, à bientôt !"
    raw = email("Zoë Martin <zoe@example.com>", subject, "<d@x>")
    assert b"=?utf-8?" in raw  # the subject really went as encoded words, and was folded
    received = mailbox.add(["zoe@example.com"], raw)
    assert received.subject == subject
    assert received.to == "Zoë Martin <zoe@example.com>"
    assert [m.subject for m in mailbox.messages()] == [subject]


def test_the_index_reads_the_header_block_of_an_email_as_smtp_delivers_it(
    mailbox: Mailbox,
) -> None:
    subject = "Votre surclassement « Non-stop » est confirmé pour le 24 décembre, à bientôt !"
    raw = email("Zoë Martin <zoe@example.com>", subject, "<d@x>", "Subject: not this one\n")
    wire = raw.replace(b"\n", b"\r\n")
    received = mailbox.add(["zoe@example.com"], wire)
    assert (received.subject, received.to, received.message_id) == (
        subject,
        "Zoë Martin <zoe@example.com>",
        "<d@x>",
    )
    assert mailbox.raw(received) == wire


def test_each_email_reads_back_as_received_from_the_shared_spool(tmp_path: Path) -> None:
    writer = Mailbox(tmp_path / "mail")
    sent = [email("jane@example.com", f"No. {n}", f"<{n}@x>", "body " * n) for n in range(4)]
    for data in sent:
        writer.add(["jane@example.com"], data)
    reader = Mailbox(tmp_path / "mail")
    assert [reader.raw(r) for r in reader.messages()] == sent
    assert [reader.email(e)["Subject"] for e in reader.inbox()] == [f"No. {n}" for n in range(4)]


def test_a_sink_keeps_its_email_after_another_process_cleared_the_folder(tmp_path: Path) -> None:
    """The sink keeps its files open; `ticketing mail clear` removes them under it."""
    writer = Mailbox(tmp_path / "mail")
    writer.add(["jane@example.com"], email("jane@example.com", "Before", "<a@x>"))
    assert Mailbox(tmp_path / "mail").clear() == 1
    writer.add(["jane@example.com"], email("jane@example.com", "After", "<b@x>"))
    reader = Mailbox(tmp_path / "mail")
    [entry] = reader.inbox()
    assert (entry.message_id, reader.email(entry)["Subject"]) == ("<b@x>", "After")
    writer.close()


def by_the_email_package(data: bytes) -> tuple[str, str, str]:
    """What the index held before it read plain headers itself: the compat32 parser over the
    e-mail, each header's encoded words decoded and its lines unfolded."""
    headers = BytesHeaderParser(policy=compat32).parsebytes(data)
    return tuple(  # type: ignore[return-value]
        ""
        if headers[name] is None
        else str(make_header(decode_header(headers[name]))).replace("\r\n", "").replace("\n", "")
        for name in ("Message-ID", "To", "Subject")
    )


_names = st.sampled_from(
    ["Message-ID", "message-id", "To", "TO", "Subject", "subject", "From", "X-Tag", "Date"]
) | st.text(
    st.characters(min_codepoint=33, max_codepoint=126, exclude_characters=":"),
    min_size=1,
    max_size=4,
)
_values = st.lists(
    st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=12)
    | st.sampled_from(
        [
            " ",
            "\t",
            "=?",
            "?=",
            "=?utf-8?q?Zo=C3=AB?=",
            "=?utf-8?b?w6k=?=",
            "=?iso-8859-1?q?caf=E9?= ",
            "<a@b.example>",
            "Zoë",
        ]
    ),
    max_size=4,
).map("".join)
_plain_lines = st.one_of(
    st.builds(lambda name, value: f"{name}:{value}", _names, _values),
    st.builds(lambda blank, value: blank + value, st.sampled_from([" ", "\t", "  "]), _values),
)
# Anything a sender might put in a header block: fields, folded lines, and what the parser takes
# as no field at all (a bare line, a leading colon, "From " lines, a lone blank line).
_any_lines = _plain_lines | st.sampled_from(["no colon", ":value", "From a@b", "", " ", "Subject"])
_line_ends = st.sampled_from(["\r\n"]) | st.sampled_from(["\n", "\r", "\r\n"])


def _block(lines: list[str], ends: list[str], body: str) -> bytes:
    text = "".join(line + end for line, end in zip(lines, ends, strict=False))
    return f"{text}\r\n{body}".encode("utf-8", "surrogateescape")


@settings(max_examples=300, deadline=None)
@given(
    lines=st.lists(_plain_lines, max_size=8).filter(lambda ls: not ls or not ls[0][:1].isspace()),
    body=st.sampled_from(["", "hello\r\n", "Subject: not a header\r\n"]),
)
@example(lines=["Subject: =?utf-8?q?caf=C3=A9?=", " =?utf-8?q?cr=C3=A8me?="], body="")
@example(lines=["To:", "\tjane@example.com", "to: second@example.com"], body="")
def test_plain_ascii_headers_are_read_as_the_email_package_reads_them(
    lines: list[str], body: str
) -> None:
    data = _block(lines, ["\r\n"] * len(lines), body)
    if data.isascii() and data.find(b"\r\n\r\n") >= 0:
        assert _plain_fields(data[: data.find(b"\r\n\r\n") + 2]) is not None  # read here
    assert indexed_headers(data) == by_the_email_package(data)


@settings(max_examples=300, deadline=None)
@given(
    lines=st.lists(_any_lines, max_size=8),
    ends=st.lists(_line_ends, min_size=8, max_size=8),
    body=st.sampled_from(["", "hello\r\n", "Subject: late\r\n"]),
)
@example(lines=[" folded first", "Subject: x"], ends=["\r\n"] * 8, body="")
@example(lines=["Subject: a\r", "To: b"], ends=["\n"] * 8, body="")
@example(lines=["Subject: a", ":junk", " more"], ends=["\r\n"] * 8, body="")
def test_any_header_block_is_read_as_the_email_package_reads_it(
    lines: list[str], ends: list[str], body: str
) -> None:
    data = _block(lines, ends, body)
    assert indexed_headers(data) == by_the_email_package(data)
    assert indexed_headers(data + b"\r\n\r\n") == by_the_email_package(data + b"\r\n\r\n")


@pytest.mark.parametrize(
    ("to", "subject"),
    [
        ("jane@example.com", "Your upgrade to Non-stop is confirmed"),
        ("Zoë Martin <zoe@example.com>", "Votre surclassement « Non-stop » est confirmé " * 3),
    ],
)
def test_what_notify_sends_is_read_without_the_email_package(to: str, subject: str) -> None:
    wire = build_email(claimed_message(to=to, subject=subject)).data
    assert _plain_fields(wire[: wire.find(b"\r\n\r\n") + 2]) is not None
    assert indexed_headers(wire) == (f"<msg_{'a' * 26}@{DOMAIN}>", to, subject)
