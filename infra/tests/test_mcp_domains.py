"""The customer-facing MCP servers' own names (ticket_infra/mcp_domains.py): what an assistant
given ``https://NAME.mcp.DOMAIN/mcp`` meets before and after it has a token."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aws_cdk import Stack
from servers.core.resource_metadata import protected_resource_metadata, requestable

from tests.conftest import Synth
from ticketing_infra.mcp_domains import BURST_LIMIT, METADATA_CACHE, RATE_LIMIT
from ticketing_infra.servers import MCP_SERVERS, McpServer, env_name

STACK = "TicketingMcpDomains"
CUSTOMER_FACING = [s for s in MCP_SERVERS if s.customer_facing]
DOMAIN = "tickets.example.com"  # cdk.json's ticketing:domain


def _of(synth: Synth, kind: str) -> list[tuple[str, dict[str, Any]]]:
    return [(logical, p) for s, logical, p in synth.resources(kind) if s == STACK]


def _api_id(synth: Synth, server: McpServer) -> str:
    [(logical, _)] = [
        (logical, p)
        for logical, p in _of(synth, "AWS::ApiGateway::RestApi")
        if p["Name"] == f"ticketing-{server.name}-mcp"
    ]
    return logical


def _on_api(synth: Synth, server: McpServer, kind: str) -> list[dict[str, Any]]:
    api = _api_id(synth, server)
    return [p for _, p in _of(synth, kind) if p.get("RestApiId") == {"Ref": api}]


def _runtime_env(synth: Synth, server: McpServer) -> dict[str, Any]:
    [runtime] = [
        p
        for _, _, p in synth.resources("AWS::BedrockAgentCore::Runtime")
        if p["AgentRuntimeName"] == f"ticketing_{server.name}"
    ]
    env: dict[str, Any] = runtime["EnvironmentVariables"]
    return env


def _method(synth: Synth, server: McpServer, verb: str, path: str) -> dict[str, Any]:
    """The method ``verb`` of the resource at ``path`` (``/mcp``) of the server's API."""
    resources = {
        logical: p
        for logical, p in _of(synth, "AWS::ApiGateway::Resource")
        if p["RestApiId"] == {"Ref": _api_id(synth, server)}
    }

    def path_of(logical: str) -> str:
        resource = resources[logical]
        parent = resource["ParentId"]
        above = path_of(parent["Ref"]) if "Ref" in parent else ""
        return f"{above}/{resource['PathPart']}"

    [method] = [
        m
        for m in _on_api(synth, server, "AWS::ApiGateway::Method")
        if m["HttpMethod"] == verb and path_of(m["ResourceId"]["Ref"]) == path
    ]
    return method


def test_only_the_customer_facing_servers_get_a_name_here(synth: Synth) -> None:
    assert [s.name for s in CUSTOMER_FACING] == ["ticket", "payment"]
    names = {p["DomainName"] for _, p in _of(synth, "AWS::ApiGateway::DomainName")}
    assert names == {f"{s.name}.mcp.{DOMAIN}" for s in CUSTOMER_FACING}
    # Not the exports other stacks read (the alarms' names of the APIs and the page's function).
    outputs = [o for o in synth.templates[STACK]["Outputs"].values() if "Export" not in o]
    assert {o["Value"] for o in outputs} == {
        f"https://{s.name}.mcp.{DOMAIN}/mcp" for s in CUSTOMER_FACING
    }


@pytest.mark.parametrize("server", CUSTOMER_FACING, ids=lambda s: s.name)
def test_the_name_is_the_servers_public_url_with_a_certificate_and_an_alias(
    synth: Synth, server: McpServer
) -> None:
    host = f"{server.name}.mcp.{DOMAIN}"
    assert _runtime_env(synth, server)[env_name(server.settings, "public_url")] == f"https://{host}"
    [(domain_id, domain)] = [
        (logical, p)
        for logical, p in _of(synth, "AWS::ApiGateway::DomainName")
        if p["DomainName"] == host
    ]
    assert domain["EndpointConfiguration"] == {"Types": ["REGIONAL"]}
    assert domain["SecurityPolicy"] == "TLS_1_2"
    [(certificate_id, certificate)] = [
        (logical, p)
        for logical, p in _of(synth, "AWS::CertificateManager::Certificate")
        if p["DomainName"] == host
    ]
    assert domain["RegionalCertificateArn"] == {"Ref": certificate_id}
    assert certificate["ValidationMethod"] == "DNS"
    [record] = [p for _, p in _of(synth, "AWS::Route53::RecordSet") if p["Name"] == f"{host}."]
    assert record["Type"] == "A"
    assert domain_id in json.dumps(record["AliasTarget"])
    assert record["HostedZoneId"] == certificate["DomainValidationOptions"][0]["HostedZoneId"]
    [mapping] = [
        p
        for _, p in _of(synth, "AWS::ApiGateway::BasePathMapping")
        if p["DomainName"] == {"Ref": domain_id}
    ]
    assert mapping["RestApiId"] == {"Ref": _api_id(synth, server)}
    assert not mapping.get("BasePath")
    [api] = [
        p
        for logical, p in _of(synth, "AWS::ApiGateway::RestApi")
        if logical == _api_id(synth, server)
    ]
    assert api["DisableExecuteApiEndpoint"] is True


