"""Assertions on the synthesized templates: what the issue requires of each stack."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from aws_cdk import Stack
from host.memory.namespaces import (
    FACTS_NAMESPACE,
    PREFERENCES_NAMESPACE,
    RECALL_NAMESPACES,
    SUMMARIES_NAMESPACE,
)
from host.settings import HostSettings
from servers.core import scopes
from servers.core.settings import canonical_issuer
from servers.registration.settings import RegistrationSettings

from tests.conftest import INFRA, Synth
from ticketing_infra.edge import (
    REGISTER_THROTTLE_BURST,
    REGISTER_THROTTLE_RATE,
    REGISTRATION_HANDLER,
    REGISTRATION_ROUTES,
    THROTTLE_BURST,
    THROTTLE_RATE,
)
from ticketing_infra.identity import SERVICE_CALLS
from ticketing_infra.images import migrations_hash
from ticketing_infra.migrations import HANDLER
from ticketing_infra.model import CONCIERGE_MODEL
from ticketing_infra.rest_edge import CHAT_HANDLER, EDGE_CLIENT, WEB_ADAPTER_LAYER
from ticketing_infra.rest_edge import HANDLER as REST_HANDLER
from ticketing_infra.rest_edge import RATE_LIMIT as REST_RATE
from ticketing_infra.servers import HOST, MCP_SERVERS, known_env


def test_every_stack_is_synthesized(synth: Synth) -> None:
    assert set(synth.templates) == {
        "TicketingData",
        "TicketingEdge",
        "TicketingIdentity",
        "TicketingMail",
        "TicketingMcpDomains",
        "TicketingMemory",
        "TicketingObservability",
        "TicketingRestEdge",
        "TicketingRuntimes",
        "TicketingWeb",
        "TicketingWebGlobal",
    }


def test_every_mcp_server_has_an_mcp_runtime_behind_the_user_pools_jwt_authorizer(
    synth: Synth,
) -> None:
    runtimes = {
        p["AgentRuntimeName"]: p for _, _, p in synth.resources("AWS::BedrockAgentCore::Runtime")
    }
    assert set(runtimes) == {f"ticketing_{s.name}" for s in MCP_SERVERS} | {"ticketing_host"}
    for server in MCP_SERVERS:
        runtime = runtimes[f"ticketing_{server.name}"]
        assert runtime["ProtocolConfiguration"] == "MCP"
        jwt = runtime["AuthorizerConfiguration"]["CustomJWTAuthorizer"]
        assert json.dumps(jwt["DiscoveryUrl"]).endswith('/.well-known/openid-configuration"]]}')
        assert "cognito-idp.us-west-2.amazonaws.com" in json.dumps(jwt["DiscoveryUrl"])
        assert jwt["AllowedScopes"] == list(server.scopes)
        # Service-only servers take only our services' clients; customer-facing ones take any
        # client the registration edge created, so only their scopes are checked.
        assert ("AllowedClients" in jwt) is (not server.customer_facing), server.name
        assert runtime["RequestHeaderConfiguration"]["RequestHeaderAllowlist"] == ["Authorization"]
        assert runtime.get("TracingEnabled", True) is not False


def test_the_host_is_an_http_runtime_for_customers_chat_tokens_with_memory_and_its_model(
    synth: Synth,
) -> None:
    [runtime] = [
        p
        for _, _, p in synth.resources("AWS::BedrockAgentCore::Runtime")
        if p["AgentRuntimeName"] == "ticketing_host"
    ]
    assert runtime["ProtocolConfiguration"] == "HTTP"
    jwt = runtime["AuthorizerConfiguration"]["CustomJWTAuthorizer"]
    assert jwt["AllowedScopes"] == [scopes.CONCIERGE_CHAT]
    assert "AllowedClients" not in jwt
    assert runtime["EnvironmentVariables"]["HOST_MODEL_ID"] == CONCIERGE_MODEL.profile_id
    policies = [
        statement
        for logical, resource in synth.templates["TicketingRuntimes"]["Resources"].items()
        if resource["Type"] == "AWS::IAM::Policy" and logical.startswith("HostRole")
        for statement in resource["Properties"]["PolicyDocument"]["Statement"]
    ]
    actions = {
        a
        for s in policies
        for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])
    }
    assert {"bedrock:InvokeModelWithResponseStream", "bedrock:InvokeModel"} <= actions
    assert any(a.startswith("bedrock-agentcore:") and "Event" in a for a in actions), actions
    [bedrock] = [s for s in policies if "bedrock:InvokeModel" in s["Action"]]
    assert all("*" not in json.dumps(r) for r in bedrock["Resource"]), bedrock


def test_the_data_api_is_on_and_the_cluster_is_protected(synth: Synth) -> None:
    [(_, _, cluster)] = synth.resources("AWS::RDS::DBCluster")
    assert cluster["Engine"] == "aurora-postgresql"
    assert cluster["EngineVersion"].startswith("16.")
    assert cluster["EnableHttpEndpoint"] is True
    assert cluster["DeletionProtection"] is True
    assert cluster["StorageEncrypted"] is True
    assert cluster["BackupRetentionPeriod"] >= 7
    assert cluster["ServerlessV2ScalingConfiguration"]["MinCapacity"] > 0
    [(_, _, rotation)] = synth.resources("AWS::SecretsManager::RotationSchedule")
    assert rotation["RotationRules"]["ScheduleExpression"] == "rate(30 days)"


def test_the_vpc_has_isolated_subnets_only(synth: Synth) -> None:
    assert not list(synth.resources("AWS::EC2::InternetGateway"))
    assert not list(synth.resources("AWS::EC2::NatGateway"))
    for _, _, subnet in synth.resources("AWS::EC2::Subnet"):
        assert subnet["MapPublicIpOnLaunch"] is False


def test_the_resource_servers_and_scopes_are_the_kits(synth: Synth) -> None:
    granted = {
        f"{p['Identifier']}/{s['ScopeName']}"
        for _, _, p in synth.resources("AWS::Cognito::UserPoolResourceServer")
        for s in p["Scopes"]
    }
    assert granted == set(scopes.ALL_SCOPES)


def _scope_names(synth: Synth, client: dict[str, Any]) -> set[str]:
    """A client's scopes as written: ``{"Fn::Join": ["", [{"Ref": server}, "/read"]]}`` names
    the resource server by reference, whose identifier the template holds."""
    identifiers = {
        logical: p["Identifier"]
        for _, logical, p in synth.resources("AWS::Cognito::UserPoolResourceServer")
    }
    names = set()
    for scope in client["AllowedOAuthScopes"]:
        if isinstance(scope, str):
            names.add(scope)
            continue
        separator, parts = scope["Fn::Join"]
        names.add(
            separator.join(identifiers[p["Ref"]] if isinstance(p, dict) else p for p in parts)
        )
    return names


def test_service_clients_use_client_credentials_with_only_what_they_call(synth: Synth) -> None:
    clients = {
        p.get("ClientName"): p for _, _, p in synth.resources("AWS::Cognito::UserPoolClient")
    }
    for name, allowed in SERVICE_CALLS.items():
        client = clients[name]
        assert client["GenerateSecret"] is True
        assert client["AllowedOAuthFlows"] == ["client_credentials"]
        assert _scope_names(synth, client) == set(allowed)
    [web] = [c for c in clients.values() if c.get("AllowedOAuthFlows") == ["code"]]
    assert web["GenerateSecret"] is False
    web_scopes = _scope_names(synth, web)
    assert set(scopes.CUSTOMER_SCOPES) <= web_scopes
    assert not web_scopes & set(scopes.SERVICE_ONLY_SCOPES)


def test_the_user_pool_has_a_password_policy_optional_mfa_and_threat_protection(
    synth: Synth,
) -> None:
    [(_, _, pool)] = synth.resources("AWS::Cognito::UserPool")
    assert pool["MfaConfiguration"] == "OPTIONAL"
    assert pool["Policies"]["PasswordPolicy"]["MinimumLength"] >= 12
    assert pool["UserPoolTier"] == "PLUS"
    assert list(synth.resources("AWS::Cognito::UserPoolDomain"))


def _statements(synth: Synth) -> list[dict[str, Any]]:
    found = []
    for kind in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
        for _, _, policy in synth.resources(kind):
            found += policy["PolicyDocument"]["Statement"]
    for _, _, role in synth.resources("AWS::IAM::Role"):
        for inline in role.get("Policies", []):
            found += inline["PolicyDocument"]["Statement"]
    return found


def test_no_iam_statement_grants_wildcard_actions(synth: Synth) -> None:
    statements = _statements(synth)
    assert statements
    for statement in statements:
        actions = statement["Action"]
        for action in [actions] if isinstance(actions, str) else actions:
            assert "*" not in action, statement


def test_only_the_notify_server_may_send_mail_and_only_the_storing_ones_use_the_data_api(
    synth: Synth,
) -> None:
    template = synth.templates["TicketingRuntimes"]
    by_role: dict[str, set[str]] = {}
    for logical, resource in template["Resources"].items():
        if resource["Type"] != "AWS::IAM::Policy":
            continue
        role = logical.split("Role")[0].lower()
        for statement in resource["Properties"]["PolicyDocument"]["Statement"]:
            actions = statement["Action"]
            by_role.setdefault(role, set()).update(
                [actions] if isinstance(actions, str) else actions
            )
    assert {r for r, a in by_role.items() if "ses:SendEmail" in a} == {"notify"}
    # The host keeps its sessions in its own schema too.
    storing = {s.name for s in MCP_SERVERS if s.stores_data} | {HOST.name}
    assert {r for r, a in by_role.items() if "rds-data:ExecuteStatement" in a} == storing


def test_log_groups_have_a_retention(synth: Synth) -> None:
    groups = list(synth.resources("AWS::Logs::LogGroup"))
    assert groups
    for stack, logical, group in groups:
        assert group.get("RetentionInDays"), (stack, logical)


def test_the_concierge_memory_has_summary_semantic_and_preference_strategies(
    synth: Synth,
) -> None:
    [(_, _, memory)] = synth.resources("AWS::BedrockAgentCore::Memory")
    namespaces = {
        kind: body["Namespaces"]
        for strategy in memory["MemoryStrategies"]
        for kind, body in strategy.items()
    }
    # The namespaces the host's AgentCore store reads and writes (host/memory/namespaces.py).
    assert namespaces == {
        "SummaryMemoryStrategy": [SUMMARIES_NAMESPACE],
        "SemanticMemoryStrategy": [FACTS_NAMESPACE],
        "UserPreferenceMemoryStrategy": [PREFERENCES_NAMESPACE],
    }
    assert all(
        any(read.startswith(path.split("{sessionId}")[0]) for read in RECALL_NAMESPACES)
        for path in (SUMMARIES_NAMESPACE, FACTS_NAMESPACE, PREFERENCES_NAMESPACE)
    )


def test_no_bucket_is_public_and_every_bucket_requires_tls(synth: Synth) -> None:
    buckets = list(synth.resources("AWS::S3::Bucket"))
    assert buckets
    for _, _, bucket in buckets:
        assert bucket["PublicAccessBlockConfiguration"] == {
            "BlockPublicAcls": True,
            "BlockPublicPolicy": True,
            "IgnorePublicAcls": True,
            "RestrictPublicBuckets": True,
        }
        assert "WebsiteConfiguration" not in bucket
    for _, _, policy in synth.resources("AWS::S3::BucketPolicy"):
        for statement in policy["PolicyDocument"]["Statement"]:
            if statement["Effect"] == "Allow":
                assert statement["Principal"] != "*", statement
                assert statement["Principal"] != {"AWS": "*"}, statement


def test_the_site_is_served_through_cloudfront_with_oac_headers_and_spa_fallback(
    synth: Synth,
) -> None:
    [(_, _, oac)] = synth.resources("AWS::CloudFront::OriginAccessControl")
    assert oac["OriginAccessControlConfig"]["SigningBehavior"] == "always"
    [(_, _, cdn)] = synth.resources("AWS::CloudFront::Distribution")
    config = cdn["DistributionConfig"]
    [origin] = config["Origins"]
    assert "OriginAccessControlId" in origin
    assert origin["S3OriginConfig"]["OriginAccessIdentity"] == ""
    behavior = config["DefaultCacheBehavior"]
    assert behavior["ViewerProtocolPolicy"] == "redirect-to-https"
    assert "ResponseHeadersPolicyId" in behavior
    assert {(e["ErrorCode"], e["ResponsePagePath"]) for e in config["CustomErrorResponses"]} == {
        (403, "/index.html"),
        (404, "/index.html"),
    }
    [(_, _, headers)] = synth.resources("AWS::CloudFront::ResponseHeadersPolicy")
    security = headers["ResponseHeadersPolicyConfig"]["SecurityHeadersConfig"]
    assert security["FrameOptions"]["FrameOption"] == "DENY"
    assert "frame-ancestors 'none'" in security["ContentSecurityPolicy"]["ContentSecurityPolicy"]
    assert security["StrictTransportSecurity"]["AccessControlMaxAgeSec"] >= 31_536_000


def test_the_site_is_served_at_its_own_name_with_a_certificate_and_web_acl_of_us_east_1(
    synth: Synth,
) -> None:
    """The name Cognito's callback and the APIs' CORS allow: without it the app could not sign
    in. CloudFront takes a certificate and a web ACL from us-east-1 only."""
    domain = "tickets.example.com"  # cdk.json's ticketing:domain
    global_stack = synth.app.node.find_child("TicketingWebGlobal")
    assert isinstance(global_stack, Stack)
    assert global_stack.region == "us-east-1"
    web = synth.app.node.find_child("TicketingWeb")
    assert isinstance(web, Stack)
    assert web.region == "us-west-2"
    [(stack, _, certificate)] = [
        r
        for r in synth.resources("AWS::CertificateManager::Certificate")
        if r[2]["DomainName"] == domain
    ]
    assert (stack, certificate["ValidationMethod"]) == ("TicketingWebGlobal", "DNS")
    [(stack, _, acl)] = [
        r for r in synth.resources("AWS::WAFv2::WebACL") if r[2]["Scope"] == "CLOUDFRONT"
    ]
    [rest_acl] = [
        p for s, _, p in synth.resources("AWS::WAFv2::WebACL") if s == "TicketingRestEdge"
    ]
    assert stack == "TicketingWebGlobal"
    assert acl["Rules"] == rest_acl["Rules"]
    [(_, _, cdn)] = synth.resources("AWS::CloudFront::Distribution")
    config = cdn["DistributionConfig"]
    assert config["Aliases"] == [domain]
    assert config["ViewerCertificate"]["MinimumProtocolVersion"] == "TLSv1.2_2021"
    assert config["ViewerCertificate"]["SslSupportMethod"] == "sni-only"
    # Both ARNs come from us-east-1 through CDK's cross-region reader.
    for arn in (config["ViewerCertificate"]["AcmCertificateArn"], config["WebACLId"]):
        assert "/cdk/exports/TicketingWeb/TicketingWebGlobal" in json.dumps(arn)
    records = {
        p["Type"]: p
        for s, _, p in synth.resources("AWS::Route53::RecordSet")
        if s == "TicketingWeb"
    }
    assert set(records) == {"A", "AAAA"}
    for record in records.values():
        assert record["Name"] == f"{domain}."
        assert "cloudfront" in json.dumps(record["AliasTarget"]).lower()
    [(_, _, client)] = [
        r for r in synth.resources("AWS::Cognito::UserPoolClient") if r[2].get("CallbackURLs")
    ]
    assert client["CallbackURLs"] == [f"https://{domain}/callback"]


def test_every_runtime_alarms_on_system_errors_and_throttles(synth: Synth) -> None:
    alarms = [p for _, _, p in synth.resources("AWS::CloudWatch::Alarm")]
    names = {(a["MetricName"], json.dumps(a["Dimensions"])) for a in alarms}
    for server in MCP_SERVERS:
        for metric in ("SystemErrors", "Throttles"):
            assert any(m == metric and server.name.capitalize() in d for m, d in names), (
                server.name,
                metric,
            )
    for alarm in alarms:
        assert alarm["AlarmActions"], alarm


def _alarmed(synth: Synth, metric: str) -> list[dict[str, Any]]:
    """Every alarm's dimensions on ``metric``, each alarm checked to go to the topic."""
    [(_, topic, _)] = synth.resources("AWS::SNS::Topic")
    found = []
    for _, _, alarm in synth.resources("AWS::CloudWatch::Alarm"):
        if alarm["MetricName"] == metric:
            assert alarm["AlarmActions"] == [{"Ref": topic}], alarm
            assert alarm["Statistic"] == "Sum", alarm
            assert alarm["Threshold"] >= 1, alarm
            found.append({d["Name"]: d["Value"] for d in alarm["Dimensions"]})
    return found


