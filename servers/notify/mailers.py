"""The two ways out: SMTP (the local sink, or any relay) and Amazon SES v2."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING

import aiosmtplib
import anyio.to_thread
import boto3
from botocore.exceptions import BotoCoreError, ClientError

from .delivery import DeliveryError, Mailer, OutgoingEmail
from .settings import NotifySettings

if TYPE_CHECKING:
    from mypy_boto3_sesv2 import SESV2Client
    from mypy_boto3_sesv2.type_defs import SendEmailRequestTypeDef


class SmtpMailer:
    """SMTP sessions kept open and reused: at most one per send under way (the delivery worker
    bounds how many run at once), each taking e-mail after e-mail.

    Opening a session costs the TCP handshake, the greeting and EHLO (and STARTTLS and the login
    where configured) before the first byte of an e-mail; a relay, like the local sink, sees a
    few long sessions, as from any mail server. :meth:`send` returns as soon as the server has
    answered the end of DATA, so the caller records ``sent`` at once (see ``delivery.py``).

    A session the server closed while it sat idle shows when the next e-mail starts (its MAIL
    FROM finds the connection gone, before anything was taken), and that e-mail goes out on a new
    session. A session left in an unknown state by an error is dropped, never reused; sessions
    idle longer than ``max_idle_seconds`` are ended with a QUIT. :meth:`aclose` QUITs the rest.
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
        clock: Callable[[], float] = time.monotonic,
    ):
        self._host = host
        self._port = port
        self._starttls = starttls
        self._ca_file = ca_file
        self._username = username
        self._password = password
        self._timeout = timeout
        self._max_idle = max_idle_seconds
        self._clock = clock
        self._idle: list[tuple[aiosmtplib.SMTP, float]] = []  # (session, idle since), LIFO
        self._closing: set[asyncio.Task[None]] = set()

    async def send(self, email: OutgoingEmail) -> str | None:
        while (client := self._take_idle()) is not None:
            try:
                await _transmit(client, email)
            except aiosmtplib.SMTPServerDisconnected:
                client.close()  # gone while idle; nothing was taken: on to another session
                continue
            except BaseException as exc:
                client.close()
                raise _delivery_error(exc, self._host, self._port) from None
            self._idle.append((client, self._clock()))
            return None
        client = aiosmtplib.SMTP(
            hostname=self._host,
            port=self._port,
            start_tls=self._starttls,
            cert_bundle=self._ca_file,
            username=self._username,
            password=self._password,
            timeout=self._timeout,
        )
        try:
            await client.connect()
            await _transmit(client, email)
        except BaseException as exc:
            client.close()
            raise _delivery_error(exc, self._host, self._port) from None
        self._idle.append((client, self._clock()))
        return None

    def _take_idle(self) -> aiosmtplib.SMTP | None:
        """The most recently used open session; those idle too long are ended on the way."""
        now = self._clock()
        while self._idle:
            client, since = self._idle.pop()
            if now - since <= self._max_idle and client.is_connected:
                return client
            self._quit_later(client)
        return None

    def _quit_later(self, client: aiosmtplib.SMTP) -> None:
        task = asyncio.create_task(_quit(client))
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    async def aclose(self) -> None:
        """QUIT every open session and wait for the goodbyes (each bounded by the timeout)."""
        while self._idle:
            self._quit_later(self._idle.pop()[0])
        while self._closing:
            await asyncio.gather(*self._closing, return_exceptions=True)


async def _transmit(client: aiosmtplib.SMTP, email: OutgoingEmail) -> None:
    await client.sendmail(email.envelope_sender, [email.to], email.data)


def _delivery_error(exc: BaseException, host: str, port: int) -> BaseException:
    """What a failed SMTP step means for the e-mail: refused for good (5xx), refused for now
    (4xx), or the server out of reach. Anything else (a cancellation) passes through."""
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
        codes = [r.code for r in exc.recipients]
        detail = "; ".join(f"{r.code} {r.message}" for r in exc.recipients)
        return DeliveryError(
            f"recipient refused: {detail}", permanent=all(500 <= c < 600 for c in codes)
        )
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        return DeliveryError(f"SMTP {exc.code} {exc.message}", permanent=500 <= exc.code < 600)
    if isinstance(exc, aiosmtplib.SMTPException | OSError):
        return DeliveryError(
            f"SMTP server {host}:{port} unreachable: {type(exc).__name__}: {exc}",
            permanent=False,
        )
    return exc


async def _quit(client: aiosmtplib.SMTP) -> None:
    try:
        await client.quit()
    except (aiosmtplib.SMTPException, OSError):
        pass  # a server that hangs up without answering QUIT keeps what it accepted
    finally:
        client.close()


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
    )
