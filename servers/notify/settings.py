"""Settings of the notify server (env prefix ``NOTIFY_``)."""

from __future__ import annotations

from email.headerregistry import Address
from email.utils import parseaddr
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import SettingsConfigDict

from servers.core.settings import DatabaseSettings, ServerSettings

LEASE_PER_TIMEOUT = 4


def _single_line(value: str | None) -> str | None:
    if value is not None and ("\r" in value or "\n" in value):
        raise ValueError("must be a single line (no CR or LF)")
    return value


class NotifySettings(DatabaseSettings, ServerSettings):
    model_config = SettingsConfigDict(env_prefix="NOTIFY_")

    mail_backend: Literal["smtp", "ses"] = Field(
        "smtp", description="smtp (any SMTP server; the local sink) or ses (Amazon SES v2)."
    )
    mail_from: str = Field(
        "Ticket Upgrades <no-reply@tickets.example.com>",
        description="From header of every e-mail: an address, optionally with a display name.",
    )
    reply_to: str | None = Field(None, description="Reply-To header, when replies go elsewhere.")
    smtp_host: str = Field("127.0.0.1", description="SMTP server host.")
    smtp_port: int = Field(1025, ge=1, le=65535, description="SMTP server port.")
    smtp_starttls: bool = Field(False, description="Upgrade the SMTP connection with STARTTLS.")
    smtp_ca_file: str | None = Field(
        None,
        description="PEM file of the CA that signed the SMTP server's certificate, when it is "
        "not a publicly trusted one (STARTTLS always verifies the certificate).",
    )
    smtp_username: str | None = Field(None, description="SMTP user name, when it needs a login.")
    smtp_password: SecretStr | None = Field(None, description="SMTP password.")
    smtp_timeout_seconds: float = Field(
        30.0,
        gt=0,
        le=300,
        description="Timeout of each SMTP exchange: a command and its reply (MAIL, RCPT and "
        "DATA together when pipelined), or an e-mail and its reply.",
    )
    smtp_pipelining: bool = Field(
        True,
        description="Send MAIL, RCPT and DATA together when the SMTP server offers PIPELINING "
        "(RFC 2920); off: one command at a time.",
    )
    ses_configuration_set: str | None = Field(
        None, description="SES configuration set for sending events (ses backend)."
    )
    max_attempts: int = Field(
        6, ge=1, le=50, description="Delivery attempts before a message is dead."
    )
    retry_base_seconds: float = Field(
        30.0, gt=0, description="Delay before the first retry; doubles with each attempt."
    )
    retry_max_seconds: float = Field(3600.0, gt=0, description="Longest delay between attempts.")
    lease_seconds: float = Field(
        120.0,
        gt=0,
        description="How long a claimed message is left to its worker before another retakes it.",
    )
    worker_batch: int = Field(20, ge=1, le=500, description="Messages claimed per round.")
    worker_concurrency: int = Field(8, ge=1, le=100, description="Messages sent at once.")
    worker_poll_seconds: float = Field(
        2.0, gt=0, description="How often the worker looks for due messages when not woken."
    )

    _one_line = field_validator("mail_from", "reply_to", "smtp_username")(_single_line)

    @model_validator(mode="after")
    def _check_addresses(self) -> NotifySettings:
        for name in ("mail_from", "reply_to"):
            value = getattr(self, name)
            if value is not None and "@" not in parseaddr(value)[1]:
                raise ValueError(f"{name} {value!r} holds no e-mail address")
        return self

    @model_validator(mode="after")
    def _check_lease(self) -> NotifySettings:
        # A send still under way when its lease runs out is taken and sent again by another
        # worker. The timeout bounds each SMTP step (connect, EHLO, STARTTLS, MAIL to DATA, the
        # e-mail), so the lease must outlast several of them.
        if self.lease_seconds < LEASE_PER_TIMEOUT * self.smtp_timeout_seconds:
            raise ValueError(
                f"lease_seconds ({self.lease_seconds:g}) must be at least {LEASE_PER_TIMEOUT} "
                f"times smtp_timeout_seconds ({self.smtp_timeout_seconds:g})"
            )
        return self

    @property
    def sender_domain(self) -> str:
        """The From address's domain: the right-hand side of every Message-ID we make."""
        return Address(addr_spec=parseaddr(self.mail_from)[1]).domain
