"""Settings of the payment server (env prefix ``PAYMENT_``)."""

from __future__ import annotations

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import SettingsConfigDict

from servers.core.settings import CommaList, DatabaseSettings, ServerSettings


class PaymentSettings(DatabaseSettings, ServerSettings):
    model_config = SettingsConfigDict(env_prefix="PAYMENT_")

    fingerprint_key: SecretStr | None = Field(
        None,
        description="Key of the card fingerprints; unset, a random one per start (fingerprints "
        "then differ across restarts, so a card saved before one is saved again as another).",
    )
    webhook_urls: CommaList = Field(
        default_factory=list, description="Comma-separated URLs that receive signed events."
    )
    webhook_secret: SecretStr | None = Field(
        None, description="Signing secret of the webhook endpoints (at least 16 characters)."
    )
    webhook_max_attempts: int = Field(
        10, ge=1, le=50, description="Delivery attempts per event before giving up."
    )
    webhook_base_delay_seconds: float = Field(
        2.0, gt=0, description="First retry delay; doubles each attempt (with jitter)."
    )
    webhook_max_delay_seconds: float = Field(
        3600.0, gt=0, description="Longest delay between two delivery attempts."
    )
    data_url: str | None = Field(
        None,
        description="The data server's MCP endpoint, where a customer's token whose subject is "
        "not our customer id (Cognito's) is resolved to one, as the ticket server does; unset, "
        "subjects are taken as they are (the dev provider's are customer ids).",
    )
    client_id: str = Field(
        "payment-server",
        description="This server's own OAuth client (client credentials), for the data server.",
    )
    client_secret: SecretStr | None = Field(
        None, description="Its secret, required with PAYMENT_DATA_URL (Secrets Manager in AWS)."
    )
    fault_latency_ms: int = Field(
        0, ge=0, le=60_000, description="Fault injection: latency added to every charge."
    )
    fault_error_rate: float = Field(
        0.0, ge=0.0, le=1.0, description="Fault injection: share of charges failing transiently."
    )
    fault_seed: int | None = Field(None, description="Seed of the fault injection's draws.")

    @field_validator("webhook_urls", mode="before")
    @classmethod
    def _split_urls(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @model_validator(mode="after")
    def _check_data_client(self) -> PaymentSettings:
        if self.data_url and not self.client_secret:
            raise ValueError(
                "PAYMENT_DATA_URL needs PAYMENT_CLIENT_SECRET: the payment server calls the data "
                "server with its own client-credentials token"
            )
        return self

    @model_validator(mode="after")
    def _check_webhooks(self) -> PaymentSettings:
        if self.webhook_urls:
            secret = self.webhook_secret.get_secret_value() if self.webhook_secret else ""
            if len(secret) < 16:
                raise ValueError("PAYMENT_WEBHOOK_URLS needs PAYMENT_WEBHOOK_SECRET (16+ chars)")
            for url in self.webhook_urls:
                if not url.startswith(("http://", "https://")):
                    raise ValueError(f"webhook URL {url!r} is not http(s)")
        return self
