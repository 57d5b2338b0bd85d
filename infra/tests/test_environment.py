"""Each runtime's environment against its server's settings class: everything a server needs in
production is set, nothing it would not read is, and no secret is there in plain text."""

from __future__ import annotations

import re
from typing import Any

import pytest
from pydantic import SecretStr
from servers.core.secretref import reference_names

from tests.conftest import Synth
from ticketing_infra.servers import (
    DATA,
    HOST,
    MCP_SERVERS,
    NOTIFY,
    PAYMENT,
    TICKET,
    Deployed,
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
    PAYMENT.name: (*COMMON, *DATABASE, "data_url", "client_id", "webhook_urls"),
    NOTIFY.name: (*COMMON, *DATABASE, "mail_backend", "mail_from", "ses_configuration_set"),
    TICKET.name: (*COMMON, "data_url", "payment_url", "notify_url", "client_id"),
    HOST.name: (
        *COMMON,
        *DATABASE,
        "ticket_url",
        "payment_url",
        "allowed_origins",
        "web_client_id",
        "model_provider",
        "model_id",
        "memory_backend",
        "agentcore_memory_id",
        "agentcore_memory_region",
        "client_id",
    ),
}

BY_REFERENCE: dict[str, tuple[str, ...]] = {
    # Secret settings the stack gives as a Secrets Manager ARN (NAME_ARN), which the server
    # reads at start-up (servers/core/secretref.py); the value is never in the environment.
    PAYMENT.name: ("webhook_secret", "fingerprint_key", "client_secret"),
    TICKET.name: ("client_secret", "webhook_secret"),
    HOST.name: ("client_secret",),
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


@pytest.mark.parametrize("server", [*MCP_SERVERS, HOST], ids=lambda s: s.name)
def test_the_environment_is_known_to_the_settings_class_and_complete(
    synth: Synth, server: Deployed, monkeypatch: pytest.MonkeyPatch
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
    references = reference_names(server.settings)
    assert {references[n] for n in env if n in references} == set(BY_REFERENCE.get(server.name, ()))
    for name, value in env.items():
        if name in references:
            # What load_settings does at start: the reference becomes the secret's value.
            assert _resolve(value).startswith("Xtoken"), name
            monkeypatch.setenv(env_name(server.settings, references[name]), "x" * 32)
        else:
            monkeypatch.setenv(name, _resolve(value))
    server.settings()


@pytest.mark.parametrize("server", [*MCP_SERVERS, HOST], ids=lambda s: s.name)
def test_no_secret_setting_is_in_a_runtime_environment(synth: Synth, server: Deployed) -> None:
    env = _environments(synth)[server.name]
    known = known_env(server.settings)
    secrets = {
        field
        for field, info in server.settings.model_fields.items()
        if SecretStr in getattr(info.annotation, "__args__", (info.annotation,))
    }
    references = reference_names(server.settings)
    assert not {known[name] for name in env if name not in references} & secrets
    for name in set(env) & set(references):
        # A reference is the ARN of a secret of the stacks (a Ref or an import), never text.
        assert isinstance(env[name], dict), (name, env[name])
        assert set(env[name]) <= {"Ref", "Fn::ImportValue"}, (name, env[name])
    for name, value in env.items():
        assert not re.search(r"(?i)password|secret_value|BEGIN [A-Z ]*PRIVATE KEY", str(value)), (
            name
        )
