"""The local SMTP sink: keeps every e-mail it receives, for ``ticketing mail`` and the tests.

``python -m ticketing.mailsink`` listens for SMTP on ``MAIL_SINK_PORT`` (1025) and answers
``GET /health`` on ``MAIL_SINK_HTTP_PORT`` (8025), so that ``make run`` can wait for it like any
server. Each accepted e-mail is appended to a spool file under ``MAIL_SINK_DIR`` (``.dev/mail``),
one per sink process, and one JSON line describing it (with the spool's name, the e-mail's offset
and length in it) is appended to ``index.jsonl`` there. A file per e-mail cost more CPU to create
than everything else the sink does with an e-mail (bench/README.md, "E-mail").

Two views of that folder:

- :meth:`Mailbox.inbox` is what the recipient sees, as a real mailbox keeps it: one entry per
  Message-ID. An e-mail sent again with a Message-ID already there (a sender that crashed between
  the server's 250 and recording it as sent, see ``servers/notify/delivery.py``) is not a second
  entry, as Gmail drops it too; it counts in the entry's ``copies``. An e-mail without a
  Message-ID is always an entry of its own.
- :meth:`Mailbox.messages` is every SMTP transmission the sink accepted, repeats included, so
  that tests can tell how often the sender really sent.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import threading
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from email import message_from_bytes
from email.header import Header, decode_header, make_header
from email.message import EmailMessage
from email.parser import BytesHeaderParser
from email.policy import compat32, default
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, TextIO

# The servers' libraries are imported where the sink runs: `ticketing mail` reads the mailbox
# only and should start at once.
if TYPE_CHECKING:
    from aiosmtpd.smtp import SMTP, Envelope, Session
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse

DEFAULT_DIR = Path(".dev") / "mail"
_HEADERS = BytesHeaderParser(policy=compat32)
# The headers the index keeps (the parser's lookup ignores case too).
_INDEXED = ("message-id", "to", "subject")
# A field's name and its colon, as the email package's parser knows a header line (RFC 5322
# ftext: printable ASCII but the colon).
_FIELD_NAME = re.compile(r"[!-9;-~]+:")


def indexed_headers(data: bytes) -> tuple[str, str, str]:
    """An e-mail's Message-ID, To and Subject as the email package's compat32 parser reads its
    header block, RFC 2047 encoded words decoded, unfolded; "" for a header it does not have.

    A block of plain ASCII fields separated by CRLF, which is what senders write, is read here:
    the parser took a tenth of the sink's CPU per e-mail (bench/README.md, "E-mail"). Anything
    else (other line ends, bytes beyond ASCII, a line that is not a field) goes to the parser,
    which reads the body too, even for headers only, so it is given the header block alone.
    ``tests/ticketing/test_mail.py`` holds the two to the same answers over any header block."""
    end = data.find(b"\r\n\r\n")
    block = data if end < 0 else data[: end + 2]
    fields = _plain_fields(block) if end >= 0 else None
    if fields is None:
        headers = _HEADERS.parsebytes(block)
        message_id, to, subject = (_header(headers[name]) for name in _INDEXED)
    else:
        message_id, to, subject = (_ascii_header(fields.get(name, "")) for name in _INDEXED)
    return message_id, to, subject


def _header(value: str | Header | None) -> str:
    """A header's text as the parser gives it, RFC 2047 encoded words decoded, unfolded."""
    if value is None:
        return ""
    return str(make_header(decode_header(value))).replace("\r\n", "").replace("\n", "")


def _ascii_header(value: str) -> str:
    # Without "=?" there is no encoded word: building a Header for it was most of the cost, and
    # gives the value back unchanged.
    return _header(value) if "=?" in value else value.replace("\r\n", "")


