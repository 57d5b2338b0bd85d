"""One SMTP session (RFC 5321) that pipelines its commands (RFC 2920 PIPELINING).

aiosmtplib, used before, waits for the reply to each command before sending the next, and its
protocol object keeps one reply at a time, so it cannot pipeline. Over a session kept open that
made four round trips per e-mail (MAIL, RCPT, DATA, the message), each a wake-up of both
processes; the sink's and the server's CPU went mostly to them (bench/README.md, "E-mail").
With PIPELINING, MAIL, RCPT and DATA go out in one write and their replies come back together:
two round trips per e-mail. A server that does not offer PIPELINING gets one command at a time.

What a session does: connect, greeting, EHLO, STARTTLS (the certificate always verified) with
EHLO again, AUTH PLAIN or LOGIN when a user name is given; then e-mail after e-mail; QUIT.
"""

from __future__ import annotations

import asyncio
import re
import ssl
from base64 import b64encode
from dataclasses import dataclass

_LINE_END = re.compile(rb"\r\n|\r|\n")
_MAX_REPLY_LINES = 100


@dataclass(frozen=True)
class Reply:
    code: int
    text: str


class SmtpError(Exception):
    """The session cannot go on; it is to be closed."""


class SmtpRefused(SmtpError):
    """The server answered a step with a refusal (4xx: for now, 5xx: for good)."""

    def __init__(self, step: str, reply: Reply):
        super().__init__(f"{step}: {reply.code} {reply.text}")
        self.step = step
        self.reply = reply


class SmtpConnectionLost(SmtpError):
    """The connection ended, timed out or carried no SMTP. ``before_message``: none of the
    e-mail's content was sent yet, so the server cannot have taken it."""

    def __init__(self, detail: str, *, before_message: bool):
        super().__init__(detail)
        self.before_message = before_message


def wire_data(data: bytes) -> bytes:
    """The e-mail as DATA carries it: CRLF line ends, leading dots doubled, the final dot."""
    # The e-mails built here have CRLF line ends already: a regex substitution over every line
    # end cost more than the rest of this (about 300 us per e-mail against 40, on a busy core).
    if not data.count(b"\r\n") == data.count(b"\r") == data.count(b"\n"):
        data = _LINE_END.sub(b"\r\n", data)
    if not data.endswith(b"\r\n"):
        data += b"\r\n"
    if data.startswith(b"."):
        data = b"." + data
    return data.replace(b"\n.", b"\n..") + b".\r\n"


