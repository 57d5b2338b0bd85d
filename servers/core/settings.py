"""Settings every server shares (ServerSettings), and the database settings (DatabaseSettings)
that only servers with storage mix in; each server subclasses them with its own env prefix."""

from __future__ import annotations

import os
from typing import Annotated, Any, Literal, TypeVar

from pydantic import (
    AliasChoices,
    AnyHttpUrl,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from . import limits
from .secretref import ClientFactory, SecretReferenceError, boto3_client, resolve_references

CommaList = Annotated[list[str], NoDecode]
S = TypeVar("S", bound=BaseSettings)


def canonical_issuer(url: str) -> str:
    """An issuer URL in the form MCP clients compare against, character for character.

    Clients read the issuer from RFC 9728 metadata through pydantic's URL type, which writes a
    bare origin with a trailing slash (``http://127.0.0.1:9000/``); authorization-server metadata
    and the tokens' ``iss`` must then say exactly that (RFC 8414 §3.3). Issuers with a path, such
    as Cognito's, are left as they are.
    """
    return str(AnyHttpUrl(url))


def _split(value: object) -> object:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


DEV_ISSUER = "http://127.0.0.1:9000/"
"""The dev identity provider's issuer: trusted by default in dev mode only."""

WEB_APP_ORIGIN = "http://127.0.0.1:8080"
"""Where the local stack serves the customer web app (the concierge host's port)."""

CLOCK_SKEW_SECONDS = 60
"""How far a token's ``nbf``/``iat`` may lie in the future: clocks of the issuer and of this
server drift apart by a few seconds; a minute tolerates that without accepting tokens minted for
later use."""


class ServerSettings(BaseSettings):
    """Fields shared by every MCP server. A subclass sets ``env_prefix`` (``DATA_``, ...)."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", frozen=True)

    host: str = Field("127.0.0.1", description="Interface to listen on (0.0.0.0 in a container).")
    port: int = Field(8000, ge=1, le=65535, description="TCP port of the MCP endpoint.")
    public_url: str | None = Field(
        None,
        description="URL clients reach this server at; default http://HOST:PORT. "
        "Used as the OAuth resource identifier.",
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        "INFO", description="Log level of the JSON logs on stderr."
    )
    dev_mode: bool = Field(
        False,
        validation_alias=AliasChoices("DEV_MODE"),
        description="Development mode (unprefixed DEV_MODE): allows the dev identity provider.",
    )
    auth_issuer: str | None = Field(
        None,
        description="Token issuer, e.g. https://cognito-idp.REGION.amazonaws.com/POOL_ID. "
        f"Required unless DEV_MODE=1, which defaults it to the dev identity provider "
        f"({DEV_ISSUER}).",
    )
    auth_jwks_url: str | None = Field(
        None,
        description="JWKS URL of the issuer. Required unless DEV_MODE=1, which defaults it to "
        "ISSUER/.well-known/jwks.json.",
    )
    auth_authorization_servers: CommaList = Field(
        default_factory=list,
        description="Comma-separated authorization servers named in this server's RFC 9728 "
        "metadata; default the issuer. In AWS the registration edge, which registers clients "
        "and fronts Cognito's endpoints, while tokens still carry (and are verified against) "
        "Cognito's issuer.",
    )
    auth_service_client_ids: CommaList = Field(
        default_factory=lambda: ["ops", "ticket-server", "host-agent", "payment-edge"],
        description="Comma-separated client ids of our own services: only their tokens may use "
        "service-only scopes (data/*, notify/*, payments/refund, tickets/operate, "
        "tickets/webhooks). Customer scopes are usable by any client of the issuer.",
    )
    auth_client_ids: CommaList = Field(
        default_factory=list,
        description="Optional comma-separated allow-list: when set, only these clients' tokens "
        "are accepted at all.",
    )
    allowed_origins: CommaList = Field(
        # The customer web app as `make run` serves it; a deployment sets its own origin.
        default_factory=lambda: [WEB_APP_ORIGIN],
        description="Comma-separated browser origins allowed to call /mcp (CORS allow-list).",
    )

    _split_lists = field_validator(
        "auth_authorization_servers",
        "auth_service_client_ids",
        "auth_client_ids",
        "allowed_origins",
        mode="before",
    )(_split)

    # Limits at the edge (servers/core/limits.py). The rate defaults stay far above what one
    # customer or agent sends, and above `make bench` (16 clients sharing the `ops` token are
    # exempt as an operator; the ticket server's own token carries every customer's calls).
    max_body_bytes: int = Field(
        limits.MAX_BODY_BYTES,
        ge=1024,
        description="Largest request body on any route (413 above it).",
    )
    body_timeout_seconds: float = Field(
        limits.BODY_TIMEOUT_SECONDS,
        gt=0,
        description="Time a request's whole body may take to arrive (408 after).",
    )
    header_timeout_seconds: float = Field(
        limits.HEADER_TIMEOUT_SECONDS,
        gt=0,
        description="Time a connection may take to send a request's headers.",
    )
    keep_alive_seconds: int = Field(
        limits.KEEP_ALIVE_SECONDS, ge=1, description="Idle keep-alive connection time-out."
    )
    max_concurrency: int = Field(
        limits.MAX_CONCURRENCY, ge=1, description="Connections and requests at once; 503 beyond."
    )
    rate_limit_per_second: float = Field(
        limits.RATE_PER_SECOND,
        gt=0,
        description="Requests per second per caller (client+subject, or peer).",
    )
    rate_limit_burst: int = Field(
        limits.RATE_BURST,
        ge=1,
        description="Requests a caller may send at once before the rate applies.",
    )
    rate_limit_exempt_clients: CommaList = Field(
        default_factory=lambda: ["ticket-server", "ops"],
        description="Comma-separated OAuth client ids not rate-limited (the project's own).",
    )
    health_cache_seconds: float = Field(
        2.0, ge=0, description="How long /health reuses its last dependency check."
    )
    _split_exempt = field_validator("rate_limit_exempt_clients", mode="before")(_split)

    @field_validator("auth_issuer")
    @classmethod
    def _canonical_issuer(cls, value: str | None) -> str | None:
        return None if value is None else canonical_issuer(value)

    @model_validator(mode="after")
    def _check_issuer(self) -> ServerSettings:
        # Outside dev mode the dev provider's well-known URL must not be trusted by default:
        # anyone who can listen on that port would mint tokens this server accepts.
        if not self.dev_mode:
            for name in ("auth_issuer", "auth_jwks_url"):
                if getattr(self, name) is None:
                    raise ValueError(
                        f"{self.env_name(name)} is not set: outside dev mode (DEV_MODE=1) "
                        "the token issuer and its JWKS URL must be configured"
                    )
        return self

    @classmethod
    def env_name(cls, field: str) -> str:
        """The environment variable of a field, as an operator would set it."""
        return f"{cls.model_config.get('env_prefix', '')}{field}".upper()

    @property
    def base_url(self) -> str:
        return (self.public_url or f"http://{self.host}:{self.port}").rstrip("/")

    @property
    def issuer(self) -> str:
        """The trusted issuer; the dev provider's only in dev mode (checked at validation)."""
        return self.auth_issuer or DEV_ISSUER

    @property
    def authorization_servers(self) -> list[str]:
        """The authorization servers clients are sent to: the configured ones, else the issuer."""
        return [canonical_issuer(url) for url in self.auth_authorization_servers] or [self.issuer]

    @property
    def jwks_url(self) -> str:
        return self.auth_jwks_url or f"{self.issuer.rstrip('/')}/.well-known/jwks.json"


class DatabaseSettings(BaseSettings):
    """Storage fields, mixed in only by servers that keep data (data, payment, notify):
    ``class DataSettings(DatabaseSettings, ServerSettings)``."""

    db_backend: Literal["postgres", "dataapi"] = Field(
        "postgres", description="postgres (psycopg, DATABASE_URL) or dataapi (Aurora RDS Data API)."
    )
    database_url: str | None = Field(
        None, description="libpq URL of the PostgreSQL database (postgres backend)."
    )
    db_pool_size: int = Field(20, ge=1, le=200, description="Maximum pooled DB connections.")
    db_acquire_timeout: float = Field(
        5.0, gt=0, le=60, description="Seconds a call waits for a DB connection, then UNAVAILABLE."
    )
    db_connect_timeout: int = Field(
        5, ge=2, le=60, description="Seconds one PostgreSQL connection attempt may take."
    )
    db_reconnect_timeout: float = Field(
        5.0,
        gt=0,
        le=300,
        description="Seconds the pool retries a lost DB connection before the next call opens "
        "a new one; bounds the recovery time after an outage of any length.",
    )
    dataapi_resource_arn: str | None = Field(None, description="Aurora cluster ARN (dataapi).")
    dataapi_secret_arn: str | None = Field(
        None, description="Secrets Manager ARN of the DB credentials (dataapi)."
    )
    dataapi_database: str = Field("ticketing", description="Database name (dataapi backend).")
    aws_region: str = Field("us-west-2", description="AWS region for AWS service clients.")

    @model_validator(mode="after")
    def _check_database(self) -> DatabaseSettings:
        prefix = str(self.model_config.get("env_prefix", "")).upper()
        if self.db_backend == "dataapi" and not (
            self.dataapi_resource_arn and self.dataapi_secret_arn
        ):
            raise ValueError(
                f"the dataapi backend needs {prefix}DATAAPI_RESOURCE_ARN and "
                f"{prefix}DATAAPI_SECRET_ARN"
            )
        if self.db_backend == "postgres" and not self.database_url:
            raise ValueError(
                f"{prefix}DATABASE_URL is not set: the libpq URL of this server's PostgreSQL "
                f"database (or {prefix}DB_BACKEND=dataapi)"
            )
        return self


def load_settings(settings: type[S], secrets_client: ClientFactory | None = None) -> S:
    """A server's settings from the environment, or exit with one line naming what is wrong:
    an operator starting a server wants the variable to fix, not a traceback. Secret settings
    given by reference (``*_ARN``, servers/core/secretref.py) are read from Secrets Manager
    first (with boto3 unless ``secrets_client`` is given)."""
    try:
        # Typed loosely: BaseSettings' own keyword parameters would otherwise be matched.
        secrets: dict[str, Any] = resolve_references(
            settings, os.environ, secrets_client or boto3_client
        )
        return settings(**secrets)
    except SecretReferenceError as exc:
        raise SystemExit(f"configuration error: {exc}") from None
    except ValidationError as exc:
        raise SystemExit(f"configuration error: {_one_line(settings, exc)}") from None


def _one_line(settings: type[BaseSettings], exc: ValidationError) -> str:
    prefix = str(settings.model_config.get("env_prefix", "")).upper()
    problems = []
    for error in exc.errors(include_input=False, include_url=False):
        message = str(error["msg"]).removeprefix("Value error, ")
        if error["loc"]:
            where = str(error["loc"][0])
            # A field read under its own unprefixed name (VENUE_TZ, DEV_MODE) is reported so.
            name = f"{prefix}{where}" if where in settings.model_fields else where
            message = f"{name.upper()}: {message}"
        problems.append(message)
    return "; ".join(problems)
