"""The delivery worker: claims due messages from the outbox and hands them to a mailer.

Claims are short transactions (``FOR UPDATE SKIP LOCKED``, so several workers never take the
same message) that set a lease; the send happens outside any transaction; the outcome is written
only if the lease is still ours. A worker that dies mid-send leaves its claims to expire, and the
next worker sends them again.

Delivery is at least once, with a stable Message-ID. SMTP and SES acknowledge a message only after
taking it, so a crash between the server taking it and ``mark_sent`` committing means a resend, and
no sender can do better (RFC 1047). The window is kept as short as the protocol allows: the mailer
returns on the server's answer to DATA (its session stays open for the next e-mail) and ``sent`` is
recorded at once, with the marks of the other sends that finished while the previous marks were
being written (:class:`SentMarks`, a group commit). What remains is the time the server takes
between reading the whole message and answering, plus one UPDATE. The resend carries the same
Message-ID, so the receiving mailbox drops it, as Gmail does and as the local sink
(``ticketing/mailsink.py``) does: the customer sees the e-mail once. In the kill -9 test
(``tests/notify/test_crash.py``) the repeats at the SMTP level stay below the number of messages
in flight at the kill.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import re
import secrets
from dataclasses import dataclass
from datetime import timedelta
from email.header import Header
from email.utils import format_datetime, formataddr, parseaddr
from typing import Protocol

from servers.core.backoff import Backoff
from servers.core.clock import Clock
from servers.core.db import Database

from . import repository as repo
from .models import Message

log = logging.getLogger(__name__)


class DeliveryError(Exception):
    """A send that did not go through; ``permanent`` when trying again cannot help."""

    def __init__(self, message: str, *, permanent: bool):
        super().__init__(message)
        self.permanent = permanent


@dataclass(frozen=True)
class OutgoingEmail:
    """One e-mail as it goes on the wire: who it is from (the From header, and its bare address
    for the SMTP envelope), the recipient, and the MIME bytes, CRLF line ends."""

    sender: str
    envelope_sender: str
    to: str
    data: bytes


class Mailer(Protocol):
    async def send(self, email: OutgoingEmail) -> str | None:
        """Hand one e-mail over; returns the provider's id for it, if it gives one.

        Raises :class:`DeliveryError` when the e-mail was not accepted. Returns as soon as the
        provider has accepted it; anything left to do with the connection happens afterwards."""
        ...

    async def aclose(self) -> None:
        """Finish what :meth:`send` left under way (e.g. SMTP QUITs)."""
        ...


_LINE_LIMIT = 998  # RFC 5322 §2.1.1
_CRLF = "\r\n"
# In a header, CR or LF would start a header of its own; no other ASCII control but the tab
# belongs there either (RFC 5322 §2.2), and none comes out of a template.
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")


def build_email(message: Message, *, reply_to: str | None = None) -> OutgoingEmail:
    """The MIME e-mail of a message: text and HTML alternatives, each in quoted-printable, and
    headers that stay the same on every attempt (Message-ID, Date).

    Written out here, byte for byte as the email package's compat32 ``MIMEMultipart`` would
    write it (``tests/notify/test_build_email.py`` holds the two to the same bytes), without what
    made that the notify server's largest cost per e-mail (bench/README.md, "E-mail"): it
    refolds every header through ``Header`` and compiles a regex per e-mail to make sure its
    boundary is in no part. Here a header is written as it is when it fits on a line, and
    the boundary starts with "=_", which no quoted-printable text can hold (an "=" there is
    always "=XX" or a soft line break)."""
    headers = {
        "From": message.sender,
        "To": message.to,
        "Subject": message.subject,
        "Date": format_datetime(message.created_at),
        "Message-ID": message.header_message_id,
    }
    if reply_to:
        headers["Reply-To"] = reply_to
    boundary = f"=_{secrets.token_hex(16)}"
    lines = [
        f'Content-Type: multipart/alternative; boundary="{boundary}"',
        "MIME-Version: 1.0",
    ]
    for name, value in headers.items():
        if _CONTROL.search(value):
            raise ValueError(f"line break or control character in the {name} header")
        lines.append(_header(name, value))
    # The headers, a blank line, then each part after its delimiter line, then the last one.
    wire = (
        f"{_CRLF.join(lines)}{_CRLF}{_CRLF}--{boundary}{_CRLF}{_part('plain', message.text)}"
        f"{_CRLF}--{boundary}{_CRLF}{_part('html', message.html)}{_CRLF}--{boundary}--{_CRLF}"
    )
    return OutgoingEmail(
        sender=message.sender,
        envelope_sender=_envelope_sender(message.sender),
        to=message.to,
        data=wire.encode("ascii"),
    )


@functools.lru_cache(maxsize=16)
def _envelope_sender(sender: str) -> str:
    # A server sends from one or two addresses, and parsing one costs a tenth of the build.
    return parseaddr(sender)[1]


def _header(name: str, value: str) -> str:
    """One header line as compat32 writes it: an ASCII value as it is, folded only where it
    would not fit on a line; otherwise RFC 2047 encoded words (for an address, the display
    name only)."""
    if not value.isascii():
        if name not in {"From", "To", "Reply-To"}:
            encoded = Header(value, "utf-8", header_name=name)
            return f"{name}: {encoded.encode(linesep=_CRLF, maxlinelen=_LINE_LIMIT)}"
        value = formataddr(parseaddr(value), charset="utf-8")
    if len(name) + 2 + len(value) <= _LINE_LIMIT:
        return f"{name}: {value}"
    folded = Header(value, header_name=name).encode(linesep=_CRLF, maxlinelen=_LINE_LIMIT)
    return f"{name}: {folded}"


def _part(subtype: str, text: str) -> str:
    body = _quoted_printable(text.encode("utf-8"))
    return (
        f"MIME-Version: 1.0{_CRLF}"
        f'Content-Type: text/{subtype}; charset="utf-8"{_CRLF}'
        f"Content-Transfer-Encoding: quoted-printable{_CRLF}{_CRLF}{body}"
    )


_QP_LINE = 76  # RFC 2045 §6.7, soft line break included
# Bytes quoted-printable leaves as they are: tab, CR, LF and printable ASCII but "=".
_QP_SAFE = bytes([9, 10, 13, *range(32, 61), *range(62, 127)])
_QP_FAST = _QP_SAFE + b"="  # what the common case (below) handles
_QP_TABLE = [chr(c) if c in _QP_SAFE else f"={c:02X}" for c in range(256)]


def _quoted_printable(data: bytes) -> str:
    """``email.quoprimime.body_encode(data.decode("latin-1"), eol="\\r\\n")``, byte for byte
    (how the compat32 classes encode a part).

    quoprimime quotes through ``str.translate`` with a table of strings, a lookup per character
    that was most of its time (about 36 of 49 µs for the confirmation e-mail's HTML). Our
    templates write ASCII, where "=" is the only character to quote: one ``replace``. Anything
    else still goes through the table. The line breaking after it is quoprimime's own."""
    if not data:
        return ""
    if data.translate(None, _QP_FAST):
        body = data.decode("latin-1").translate(_QP_TABLE)
    else:
        body = data.decode("ascii").replace("=", "=3D")
    encoded: list[str] = []
    append = encoded.append
    # Only CR and LF are left unquoted among the characters splitlines() breaks at.
    for line in body.splitlines():
        # Pieces of at most _QP_LINE - 1 characters and a soft break, never splitting an "=XX".
        start = 0
        last_start = len(line) - 1 - _QP_LINE
        while start <= last_start:
            stop = start + _QP_LINE - 1
            if line[stop - 2] == "=":
                append(line[start : stop - 1])
                start = stop - 2
            elif line[stop - 1] == "=":
                append(line[start:stop])
                start = stop - 1
            else:
                append(line[start:stop] + "=")
                start = stop
        # Whitespace ending a line is quoted, as a decoder may drop it (RFC 2045 §6.7 (3)).
        if line and line[-1] in " \t":
            room = start - last_start
            if room >= 3:
                end = f"={ord(line[-1]):02X}"
            elif room == 2:
                end = line[-1] + "=" + _CRLF
            else:
                end = "=" + _CRLF + f"={ord(line[-1]):02X}"
            append(line[start:-1] + end)
        else:
            append(line[start:])
    if body[-1] in "\r\n":
        append("")
    return _CRLF.join(encoded)


class SentMarks:
    """Records sends as ``sent`` in groups: a send's mark goes out at once when no write is
    under way, else with every other mark that arrived meanwhile, in the next write. The
    database takes one statement per group instead of a transaction per e-mail, and no mark
    waits for more than the write ahead of it."""

    def __init__(self, db: Database, clock: Clock):
        self._db = db
        self._clock = clock
        self._waiting: list[tuple[str, str, str | None, asyncio.Future[bool]]] = []
        self._writer: asyncio.Task[None] | None = None

    async def mark(self, message_id: str, token: str, provider_id: str | None) -> bool:
        """False when the claim was lost (its lease ran out and another worker took it)."""
        kept: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._waiting.append((message_id, token, provider_id, kept))
        if self._writer is None:
            self._writer = asyncio.create_task(self._write())
        return await kept

    async def _write(self) -> None:
        group: list[tuple[str, str, str | None, asyncio.Future[bool]]] = []
        try:
            while self._waiting:
                group, self._waiting = self._waiting, []
                try:
                    async with self._db.autocommit() as tx:  # one statement
                        held = await repo.mark_sent(
                            tx, [(m, t, p) for m, t, p, _ in group], self._clock()
                        )
                except Exception as exc:
                    # Each send hears it and logs its own message (DeliveryWorker.run_once).
                    for *_, kept in group:
                        if not kept.done():
                            kept.set_exception(exc)
                    continue
                for message_id, _, _, kept in group:
                    if not kept.done():  # its send may have been cancelled meanwhile
                        kept.set_result(message_id in held)
        finally:
            self._writer = None
            # Stopped mid-write (shutting down): no send waits for a mark that cannot come.
            for *_, kept in [*group, *self._waiting]:
                kept.cancel()


class _Starts:
    """Tells when every send of a round has taken an SMTP slot."""

    def __init__(self, sends: int):
        self._left = sends
        self.all = asyncio.Event()
        if sends == 0:
            self.all.set()

    def one(self) -> None:
        self._left -= 1
        if self._left == 0:
            self.all.set()


class DeliveryWorker:
    def __init__(
        self,
        db: Database,
        mailer: Mailer,
        *,
        backoff: Backoff,
        clock: Clock,
        lease: timedelta,
        batch: int = 20,
        concurrency: int = 8,
        poll_seconds: float = 2.0,
        reply_to: str | None = None,
    ):
        self._db = db
        self._mailer = mailer
        self._backoff = backoff
        self._clock = clock
        self._lease = lease
        self._batch = batch
        self._slots = asyncio.Semaphore(concurrency)
        self._poll = poll_seconds
        self._reply_to = reply_to
        self._wake = asyncio.Event()
        self._sent = SentMarks(db, clock)

    def wake(self) -> None:
        """Something was queued: look now rather than at the next poll."""
        self._wake.set()

    async def run_once(self) -> int:
        """One round: claim what is due and deliver it. Returns how many were claimed."""
        token, claimed = await self._claim()
        await self._deliver_all(claimed, token, _Starts(len(claimed)))
        return len(claimed)

    async def run(self, stop: asyncio.Event) -> None:
        """Deliver until ``stop`` is set; the rounds under way are finished first.

        A full round means more is due: the next is claimed as soon as every send of this one
        has taken an SMTP slot, so the slots never wait for the last sends of a round and a
        claim. At most one round waits for slots, so no more than a round plus the slots'
        worth of messages are claimed and unsent at any time (bench/README.md, "E-mail")."""
        rounds: set[asyncio.Task[None]] = set()
        try:
            while not stop.is_set():
                self._wake.clear()
                try:
                    token, claimed = await self._claim()
                except Exception:
                    log.exception("delivery round failed; trying again shortly")
                    token, claimed = "", []
                if claimed:
                    starts = _Starts(len(claimed))
                    round_ = asyncio.create_task(self._deliver_all(claimed, token, starts))
                    rounds.add(round_)
                    round_.add_done_callback(rounds.discard)
                    if len(claimed) >= self._batch and not stop.is_set():
                        # Every send counts itself first thing in its slot, so this comes
                        # unless the round is cancelled, and then so is this loop.
                        await starts.all.wait()
                        continue
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self._poll)
        except asyncio.CancelledError:
            # Told to stop now (the server's shutdown ran out of time): so are the sends.
            for round_ in rounds:
                round_.cancel()
            raise
        finally:
            if rounds:
                await asyncio.gather(*rounds, return_exceptions=True)

    async def _claim(self) -> tuple[str, list[Message]]:
        token = secrets.token_hex(16)
        now = self._clock()
        # Two statements, each whole on its own: a claim lapsed for good is dead whether or not
        # this worker then claims anything.
        async with self._db.autocommit() as tx:
            for message_id in await repo.exhausted_leases(tx, now=now, limit=self._batch):
                log.warning("message %s is dead: its last attempt never finished", message_id)
            claimed = await repo.claim_due(
                tx, now=now, lease_until=now + self._lease, token=token, limit=self._batch
            )
        return token, claimed

    async def _deliver_all(self, claimed: list[Message], token: str, starts: _Starts) -> None:
        # Each outcome on its own: one message whose outcome could not be recorded (the
        # database went away) must not abandon the others mid-send.
        outcomes = await asyncio.gather(
            *(self._deliver(message, token, starts) for message in claimed),
            return_exceptions=True,
        )
        for message, outcome in zip(claimed, outcomes, strict=True):
            if isinstance(outcome, Exception):
                log.error(
                    "message %s: outcome not recorded; retried once its lease runs out",
                    message.message_id,
                    exc_info=outcome,
                )

    async def _deliver(self, message: Message, token: str, starts: _Starts) -> None:
        async with self._slots:
            starts.one()
            try:
                provider_id = await self._mailer.send(build_email(message, reply_to=self._reply_to))
            except DeliveryError as exc:
                await self._failed(message, token, str(exc), permanent=exc.permanent)
                return
            except Exception as exc:
                log.exception("sending message %s failed unexpectedly", message.message_id)
                await self._failed(message, token, f"unexpected {type(exc).__name__}", False)
                return
        # A slot bounds the SMTP sends: the next one starts while this one's mark is written.
        kept = await self._sent.mark(message.message_id, token, provider_id)
        if kept:
            log.info("message %s sent (attempt %d)", message.message_id, message.attempts)
        else:
            log.warning("message %s sent after its lease ran out", message.message_id)

    async def _failed(self, message: Message, token: str, error: str, permanent: bool) -> None:
        now = self._clock()
        retry_at = None
        if not permanent and message.attempts < message.max_attempts:
            retry_at = now + self._backoff.delay(message.attempts)
        async with self._db.autocommit() as tx:  # one statement
            await repo.mark_failed(tx, message.message_id, token, error, retry_at, now)
        if retry_at is None:
            log.warning("message %s is dead: %s", message.message_id, error)
        else:
            log.info("message %s failed, retry at %s", message.message_id, retry_at.isoformat())
