"""Settings of the ticket server (env prefix ``TICKET_``)."""

from __future__ import annotations

from datetime import time
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import EmailStr, Field, SecretStr, field_validator, model_validator
from pydantic_settings import SettingsConfigDict

from servers.core.settings import CommaList, ServerSettings

from .help.hours import SupportHours, parse_days


class TicketSettings(ServerSettings):
    model_config = SettingsConfigDict(env_prefix="TICKET_")

    venue_tz: str = Field(
        "UTC",
        validation_alias="VENUE_TZ",
        description="Time zone of the venue (unprefixed VENUE_TZ): dates and the 10:00 start.",
    )
    hold_minutes: int = Field(15, ge=1, le=60, description="How long a selected seat is held.")
    operator_client_ids: CommaList = Field(
        default_factory=lambda: ["ops"],
        description="Client ids whose tokens may act for any customer (the *_for_customer tools).",
    )
    data_url: str = Field(
        "http://127.0.0.1:8001/mcp", description="The data server's MCP endpoint."
    )
    payment_url: str = Field(
        "http://127.0.0.1:8003/mcp", description="The payment server's MCP endpoint."
    )
    notify_url: str = Field(
        "http://127.0.0.1:8004/mcp", description="The notify server's MCP endpoint."
    )
    client_id: str = Field(
        "ticket-server", description="This server's own OAuth client (client credentials)."
    )
    client_secret: SecretStr | None = Field(
        None,
        description="Its secret, required (Secrets Manager in AWS; make run derives a dev one, "
        "and README.md says how to print it for a server run alone).",
    )

    webhook_secret: SecretStr | None = Field(
        None,
        description="Secret the payment server signs its webhooks with (the same as "
        "PAYMENT_WEBHOOK_SECRET); without it the webhook route and the REST edge's "
        "receive_payment_event tool are off.",
    )
    sweep_seconds: float = Field(
        30.0, gt=0, description="How often holds past their expiry are reconciled."
    )

    support_inbox: EmailStr = Field(
        "support@example.com",
        description="Where requests for a person (request_human_help) are e-mailed; the help "
        "texts give it as the support address.",
    )
    support_opens: time = Field(
        time(9, 0), description="Support's working day starts (venue time)."
    )
    support_closes: time = Field(
        time(17, 0), description="Support's working day ends (venue time)."
    )
    support_days: CommaList = Field(
        default_factory=lambda: ["mon", "tue", "wed", "thu", "fri"],
        description="Support's working days (mon..sun).",
    )
    support_response_hours: int = Field(
        4, ge=1, le=72, description="Working hours within which a person answers a request."
    )

    @field_validator("venue_tz")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value

    @property
    def support_hours(self) -> SupportHours:
        return SupportHours(
            venue_tz=ZoneInfo(self.venue_tz),
            opens=self.support_opens,
            closes=self.support_closes,
            days=parse_days(self.support_days),
            response_hours=self.support_response_hours,
        )

    @model_validator(mode="after")
    def _support_hours_make_sense(self) -> TicketSettings:
        # Built once here so that hours that cannot be worked stop the start, naming why.
        _ = self.support_hours
        return self

    @property
    def secret(self) -> str:
        """The client secret in clear, for the token requests (required at validation)."""
        return self.client_secret.get_secret_value() if self.client_secret else ""

    @model_validator(mode="after")
    def _has_secret(self) -> TicketSettings:
        if not self.secret:
            raise ValueError(
                "TICKET_CLIENT_SECRET is not set: the ticket server calls the data, payment and "
                "notify servers with its own client-credentials token"
            )
        return self
