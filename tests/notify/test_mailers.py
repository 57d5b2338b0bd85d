"""The mailers and settings on their own: SMTP login with the configured credentials, refusals
classified as permanent or not, ``send`` returning on the DATA reply with QUIT afterwards, and
the backend the settings choose."""

from __future__ import annotations

import asyncio
import ipaddress
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from pydantic import ValidationError

from servers.notify.delivery import DeliveryError, OutgoingEmail, build_email
from servers.notify.mailers import SesMailer, SmtpMailer, build_mailer
from servers.notify.models import Message
from servers.notify.settings import NotifySettings
from tests.notify.support import claimed_message
from ticketing.mailsink import Mailbox, SinkHandler
from ticketing.procs import free_port

# The test server asks for a login over plain TCP, which aiosmtpd rightly warns about.
pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")

HOST = "127.0.0.1"


def authenticate(
    server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
) -> AuthResult:
    ok = isinstance(data, LoginPassword) and (data.login, data.password) == (b"notify", b"s3cret")
    # Not handled here: aiosmtpd then answers 235 or 535 itself.
    return AuthResult(success=ok, handled=False)


@pytest.fixture
def guarded(tmp_path: Path) -> Iterator[tuple[Mailbox, int]]:
    """A sink that wants a login (over plain TCP: this is a test, not a relay)."""
    mailbox = Mailbox(tmp_path / "mail")
    port = free_port(HOST)
    controller = Controller(
        SinkHandler(mailbox),
        hostname=HOST,
        port=port,
        authenticator=authenticate,
        auth_required=True,
        auth_require_tls=False,
    )
    controller.start()
    try:
        yield mailbox, port
    finally:
        controller.stop()


async def test_smtp_logs_in_with_the_configured_credentials(
    guarded: tuple[Mailbox, int],
) -> None:
    mailbox, port = guarded
    mailer = SmtpMailer(HOST, port, username="notify", password="s3cret", timeout=5)
    assert await mailer.send(build_email(claimed_message())) is None
    await mailer.aclose()
    [received] = mailbox.messages()
    assert received.message_id == claimed_message().header_message_id


class Sessions(SinkHandler):
    """Notes the SMTP session (client address) each e-mail came over; optionally hangs up
    right after answering a DATA, as a server closing an idle session would; answers QUIT only
    once the test lets it."""

    def __init__(self, mailbox: Mailbox, *, hang_up: bool = False):
        super().__init__(mailbox)
        self.peers: list[object] = []
        self.hang_up = hang_up
        self.quits = 0
        self.release = threading.Event()
        self.release.set()

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.peers.append(session.peer)
        if self.hang_up:
            transport = server.transport
            assert transport is not None
            asyncio.get_running_loop().call_soon(transport.close)
        return await super().handle_DATA(server, session, envelope)

    async def handle_QUIT(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.quits += 1
        await asyncio.to_thread(self.release.wait, 10)
        return "221 Bye"


@contextmanager
def smtp_server(handler: Sessions) -> Iterator[int]:
    port = free_port(HOST)
    controller = Controller(handler, hostname=HOST, port=port)
    controller.start()
    try:
        yield port
    finally:
        handler.release.set()
        controller.stop()


def other(n: int) -> Message:
    return claimed_message(header_message_id=f"<msg_{n}@tickets.example.com>")


async def test_smtp_keeps_one_session_for_e_mail_after_e_mail(tmp_path: Path) -> None:
    """A session costs the handshake, greeting and EHLO before the first byte of an e-mail: one
    session carries them all, and only aclose says goodbye (waiting for the answer)."""
    handler = Sessions(Mailbox(tmp_path / "mail"))
    with smtp_server(handler) as port:
        mailer = SmtpMailer(HOST, port, timeout=5)
        for n in range(5):
            assert await mailer.send(build_email(other(n))) is None
        assert len(handler.mailbox.messages()) == 5
        assert len(set(handler.peers)) == 1
        assert handler.quits == 0

        handler.release.clear()
        closing = asyncio.create_task(mailer.aclose())
        done, _ = await asyncio.wait({closing}, timeout=0.2)
        assert not done, "aclose returned before the QUIT was answered"
        handler.release.set()
        await asyncio.wait_for(closing, 5)
        assert handler.quits == 1


async def test_smtp_sends_on_a_new_session_when_the_server_hung_up(tmp_path: Path) -> None:
    handler = Sessions(Mailbox(tmp_path / "mail"), hang_up=True)
    with smtp_server(handler) as port:
        mailer = SmtpMailer(HOST, port, timeout=5)
        for n in range(3):
            await mailer.send(build_email(other(n)))
        await mailer.aclose()
    received = [r.message_id for r in handler.mailbox.messages()]
    assert received == [other(n).header_message_id for n in range(3)]
    assert len(set(handler.peers)) == 3


async def test_smtp_ends_sessions_left_idle_too_long(tmp_path: Path) -> None:
    now = [0.0]
    handler = Sessions(Mailbox(tmp_path / "mail"))
    with smtp_server(handler) as port:
        mailer = SmtpMailer(HOST, port, timeout=5, max_idle_seconds=30, clock=lambda: now[0])
        await mailer.send(build_email(other(1)))
        now[0] = 31.0
        await mailer.send(build_email(other(2)))
        await mailer.aclose()
    assert len(set(handler.peers)) == 2
    assert handler.quits == 2  # the stale session's goodbye, then the last one's


async def test_smtp_wrong_credentials_are_permanent(guarded: tuple[Mailbox, int]) -> None:
    mailbox, port = guarded
    mailer = SmtpMailer(HOST, port, username="notify", password="wrong", timeout=5)
    with pytest.raises(DeliveryError) as caught:
        await mailer.send(build_email(claimed_message()))
    assert caught.value.permanent
    assert "535" in str(caught.value)
    assert mailbox.messages() == []


async def test_smtp_without_login_is_refused_by_a_server_that_wants_one(
    guarded: tuple[Mailbox, int],
) -> None:
    mailbox, port = guarded
    with pytest.raises(DeliveryError) as caught:
        await SmtpMailer(HOST, port, timeout=5).send(build_email(claimed_message()))
    assert "530" in str(caught.value)
    assert mailbox.messages() == []


def self_signed(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 that is its own CA, and its key."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test smtp")])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(datetime.now(UTC) - timedelta(minutes=5))
        .not_valid_after(datetime.now(UTC) + timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(HOST))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


