"""The sink's SMTP session reads addresses as aiosmtpd does, only cheaper (ticketing/sink_smtp)."""

from __future__ import annotations

import smtplib
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP
from hypothesis import example, given
from hypothesis import strategies as st

from ticketing.mailsink import Mailbox, SinkHandler
from ticketing.procs import free_port
from ticketing.sink_smtp import SinkSMTP

ATEXT = "abcXYZ019!#$%&'*+/=?^_`{|}~-"
atom = st.text(ATEXT, min_size=1, max_size=5)
dot_atom = st.lists(atom, min_size=1, max_size=3).map(".".join)
# Pieces of what senders write around an address, RFC 5321 parameters, comments, quoting and
# folding among them, joined in any order: the plain ones take the fast path, the rest must
# fall back to aiosmtpd's parser and still give its answer.
piece = st.one_of(
    dot_atom,
    st.sampled_from(
        ["<", ">", "@", ".", " ", "\t", "(", ")", '"', "\\", "[", "]", "\r\n", ",", ":", ";"]
    ),
    st.sampled_from([" SIZE=1000", " BODY=8BITMIME", " SMTPUTF8", "(comment)", "é", "<>"]),
)
plain = st.builds(
    lambda local, domain, after: f"<{local}@{domain}>{after}",
    dot_atom,
    dot_atom,
    st.lists(piece, max_size=4).map("".join),
)
argument = st.one_of(plain, st.lists(piece, max_size=10).map("".join), st.text(max_size=30))


def outcome(read: Callable[[str], object], arg: str) -> object:
    """What reading ``arg`` gives, or the kind of error it raises (aiosmtpd's parser raises
    IndexError on a lone "<", for one)."""
    try:
        return read(arg)
    except Exception as error:
        return type(error)


def session(local_part_limit: int = 0) -> SinkSMTP:
    server = SinkSMTP(SinkHandler(Mailbox(Path("unused"))))
    server.local_part_limit = local_part_limit
    return server


@given(argument, st.sampled_from([0, 3, 64]))
@example("<jane@example.com>", 0)
@example("<jane@example.com> SIZE=1000 BODY=8BITMIME", 0)
@example("<jane@example.com>  (a comment) SIZE=1", 0)
@example('<"jane doe"@example.com>', 0)
@example("<jane@[127.0.0.1]>", 0)
@example("<>", 0)
@example("<", 0)
@example("<jane.doe@example.com>", 3)
@example(" <jane@example.com>", 0)
@example("<jane@example.com>\r\n x", 0)
def test_an_address_reads_as_aiosmtpd_reads_it(arg: str, local_part_limit: int) -> None:
    server = session(local_part_limit)
    expected = outcome(lambda text: SMTP._getaddr(server, text), arg)
    assert outcome(server._getaddr, arg) == expected


class SinkController(Controller):
    def factory(self) -> SMTP:
        return SinkSMTP(self.handler, **self.SMTP_kwargs)


@pytest.fixture
def sink(tmp_path: Path) -> Iterator[tuple[int, Mailbox]]:
    mailbox = Mailbox(tmp_path / "mail")
    port = free_port()
    controller = SinkController(SinkHandler(mailbox), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield port, mailbox
    finally:
        controller.stop()


def test_aiosmtpd_reads_the_sender_and_recipients_through_getaddr(
    sink: tuple[int, Mailbox], monkeypatch: pytest.MonkeyPatch
) -> None:
    port, mailbox = sink
    read: list[str] = []
    fast = SinkSMTP._getaddr

    def counted(self: SinkSMTP, arg: str) -> tuple[str | None, str | None]:
        read.append(arg)
        return fast(self, arg)

    monkeypatch.setattr(SinkSMTP, "_getaddr", counted)
    with smtplib.SMTP("127.0.0.1", port) as client:
        refused = client.sendmail(
            "no-reply@example.com",
            ["jane@example.com", "john.doe@example.org"],
            b"Subject: Hello\r\nMessage-ID: <a@x>\r\n\r\nhi\r\n",
        )
    assert refused == {}
    assert [arg.split()[0] for arg in read] == [
        "<no-reply@example.com>",
        "<jane@example.com>",
        "<john.doe@example.org>",
    ]
    [received] = mailbox.messages()
    assert received.recipients == ["jane@example.com", "john.doe@example.org"]
    assert received.message_id == "<a@x>"