def _names(value: Any) -> str:
    """What a dimension's value names: an API's name, or the export of another stack's
    resource (``TicketingEdge:ExportsOutputRefRegistration...``), whose logical id it holds."""
    return value if isinstance(value, str) else str(value["Fn::ImportValue"])


def test_every_edge_api_alarms_on_its_5xx_answers(synth: Synth) -> None:
    # API Gateway's REST metrics carry the API's name: every API has one of its own.
    rest = [_names(d["ApiName"]) for d in _alarmed(synth, "5XXError")]
    names = [str(p["Name"]) for _, _, p in synth.resources("AWS::ApiGateway::RestApi")]
    assert sorted(rest) == sorted(names), (rest, names)
    http = [_names(d["ApiId"]) for d in _alarmed(synth, "5xx")]
    apis = [logical for _, logical, _ in synth.resources("AWS::ApiGatewayV2::Api")]
    assert apis
    for logical in apis:
        assert any(f"Ref{logical}" in h for h in http), (logical, http)


def test_every_function_behind_an_edge_alarms_on_errors_and_throttles(synth: Synth) -> None:
    functions = {
        permission["FunctionName"]["Fn::GetAtt"][0]
        for _, _, permission in synth.resources("AWS::Lambda::Permission")
        if permission["Principal"] == "apigateway.amazonaws.com"
    }
    assert len(functions) >= 3, functions
    for metric in ("Errors", "Throttles"):
        # The runtimes' throttles are alarmed as well, by their own dimensions.
        alarmed = [
            _names(d["FunctionName"]) for d in _alarmed(synth, metric) if "FunctionName" in d
        ]
        for function in functions:
            assert any(f"Ref{function}" in a for a in alarmed), (metric, function, alarmed)


