"""Settings of the MCP servers: what must be configured outside dev mode, which servers have
database fields, and how a server run alone reports what is missing."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from servers.core.settings import DEV_ISSUER, DatabaseSettings, ServerSettings
from servers.data.settings import DataSettings
from servers.notify.settings import NotifySettings
from servers.payment.settings import PaymentSettings
from servers.ticket.settings import TicketSettings

ISSUER = "https://cognito-idp.us-west-2.amazonaws.com/us-west-2_abc"
JWKS = f"{ISSUER}/.well-known/jwks.json"


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No DEV_MODE or server variables from the caller's shell, and no .env file."""
    monkeypatch.chdir(tmp_path)
    for name in list(os.environ):
        if name == "DEV_MODE" or name.startswith(("DATA_", "TICKET_", "PAYMENT_", "NOTIFY_")):
            monkeypatch.delenv(name)


def test_outside_dev_mode_the_issuer_must_be_configured(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATA_DATABASE_URL", "postgresql://db/data")
    with pytest.raises(ValidationError, match="DATA_AUTH_ISSUER is not set"):
        DataSettings()
    monkeypatch.setenv("DATA_AUTH_ISSUER", ISSUER)
    with pytest.raises(ValidationError, match="DATA_AUTH_JWKS_URL is not set"):
        DataSettings()
    monkeypatch.setenv("DATA_AUTH_JWKS_URL", JWKS)
    settings = DataSettings()
    assert (settings.issuer, settings.jwks_url) == (ISSUER, JWKS)


def test_metadata_names_the_registration_edge_while_tokens_stay_cognitos(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Cognito cannot register clients; in AWS the edge in front of it does, so clients are sent
    # there, while the tokens they come back with carry Cognito's issuer.
    monkeypatch.setenv("DATA_DATABASE_URL", "postgresql://db/data")
    monkeypatch.setenv("DATA_AUTH_ISSUER", ISSUER)
    monkeypatch.setenv("DATA_AUTH_JWKS_URL", JWKS)
    assert DataSettings().authorization_servers == [ISSUER]
    monkeypatch.setenv("DATA_AUTH_AUTHORIZATION_SERVERS", "https://auth.tickets.example.com")
    settings = DataSettings()
    assert settings.authorization_servers == ["https://auth.tickets.example.com/"]
    assert settings.issuer == ISSUER


def test_dev_mode_keeps_the_dev_providers_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEV_MODE", "1")
    monkeypatch.setenv("DATA_DATABASE_URL", "postgresql://db/data")
    settings = DataSettings()
    assert settings.issuer == DEV_ISSUER
    assert settings.jwks_url == "http://127.0.0.1:9000/.well-known/jwks.json"


def test_only_servers_with_storage_have_database_settings() -> None:
    for with_storage in (DataSettings, PaymentSettings, NotifySettings):
        assert issubclass(with_storage, DatabaseSettings), with_storage
        assert issubclass(with_storage, ServerSettings), with_storage
    assert not issubclass(TicketSettings, DatabaseSettings)
    assert not set(DatabaseSettings.model_fields) & set(TicketSettings.model_fields)


def test_the_ticket_server_needs_its_client_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEV_MODE", "1")
    with pytest.raises(ValidationError, match="TICKET_CLIENT_SECRET is not set"):
        TicketSettings()
    monkeypatch.setenv("TICKET_CLIENT_SECRET", "s3cret-from-the-provider")
    settings = TicketSettings()
    assert settings.secret == "s3cret-from-the-provider"
    assert "s3cret" not in repr(settings)


def run_alone(module: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    inherited = {
        k: v
        for k, v in os.environ.items()
        if k != "DEV_MODE" and not k.startswith(("DATA_", "TICKET_", "PAYMENT_", "NOTIFY_"))
    }
    return subprocess.run(
        [sys.executable, "-m", module],
        env={**inherited, **env},
        cwd=cwd,  # not the repository: its .env must not configure the server
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize(
    ("module", "env", "named"),
    [
        # Before: it started, trusting the dev provider at its default URL.
        ("servers.data", {"DATA_DATABASE_URL": "postgresql://db/data"}, "DATA_AUTH_ISSUER"),
        ("servers.payment", {}, "PAYMENT_AUTH_ISSUER"),
        ("servers.data", {"DEV_MODE": "1"}, "DATA_DATABASE_URL"),
        ("servers.notify", {"DEV_MODE": "1"}, "NOTIFY_DATABASE_URL"),
        ("servers.ticket", {"DEV_MODE": "1"}, "TICKET_CLIENT_SECRET"),
        ("servers.data", {"DEV_MODE": "1", "DATA_PORT": "eighty"}, "DATA_PORT"),
    ],
)
def test_a_server_run_alone_names_the_missing_setting_in_one_line(
    module: str, env: dict[str, str], named: str, tmp_path: Path
) -> None:
    done = run_alone(module, env, tmp_path)
    assert done.returncode != 0
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith(f"configuration error: {named}"), lines[0]
    assert "Traceback" not in done.stderr
