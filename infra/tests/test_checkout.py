"""The payment server's hosted checkout page on its own name (ticketing_infra/checkout.py): the
page's route on the payment API to a function running the payment image behind the Lambda Web
Adapter, open without a token on that route alone, with the runtime's settings and a role of
its own."""

from __future__ import annotations

import json
from typing import Any

import pytest
from servers.core.secretref import reference_names
from servers.payment.links import CHECKOUT_PATH
from servers.payment.settings import PaymentSettings

from tests.conftest import Synth
from tests.test_dockerfiles import final_stage
from tests.test_environment import _resolve
from tests.test_mcp_domains import STACK, _method, _of, _on_api, _runtime_env
from ticketing_infra.checkout import HEALTH_PATH, METHODS, PORT
from ticketing_infra.servers import MCP_SERVERS, PAYMENT, env_name, known_env


def _function(synth: Synth) -> tuple[str, dict[str, Any]]:
    [(logical, function)] = [
        (logical, p) for logical, p in _of(synth, "AWS::Lambda::Function") if "Checkout" in logical
    ]
    return logical, function


def test_the_pages_route_is_a_lambda_proxy_to_its_function_with_no_authorizer(
    synth: Synth,
) -> None:
    function, _ = _function(synth)
    assert METHODS == ("GET", "POST")
    for verb in METHODS:
        method = _method(synth, PAYMENT, verb, CHECKOUT_PATH)
        assert method["AuthorizationType"] == "NONE"
        assert "AuthorizerId" not in method
        integration = method["Integration"]
        assert integration["Type"] == "AWS_PROXY"
        assert integration["IntegrationHttpMethod"] == "POST"
        assert f'"{function}"' in json.dumps(integration["Uri"])


def test_only_the_page_the_metadata_and_preflights_are_open_on_the_mcp_names(
    synth: Synth,
) -> None:
    """Every other method of the names (``/mcp``'s) needs the Cognito authorizer."""
    for server in (s for s in MCP_SERVERS if s.customer_facing):
        for method in _on_api(synth, server, "AWS::ApiGateway::Method"):
            if method["AuthorizationType"] != "NONE":
                assert method["AuthorizationType"] == "COGNITO_USER_POOLS", method
                continue
            integration = method["Integration"]
            is_page = server is PAYMENT and integration["Type"] == "AWS_PROXY"
            # The metadata document and CORS preflights are the gateway's own answers.
            assert is_page or integration["Type"] == "MOCK", (server.name, method)
    page = [
        m
        for m in _on_api(synth, PAYMENT, "AWS::ApiGateway::Method")
        if m["Integration"]["Type"] == "AWS_PROXY"
    ]
    assert sorted(m["HttpMethod"] for m in page) == sorted(METHODS)


def test_the_function_runs_the_payment_runtimes_own_image_behind_the_web_adapter(
    synth: Synth,
) -> None:
    _, function = _function(synth)
    assert function["PackageType"] == "Image"
    assert function["Architectures"] == ["arm64"]
    image = json.dumps(function["Code"]["ImageUri"])
    [runtime] = [
        p
        for _, _, p in synth.resources("AWS::BedrockAgentCore::Runtime")
        if p["AgentRuntimeName"] == f"ticketing_{PAYMENT.name}"
    ]
    container = json.dumps(runtime["AgentRuntimeArtifact"]["ContainerConfiguration"])
    digest = image.rsplit(":", 1)[1].strip('"}')
    assert len(digest) == 64
    assert digest in container, "one image asset for the runtime and the page"
    # The adapter in /opt/extensions (tests/test_dockerfiles.py checks it is pinned).
    copies = [args for op, args in final_stage(PAYMENT.name) if op == "COPY"]
    assert any(a.endswith(" /lambda-adapter /opt/extensions/lambda-adapter") for a in copies)


def test_the_function_has_the_runtimes_settings_without_the_data_client_and_no_secret(
    synth: Synth,
) -> None:
    _, function = _function(synth)
    env = function["Environment"]["Variables"]
    runtime = _runtime_env(synth, PAYMENT)
    references = {field: name for name, field in reference_names(PaymentSettings).items()}
    dropped = {
        env_name(PaymentSettings, "data_url"),
        env_name(PaymentSettings, "client_id"),
        references["client_secret"],
    }
    assert dropped <= set(runtime)
    adapter = {
        env_name(PaymentSettings, "port"): str(PORT),
        "AWS_LWA_PORT": str(PORT),
        "AWS_LWA_READINESS_CHECK_PATH": HEALTH_PATH,
    }
    assert set(env) == (set(runtime) - dropped) | set(adapter)
    for name, value in runtime.items():
        if name in dropped:
            continue
        if isinstance(value, dict) and "Ref" in value:
            # The runtimes stack's own resource, imported here.
            assert f"Ref{value['Ref']}" in env[name]["Fn::ImportValue"], name
        else:
            assert env[name] == value, name
    assert {name: env[name] for name in adapter} == adapter
    # Secrets by reference only: each secret setting's plain name is absent, its ARN present.
    for field in reference_names(PaymentSettings).values():
        assert env_name(PaymentSettings, field) not in env
    assert {references["webhook_secret"], references["fingerprint_key"]} <= set(env)


def test_the_pages_role_reads_the_database_and_its_two_secrets_and_nothing_else(
    synth: Synth,
) -> None:
    _, function = _function(synth)
    role = function["Role"]["Fn::GetAtt"][0]
    [policy] = [p for _, p in _of(synth, "AWS::IAM::Policy") if p["Roles"] == [{"Ref": role}]]
    actions: set[str] = set()
    resources = []
    for statement in policy["PolicyDocument"]["Statement"]:
        assert statement["Effect"] == "Allow"
        listed = statement["Action"]
        actions.update([listed] if isinstance(listed, str) else listed)
        resources.append(json.dumps(statement["Resource"]))
    assert not [a for a in actions if "*" in a]
    assert '"*"' not in resources
    assert actions == {
        "logs:CreateLogStream",
        "logs:PutLogEvents",
        "rds-data:BatchExecuteStatement",
        "rds-data:BeginTransaction",
        "rds-data:CommitTransaction",
        "rds-data:ExecuteStatement",
        "rds-data:RollbackTransaction",
        "secretsmanager:GetSecretValue",
        "secretsmanager:DescribeSecret",
    }
    secrets = [r for r in resources if "Secret" in r or "FingerprintKey" in r]
    assert len(secrets) == 3  # the cluster's, the webhook secret, the fingerprint key
    assert any("WebhookSecret" in r for r in secrets)
    assert any("FingerprintKey" in r for r in secrets)
    assert not any("PaymentServer" in r for r in resources), "no client secret"
    roles = [logical for logical, _ in _of(synth, "AWS::IAM::Role")]
    assert roles == [role], f"{STACK} has no other role"


def test_the_payment_settings_accept_the_functions_environment_outside_dev_mode(
    synth: Synth, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What the server does at start in the function (the adapter's own settings aside)."""
    _, function = _function(synth)
    env = {
        name: value
        for name, value in function["Environment"]["Variables"].items()
        if not name.startswith("AWS_LWA_")
    }
    known = known_env(PaymentSettings)
    assert set(env) <= set(known), set(env) - set(known)
    for name in known:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir("/")
    references = reference_names(PaymentSettings)
    for name, value in env.items():
        if name in references:
            monkeypatch.setenv(env_name(PaymentSettings, references[name]), "x" * 32)
        else:
            monkeypatch.setenv(name, _resolve(value))
    settings = PaymentSettings()
    assert settings.data_url is None
    assert settings.port == PORT
    assert settings.webhook_urls