def test_no_secret_value_is_written_in_a_template(synth: Synth) -> None:
    secrets = list(synth.resources("AWS::SecretsManager::Secret"))
    # The cluster's credentials, two Cognito client secrets, the webhook and fingerprint keys.
    assert len(secrets) >= 5
    for _, logical, props in secrets:
        # Generated by Secrets Manager, or copied from Cognito at deploy (a GetAtt of the
        # custom resource that reads it), never a literal.
        value = props.get("SecretString")
        assert value is None or isinstance(value, dict), logical
        assert value is not None or "GenerateSecretString" in props, logical


def test_the_migrations_run_at_deploy_over_the_data_api(synth: Synth) -> None:
    [(stack, _, props)] = list(synth.resources("Custom::Migrations"))
    assert stack == "TicketingData"
    assert set(props) >= {"ServiceToken", "ClusterArn", "SecretArn", "Database", "MigrationsHash"}
    assert props["MigrationsHash"] == migrations_hash()
    functions = {
        logical: p
        for s, logical, p in synth.resources("AWS::Lambda::Function")
        if s == "TicketingData" and p.get("PackageType") == "Image"
    }
    [function] = functions.values()
    assert function["Architectures"] == ["arm64"]
    assert function["ImageConfig"]["Command"] == [HANDLER]
    # Its own role, no managed policy; the Data API on the cluster only.
    [role] = [
        p
        for s, logical, p in synth.resources("AWS::IAM::Role")
        if s == "TicketingData" and logical.startswith("MigrationsRole")
    ]
    assert "ManagedPolicyArns" not in role


