"""The sink's SMTP session: aiosmtpd's, with a cheaper reading of addresses and of DATA.

aiosmtpd reads the address of every MAIL FROM and RCPT TO with the email package's RFC 5322
header parser, and defines a ``typing.Protocol`` class on each call to do it: about a fifth of
the sink's CPU per e-mail in a send burst (bench/README.md, "E-mail"). Nearly every address a
sender writes is a plain ``<local@domain>`` of dot-atoms, which a regular expression reads the
same way; anything else (comments, quoted local parts, domain literals, non-ASCII, a null
sender) still goes to aiosmtpd's parser.

aiosmtpd also reads an e-mail's DATA one line at a time, an ``await`` and a dozen Python steps
per line: about half of the sink's busy CPU in a burst. :func:`read_data` takes whatever has
arrived at once and finds the end (a line holding a lone dot) with one search; the rules stay
aiosmtpd's: lines end in CRLF, one longer than ``line_length_limit`` or more bytes than
``data_size_limit`` refuse the e-mail (500 or 552, after its end has been read), a leading dot is
removed, and commands pipelined after the end are left for the session.

And aiosmtpd writes each reply on its own, a send to the socket each: a pipelined MAIL, RCPT
and DATA cost three sends and, for the sender, as many wake-ups to read them. As RFC 2920 lets
a server do, a reply to MAIL or RCPT is held while the sender's next command is already there
to be read, and goes out with the next reply; every other reply is sent at once.

``tests/ticketing/test_sink_smtp.py`` checks that both readings give the same answers as
aiosmtpd for any argument, any e-mail and any way it arrives, that aiosmtpd still reads
addresses through ``_getaddr``, and that pipelined replies go out together.

Imported by :func:`ticketing.mailsink.serve` only, so that ``ticketing mail`` starts without
aiosmtpd.
"""

from __future__ import annotations

import asyncio
import re
import sys
from collections.abc import Awaitable

from aiosmtpd.smtp import MISSING, SMTP

# RFC 5322 atext, ASCII only: a dot-atom is atoms of these joined by single dots.
_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_DOT_ATOM = rf"{_ATOM}(?:\.{_ATOM})*"
_PLAIN_ADDRESS = re.compile(rf"<({_DOT_ATOM}@{_DOT_ATOM})>[ \t]*")

# The end of DATA, with the CRLF that ends the line before it (RFC 5321 4.1.1.4).
_END = b"\r\n.\r\n"
# What `StreamReader.read` is asked for: everything that has arrived, so that nothing read after
# the end can be behind bytes still in the reader when it is handed back.
_ALL = sys.maxsize

TOO_LONG = "500 Line too long (see RFC5321 4.5.3.1.6)"
TOO_MUCH = "552 Error: Too much mail data"


class Refused(Exception):
    """The e-mail broke a limit; its DATA has been read to the end, ``reply`` is the answer."""

    def __init__(self, reply: str) -> None:
        super().__init__(reply)
        self.reply = reply


class ConnectionEnded(ConnectionResetError):
    """The client closed the connection before the end of DATA: aiosmtpd's session ends on it as
    on a reset."""


def _refusal(
    lines: bytes | bytearray, line_limit: int, size_limit: int | None, before: int
) -> str | None:
    """Which limit ``lines`` of DATA (maybe ending in an unfinished line) break first, or None
    when none is broken yet; ``before`` is how many bytes of lines within the limits came first.

    A line longer than the limit wins over the size when it starts within the size, as aiosmtpd
    decides it for any line that arrives long (its reader's limit is the line length). So the
    size counts finished lines only: the unfinished one may still turn out too long, which is
    known within ``line_limit`` more bytes.
    """
    parts = lines.split(b"\r\n")
    finished = before + len(lines) - len(parts[-1])
    # Its last byte may be the CR of its CRLF.
    unfinished = parts[-1].removesuffix(b"\r")
    # A line's length counts its CRLF.
    too_long = max(map(len, parts[:-1]), default=0) + 2 > line_limit
    if not too_long and len(unfinished) + 2 <= line_limit:
        return TOO_MUCH if size_limit and finished > size_limit else None
    start = before
    for part in parts:
        if len(part) + 2 > line_limit:
            break
        start += len(part) + 2
    return TOO_MUCH if size_limit and start > size_limit else TOO_LONG


