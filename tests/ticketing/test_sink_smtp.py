"""The sink's SMTP session reads addresses and DATA as aiosmtpd does, only cheaper
(ticketing/sink_smtp)."""

from __future__ import annotations

import asyncio
import itertools
import smtplib
import socket
import tracemalloc
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from aiosmtpd.smtp import SMTP, Envelope, Session
from hypothesis import assume, example, given
from hypothesis import strategies as st

from tests.ticketing.support import sink_on
from ticketing.mailsink import Mailbox, SinkHandler
from ticketing.sink_smtp import TOO_LONG, ConnectionEnded, Refused, SinkSMTP, read_data

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


@pytest.fixture
def sink(tmp_path: Path) -> Iterator[tuple[int, Mailbox]]:
    mailbox = Mailbox(tmp_path / "mail")
    with sink_on(mailbox) as port:
        yield port, mailbox


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


# DATA: the sink reads it in whatever pieces arrive; aiosmtpd reads it line by line. Lines of
# every kind that matters to the rules: dots to remove, bare CR and LF inside a line, non-ASCII,
# and lengths around the line limit (1,001 bytes with the CRLF).
LINE_LIMIT = SMTP.line_length_limit
line = st.one_of(
    st.binary(max_size=12).filter(lambda text: b"\r\n" not in text and text != b"."),
    st.sampled_from([b"", b"..", b".x", b"...", b"\r", b"\n", b"a\rb", "é".encode()]),
    st.integers(LINE_LIMIT - 4, LINE_LIMIT + 3).map(lambda size: b"y" * size),
)


class Recorder:
    """A handler keeping what each DATA carried."""

    def __init__(self) -> None:
        self.contents: list[bytes] = []

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        assert isinstance(envelope.original_content, bytes)
        assert envelope.content == envelope.original_content
        self.contents.append(envelope.original_content)
        return "250 OK"


class Writer:
    """What a session pushes, in order."""

    def __init__(self) -> None:
        self.written = bytearray()

    def write(self, data: bytes) -> None:
        self.written += data

    async def drain(self) -> None:
        return None

    def close(self) -> None:
        return None


async def run_data(
    kind: type[SMTP], pieces: list[bytes], size_limit: int
) -> tuple[bytes, list[bytes], bytes]:
    """One DATA command of a session of ``kind``, its stream arriving in ``pieces``: what the
    session answered, what its handler got, and what it left unread."""
    handler = Recorder()
    server = kind(handler, data_size_limit=size_limit, loop=asyncio.get_running_loop())
    reader = asyncio.StreamReader(limit=server.line_length_limit)
    writer = Writer()
    server._reader, server._writer = reader, writer  # type: ignore[assignment]
    server.transport = server  # type: ignore[assignment]  # only ever compared with None
    server.session = server._create_session()
    server.session.host_name = "client.example"
    server.envelope = server._create_envelope()
    server.envelope.rcpt_tos = ["jane@example.com"]
    command = asyncio.ensure_future(server.smtp_DATA(""))
    for piece in pieces:
        await asyncio.sleep(0)  # let the session read what has arrived before the next piece
        reader.feed_data(piece)
    await command
    reader.feed_eof()
    return bytes(writer.written), handler.contents, await reader.read()


def stream_pieces(stream: bytes, cuts: list[int]) -> list[bytes]:
    edges = [0, *sorted({cut % (len(stream) + 1) for cut in cuts}), len(stream)]
    return [stream[start:end] for start, end in itertools.pairwise(edges) if end > start]


def first_too_long_crosses_the_size(lines: list[bytes], size_limit: int) -> bool:
    start = 0
    for text in lines:
        end = start + len(text) + 2
        if len(text) + 2 > LINE_LIMIT:
            return start <= size_limit < end and len(text) + 2 <= LINE_LIMIT + 2
        start = end
    return False