def test_the_registration_edge_serves_the_handlers_routes_throttled_and_logged(
    synth: Synth,
) -> None:
    routes = {p["RouteKey"] for s, _, p in synth.resources("AWS::ApiGatewayV2::Route")}
    expected = {f"{m.value} {path}" for m, path in REGISTRATION_ROUTES}
    expected |= {f"OPTIONS {path}" for _, path in REGISTRATION_ROUTES if path != "/authorize"}
    assert routes == expected
    [stage] = [p for _, _, p in synth.resources("AWS::ApiGatewayV2::Stage")]
    assert stage["DefaultRouteSettings"]["ThrottlingRateLimit"] == THROTTLE_RATE
    assert stage["DefaultRouteSettings"]["ThrottlingBurstLimit"] == THROTTLE_BURST
    # Registrations, which cost app clients of the pool's quota, have a tighter bound.
    assert stage["RouteSettings"] == {
        "POST /register": {
            "ThrottlingRateLimit": REGISTER_THROTTLE_RATE,
            "ThrottlingBurstLimit": REGISTER_THROTTLE_BURST,
        }
    }
    assert REGISTER_THROTTLE_RATE < THROTTLE_RATE
    # API Gateway refuses settings for a route it does not have yet.
    [(stage_id, template)] = [
        (logical, synth.templates[s])
        for s, logical, _ in synth.resources("AWS::ApiGatewayV2::Stage")
    ]
    [register] = [
        logical
        for _, logical, p in synth.resources("AWS::ApiGatewayV2::Route")
        if p["RouteKey"] == "POST /register"
    ]
    assert register in template["Resources"][stage_id]["DependsOn"]
    assert "DestinationArn" in stage["AccessLogSettings"]
    [function] = [
        p
        for s, _, p in synth.resources("AWS::Lambda::Function")
        if s == "TicketingEdge" and p.get("PackageType") == "Image"
    ]
    assert function["ImageConfig"]["Command"] == [REGISTRATION_HANDLER]
    assert function["ReservedConcurrentExecutions"] >= 1
    statements = [
        statement
        for s, logical, p in synth.resources("AWS::IAM::Policy")
        if s == "TicketingEdge" and logical.startswith("RegistrationRole")
        for statement in p["PolicyDocument"]["Statement"]
    ]
    [cognito] = [st for st in statements if "cognito-idp:CreateUserPoolClient" in st["Action"]]
    assert not any("Delete" in a for a in cognito["Action"])
    assert "Fn::ImportValue" in json.dumps(cognito["Resource"])  # the pool's ARN, nothing wider


