from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from servers.devidp.settings import IdpSettings

_ENV = ("DEV_MODE", "DATABASE_URL", "IDP_DATABASE_URL", "IDP_PORT", "IDP_ISSUER", "IDP_DEV_MODE")


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in _ENV:
        monkeypatch.delenv(name, raising=False)


def test_defaults() -> None:
    settings = IdpSettings(_env_file=None)
    assert settings.host == "127.0.0.1"
    assert settings.port == 9000
    assert settings.issuer == "http://127.0.0.1:9000/"
    assert settings.key_dir == Path(".dev/idp")
    assert settings.dev_mode is False
    assert settings.dev_password == "Passw0rd!"
    assert settings.database_url is None
    assert settings.token_ttl_seconds == 3600
    assert settings.clients_file is None
    assert settings.refresh_token_ttl_seconds == 14 * 86400
    assert settings.registrations_per_hour == 60


def test_dev_mode_comes_from_unprefixed_env_var(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IDP_DEV_MODE", "1")
    assert IdpSettings(_env_file=None).dev_mode is False
    monkeypatch.setenv("DEV_MODE", "1")
    assert IdpSettings(_env_file=None).dev_mode is True


def test_database_url_prefers_idp_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://shared/db")
    assert IdpSettings(_env_file=None).database_url == "postgresql://shared/db"
    monkeypatch.setenv("IDP_DATABASE_URL", "postgresql://idp/db")
    assert IdpSettings(_env_file=None).database_url == "postgresql://idp/db"


def test_issuer_follows_port_unless_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IDP_PORT", "9100")
    assert IdpSettings(_env_file=None).issuer == "http://127.0.0.1:9100/"
    monkeypatch.setenv("IDP_ISSUER", "http://idp.test:9000")
    assert IdpSettings(_env_file=None).issuer == "http://idp.test:9000/"
    monkeypatch.setenv("IDP_ISSUER", "https://idp.test/pool_1")
    assert IdpSettings(_env_file=None).issuer == "https://idp.test/pool_1"


@pytest.mark.parametrize(
    "overrides",
    [
        {"issuer": "ftp://127.0.0.1:9000"},
        {"issuer": "http://127.0.0.1:9000/?x=1"},
        {"port": 0},
        {"token_ttl_seconds": 5},
        {"dev_password": ""},
        {"clients_file": Path("/nonexistent/clients.json")},
    ],
)
def test_invalid_settings_are_refused(overrides: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        IdpSettings.model_validate({"_env_file": None, **overrides})


def test_every_field_is_described() -> None:
    missing = [name for name, f in IdpSettings.model_fields.items() if not f.description]
    assert missing == []