@given(
    st.lists(line, max_size=12),
    st.lists(st.integers(0, 20_000), max_size=8),
    st.sampled_from([b"", b"NOOP\r\n", b"MAIL FROM:<a@b.c>\r\nRSET\r\n"]),
    st.sampled_from([0, 1_500, 4_000]),
)
@example([b".hello", b"..", b"world"], [], b"", 0)
@example([b"y" * (LINE_LIMIT - 2)], [5, 1_000], b"NOOP\r\n", 0)
@example([b"y" * (LINE_LIMIT - 1), b"after"], [1_001, 1_002], b"", 0)
@example([b"a" * 900, b"b" * 900], [3, 1_000, 1_804], b"", 1_500)
@example([b"end\r"], [4, 5, 6, 7, 8], b"NOOP\r\n", 0)
@example([b"y" * (LINE_LIMIT - 2)] * 2 + [b"y" * (LINE_LIMIT + 9)], [], b"", 1_500)
@example([b"y" * (LINE_LIMIT - 4), b"y" * (LINE_LIMIT + 1)], [1_501], b"", 1_500)
def test_data_reads_as_aiosmtpd_reads_it(
    lines: list[bytes], cuts: list[int], after: bytes, size_limit: int
) -> None:
    # When a line just over the limit is also the one that passes the size limit, aiosmtpd
    # answers 500 or 552 by how its reader (whose limit is the line length) met it.
    assume(not (size_limit and first_too_long_crosses_the_size(lines, size_limit)))
    stream = b"".join(text + b"\r\n" for text in lines) + b".\r\n" + after
    pieces = stream_pieces(stream, cuts)
    expected = asyncio.run(run_data(SMTP, pieces, size_limit))
    assert asyncio.run(run_data(SinkSMTP, pieces, size_limit)) == expected


async def test_an_end_of_data_never_sent_ends_the_session() -> None:
    reader = asyncio.StreamReader(limit=LINE_LIMIT)
    reader.feed_data(b"Subject: cut\r\n\r\nhalf an e-mail\r\n.")
    reader.feed_eof()
    with pytest.raises(ConnectionEnded):
        await read_data(reader, LINE_LIMIT, 0)


async def test_refused_data_is_not_kept_while_it_is_read() -> None:
    reader = asyncio.StreamReader(limit=LINE_LIMIT)
    reading = asyncio.ensure_future(read_data(reader, LINE_LIMIT, 1_000_000))
    tracemalloc.start()
    try:
        for _ in range(64):  # 64 MiB of one line, far over both limits
            await asyncio.sleep(0)
            reader.feed_data(b"z" * 2**20)
        reader.feed_data(b"\r\n.\r\n")
        with pytest.raises(Refused) as refused:
            await reading
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert refused.value.reply == TOO_LONG
    assert peak < 8 * 2**20


def test_a_sender_may_pipeline_commands_after_the_end_of_data(
    sink: tuple[int, Mailbox],
) -> None:
    port, mailbox = sink
    # A reply that never comes fails the test instead of waiting for the session's time-out.
    with socket.create_connection(("127.0.0.1", port), timeout=10) as client:
        replies = client.makefile("rb")
        assert replies.readline().startswith(b"220")
        client.sendall(b"EHLO client\r\nMAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.com>\r\n")
        client.sendall(b"DATA\r\n")
        lines = [replies.readline() for _ in range(9)]
        assert lines[-1].startswith(b"354"), lines
        client.sendall(
            b"Message-ID: <one@x>\r\nSubject: one\r\n\r\n..a dot\r\n.\r\n"
            b"MAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.com>\r\nDATA\r\n"
        )
        assert [replies.readline()[:3] for _ in range(4)] == [b"250", b"250", b"250", b"354"]
        client.sendall(b"Message-ID: <two@x>\r\n\r\n" + b"y" * 1_000 + b"\r\n.\r\nNOOP\r\n")
        assert replies.readline().startswith(b"500 Line too long")
        assert replies.readline().startswith(b"250")
        client.sendall(b"QUIT\r\n")
        assert replies.readline().startswith(b"221")
    [received] = mailbox.messages()
    assert received.message_id == "<one@x>"
    assert mailbox.email(received).get_payload() == ".a dot\r\n"