def test_the_registration_edge_is_served_at_the_issuer_it_names(synth: Synth) -> None:
    edge = synth.templates["TicketingEdge"]["Resources"].values()

    def of(kind: str) -> list[dict[str, Any]]:
        return [r.get("Properties", {}) for r in edge if r["Type"] == kind]

    host = "auth.tickets.example.com"  # cdk.json's ticketing:registrationIssuer
    [domain] = of("AWS::ApiGatewayV2::DomainName")
    assert domain["DomainName"] == host
    [config] = domain["DomainNameConfigurations"]
    assert config["SecurityPolicy"] == "TLS_1_2"
    [mapping] = of("AWS::ApiGatewayV2::ApiMapping")
    assert mapping["Stage"] == "$default" or isinstance(mapping["Stage"], dict)
    [certificate] = of("AWS::CertificateManager::Certificate")
    assert (certificate["DomainName"], certificate["ValidationMethod"]) == (host, "DNS")
    [record] = of("AWS::Route53::RecordSet")
    assert (record["Name"], record["Type"]) == (f"{host}.", "A")
    assert "AliasTarget" in record


def test_the_registration_environment_is_the_handlers_settings(
    synth: Synth, monkeypatch: pytest.MonkeyPatch
) -> None:
    [function] = [
        p
        for s, _, p in synth.resources("AWS::Lambda::Function")
        if s == "TicketingEdge" and p.get("PackageType") == "Image"
    ]
    env = function["Environment"]["Variables"]
    known = known_env(RegistrationSettings)
    assert set(env) <= set(known)
    monkeypatch.chdir("/")
    for name, value in env.items():
        monkeypatch.setenv(name, value if isinstance(value, str) else "eu-west-1_Token1")
    # Tokens (the pool id, its domain) stand in for what CloudFormation fills in.
    monkeypatch.setenv("REGISTRATION_COGNITO_DOMAIN", "https://x.auth.us-west-2.amazoncognito.com")
    settings = RegistrationSettings()
    assert settings.region == "us-west-2"
    assert settings.issuer == canonical_issuer(
        json.loads((INFRA / "cdk.json").read_text())["context"]["ticketing:registrationIssuer"]
    )


