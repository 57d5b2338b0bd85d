"""Secret settings by reference (``*_ARN`` → Secrets Manager), resolved by load_settings.

The Secrets Manager client is a real boto3 client under botocore's Stubber, which checks every
request against the service model and answers with responses shaped by it."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from servers.core.secretref import (
    SecretReferenceError,
    SecretsClient,
    reference_names,
    resolve_references,
)
from servers.core.settings import load_settings
from servers.payment.settings import PaymentSettings
from servers.ticket.settings import TicketSettings

ARN = "arn:aws:secretsmanager:eu-central-1:111111111111:secret:ticket-client-AbCdEf"
ISSUER = "https://cognito-idp.us-west-2.amazonaws.com/us-west-2_abc"
PRODUCTION = {
    "TICKET_AUTH_ISSUER": ISSUER,
    "TICKET_AUTH_JWKS_URL": f"{ISSUER}/.well-known/jwks.json",
}


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No server variables from the caller's shell, and no .env file."""
    monkeypatch.chdir(tmp_path)
    for name in list(os.environ):
        if name == "DEV_MODE" or name.startswith(("TICKET_", "PAYMENT_")):
            monkeypatch.delenv(name)


class Stubbed:
    """A client factory handing out one stubbed client and recording the regions asked for."""

    def __init__(self) -> None:
        self.client: Any = boto3.client(
            "secretsmanager",
            region_name="eu-central-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
        self.stubber = Stubber(self.client)
        self.regions: list[str] = []

    def __call__(self, region: str) -> SecretsClient:
        self.regions.append(region)
        client: SecretsClient = self.client
        return client


@pytest.fixture
def secrets() -> Iterator[Stubbed]:
    stubbed = Stubbed()
    with stubbed.stubber:
        yield stubbed
        stubbed.stubber.assert_no_pending_responses()


def _answer(value: str) -> dict[str, Any]:
    return {
        "ARN": ARN,
        "Name": "ticket-client",
        "VersionId": "a" * 32,
        "SecretString": value,
        "VersionStages": ["AWSCURRENT"],
    }


def test_every_secret_setting_has_a_reference_variable() -> None:
    assert reference_names(TicketSettings) == {
        "TICKET_CLIENT_SECRET_ARN": "client_secret",
        "TICKET_WEBHOOK_SECRET_ARN": "webhook_secret",
    }
    assert set(reference_names(PaymentSettings)) == {
        "PAYMENT_CLIENT_SECRET_ARN",
        "PAYMENT_FINGERPRINT_KEY_ARN",
        "PAYMENT_WEBHOOK_SECRET_ARN",
    }


def _environment(monkeypatch: pytest.MonkeyPatch, env: dict[str, str]) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)


def test_a_reference_is_read_from_the_secrets_region_at_start(
    secrets: Stubbed, monkeypatch: pytest.MonkeyPatch
) -> None:
    secrets.stubber.add_response(
        "get_secret_value", _answer("s3cret-from-cognito"), {"SecretId": ARN}
    )
    _environment(monkeypatch, PRODUCTION | {"TICKET_CLIENT_SECRET_ARN": ARN})
    settings = load_settings(TicketSettings, secrets)
    assert settings.secret == "s3cret-from-cognito"
    assert secrets.regions == ["eu-central-1"]
    assert "s3cret" not in repr(settings)


def test_a_value_given_directly_wins_and_the_reference_is_not_read(
    secrets: Stubbed, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = PRODUCTION | {"TICKET_CLIENT_SECRET_ARN": ARN, "TICKET_CLIENT_SECRET": "local-one"}
    _environment(monkeypatch, env)
    settings = load_settings(TicketSettings, secrets)
    assert settings.secret == "local-one"
    assert secrets.regions == []


def test_without_references_nothing_is_asked(secrets: Stubbed) -> None:
    assert resolve_references(TicketSettings, {"TICKET_CLIENT_SECRET": "x"}, secrets) == {}
    assert secrets.regions == []


@pytest.mark.parametrize(
    ("code", "status"),
    [("AccessDeniedException", 400), ("ResourceNotFoundException", 400)],
)
def test_an_unreadable_secret_stops_the_start_naming_the_variable_only(
    secrets: Stubbed, code: str, status: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    _environment(monkeypatch, PRODUCTION | {"TICKET_CLIENT_SECRET_ARN": ARN})
    secrets.stubber.add_client_error(
        "get_secret_value",
        service_error_code=code,
        service_message=f"no access to {ARN}",
        http_status_code=status,
        expected_params={"SecretId": ARN},
    )
    with pytest.raises(SystemExit) as stopped:
        load_settings(TicketSettings, secrets)
    assert str(stopped.value) == (
        f"configuration error: TICKET_CLIENT_SECRET_ARN: the secret cannot be read ({code})"
    )


def test_a_secret_without_text_is_refused(secrets: Stubbed) -> None:
    answer = _answer("unused")
    del answer["SecretString"]
    answer["SecretBinary"] = b"\x00\x01"
    secrets.stubber.add_response("get_secret_value", answer, {"SecretId": ARN})
    with pytest.raises(SecretReferenceError, match=r"TICKET_CLIENT_SECRET_ARN: .* no text value"):
        resolve_references(TicketSettings, {"TICKET_CLIENT_SECRET_ARN": ARN}, secrets)


@pytest.mark.parametrize(
    "reference",
    ["ticket-client", "arn:aws:s3:::bucket/key", "arn:aws:secretsmanager::1:secret:x"],
)
def test_a_reference_that_is_not_a_secret_arn_is_refused(secrets: Stubbed, reference: str) -> None:
    with pytest.raises(SecretReferenceError, match="TICKET_WEBHOOK_SECRET_ARN: not a Secrets"):
        resolve_references(TicketSettings, {"TICKET_WEBHOOK_SECRET_ARN": reference}, secrets)
    assert secrets.regions == []