class TlsCheckingSink(SinkHandler):
    """Records whether each e-mail came over an encrypted session."""

    def __init__(self, mailbox: Mailbox):
        super().__init__(mailbox)
        self.encrypted: list[bool] = []

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.encrypted.append(session.ssl is not None)
        return await super().handle_DATA(server, session, envelope)


@pytest.fixture
def tls_only(tmp_path: Path) -> Iterator[tuple[TlsCheckingSink, int, Path]]:
    cert, key = self_signed(tmp_path)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    handler = TlsCheckingSink(Mailbox(tmp_path / "mail"))
    port = free_port(HOST)
    controller = Controller(
        handler, hostname=HOST, port=port, tls_context=context, require_starttls=True
    )
    controller.start()
    try:
        yield handler, port, cert
    finally:
        controller.stop()


async def test_starttls_encrypts_and_verifies_the_server(
    tls_only: tuple[TlsCheckingSink, int, Path],
) -> None:
    handler, port, cert = tls_only
    untrusted = SmtpMailer(HOST, port, starttls=True, timeout=5)
    with pytest.raises(DeliveryError) as caught:
        await untrusted.send(build_email(claimed_message()))
    assert not caught.value.permanent
    assert "CERTIFICATE_VERIFY_FAILED" in str(caught.value)
    assert handler.mailbox.messages() == []

    trusted = SmtpMailer(HOST, port, starttls=True, ca_file=str(cert), timeout=5)
    await trusted.send(build_email(claimed_message()))
    assert len(handler.mailbox.messages()) == 1
    assert handler.encrypted == [True]


async def test_plain_smtp_is_refused_by_a_server_that_requires_starttls(
    tls_only: tuple[TlsCheckingSink, int, Path],
) -> None:
    handler, port, _ = tls_only
    with pytest.raises(DeliveryError) as caught:
        await SmtpMailer(HOST, port, timeout=5).send(build_email(claimed_message()))
    assert "530" in str(caught.value)
    assert handler.mailbox.messages() == []


def parsed(email: OutgoingEmail) -> EmailMessage:
    result = message_from_bytes(email.data, policy=default)
    assert isinstance(result, EmailMessage)
    return result


def test_the_email_carries_reply_to_only_when_configured() -> None:
    assert parsed(build_email(claimed_message()))["Reply-To"] is None
    email = parsed(build_email(claimed_message(), reply_to="help@tickets.example.com"))
    assert email["Reply-To"] == "help@tickets.example.com"


def test_headers_and_bodies_that_are_not_ascii_arrive_intact() -> None:
    text = claimed_message().model_copy(
        update={
            "sender": "Billets Évasion <no-reply@tickets.example.com>",
            "to": "zoe@example.com",
            "subject": "Votre surclassement « Non-stop » est confirmé",
            "text": "Bonjour Zoë,\nà bientôt — l'équipe\n",
            "html": "<p>Bonjour Zoë, à bientôt</p>\n",
        }
    )
    wire = build_email(text)
    assert wire.data.isascii()
    assert all(line.endswith(b"\r") for line in wire.data.split(b"\n")[:-1])
    email = parsed(wire)
    assert email["From"] == text.sender
    assert email["Subject"] == text.subject
    body = email.get_body(("plain",))
    assert body is not None
    assert isinstance(body, EmailMessage)
    assert body.get_content().replace("\r\n", "\n") == text.text
    assert wire.envelope_sender == "no-reply@tickets.example.com"


@pytest.fixture
def dev_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """The least a notify server needs configured: dev mode (the dev issuer) and a database."""
    monkeypatch.setenv("DEV_MODE", "1")
    monkeypatch.setenv("NOTIFY_DATABASE_URL", "postgresql://localhost/unused")


@pytest.mark.usefixtures("dev_env")
def test_settings_choose_the_backend(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NOTIFY_SMTP_PASSWORD", "s3cret")
    settings = NotifySettings(smtp_host="mail.example.com", smtp_port=587, smtp_starttls=True)
    assert "s3cret" not in repr(settings)
    assert isinstance(build_mailer(settings), SmtpMailer)
    assert isinstance(build_mailer(NotifySettings(mail_backend="ses")), SesMailer)
    assert NotifySettings().sender_domain == "tickets.example.com"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("mail_from", "Tickets <a@example.com>\r\nBcc: all@example.com"),
        ("mail_from", "no address here"),
        ("reply_to", "help@example.com\nX: y"),
        ("lease_seconds", 60),
    ],
)
@pytest.mark.usefixtures("dev_env")
def test_settings_refuse_header_injection_and_a_lease_shorter_than_a_send(
    field: str, value: object
) -> None:
    overrides: dict[str, Any] = {field: value}
    with pytest.raises(ValidationError, match=field):
        NotifySettings(**overrides)