def test_cognito_adds_the_verified_address_with_a_small_standard_library_trigger(
    synth: Synth,
) -> None:
    [pool] = [p for _, _, p in synth.resources("AWS::Cognito::UserPool")]
    trigger = pool["LambdaConfig"]["PreTokenGenerationConfig"]
    assert trigger["LambdaVersion"] == "V2_0"
    [(logical, function)] = [
        (logical, p)
        for s, logical, p in synth.resources("AWS::Lambda::Function")
        if p.get("Handler") == "servers.edge.pretoken.handler"
    ]
    assert logical in json.dumps(trigger["LambdaArn"])
    # The zip holds the handler and its packages' __init__ files, nothing else.
    asset = Path(synth.app.outdir) / f"asset.{function['Code']['S3Key'].removesuffix('.zip')}"
    files = sorted(str(p.relative_to(asset)) for p in asset.rglob("*") if p.is_file())
    assert files == ["servers/__init__.py", "servers/edge/__init__.py", "servers/edge/pretoken.py"]


def _rest(synth: Synth, kind: str) -> list[dict[str, Any]]:
    return [p for s, _, p in synth.resources(kind) if s == "TicketingRestEdge"]


def test_the_chat_route_needs_a_cognito_access_token_with_concierge_chat_and_a_valid_body(
    synth: Synth,
) -> None:
    methods = {
        (m["HttpMethod"], json.dumps(m["ResourceId"])): m
        for m in _rest(synth, "AWS::ApiGateway::Method")
    }
    posts = [m for (verb, _), m in methods.items() if verb == "POST"]
    assert len(posts) == 2
    [chat] = [m for m in posts if m["AuthorizationType"] == "COGNITO_USER_POOLS"]
    [webhook] = [m for m in posts if m["AuthorizationType"] == "NONE"]
    assert chat["AuthorizationScopes"] == [scopes.CONCIERGE_CHAT]
    assert "RequestValidatorId" in chat
    assert "RequestValidatorId" in webhook
    assert "application/json" in chat["RequestModels"]
    [model] = _rest(synth, "AWS::ApiGateway::Model")
    assert model["Schema"]["required"] == ["message"]
    assert model["Schema"]["additionalProperties"] is False
    [authorizer] = _rest(synth, "AWS::ApiGateway::Authorizer")
    assert authorizer["Type"] == "COGNITO_USER_POOLS"
    # CORS: the web origin only, never *.
    options = [m for (verb, _), m in methods.items() if verb == "OPTIONS"]
    [preflight] = options
    allowed = json.dumps(preflight["Integration"]["IntegrationResponses"])
    assert "https://tickets.example.com" in allowed or "ticketing:domain" in allowed
    assert "'*'" not in allowed