def _plain_fields(block: bytes) -> dict[str, str] | None:
    """The first value of each field in a header block ending in CRLF, in compat32's reading
    (folded lines joined by their CRLF, blanks after the colon removed), by lower-case name;
    None when the block is not ASCII fields separated by CRLF."""
    if not block.isascii() or not block.count(b"\r") == block.count(b"\n") == block.count(b"\r\n"):
        return None
    fields: dict[str, str] = {}
    name = ""
    lines: list[str] = []
    for line in block.decode("ascii").split("\r\n")[:-1]:
        if line[:1] in (" ", "\t"):
            # A continuation before any field is kept under no name, as the parser drops it.
            lines.append(line)
            continue
        field = _FIELD_NAME.match(line)
        if field is None:
            return None
        if lines:
            fields.setdefault(name, "\r\n".join(lines))
        name = line[: field.end() - 1].lower()
        lines = [line[field.end() :].lstrip(" \t")]
    if lines:
        fields.setdefault(name, "\r\n".join(lines))
    return fields


SMTP_PORT = 1025
HTTP_PORT = 8025
INDEX = "index.jsonl"


@dataclass(frozen=True)
class Received:
    message_id: str
    to: str
    subject: str
    received_at: str
    recipients: list[str]
    file: str
    # Where the e-mail is in ``file``: older index lines have neither, their file is the e-mail.
    offset: int = 0
    length: int | None = None

    def summary(self) -> dict[str, str]:
        return {
            "message_id": self.message_id,
            "to": self.to,
            "subject": self.subject,
            "received_at": self.received_at,
        }


@dataclass(frozen=True)
class InboxEntry:
    """One e-mail as the recipient's mailbox shows it: the first copy received, and how many
    times it came over SMTP with the same Message-ID (``copies``, 1 when it was never repeated)."""

    first: Received
    copies: int
    last_received_at: str

    @property
    def message_id(self) -> str:
        return self.first.message_id

    @property
    def to(self) -> str:
        return self.first.to

    @property
    def subject(self) -> str:
        return self.first.subject

    @property
    def received_at(self) -> str:
        return self.first.received_at

    @property
    def file(self) -> str:
        return self.first.file

    def summary(self) -> dict[str, str | int]:
        return {**self.first.summary(), "copies": self.copies}


class Mailbox:
    """The sink's folder: the e-mails in spool files and an index of them.

    Each ``Mailbox`` that adds e-mails writes a spool of its own, so two writers never share
    one; the index lines are each one append. Both files stay open between e-mails, and are
    opened again once :meth:`clear` (from this or another process) removed them."""

    def __init__(self, directory: Path):
        self.directory = directory
        self._lock = threading.Lock()
        self._spool_name = f"{uuid.uuid4().hex}.spool"
        self._spool: BinaryIO | None = None
        self._index: TextIO | None = None

    def add(self, recipients: list[str], data: bytes) -> Received:
        # The index needs three headers: reading only those (and decoding only those) costs a
        # tenth of parsing the MIME tree, which made the sink slower than the sender it stands
        # in for (bench/README.md, "E-mail").
        message_id, to, subject = indexed_headers(data)
        now = datetime.now(UTC)
        with self._lock:
            spool, index = self._files()
            offset = spool.tell()
            spool.write(data)
            # Readers find e-mails through the index, whose line is written once the e-mail is.
            spool.flush()
            received = Received(
                message_id=message_id,
                to=to,
                subject=subject,
                received_at=now.isoformat(),
                recipients=list(recipients),
                file=self._spool_name,
                offset=offset,
                length=len(data),
            )
            # vars(), not asdict(): the fields are flat, and asdict copies each one deeply.
            index.write(json.dumps(vars(received)) + "\n")
            index.flush()
        return received

    def _files(self) -> tuple[BinaryIO, TextIO]:
        """The open spool and index, opened again when cleared away since."""
        if self._spool is None or os.fstat(self._spool.fileno()).st_nlink == 0:
            if self._spool is not None:
                self._spool.close()
            self.directory.mkdir(parents=True, exist_ok=True)
            self._spool = (self.directory / self._spool_name).open("ab")
        if self._index is None or os.fstat(self._index.fileno()).st_nlink == 0:
            if self._index is not None:
                self._index.close()
            self._index = (self.directory / INDEX).open("a", encoding="utf-8")
        return self._spool, self._index

    def close(self) -> None:
        """Close the files :meth:`add` keeps open."""
        with self._lock:
            for file in (self._spool, self._index):
                if file is not None:
                    file.close()
            self._spool = self._index = None

    def messages(self, to: str | None = None) -> list[Received]:
        """Every e-mail accepted over SMTP, oldest first, repeats included; with ``to``, only
        e-mails to that address."""
        try:
            lines = (self.directory / INDEX).read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            return []
        found = []
        for line in lines:
            try:
                item = Received(**json.loads(line))
            except (json.JSONDecodeError, TypeError):
                continue  # a line still being written
            if to is None or _addressed_to(item, to):
                found.append(item)
        return found

    def inbox(self, to: str | None = None) -> list[InboxEntry]:
        """The mailbox as its owner sees it, oldest first: repeated Message-IDs once each, with
        the number of transmissions in ``copies``; with ``to``, only e-mails to that address."""
        entries: list[list[Received]] = []
        by_id: dict[str, list[Received]] = {}
        for item in self.messages(to):
            key = item.message_id.strip()
            if not key:
                entries.append([item])
            elif key in by_id:
                by_id[key].append(item)
            else:
                by_id[key] = [item]
                entries.append(by_id[key])
        return [InboxEntry(copies[0], len(copies), copies[-1].received_at) for copies in entries]

    def raw(self, received: Received | InboxEntry) -> bytes:
        """The e-mail's bytes as they were received."""
        item = received.first if isinstance(received, InboxEntry) else received
        with (self.directory / item.file).open("rb") as file:
            file.seek(item.offset)
            return file.read() if item.length is None else file.read(item.length)

    def email(self, received: Received | InboxEntry) -> EmailMessage:
        parsed = message_from_bytes(self.raw(received), policy=default)
        assert isinstance(parsed, EmailMessage)
        return parsed

    def clear(self) -> int:
        """Delete every stored e-mail; returns how many the inbox held."""
        count = len(self.inbox())
        for pattern in ("*.spool", "*.eml"):
            for path in self.directory.glob(pattern):
                path.unlink()
        (self.directory / INDEX).unlink(missing_ok=True)
        return count