# Replies: the sink holds a reply to MAIL or RCPT while the next command is already there, and
# sends it with the next one. Sessions are driven in memory, through a transport that keeps each
# send, so that what arrives together is known exactly.
class Transport(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.sends: list[bytes] = []
        self.closed = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        # As asyncio's transports do, nothing is sent once closed.
        if not self.closed:
            self.sends.append(bytes(data))

    def get_extra_info(self, name: str, default: object = None) -> object:
        return ("192.0.2.1", 2525) if name == "peername" else default

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    def pause_reading(self) -> None:
        return None

    def resume_reading(self) -> None:
        return None


async def settled(server: SMTP) -> None:
    """Until the session waits for more of the stream, or has ended: in memory, each step of the
    loop lets it go on, and it never waits on anything else."""
    assert server._handler_coroutine is not None
    for _ in range(10_000):
        if server._handler_coroutine.done() or server._reader._waiter is not None:  # type: ignore[attr-defined]
            return
        await asyncio.sleep(0)
    raise AssertionError("the session neither waited for the sender nor ended")


async def conversation(kind: type[SMTP], pieces: list[bytes]) -> list[list[bytes]]:
    """What a session of ``kind`` sent, as sends, once it had answered each piece of the stream."""
    server = kind(Recorder(), hostname="sink.example", loop=asyncio.get_running_loop())
    transport = Transport()
    server.connection_made(transport)
    answered = []
    try:
        for piece in pieces:
            await settled(server)
            answered.append(list(transport.sends))
            server.data_received(piece)
        await settled(server)
        answered.append(list(transport.sends))
    finally:
        server.connection_lost(None)
    return answered


command = st.sampled_from(
    [
        b"MAIL FROM:<a@example.com>\r\n",
        b"MAIL FROM:a@example.com\r\n",
        b"RCPT TO:<b@example.com>\r\n",
        b"RCPT TO:<>\r\n",
        b"RCPT\r\n",
        b"DATA\r\nSubject: hi\r\n\r\nhello\r\n.\r\n",
        b"NOOP\r\n",
        b"RSET\r\n",
        b"BOGUS\r\n",
        b"\r\n",
    ]
)


@given(
    st.lists(command, max_size=10),
    st.lists(st.integers(0, 400), max_size=6),
    st.sampled_from([b"", b"QUIT\r\n", b"QUIT\r\nNOOP\r\n"]),
)
@example([b"MAIL FROM:<a@example.com>\r\n", b"RCPT TO:<b@example.com>\r\n"], [], b"QUIT\r\n")
def test_pipelined_commands_are_answered_as_aiosmtpd_answers_them(
    commands: list[bytes], cuts: list[int], end: bytes
) -> None:
    stream = b"EHLO client.example\r\n" + b"".join(commands) + end
    pieces = stream_pieces(stream, cuts)
    theirs = asyncio.run(conversation(SMTP, pieces))
    ours = asyncio.run(conversation(SinkSMTP, pieces))
    # After each piece every command that has arrived whole is answered, in the same words: no
    # reply is held while the session waits for the sender.
    assert [b"".join(sends) for sends in ours] == [b"".join(sends) for sends in theirs]


def test_a_pipelined_group_is_answered_in_one_send() -> None:
    group = (
        b"MAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.com>\r\n"
        b"RCPT TO:<c@example.com>\r\nDATA\r\n"
    )
    pieces = [b"EHLO client.example\r\n", group, b"Subject: hi\r\n\r\nhello\r\n.\r\n"]
    theirs = asyncio.run(conversation(SMTP, pieces))
    ours = asyncio.run(conversation(SinkSMTP, pieces))
    replies = b"250 OK\r\n" * 3 + b"354 End data with <CR><LF>.<CR><LF>\r\n"
    assert theirs[2][-4:] == [reply + b"\r\n" for reply in replies.split(b"\r\n")[:-1]]
    assert ours[2][-1] == replies
    assert ours[3][-1] == b"250 OK\r\n"