class SmtpSession:
    """An open, greeted (and, as configured, encrypted and logged-in) SMTP session."""

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        *,
        timeout: float,
        pipelining: bool,
    ):
        self._reader = reader
        self._writer = writer
        self._timeout = timeout
        self._extensions: dict[str, str] = {}
        self._pipelining = pipelining

    @classmethod
    async def open(
        cls,
        host: str,
        port: int,
        *,
        command_timeout: float,
        pipelining: bool = True,
        tls: ssl.SSLContext | None = None,
        username: str | None = None,
        password: str | None = None,
        local_hostname: str = "localhost",
    ) -> SmtpSession:
        """Connect and get ready to send; ``tls`` given: STARTTLS with that context. Each step
        (the connection, each reply) is bounded by ``command_timeout``. ``pipelining`` False:
        one command at a time even when the server offers more."""
        timeout = command_timeout
        try:
            async with asyncio.timeout(timeout):
                reader, writer = await asyncio.open_connection(host, port)
        except TimeoutError:
            raise SmtpConnectionLost(
                f"no connection within {timeout:g} s", before_message=True
            ) from None
        session = cls(reader, writer, timeout=timeout, pipelining=pipelining)
        try:
            await session._expect("greeting", 220)
            await session._ehlo(local_hostname)
            if tls is not None:
                if "STARTTLS" not in session._extensions:
                    raise SmtpRefused("STARTTLS", Reply(502, "the server does not offer it"))
                await session._command("STARTTLS", b"STARTTLS", 220)
                async with asyncio.timeout(timeout):
                    await writer.start_tls(tls, server_hostname=host)
                await session._ehlo(local_hostname)
            if username is not None:
                await session._login(username, password or "")
        except BaseException:
            session.close()
            raise
        session._pipelining = pipelining and "PIPELINING" in session._extensions
        return session

    @property
    def pipelining(self) -> bool:
        """Whether MAIL, RCPT and DATA go out together on this session."""
        return self._pipelining

    @property
    def is_open(self) -> bool:
        return not self._writer.is_closing() and not self._reader.at_eof()

    async def send(self, sender: str, recipient: str, data: bytes) -> Reply:
        """One e-mail; returns the server's reply to its end (250) once it took it."""
        for address in (sender, recipient):
            if "\r" in address or "\n" in address or ">" in address or "<" in address:
                raise ValueError(f"not an address for the SMTP envelope: {address!r}")
        utf8 = not (sender.isascii() and recipient.isascii())
        if utf8 and "SMTPUTF8" not in self._extensions:
            raise SmtpRefused("MAIL", Reply(553, "the server takes only ASCII addresses"))
        mail = f"MAIL FROM:<{sender}>{' SMTPUTF8' if utf8 else ''}".encode()
        steps = [
            ("MAIL", mail, (250,)),
            ("RCPT", f"RCPT TO:<{recipient}>".encode(), (250, 251)),
            ("DATA", b"DATA", (354,)),
        ]
        if self._pipelining:
            lines = b"".join(line + b"\r\n" for _, line, _ in steps)
            replies = await self._exchange(lines, len(steps), before=True)
            for (step, _, wanted), reply in zip(steps, replies, strict=True):
                if reply.code not in wanted:
                    raise SmtpRefused(step, reply)
        else:
            for step, line, wanted in steps:
                await self._command(step, line, *wanted)
        (reply,) = await self._exchange(wire_data(data), 1, before=False)
        if reply.code != 250:
            raise SmtpRefused("DATA", reply)
        return reply

    async def quit(self) -> None:
        """Say goodbye and wait for the answer; the session is closed either way."""
        try:
            await self._command("QUIT", b"QUIT", 221)
        finally:
            self.close()

    def close(self) -> None:
        self._writer.close()

    async def _ehlo(self, local_hostname: str) -> None:
        reply = await self._command("EHLO", f"EHLO {local_hostname}".encode(), 250)
        self._extensions = {}
        for line in reply.text.split("\n")[1:]:
            keyword, _, params = line.partition(" ")
            self._extensions[keyword.upper()] = params

    async def _login(self, username: str, password: str) -> None:
        methods = self._extensions.get("AUTH", "").upper().split()
        if "PLAIN" in methods:
            token = _b64(f"\0{username}\0{password}")
            await self._command("AUTH", b"AUTH PLAIN " + token, 235)
        elif "LOGIN" in methods:
            await self._command("AUTH", b"AUTH LOGIN", 334)
            await self._command("AUTH", _b64(username), 334)
            await self._command("AUTH", _b64(password), 235)
        else:
            raise SmtpRefused("AUTH", Reply(504, "the server offers no PLAIN or LOGIN login"))

    async def _command(self, step: str, line: bytes, *wanted: int) -> Reply:
        return await self._expect(step, *wanted, sending=line + b"\r\n")

    async def _expect(self, step: str, *wanted: int, sending: bytes = b"") -> Reply:
        (reply,) = await self._exchange(sending, 1, before=True)
        if reply.code not in wanted:
            raise SmtpRefused(step, reply)
        return reply

    async def _exchange(self, data: bytes, replies: int, *, before: bool) -> list[Reply]:
        """Write ``data`` (if any), then read ``replies`` replies, all within one timeout.

        One timeout per exchange rather than per write and per reply: pipelined commands are
        answered together, and each timeout was a timer set and cancelled, several per e-mail
        (bench/README.md, "E-mail")."""
        written = False
        try:
            async with asyncio.timeout(self._timeout):
                if data:
                    try:
                        self._writer.write(data)
                        await self._writer.drain()
                    except RuntimeError as exc:  # the transport was closed already
                        raise SmtpConnectionLost(
                            f"connection lost: {exc}", before_message=before
                        ) from None
                written = True
                return [await self._reply(before=before) for _ in range(replies)]
        except TimeoutError:
            waited = "no reply within" if written else "the server took no data for"
            raise SmtpConnectionLost(
                f"{waited} {self._timeout:g} s", before_message=before
            ) from None
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError) as exc:
            raise SmtpConnectionLost(
                f"connection lost: {type(exc).__name__}", before_message=before
            ) from None

    async def _reply(self, *, before: bool) -> Reply:
        """One reply, its lines joined with newlines (codes and hyphens taken off)."""
        lines: list[str] = []
        while len(lines) < _MAX_REPLY_LINES:
            raw = await self._reader.readuntil(b"\n")
            code, more, text = raw[:3], raw[3:4], raw[4:].strip()
            if not code.isdigit() or more not in (b" ", b"-", b"\r", b"\n"):
                raise SmtpConnectionLost(f"not an SMTP reply: {raw[:80]!r}", before_message=before)
            lines.append(text.decode("utf-8", "replace"))
            if more != b"-":
                return Reply(int(code), "\n".join(lines))
        raise SmtpConnectionLost("a reply of too many lines", before_message=before)


def _b64(text: str) -> bytes:
    return b64encode(text.encode())
