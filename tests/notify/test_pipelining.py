"""SMTP pipelining (RFC 2920) and exactly-once delivery over sessions that die mid-burst: MAIL,
RCPT and DATA go out together only to a server that offers PIPELINING; a connection lost before
an e-mail's content went out sends it again at once on a new session, one lost after the server
took it leaves it to the worker's retry with the same Message-ID, so the recipient's mailbox
holds every e-mail exactly once (real sink, real PostgreSQL)."""

from __future__ import annotations

import asyncio
import re
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from hypothesis import given
from hypothesis import strategies as st

from servers.core.db import Database, fetch_value
from servers.notify.delivery import DeliveryError, build_email
from servers.notify.mailers import SmtpMailer
from servers.notify.smtp import SmtpConnectionLost, SmtpSession, wire_data
from ticketing.mailsink import Mailbox, SinkHandler
from ticketing.procs import free_port

from .support import FakeClock, queue, service, worker
from .test_mailers import other

HOST = "127.0.0.1"
EMAIL = b"From: a@example.com\r\nTo: b@example.com\r\nSubject: hi\r\n\r\n.dot\r\nend\r\n"


@asynccontextmanager
async def raw_server(offer_pipelining: bool) -> AsyncIterator[tuple[int, list[list[bytes]]]]:
    """A minimal SMTP server that notes the commands of each transaction as they arrived in
    each read: with PIPELINING offered, it answers MAIL only once RCPT and DATA are there too,
    so a client that waits for each reply never gets an answer."""
    reads: list[list[bytes]] = []

    async def session(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"220 raw\r\n")
        await reader.readuntil(b"\n")  # EHLO
        offered = b"250-PIPELINING\r\n" if offer_pipelining else b""
        writer.write(b"250-raw\r\n" + offered + b"250 HELP\r\n")
        while line := await reader.readuntil(b"\n"):
            if line.startswith(b"QUIT"):
                writer.write(b"221 bye\r\n")
                break
            batch = [line]
            if offer_pipelining:
                batch += [await reader.readuntil(b"\n"), await reader.readuntil(b"\n")]
            else:
                for _ in range(2):
                    writer.write(b"250 ok\r\n")
                    batch.append(await reader.readuntil(b"\n"))
            reads.append([b.split(b":")[0].split()[0] for b in batch])
            writer.write(b"250 ok\r\n250 ok\r\n354 go\r\n" if offer_pipelining else b"354 go\r\n")
            await reader.readuntil(b"\r\n.\r\n")
            writer.write(b"250 taken\r\n")
        writer.close()

    server = await asyncio.start_server(session, HOST, 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield port, reads
    finally:
        server.close()
        await server.wait_closed()


@pytest.mark.parametrize("offer_pipelining", [True, False])
async def test_commands_are_pipelined_only_when_the_server_offers_it(
    offer_pipelining: bool,
) -> None:
    async with raw_server(offer_pipelining) as (port, reads):
        session = await SmtpSession.open(HOST, port, command_timeout=5)
        assert session.pipelining is offer_pipelining
        for _ in range(2):
            reply = await session.send("a@example.com", "b@example.com", EMAIL)
            assert (reply.code, reply.text) == (250, "taken")
        await session.quit()
    assert reads == [[b"MAIL", b"RCPT", b"DATA"]] * 2


async def test_pipelining_can_be_turned_off() -> None:
    async with raw_server(offer_pipelining=False) as (port, reads):
        session = await SmtpSession.open(HOST, port, command_timeout=5, pipelining=False)
        assert not session.pipelining
        await session.send("a@example.com", "b@example.com", EMAIL)
        await session.quit()
    assert reads == [[b"MAIL", b"RCPT", b"DATA"]]


@pytest.mark.parametrize("answered", [b"", b"250 ok\r\n", b"250 ok\r\n250 ok\r\n354 go\r\n"])
async def test_a_server_that_stops_answering_times_out_and_tells_if_it_has_the_email(
    answered: bytes,
) -> None:
    """Silent after the first replies to MAIL, RCPT and DATA (or none), or after the e-mail."""
    ended = asyncio.Event()

    async def session(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"220 raw\r\n")
        await reader.readuntil(b"\n")
        writer.write(b"250-raw\r\n250 PIPELINING\r\n")
        for _ in range(3):
            await reader.readuntil(b"\n")
        writer.write(answered)
        await reader.read()  # until the client gives up and closes
        ended.set()
        writer.close()

    server = await asyncio.start_server(session, HOST, 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        smtp = await SmtpSession.open(HOST, port, command_timeout=0.2)
        with pytest.raises(SmtpConnectionLost, match=r"^no reply within 0.2 s$") as lost:
            await smtp.send("a@example.com", "b@example.com", EMAIL)
        smtp.close()
        await ended.wait()
    assert lost.value.before_message is (not answered.endswith(b"354 go\r\n"))


def test_data_is_dot_stuffed_with_crlf_line_ends() -> None:
    assert wire_data(b"a\n.b\r\n..c\rd") == b"a\r\n..b\r\n...c\r\nd\r\n.\r\n"
    assert wire_data(b".a\r\n.\r\n") == b"..a\r\n..\r\n.\r\n"


@given(st.lists(st.sampled_from([b"\r", b"\n", b"\r\n", b".", b"..", b"a", b" "])).map(b"".join))
def test_data_reads_as_line_by_line_stuffing_writes_it(data: bytes) -> None:
    # What RFC 5321 4.5.2 asks, written the plain way: each line (ended by CRLF, CR or LF) with
    # CRLF after it, a dot before any line that starts with one, then the lone dot.
    lines = re.split(rb"\r\n|\r|\n", data)
    if len(lines) > 1 and lines[-1] == b"":
        lines.pop()
    stuffed = b"".join(b"." * line.startswith(b".") + line + b"\r\n" for line in lines)
    assert wire_data(data) == stuffed + b".\r\n"


class DroppingSink(SinkHandler):
    """The sink, hanging up on chosen e-mails (counted from 1 over all sessions): ``at_mail``
    right on their MAIL, before anything of them arrived; ``after_taking`` once it stored them,
    before its 250 went out, so the sender cannot know they were taken."""

    def __init__(self, mailbox: Mailbox, *, at_mail: set[int], after_taking: set[int]):
        super().__init__(mailbox)
        self.at_mail = at_mail
        self.after_taking = after_taking
        self.mails = 0
        self.datas = 0

    async def handle_MAIL(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        self.mails += 1
        if self.mails in self.at_mail:
            _hang_up(server)
        envelope.mail_from = address
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.datas += 1
        status = await super().handle_DATA(server, session, envelope)
        if self.datas in self.after_taking:
            _hang_up(server)
        return status


def _hang_up(server: SMTP) -> None:
    transport = server.transport
    assert transport is not None
    assert isinstance(transport, asyncio.Transport)
    transport.abort()


@pytest.mark.parametrize("pipelining", [True, False])
async def test_only_what_the_server_cannot_have_taken_is_sent_again_at_once(
    tmp_path: Path, pipelining: bool
) -> None:
    handler = DroppingSink(Mailbox(tmp_path / "mail"), at_mail={2}, after_taking={3})
    port = free_port(HOST)
    controller = Controller(handler, hostname=HOST, port=port)
    controller.start()
    try:
        mailer = SmtpMailer(HOST, port, timeout=5, pipelining=pipelining)
        emails = [build_email(other(n)) for n in range(3)]
        await mailer.send(emails[0])
        # Hung up on at its MAIL, on the session the first one left open: on a new one.
        await mailer.send(emails[1])
        # Taken, but the 250 never came: the worker retries it later, the mailer does not.
        with pytest.raises(DeliveryError) as caught:
            await mailer.send(emails[2])
        assert not caught.value.permanent
        await mailer.aclose()
    finally:
        controller.stop()
    assert handler.mails == 3 + 1
    assert [r.message_id for r in handler.mailbox.messages()] == [
        other(n).header_message_id for n in range(3)
    ]


@pytest.fixture
def dropping(tmp_path: Path) -> Iterator[tuple[DroppingSink, int]]:
    handler = DroppingSink(Mailbox(tmp_path / "mail"), at_mail={4, 15}, after_taking={7, 20})
    port = free_port(HOST)
    controller = Controller(handler, hostname=HOST, port=port)
    controller.start()
    try:
        yield handler, port
    finally:
        controller.stop()


async def test_sessions_dying_mid_burst_lose_and_double_no_email(
    db: Database, dropping: tuple[DroppingSink, int]
) -> None:
    handler, port = dropping
    clock = FakeClock()
    svc = service(db, clock, max_attempts=3)
    queued = [await queue(svc, f"guest{i}@example.com") for i in range(30)]
    mailer = SmtpMailer(HOST, port, timeout=5)
    deliverer = worker(db, mailer, clock, seed=3, batch=20, concurrency=8)
    while await deliverer.run_once():
        pass
    # The two whose 250 never came wait for their retry, with those hung up on at MAIL on a
    # session just opened (one that had carried e-mail before is replaced at once).
    async with db.transaction() as tx:
        waiting = await fetch_value(
            tx, "SELECT count(*) FROM notify.messages WHERE status = 'failed'"
        )
    assert 2 <= waiting <= 4
    clock.advance(3600)
    while await deliverer.run_once():
        pass

    statuses = Counter([(await svc.get_message(m.message_id)).status for m in queued])
    assert statuses == {"sent": 30}
    inbox = handler.mailbox.inbox()
    assert sorted(e.message_id for e in inbox) == sorted(m.header_message_id for m in queued)
    # Over SMTP only the two taken without a 250 came twice (the mailbox keeps them once).
    assert sorted(e.copies for e in inbox) == [1] * 28 + [2] * 2
    # Each hang-up cost its e-mail one more MAIL, and nothing else was sent again.
    assert handler.mails == 30 + 4
