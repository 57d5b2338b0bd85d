"""Settings of the registration edge (env prefix ``REGISTRATION_``), set on the Lambda."""

from __future__ import annotations

from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from servers.core.settings import canonical_issuer


class RegistrationSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="REGISTRATION_", extra="ignore", frozen=True)

    region: str = Field(description="AWS region of the user pool, e.g. eu-west-1.")
    user_pool_id: str = Field(
        pattern=r"^[\w-]+_[0-9a-zA-Z]+$", description="The Cognito user pool, e.g. eu-west-1_AbC."
    )
    cognito_domain: str = Field(
        description="Base URL of the pool's managed login (prefix or custom domain), e.g. "
        "https://tickets.auth.eu-west-1.amazoncognito.com. Serves /oauth2/authorize, /oauth2/token "
        "and /oauth2/revoke."
    )
    issuer: str = Field(
        description="URL of this edge as the MCP servers name it in their protected-resource "
        "metadata (authorization_servers); the metadata document is served at "
        "ISSUER/.well-known/oauth-authorization-server and its `issuer` says exactly this."
    )
    identity_providers: tuple[str, ...] = Field(
        ("COGNITO",), description="Sign-in providers of every registered client."
    )
    access_token_minutes: int = Field(60, ge=5, le=1440, description="Access-token lifetime.")
    refresh_token_days: int = Field(30, ge=1, le=3650, description="Refresh-token lifetime.")
    refresh_rotation: Literal["ENABLED", "DISABLED"] = Field(
        "ENABLED",
        description="Cognito refresh-token rotation: each refresh returns a new refresh token and "
        "invalidates the old one after the grace period (needs the Essentials or Plus plan).",
    )
    refresh_grace_seconds: int = Field(
        10, ge=0, le=60, description="How long a rotated refresh token still works (retries)."
    )
    log_level: str = Field("INFO", description="Level of the JSON logs (CloudWatch).")
    max_body_bytes: int = Field(8192, ge=512, le=65536, description="Largest registration body.")
    max_redirect_uris: int = Field(10, ge=1, le=100, description="Redirect URIs per client.")
    max_name_chars: int = Field(100, ge=1, le=100, description="Longest client_name accepted.")
    rate_per_source: int = Field(
        10, ge=1, description="Registrations one source IP may make per window (per instance)."
    )
    rate_window_seconds: int = Field(3600, ge=1, description="The rate window.")

    @field_validator("cognito_domain")
    @classmethod
    def _https_origin(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme != "https" or not parts.hostname or parts.path not in ("", "/"):
            raise ValueError("must be an https origin such as https://tickets.auth.REGION....")
        return f"https://{parts.netloc}"

    @field_validator("issuer")
    @classmethod
    def _canonical(cls, value: str) -> str:
        if urlsplit(value).scheme != "https":
            raise ValueError("must be an https URL")
        return canonical_issuer(value)

    @property
    def cognito_issuer(self) -> str:
        """The ``iss`` of the tokens Cognito issues (what the MCP servers verify)."""
        return f"https://cognito-idp.{self.region}.amazonaws.com/{self.user_pool_id}"

    def endpoint(self, path: str) -> str:
        """The URL of one of this edge's routes (``/register``, ``/authorize``, ...)."""
        return self.issuer.rstrip("/") + path

    @property
    def registration_endpoint(self) -> str:
        return self.endpoint("/register")