async def read_data(reader: asyncio.StreamReader, line_limit: int, size_limit: int | None) -> bytes:
    """DATA's content up to its end, dot-stuffing removed; anything after the end stays in
    ``reader``. Raises :class:`Refused` (the whole of DATA read) or :class:`ConnectionEnded`."""
    # A CRLF before the first line, so that an end on the first line is found by the same search
    # and every line, the first too, starts after a CRLF.
    kept = bytearray(b"\r\n")
    refusal: str | None = None
    # Where the first line not yet known to be within the limits starts: each byte is checked
    # once, however many reads an e-mail takes.
    checked = 2
    while True:
        chunk = await reader.read(_ALL)
        if not chunk:
            raise ConnectionEnded
        searched = max(len(kept) - 4, 0)
        kept += chunk
        end = kept.find(_END, searched)
        if end >= 0:
            break
        if refusal is None:
            refusal = _refusal(kept[checked:], line_limit, size_limit, checked - 2)
            checked = kept.rfind(b"\r\n") + 2
        if refusal is not None:
            # What is refused is not kept: only enough to find the end across reads.
            del kept[:-4]
    after = kept[end + len(_END) :]
    # `read(_ALL)` emptied the reader and nothing has run since: these bytes go back first. At
    # the end of the stream the session is being cancelled (aiosmtpd's `eof_received`), and
    # nothing would read them.
    if after and not reader.at_eof():
        reader.feed_data(after)
    if refusal is None:
        refusal = _refusal(kept[checked : end + 2], line_limit, size_limit, checked - 2)
    if refusal is not None:
        raise Refused(refusal)
    return bytes(kept[: end + 2].replace(b"\r\n.", b"\r\n")[2:])


class SinkSMTP(SMTP):
    # Replies held back (RFC 2920 4) while the session answers MAIL or RCPT, with their CRLFs.
    _held = b""
    _holding = False

    async def push(self, status: str | bytes) -> None:
        response = (
            status.encode("utf-8" if self.enable_SMTPUTF8 else "ascii")
            if isinstance(status, str)
            else status
        )
        # A whole command already read is answered without waiting on the network, so its reply
        # carries this one along. asyncio's StreamReader has no public peek; without its buffer
        # every reply goes at once (the test of one send for a pipelined group then fails).
        if self._holding and b"\n" in getattr(self._reader, "_buffer", b""):
            self._held += response + b"\r\n"
            return
        held, self._held = self._held, b""
        await super().push(held + response)

    async def smtp_MAIL(self, arg: str | None) -> None:
        await self._holding_replies(super().smtp_MAIL(arg))

    async def smtp_RCPT(self, arg: str | None) -> None:
        await self._holding_replies(super().smtp_RCPT(arg))

    async def _holding_replies(self, command: Awaitable[None]) -> None:
        self._holding = True
        try:
            await command
        finally:
            self._holding = False

    def _getaddr(self, arg: str) -> tuple[str | None, str | None]:
        plain = _PLAIN_ADDRESS.match(arg)
        # After the address the header parser also skips comments: those, like every address
        # the expression does not read, are left to it.
        if plain is None or arg[plain.end() : plain.end() + 1] == "(":
            return super()._getaddr(arg)
        address = plain.group(1)
        if self.local_part_limit and len(address.rpartition("@")[0]) > self.local_part_limit:
            return None, None
        return address, arg[plain.end() :]

    async def smtp_DATA(self, arg: str) -> None:
        # The sink's handler takes the content as bytes in `handle_DATA`; a session set up
        # otherwise is aiosmtpd's all the way.
        if self._decode_data or "DATA" not in self._handle_hooks:
            await super().smtp_DATA(arg)
            return
        # aiosmtpd's checks before DATA, in its order and words.
        if await self.check_helo_needed() or await self.check_auth_needed("DATA"):
            return
        assert self.envelope is not None
        if not self.envelope.rcpt_tos:
            await self.push("503 Error: need RCPT command")
            return
        if arg:
            await self.push("501 Syntax: DATA")
            return
        await self.push("354 End data with <CR><LF>.<CR><LF>")
        # A connection lost meanwhile (cancelled, or ConnectionEnded) ends the session in
        # aiosmtpd's command loop, as during its own DATA.
        try:
            content = await read_data(self._reader, self.line_length_limit, self.data_size_limit)
        except Refused as refused:
            await self.push(refused.reply)
            self._set_post_data_state()  # type: ignore[no-untyped-call]
            return
        self.envelope.content = self.envelope.original_content = content
        status = await self._call_handler_hook("DATA")
        self._set_post_data_state()  # type: ignore[no-untyped-call]
        await self.push("250 OK" if status is MISSING else status)
