"""The mailers and settings on their own: SMTP login with the configured credentials, refusals
classified as permanent or not, ``send`` returning on the DATA reply with QUIT afterwards, and
the backend the settings choose."""

from __future__ import annotations

import asyncio
import ipaddress
import ssl
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
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

from servers.notify.delivery import DeliveryError, build_email
from servers.notify.mailers import SesMailer, SmtpMailer, build_mailer
from servers.notify.models import Message
from servers.notify.settings import NotifySettings
from ticketing.mailsink import Mailbox, SinkHandler
from ticketing.procs import free_port

# The test server asks for a login over plain TCP, which aiosmtpd rightly warns about.
pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")

HOST = "127.0.0.1"
NOW = datetime(2030, 6, 3, 9, 0, tzinfo=UTC)


def message() -> Message:
    return Message(
        message_id="msg_" + "a" * 26,
        template="hold_expired",
        to="jane@example.com",
        subject="Your held seat was released",
        status="sending",
        reference=None,
        attempts=1,
        max_attempts=3,
        next_attempt_at=None,
        last_error=None,
        created_at=NOW,
        updated_at=NOW,
        sent_at=None,
        sender="Ticket Upgrades <no-reply@tickets.example.com>",
        header_message_id="<msg_aaaaaaaaaaaaaaaaaaaaaaaaaa@tickets.example.com>",
        text="Hello\n",
        html="<p>Hello</p>\n",
    )


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
    assert await mailer.send(build_email(message())) is None
    await mailer.aclose()
    [received] = mailbox.messages()
    assert received.message_id == message().header_message_id


class HeldQuit(SinkHandler):
    """Answers QUIT only once the test lets it."""

    def __init__(self, mailbox: Mailbox):
        super().__init__(mailbox)
        self.quit_seen = threading.Event()
        self.release = threading.Event()

    async def handle_QUIT(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.quit_seen.set()
        await asyncio.to_thread(self.release.wait, 10)
        return "221 Bye"


async def test_smtp_send_returns_on_the_data_reply_and_quits_afterwards(tmp_path: Path) -> None:
    """The caller records ``sent`` without waiting for the QUIT round trip: the shorter the time
    between the server taking an e-mail and that record, the fewer repeats after a crash."""
    handler = HeldQuit(Mailbox(tmp_path / "mail"))
    port = free_port(HOST)
    controller = Controller(handler, hostname=HOST, port=port)
    controller.start()
    try:
        mailer = SmtpMailer(HOST, port, timeout=5)
        sending = asyncio.create_task(mailer.send(build_email(message())))
        assert await asyncio.to_thread(handler.quit_seen.wait, 5), "the QUIT never came"
        assert sending.done(), "send waited for the answer to QUIT"
        assert sending.result() is None
        assert [r.message_id for r in handler.mailbox.messages()] == [message().header_message_id]
        closing = asyncio.create_task(mailer.aclose())
        done, _ = await asyncio.wait({closing}, timeout=0.2)
        assert not done, "aclose returned before the QUIT was answered"
        handler.release.set()
        await asyncio.wait_for(closing, 5)
    finally:
        handler.release.set()
        controller.stop()


async def test_smtp_wrong_credentials_are_permanent(guarded: tuple[Mailbox, int]) -> None:
    mailbox, port = guarded
    mailer = SmtpMailer(HOST, port, username="notify", password="wrong", timeout=5)
    with pytest.raises(DeliveryError) as caught:
        await mailer.send(build_email(message()))
    assert caught.value.permanent
    assert "535" in str(caught.value)
    assert mailbox.messages() == []


async def test_smtp_without_login_is_refused_by_a_server_that_wants_one(
    guarded: tuple[Mailbox, int],
) -> None:
    mailbox, port = guarded
    with pytest.raises(DeliveryError) as caught:
        await SmtpMailer(HOST, port, timeout=5).send(build_email(message()))
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
        await untrusted.send(build_email(message()))
    assert not caught.value.permanent
    assert "CERTIFICATE_VERIFY_FAILED" in str(caught.value)
    assert handler.mailbox.messages() == []

    trusted = SmtpMailer(HOST, port, starttls=True, ca_file=str(cert), timeout=5)
    await trusted.send(build_email(message()))
    assert len(handler.mailbox.messages()) == 1
    assert handler.encrypted == [True]


async def test_plain_smtp_is_refused_by_a_server_that_requires_starttls(
    tls_only: tuple[TlsCheckingSink, int, Path],
) -> None:
    handler, port, _ = tls_only
    with pytest.raises(DeliveryError) as caught:
        await SmtpMailer(HOST, port, timeout=5).send(build_email(message()))
    assert "530" in str(caught.value)
    assert handler.mailbox.messages() == []


def test_the_email_carries_reply_to_only_when_configured() -> None:
    assert build_email(message())["Reply-To"] is None
    email = build_email(message(), reply_to="help@tickets.example.com")
    assert email["Reply-To"] == "help@tickets.example.com"


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