@pytest.mark.parametrize("server", CUSTOMER_FACING, ids=lambda s: s.name)
def test_the_metadata_is_what_the_server_serves_with_its_runtimes_settings(
    synth: Synth, server: McpServer
) -> None:
    env = _runtime_env(synth, server)
    expected = protected_resource_metadata(
        base_url=env[env_name(server.settings, "public_url")],
        mcp_path="/mcp",
        authorization_servers=env[env_name(server.settings, "auth_authorization_servers")].split(
            ","
        ),
        scopes=server.scopes,
        name=server.name,
    )
    assert expected["resource"] == f"https://{server.name}.mcp.{DOMAIN}/mcp"
    assert expected["authorization_servers"] == ["https://auth.tickets.example.com/"]
    # At the path the challenge names (resource_metadata_url).
    method = _method(synth, server, "GET", "/.well-known/oauth-protected-resource/mcp")
    assert method["AuthorizationType"] == "NONE"
    integration = method["Integration"]
    assert integration["Type"] == "MOCK"
    [response] = integration["IntegrationResponses"]
    assert response["StatusCode"] == "200"
    body = response["ResponseTemplates"]["application/json"]
    assert body == json.dumps(expected, separators=(",", ":"))
    headers = response["ResponseParameters"]
    assert headers["method.response.header.Cache-Control"] == f"'{METADATA_CACHE}'"
    assert headers["method.response.header.Access-Control-Allow-Origin"] == "'*'"


@pytest.mark.parametrize("server", CUSTOMER_FACING, ids=lambda s: s.name)
def test_mcp_is_proxied_to_the_runtime_with_a_customers_token_passed_on(
    synth: Synth, server: McpServer
) -> None:
    post = _method(synth, server, "POST", "/mcp")
    assert post["AuthorizationType"] == "COGNITO_USER_POOLS"
    assert post["AuthorizationScopes"] == requestable(server.scopes)
    integration = post["Integration"]
    assert integration["Type"] == "HTTP_PROXY"
    assert integration["IntegrationHttpMethod"] == "POST"
    assert integration["RequestParameters"] == {
        "integration.request.header.Authorization": "method.request.header.Authorization"
    }
    # The runtime's invocation URL (runtimes.invocation_url), its id imported from the runtimes
    # stack.
    parts = integration["Uri"]["Fn::Join"][1]
    title = server.name.capitalize()
    assert parts[0] == "https://bedrock-agentcore.us-west-2.amazonaws.com/runtimes/arn%3A"
    assert parts[-1] == "/invocations?qualifier=DEFAULT"
    [imported] = [
        p["Fn::ImportValue"] for p in parts if isinstance(p, dict) and "Fn::ImportValue" in p
    ]
    assert imported.startswith(f"TicketingRuntimes:ExportsOutputFnGetAtt{title}Runtime")
    assert "AgentRuntimeId" in imported
    [(authorizer_id, authorizer)] = [
        (logical, p)
        for logical, p in _of(synth, "AWS::ApiGateway::Authorizer")
        if p["RestApiId"] == {"Ref": _api_id(synth, server)}
    ]
    assert authorizer["Type"] == "COGNITO_USER_POOLS"
    assert authorizer["IdentitySource"] == "method.request.header.Authorization"
    # Not cached: a token that has since expired is refused with our challenge, every time.
    assert authorizer["AuthorizerResultTtlInSeconds"] == 0
    assert post["AuthorizerId"] == {"Ref": authorizer_id}
    for verb in ("GET", "DELETE"):
        method = _method(synth, server, verb, "/mcp")
        assert method["AuthorizationType"] == "COGNITO_USER_POOLS", verb
        assert method["Integration"]["Type"] == "MOCK"
        [response] = method["Integration"]["IntegrationResponses"]
        assert response["StatusCode"] == "405"
        assert response["ResponseParameters"]["method.response.header.Allow"] == "'POST'"


