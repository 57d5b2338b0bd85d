"""Settings of the dev identity provider, read from ``IDP_*`` environment variables."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Self
from urllib.parse import urlsplit

from pydantic import AliasChoices, Field, field_validator, model_validator
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from servers.core.settings import canonical_issuer

DEFAULT_PORT = 9000


class _AliasOnlySource(PydanticBaseSettingsSource):
    """An environment source that reads aliased fields under their aliases only.

    ``validate_by_name`` (so that code can pass ``dev_mode=True``) would otherwise also make
    ``IDP_DEV_MODE`` switch dev mode on; the switch is ``DEV_MODE`` and nothing else.
    """

    def __init__(self, settings_cls: type[BaseSettings], inner: PydanticBaseSettingsSource) -> None:
        super().__init__(settings_cls)
        self._inner = inner
        self._aliased = {
            name for name, field in settings_cls.model_fields.items() if field.validation_alias
        }

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return self._inner.get_field_value(field, field_name)

    def __call__(self) -> dict[str, Any]:
        return {k: v for k, v in self._inner().items() if k not in self._aliased}


class IdpSettings(BaseSettings):
    """Typed settings, validated when constructed (that is, at start)."""

    model_config = SettingsConfigDict(
        env_prefix="IDP_",
        env_file=".env",
        extra="ignore",
        validate_by_name=True,
        validate_by_alias=True,
    )

    host: str = Field(
        default="127.0.0.1",
        min_length=1,
        description="Interface the dev identity provider listens on.",
    )
    port: int = Field(
        default=DEFAULT_PORT,
        ge=1,
        le=65535,
        description="TCP port the dev identity provider listens on.",
    )
    issuer: str = Field(
        default=f"http://127.0.0.1:{DEFAULT_PORT}/",
        description=(
            "Issuer URL put in the `iss` claim and the discovery document; servers fetch the "
            "JWKS from here. When unset, derived from host and port."
        ),
    )
    key_dir: Path = Field(
        default=Path(".dev/idp"),
        description="Directory holding the RSA signing key (created on first use, mode 0600).",
    )
    dev_mode: bool = Field(
        default=False,
        validation_alias="DEV_MODE",
        description="Must be true (`DEV_MODE=1`, not prefixed) or the provider refuses to start.",
    )
    dev_password: str = Field(
        default="Passw0rd!",
        min_length=1,
        description="The password every seeded customer logs in with.",
    )
    database_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices("IDP_DATABASE_URL", "DATABASE_URL"),
        description=(
            "PostgreSQL URL where customers are looked up (`data.customers`); "
            "falls back to `DATABASE_URL`."
        ),
    )
    token_ttl_seconds: int = Field(
        default=3600,
        ge=10,
        le=86400,
        description="Lifetime of access and ID tokens, in seconds.",
    )
    refresh_token_ttl_seconds: int = Field(
        default=14 * 86400,
        ge=300,
        le=90 * 86400,
        description=(
            "A refresh token stops working after this many seconds unused; each use rotates it "
            "and starts the time again. Kept in memory: a restart signs everyone out."
        ),
    )
    registrations_per_hour: int = Field(
        default=60,
        ge=1,
        le=10000,
        description="Dynamic client registrations accepted per client address and hour.",
    )
    clients_file: Path | None = Field(
        default=None,
        description=(
            "Optional JSON file adding or replacing registered OAuth clients "
            "(secrets are always derived from the signing key)."
        ),
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (
            init_settings,
            _AliasOnlySource(settings_cls, env_settings),
            _AliasOnlySource(settings_cls, dotenv_settings),
            file_secret_settings,
        )

    @field_validator("issuer")
    @classmethod
    def _issuer_is_a_base_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in {"http", "https"} or not parts.hostname:
            raise ValueError("must be an http(s) URL such as http://127.0.0.1:9000")
        if parts.query or parts.fragment or parts.username or parts.password:
            raise ValueError("must not carry a query, fragment or credentials")
        return canonical_issuer(value)

    @field_validator("clients_file")
    @classmethod
    def _clients_file_exists(cls, value: Path | None) -> Path | None:
        if value is not None and not value.is_file():
            raise ValueError(f"{value} is not a file")
        return value

    @model_validator(mode="after")
    def _derive_issuer(self) -> Self:
        # A non-default port with no explicit issuer would otherwise mint tokens whose `iss`
        # points at a port nothing listens on.
        if "issuer" not in self.model_fields_set:
            host = self.host
            if host in {"0.0.0.0", "::", ""}:
                host = "127.0.0.1"
            elif ":" in host:
                host = f"[{host}]"
            self.issuer = canonical_issuer(f"http://{host}:{self.port}")
        return self

    @property
    def issuer_origin(self) -> str:
        """``scheme://host[:port]`` of the issuer, as browsers send it in ``Origin``."""
        parts = urlsplit(self.issuer)
        return f"{parts.scheme}://{parts.netloc}"