def test_the_rest_edge_is_throttled_logged_and_behind_a_waf(synth: Synth) -> None:
    [stage] = _rest(synth, "AWS::ApiGateway::Stage")
    [settings] = stage["MethodSettings"]
    assert settings["ThrottlingRateLimit"] == REST_RATE
    assert settings["DataTraceEnabled"] is False
    assert "DestinationArn" in stage["AccessLogSetting"]
    assert stage["TracingEnabled"] is True
    [plan] = _rest(synth, "AWS::ApiGateway::UsagePlan")
    assert plan["Throttle"]["RateLimit"] == REST_RATE
    assert plan["Quota"]["Period"] == "MONTH"
    [acl] = _rest(synth, "AWS::WAFv2::WebACL")
    assert acl["Scope"] == "REGIONAL"
    names = {r["Name"] for r in acl["Rules"]}
    assert {"AWSManagedRulesCommonRuleSet", "PerSourceRate"} <= names
    [association] = _rest(synth, "AWS::WAFv2::WebACLAssociation")
    assert "Stage" in json.dumps(association["ResourceArn"]) or "restapis" in json.dumps(
        association["ResourceArn"]
    )


def test_the_rest_edge_function_is_a_small_zip_reading_its_secrets_by_reference(
    synth: Synth,
) -> None:
    [function] = [
        p for p in _rest(synth, "AWS::Lambda::Function") if p.get("Handler") == REST_HANDLER
    ]
    env = function["Environment"]["Variables"]
    assert set(env) == {
        "EDGE_TICKET_MCP_URL",
        "EDGE_TOKEN_URL",
        "EDGE_CLIENT_ID",
        "EDGE_CLIENT_SECRET_ARN",
        "EDGE_WEBHOOK_SECRET_ARN",
    }
    for reference in ("EDGE_CLIENT_SECRET_ARN", "EDGE_WEBHOOK_SECRET_ARN", "EDGE_CLIENT_ID"):
        assert isinstance(env[reference], dict), reference  # a reference, not a value
    # The ticket runtime's MCP endpoint (AgentCore's invocation URL) and Cognito's token URL.
    assert "bedrock-agentcore" in json.dumps(env["EDGE_TICKET_MCP_URL"])
    assert json.dumps(env["EDGE_TOKEN_URL"]).endswith('/oauth2/token"]]}')
    asset = Path(synth.app.outdir) / f"asset.{function['Code']['S3Key'].removesuffix('.zip')}"
    files = sorted(str(p.relative_to(asset)) for p in asset.rglob("*") if p.is_file())
    assert files == [
        "servers/__init__.py",
        "servers/core/__init__.py",
        "servers/core/webhooks.py",
        "servers/edge/__init__.py",
        "servers/edge/handoff.py",
        "servers/edge/rest.py",
    ]


def test_the_edges_client_may_ask_for_the_event_scope_only_and_servers_know_it_as_ours(
    synth: Synth,
) -> None:
    assert SERVICE_CALLS[EDGE_CLIENT] == (scopes.TICKETS_WEBHOOKS,)
    [edge_client] = [
        logical
        for _, logical, p in synth.resources("AWS::Cognito::UserPoolClient")
        if p.get("ClientName") == EDGE_CLIENT
    ]
    for _, _, runtime in synth.resources("AWS::BedrockAgentCore::Runtime"):
        env = runtime["EnvironmentVariables"]
        named = [k for k in env if k.endswith("_AUTH_SERVICE_CLIENT_IDS")]
        assert len(named) == 1, runtime["AgentRuntimeName"]
        assert edge_client in json.dumps(env[named[0]]), runtime["AgentRuntimeName"]


