"""``ticketing mail ...`` over a sink folder, and the sink answering real SMTP."""

from __future__ import annotations

import json
import smtplib
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from typer.testing import CliRunner

from ticketing.cli import app
from ticketing.mailsink import Mailbox, SinkHandler
from ticketing.procs import free_port


def email(to: str, subject: str, message_id: str) -> bytes:
    message = EmailMessage()
    message["From"] = "no-reply@example.com"
    message["To"] = to
    message["Subject"] = subject
    message["Message-ID"] = message_id
    message.set_content("hello")
    return message.as_bytes()


@pytest.fixture
def mailbox(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Mailbox:
    monkeypatch.setenv("MAIL_SINK_DIR", str(tmp_path / "mail"))
    return Mailbox(tmp_path / "mail")


@pytest.fixture
def smtp_port(mailbox: Mailbox) -> Iterator[int]:
    port = free_port()
    controller = Controller(SinkHandler(mailbox), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield port
    finally:
        controller.stop()


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
    assert set(everything[0]) == {"message_id", "to", "subject", "received_at"}
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


def test_the_sink_keeps_every_email_it_accepts_repeats_included(
    mailbox: Mailbox, smtp_port: int
) -> None:
    data = email("jane@example.com", "Hello", "<same@x>")
    with smtplib.SMTP("127.0.0.1", smtp_port) as client:
        client.sendmail("no-reply@example.com", ["jane@example.com"], data)
        client.sendmail("no-reply@example.com", ["jane@example.com"], data)
    received = mailbox.messages()
    assert [r.message_id for r in received] == ["<same@x>", "<same@x>"]
    assert received[0].recipients == ["jane@example.com"]
    assert mailbox.email(received[1])["Subject"] == "Hello"