def _addressed_to(item: Received, address: str) -> bool:
    wanted = address.strip().lower()
    return wanted in (r.lower() for r in item.recipients) or wanted in item.to.lower()


class SinkHandler:
    """aiosmtpd handler: accepts every e-mail into a :class:`Mailbox`, and says it takes
    pipelined commands (RFC 2920), as aiosmtpd reads and answers them in order anyway."""

    def __init__(self, mailbox: Mailbox):
        self.mailbox = mailbox

    async def handle_EHLO(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        hostname: str,
        responses: list[str],
    ) -> list[str]:
        # With this hook aiosmtpd leaves noting the client's name to it.
        session.host_name = hostname
        return [*responses[:-1], "250-PIPELINING", responses[-1]]

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        data = envelope.original_content or b""
        received = self.mailbox.add([str(r) for r in envelope.rcpt_tos], data)
        return f"250 OK stored in {received.file} at {received.offset}"


def health_app() -> Starlette:
    from starlette.applications import Starlette
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    async def health(request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok", "service": "mail sink"})

    return Starlette(routes=[Route("/health", health)])


async def serve(host: str, smtp_port: int, http_port: int, directory: Path) -> None:
    """Run the sink until SIGINT/SIGTERM."""
    import uvicorn

    from ticketing.sink_smtp import SinkSMTP

    handler = SinkHandler(Mailbox(directory))
    loop = asyncio.get_running_loop()
    smtp = await loop.create_server(
        lambda: SinkSMTP(handler, hostname="mail-sink"), host, smtp_port
    )
    config = uvicorn.Config(
        health_app(), host=host, port=http_port, log_config=None, access_log=False
    )
    try:
        await uvicorn.Server(config).serve()
    finally:
        smtp.close()
        await smtp.wait_closed()
        handler.mailbox.close()


if __name__ == "__main__":
    import uvloop

    # On uvloop, as the servers run: asyncio's own loop took a fifth of the sink's CPU.
    uvloop.run(
        serve(
            os.environ.get("MAIL_SINK_HOST", "127.0.0.1"),
            int(os.environ.get("MAIL_SINK_PORT", SMTP_PORT)),
            int(os.environ.get("MAIL_SINK_HTTP_PORT", HTTP_PORT)),
            Path(os.environ.get("MAIL_SINK_DIR", DEFAULT_DIR)),
        )
    )
