"""Each runtime's environment against its server's settings class: everything a server needs in
production is set, nothing it would not read is, and no secret is there in plain text."""

from __future__ import annotations

import re
from typing import Any

import pytest
from pydantic import SecretStr

from tests.conftest import Synth
from ticketing_infra.servers import (
    DATA,
    MCP_SERVERS,
    NOTIFY,
    PAYMENT,
    TICKET,
    McpServer,
    env_name,
    known_env,
)

COMMON = (
    "public_url",
    "auth_issuer",
    "auth_jwks_url",
    "auth_authorization_servers",
    "auth_service_client_ids",
    "rate_limit_exempt_clients",
)
DATABASE = ("db_backend", "dataapi_resource_arn", "dataapi_secret_arn")
PRODUCTION_REQUIRED: dict[str, tuple[str, ...]] = {
    # Settings whose defaults are the local stack's (loopback URLs, dev client names, SMTP
    # sink): valid, so validation alone would not notice them missing.
    DATA.name: COMMON + DATABASE,
    PAYMENT.name: COMMON + DATABASE,
    NOTIFY.name: (*COMMON, *DATABASE, "mail_backend", "mail_from", "ses_configuration_set"),
    TICKET.name: (*COMMON, "data_url", "payment_url", "notify_url", "client_id"),
}

PENDING_SECRETS: dict[str, tuple[str, ...]] = {
    # Not set by the stack yet: the kit has no way to read a secret by reference (a Secrets
    # Manager ARN) and a secret's value never goes into a runtime's environment. Named in
    # infra/README.md as the next step; listed here so that the gap is explicit and shrinks.
    TICKET.name: ("client_secret",),
}


def _resolve(value: Any) -> str:
    """A CloudFormation value as a plausible string: references become a token-like word."""
    if isinstance(value, str):
        return value
    if "Fn::Join" in value:
        separator, parts = value["Fn::Join"]
        return str(separator).join(_resolve(p) for p in parts)
    return "Xtoken1"


def _environments(synth: Synth) -> dict[str, dict[str, Any]]:
    return {
        p["AgentRuntimeName"].removeprefix("ticketing_"): p["EnvironmentVariables"]
        for _, _, p in synth.resources("AWS::BedrockAgentCore::Runtime")
    }


@pytest.mark.parametrize("server", MCP_SERVERS, ids=lambda s: s.name)
def test_the_environment_is_known_to_the_settings_class_and_complete(
    synth: Synth, server: McpServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = _environments(synth)[server.name]
    known = known_env(server.settings)
    assert set(env) <= set(known), set(env) - set(known)
    set_fields = {known[name] for name in env}
    missing = set(PRODUCTION_REQUIRED[server.name]) - set_fields
    assert not missing, missing
    # The settings class accepts it outside dev mode, as the server would at start.
    for name in known:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir("/")
    for name, value in env.items():
        monkeypatch.setenv(name, _resolve(value))
    for field in PENDING_SECRETS.get(server.name, ()):
        monkeypatch.setenv(env_name(server.settings, field), "x" * 32)
    server.settings()


@pytest.mark.parametrize("server", MCP_SERVERS, ids=lambda s: s.name)
def test_no_secret_setting_is_in_a_runtime_environment(synth: Synth, server: McpServer) -> None:
    env = _environments(synth)[server.name]
    known = known_env(server.settings)
    secrets = {
        field
        for field, info in server.settings.model_fields.items()
        if SecretStr in getattr(info.annotation, "__args__", (info.annotation,))
    }
    assert not {known[name] for name in env} & secrets
    for name, value in env.items():
        assert not re.search(r"(?i)password|secret_value|BEGIN [A-Z ]*PRIVATE KEY", str(value)), (
            name
        )