@pytest.mark.parametrize("server", CUSTOMER_FACING, ids=lambda s: s.name)
def test_a_refused_token_is_sent_to_our_metadata_not_agentcores(
    synth: Synth, server: McpServer
) -> None:
    metadata = f"https://{server.name}.mcp.{DOMAIN}/.well-known/oauth-protected-resource/mcp"
    responses = {
        p["ResponseType"]: p for p in _on_api(synth, server, "AWS::ApiGateway::GatewayResponse")
    }
    unauthorized = responses["UNAUTHORIZED"]
    assert unauthorized["StatusCode"] == "401"
    assert unauthorized["ResponseParameters"] == {
        "gatewayresponse.header.WWW-Authenticate": f"'Bearer resource_metadata=\"{metadata}\"'"
    }
    assert metadata in unauthorized["ResponseTemplates"]["application/json"]
    denied = responses["ACCESS_DENIED"]
    assert denied["StatusCode"] == "403"
    assert denied["ResponseParameters"] == {
        "gatewayresponse.header.WWW-Authenticate": (
            f'\'Bearer error="insufficient_scope", resource_metadata="{metadata}"\''
        )
    }
    # An unknown path or method: "not here", no challenge.
    unknown = responses["MISSING_AUTHENTICATION_TOKEN"]
    assert unknown["StatusCode"] == "404"
    assert "ResponseParameters" not in unknown


def test_every_stage_is_throttled_logged_traced_and_behind_the_rest_edges_waf_rules(
    synth: Synth,
) -> None:
    stages = _of(synth, "AWS::ApiGateway::Stage")
    assert len(stages) == len(CUSTOMER_FACING)
    for _, stage in stages:
        [settings] = stage["MethodSettings"]
        assert settings["ThrottlingRateLimit"] == RATE_LIMIT
        assert settings["ThrottlingBurstLimit"] == BURST_LIMIT
        assert settings["LoggingLevel"] == "ERROR"
        assert settings["DataTraceEnabled"] is False
        assert "DestinationArn" in stage["AccessLogSetting"]
        assert stage["TracingEnabled"] is True
    [(acl_id, acl)] = _of(synth, "AWS::WAFv2::WebACL")
    [(_, rest_acl)] = [
        (logical, p)
        for s, logical, p in synth.resources("AWS::WAFv2::WebACL")
        if s == "TicketingRestEdge"
    ]
    assert acl["Scope"] == "REGIONAL"
    assert acl["Rules"] == rest_acl["Rules"]
    associations = [p for _, p in _of(synth, "AWS::WAFv2::WebACLAssociation")]
    assert all(a["WebACLArn"] == {"Fn::GetAtt": [acl_id, "Arn"]} for a in associations)
    guarded = {json.dumps(a["ResourceArn"]) for a in associations}
    for logical, _ in stages:
        assert any(f'"Ref": "{logical}"' in arn for arn in guarded), logical


def test_the_stack_grants_only_the_checkout_page_and_the_runtimes_do_not_depend_on_it(
    synth: Synth,
) -> None:
    iam = [
        (logical, r["Type"])
        for logical, r in synth.templates[STACK]["Resources"].items()
        if r["Type"].startswith("AWS::IAM::")
    ]
    # The page's function's role and its policy (test_checkout.py).
    assert sorted(kind for _, kind in iam) == ["AWS::IAM::Policy", "AWS::IAM::Role"]
    assert all(logical.startswith("CheckoutRole") for logical, _ in iam)
    kinds = {r["Type"] for r in synth.templates[STACK]["Resources"].values()}
    assert "AWS::ApiGateway::Account" not in kinds  # the REST edge's, one per account
    stack = synth.app.node.find_child(STACK)
    assert isinstance(stack, Stack)
    assert {d.node.id for d in stack.dependencies} >= {
        "TicketingData",
        "TicketingIdentity",
        "TicketingRuntimes",
        "TicketingRestEdge",
    }
    runtimes = synth.app.node.find_child("TicketingRuntimes")
    assert isinstance(runtimes, Stack)
    assert STACK not in {d.node.id for d in runtimes.dependencies}
