"""The two ways out: SMTP (the local sink, or any relay) and Amazon SES v2."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import time
from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING

import anyio.to_thread
import boto3
from botocore.exceptions import BotoCoreError, ClientError

from .delivery import DeliveryError, Mailer, OutgoingEmail
from .settings import NotifySettings
from .smtp import SmtpConnectionLost, SmtpError, SmtpRefused, SmtpSession

if TYPE_CHECKING:
    from mypy_boto3_sesv2 import SESV2Client
    from mypy_boto3_sesv2.type_defs import SendEmailRequestTypeDef


class SmtpMailer:
    """SMTP sessions kept open and reused: at most one per send under way (the delivery worker
    bounds how many run at once), each taking e-mail after e-mail, its commands pipelined when
    the server offers it (``smtp.py``).

    Opening a session costs the TCP handshake, the greeting and EHLO (and STARTTLS and the login
    where configured) before the first byte of an e-mail; a relay, like the local sink, sees a
    few long sessions, as from any mail server. :meth:`send` returns as soon as the server has
    answered the end of DATA, so the caller records ``sent`` at once (see ``delivery.py``).

    A session the server closed while it sat idle shows when the next e-mail starts (its
    commands find the connection gone before any of the e-mail was sent), and that e-mail goes
    out on a new session. A session that fails once the e-mail's content went out raises: the
    server may have taken it, and only the worker's retry (same Message-ID) may send it again.
    A session left in an unknown state by an error is dropped, never reused; sessions idle
    longer than ``max_idle_seconds`` are ended with a QUIT. :meth:`aclose` QUITs the rest.
    """

    def __init__(
        self,
        host: str,
        port: int,
        *,
        starttls: bool = False,
        ca_file: str | None = None,
        username: str | None = None,
        password: str | None = None,
        timeout: float = 30.0,
        max_idle_seconds: float = 30.0,
        pipelining: bool = True,
        clock: Callable[[], float] = time.monotonic,
    ):
        self._host = host
        self._port = port
        self._tls = ssl.create_default_context(cafile=ca_file) if starttls else None
        self._username = username
        self._password = password
        self._timeout = timeout
        self._max_idle = max_idle_seconds
        self._pipelining = pipelining
        self._clock = clock
        self._idle: list[tuple[SmtpSession, float]] = []  # (session, idle since), LIFO
        self._closing: set[asyncio.Task[None]] = set()

    async def send(self, email: OutgoingEmail) -> str | None:
        while (session := self._take_idle()) is not None:
            try:
                await session.send(email.envelope_sender, email.to, email.data)
            except SmtpConnectionLost as exc:
                session.close()
                if exc.before_message:
                    continue  # gone while idle; nothing was taken: on to another session
                raise _delivery_error(exc, self._host, self._port) from None
            except BaseException as exc:
                session.close()
                raise _delivery_error(exc, self._host, self._port) from None
            self._idle.append((session, self._clock()))
            return None
        try:
            session = await SmtpSession.open(
                self._host,
                self._port,
                command_timeout=self._timeout,
                pipelining=self._pipelining,
                tls=self._tls,
                username=self._username,
                password=self._password,
            )
        except BaseException as exc:
            raise _delivery_error(exc, self._host, self._port) from None
        try:
            await session.send(email.envelope_sender, email.to, email.data)
        except BaseException as exc:
            session.close()
            raise _delivery_error(exc, self._host, self._port) from None
        self._idle.append((session, self._clock()))
        return None

    def _take_idle(self) -> SmtpSession | None:
        """The most recently used open session; those idle too long are ended on the way."""
        now = self._clock()
        while self._idle:
            session, since = self._idle.pop()
            if now - since <= self._max_idle and session.is_open:
                return session
            self._quit_later(session)
        return None

    def _quit_later(self, session: SmtpSession) -> None:
        task = asyncio.create_task(_quit(session))
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    async def aclose(self) -> None:
        """QUIT every open session and wait for the goodbyes (each bounded by the timeout)."""
        while self._idle:
            self._quit_later(self._idle.pop()[0])
        while self._closing:
            await asyncio.gather(*self._closing, return_exceptions=True)


def _delivery_error(exc: BaseException, host: str, port: int) -> BaseException:
    """What a failed SMTP step means for the e-mail: refused for good (5xx), refused for now
    (4xx), or the server out of reach. Anything else (a cancellation) passes through."""
    if isinstance(exc, SmtpRefused):
        code, text = exc.reply.code, exc.reply.text.replace("\n", " ")
        what = "recipient refused: " if exc.step == "RCPT" else "SMTP "
        return DeliveryError(f"{what}{code} {text}", permanent=500 <= code < 600)
    # Before ValueError: a certificate that fails verification is both.
    if isinstance(exc, SmtpError | OSError):
        return DeliveryError(
            f"SMTP server {host}:{port} unreachable: {type(exc).__name__}: {exc}",
            permanent=False,
        )
    if isinstance(exc, ValueError):  # an envelope address no SMTP server could take
        return DeliveryError(str(exc), permanent=True)
    return exc


async def _quit(session: SmtpSession) -> None:
    # A server that hangs up without answering QUIT keeps what it accepted.
    with contextlib.suppress(SmtpError, OSError):
        await session.quit()


# Errors of SendEmail that the same request will meet again; the others pass with time.
SES_PERMANENT = frozenset(
    {
        "MessageRejected",
        "MailFromDomainNotVerifiedException",
        "AccountSuspendedException",
        "NotFoundException",
        "BadRequestException",
    }
)


class SesMailer:
    """Amazon SES v2 ``SendEmail`` with the raw MIME e-mail, the same bytes SMTP would carry.

    boto3 is synchronous, so each call runs in a worker thread."""

    def __init__(self, client: SESV2Client, *, configuration_set: str | None = None):
        self._client = client
        self._configuration_set = configuration_set

    async def send(self, email: OutgoingEmail) -> str | None:
        request: SendEmailRequestTypeDef = {
            "FromEmailAddress": email.sender,
            "Destination": {"ToAddresses": [email.to]},
            "Content": {"Raw": {"Data": email.data}},
        }
        if self._configuration_set:
            request["ConfigurationSetName"] = self._configuration_set
        try:
            response = await anyio.to_thread.run_sync(partial(self._client.send_email, **request))
        except ClientError as exc:
            error = exc.response.get("Error", {})
            code = str(error.get("Code") or "Unknown")
            message = str(error.get("Message") or "")[:300]
            raise DeliveryError(
                f"SES {code}: {message}".rstrip(": "), permanent=code in SES_PERMANENT
            ) from None
        except BotoCoreError as exc:
            raise DeliveryError(f"SES unreachable: {type(exc).__name__}", permanent=False) from None
        return response["MessageId"]

    async def aclose(self) -> None:
        """Nothing to close: each call is a request of its own."""


def build_mailer(settings: NotifySettings) -> Mailer:
    if settings.mail_backend == "ses":
        client: SESV2Client = boto3.session.Session(region_name=settings.aws_region).client("sesv2")
        return SesMailer(client, configuration_set=settings.ses_configuration_set)
    password = settings.smtp_password
    return SmtpMailer(
        settings.smtp_host,
        settings.smtp_port,
        starttls=settings.smtp_starttls,
        ca_file=settings.smtp_ca_file,
        username=settings.smtp_username,
        password=password.get_secret_value() if password is not None else None,
        timeout=settings.smtp_timeout_seconds,
        pipelining=settings.smtp_pipelining,
    )
