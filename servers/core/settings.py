"""Settings every server shares; each server subclasses them with its own env prefix."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AliasChoices, AnyHttpUrl, Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

CommaList = Annotated[list[str], NoDecode]


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
    auth_issuer: str = Field(
        "http://127.0.0.1:9000/",
        description="Token issuer: the dev identity provider, or "
        "https://cognito-idp.REGION.amazonaws.com/POOL_ID.",
    )
    auth_jwks_url: str | None = Field(
        None, description="JWKS URL of the issuer; default ISSUER/.well-known/jwks.json."
    )
    auth_client_ids: CommaList = Field(
        default_factory=lambda: ["ops", "ticket-server", "host-agent", "web", "mcp-inspector"],
        description="Comma-separated OAuth client ids whose tokens are accepted.",
    )
    allowed_origins: CommaList = Field(
        default_factory=list,
        description="Comma-separated browser origins allowed to call /mcp (CORS allow-list).",
    )
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

    _split_lists = field_validator("auth_client_ids", "allowed_origins", mode="before")(_split)

    @field_validator("auth_issuer")
    @classmethod
    def _canonical_issuer(cls, value: str) -> str:
        return canonical_issuer(value)

    @model_validator(mode="after")
    def _check_database(self) -> ServerSettings:
        if self.db_backend == "dataapi" and not (
            self.dataapi_resource_arn and self.dataapi_secret_arn
        ):
            raise ValueError(
                "the dataapi backend needs DATAAPI_RESOURCE_ARN and DATAAPI_SECRET_ARN"
            )
        return self

    @property
    def base_url(self) -> str:
        return (self.public_url or f"http://{self.host}:{self.port}").rstrip("/")

    @property
    def jwks_url(self) -> str:
        return self.auth_jwks_url or f"{self.auth_issuer.rstrip('/')}/.well-known/jwks.json"