def test_the_payment_server_posts_its_events_to_the_edges_own_domain(synth: Synth) -> None:
    [payment] = [
        p
        for _, _, p in synth.resources("AWS::BedrockAgentCore::Runtime")
        if p["AgentRuntimeName"] == "ticketing_payment"
    ]
    url = payment["EnvironmentVariables"]["PAYMENT_WEBHOOK_URLS"]
    assert url == "https://api.tickets.example.com/webhooks/payment"
    [domain] = _rest(synth, "AWS::ApiGateway::DomainName")
    assert domain["DomainName"] == "api.tickets.example.com"
    assert domain["EndpointConfiguration"] == {"Types": ["REGIONAL"]}
    assert domain["SecurityPolicy"] == "TLS_1_2"
    [mapping] = _rest(synth, "AWS::ApiGateway::BasePathMapping")
    assert "BasePath" not in mapping or mapping["BasePath"] in ("", None)
    [certificate] = _rest(synth, "AWS::CertificateManager::Certificate")
    assert certificate["DomainName"] == "api.tickets.example.com"
    assert certificate["ValidationMethod"] == "DNS"
    [record] = _rest(synth, "AWS::Route53::RecordSet")
    assert record["Type"] == "A"
    assert record["Name"] == "api.tickets.example.com."
    assert "AliasTarget" in record
    assert record["HostedZoneId"] == certificate["DomainValidationOptions"][0]["HostedZoneId"]


def _integration_of(synth: Synth, authorization: str) -> dict[str, Any]:
    [method] = [
        m
        for m in _rest(synth, "AWS::ApiGateway::Method")
        if m["HttpMethod"] == "POST" and m["AuthorizationType"] == authorization
    ]
    integration: dict[str, Any] = method["Integration"]
    return integration


def test_the_chat_streams_from_its_own_function_for_as_long_as_a_turn_may_run(
    synth: Synth,
) -> None:
    chat = _integration_of(synth, "COGNITO_USER_POOLS")
    assert chat["Type"] == "AWS_PROXY"
    assert chat["ResponseTransferMode"] == "STREAM"
    # Streaming invokes the function through InvokeWithResponseStream.
    assert "/response-streaming-invocations" in json.dumps(chat["Uri"])
    # Above the host's own bound on a turn (so the host ends a long turn with its own error
    # event), and far below the 15 minutes a streamed answer may last.
    turn = HostSettings.model_fields["turn_timeout_seconds"].default
    assert turn * 1000 < chat["TimeoutInMillis"] <= turn * 1000 + 60_000
    [function] = [
        p for p in _rest(synth, "AWS::Lambda::Function") if p.get("Handler") == CHAT_HANDLER
    ]
    assert function["Timeout"] * 1000 > chat["TimeoutInMillis"]
    # Only the chat streams: a webhook's answer is a small JSON the gateway may buffer.
    assert "ResponseTransferMode" not in _integration_of(synth, "NONE")
    env = function["Environment"]["Variables"]
    assert env["AWS_LAMBDA_EXEC_WRAPPER"] == "/opt/bootstrap"
    assert env["AWS_LWA_INVOKE_MODE"] == "response_stream"
    assert set(env) == {
        "AWS_LAMBDA_EXEC_WRAPPER",
        "AWS_LWA_INVOKE_MODE",
        "AWS_LWA_PORT",
        "AWS_LWA_READINESS_CHECK_PATH",
        "EDGE_HOST_URL",
        "EDGE_ALLOWED_ORIGINS",
    }
    assert "bedrock-agentcore" in json.dumps(env["EDGE_HOST_URL"])
    [layer] = function["Layers"]
    assert json.dumps(layer).endswith(json.dumps(WEB_ADAPTER_LAYER.split("{region}")[1])[1:]), layer
    assert function["Architectures"] == ["arm64"]
    # The zip holds the relay, its start script (executable) and packages, nothing else.
    asset = Path(synth.app.outdir) / f"asset.{function['Code']['S3Key'].removesuffix('.zip')}"
    files = sorted(str(p.relative_to(asset)) for p in asset.rglob("*") if p.is_file())
    assert files == sorted(
        ["servers/__init__.py", "servers/edge/__init__.py", "servers/edge/chat.py", CHAT_HANDLER]
    )
    assert (asset / CHAT_HANDLER).stat().st_mode & 0o111


def test_the_chat_relays_role_may_write_its_logs_and_nothing_else(synth: Synth) -> None:
    functions = {p["Handler"]: p for p in _rest(synth, "AWS::Lambda::Function") if "Handler" in p}
    [role, _] = functions[CHAT_HANDLER]["Role"]["Fn::GetAtt"]
    policies = [
        p
        for s, _, p in synth.resources("AWS::IAM::Policy")
        if s == "TicketingRestEdge" and p["Roles"] == [{"Ref": role}]
    ]
    actions = {
        a
        for p in policies
        for statement in p["PolicyDocument"]["Statement"]
        for a in (
            [statement["Action"]] if isinstance(statement["Action"], str) else statement["Action"]
        )
    }
    assert actions
    assert all(a.startswith("logs:") for a in actions), actions
