"""The two ways out: SMTP (the local sink, or any relay) and Amazon SES v2."""

from __future__ import annotations

import asyncio
from email.message import EmailMessage
from functools import partial
from typing import TYPE_CHECKING

import aiosmtplib
import anyio.to_thread
import boto3
from botocore.exceptions import BotoCoreError, ClientError

from .delivery import DeliveryError, Mailer
from .settings import NotifySettings

if TYPE_CHECKING:
    from mypy_boto3_sesv2 import SESV2Client
    from mypy_boto3_sesv2.type_defs import SendEmailRequestTypeDef


class SmtpMailer:
    """One SMTP connection per e-mail: nothing to keep alive, nothing stale after a restart.

    :meth:`send` returns as soon as the server has answered the end of DATA: the QUIT that ends
    the session happens afterwards, in the background, so that the caller records ``sent``
    without waiting a round trip more. Between the server taking an e-mail and that record, a
    crash means the e-mail is sent again (see ``delivery.py``); this keeps that window as short as
    SMTP allows. :meth:`aclose` waits for the sessions still saying goodbye."""

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
    ):
        self._host = host
        self._port = port
        self._starttls = starttls
        self._ca_file = ca_file
        self._username = username
        self._password = password
        self._timeout = timeout
        self._closing: set[asyncio.Task[None]] = set()

    async def send(self, email: EmailMessage) -> str | None:
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
            await client.send_message(email)
        except aiosmtplib.SMTPRecipientsRefused as exc:
            client.close()
            codes = [r.code for r in exc.recipients]
            detail = "; ".join(f"{r.code} {r.message}" for r in exc.recipients)
            raise DeliveryError(
                f"recipient refused: {detail}", permanent=all(500 <= c < 600 for c in codes)
            ) from None
        except aiosmtplib.SMTPResponseException as exc:
            client.close()
            raise DeliveryError(
                f"SMTP {exc.code} {exc.message}", permanent=500 <= exc.code < 600
            ) from None
        except (aiosmtplib.SMTPException, OSError) as exc:
            client.close()
            raise DeliveryError(
                f"SMTP server {self._host}:{self._port} unreachable: {type(exc).__name__}: {exc}",
                permanent=False,
            ) from None
        except BaseException:
            client.close()
            raise
        # Accepted: the e-mail is the server's now, whatever becomes of the QUIT.
        task = asyncio.create_task(_quit(client))
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)
        return None

    async def aclose(self) -> None:
        """Wait for the QUITs still under way (each bounded by the timeout)."""
        while self._closing:
            await asyncio.gather(*self._closing, return_exceptions=True)


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

    async def send(self, email: EmailMessage) -> str | None:
        request: SendEmailRequestTypeDef = {
            "FromEmailAddress": str(email["From"]),
            "Destination": {"ToAddresses": [str(email["To"])]},
            "Content": {"Raw": {"Data": email.as_bytes()}},
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
