"""The edge: the registration edge (``servers.registration``) that gives Cognito what MCP clients
need to connect knowing only a server's URL — Dynamic Client Registration, Client ID Metadata
Documents and authorization-server metadata — as one Lambda function behind an API Gateway HTTP
API (payload format 2.0, the handler's), with stage throttling, access logs and reserved
concurrency. servers/registration/README.md ("Wiring it in the infrastructure") is its spec."""

from __future__ import annotations

from urllib.parse import urlsplit

import jsii
from aws_cdk import CfnOutput, Duration, Stack
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_apigatewayv2 as apigwv2
from aws_cdk import aws_apigatewayv2_integrations as integrations
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_route53_targets as route53_targets
from constructs import Construct
from servers.registration.settings import RegistrationSettings

from .domains import alias_record, zone_and_certificate
from .functions import function_logs_and_role
from .gateway import access_log_format
from .identity import IdentityStack
from .images import lambda_code
from .log_groups import kept_log_group
from .servers import environment

REGISTRATION_HANDLER = "servers.registration.handler.handler"
REGISTRATION_ROUTES: tuple[tuple[apigwv2.HttpMethod, str], ...] = (
    (apigwv2.HttpMethod.POST, "/register"),
    (apigwv2.HttpMethod.GET, "/.well-known/oauth-authorization-server"),
    (apigwv2.HttpMethod.GET, "/authorize"),
    (apigwv2.HttpMethod.POST, "/token"),
    (apigwv2.HttpMethod.POST, "/revoke"),
)
"""The handler's routes; OPTIONS on all but /authorize (browsers call the others directly)."""

THROTTLE_RATE = 20
"""Requests per second across the API: registrations are rare, and every code exchange and
refresh passes here, ~2 per sign-in hour per user."""
THROTTLE_BURST = 40
REGISTER_THROTTLE_RATE = 2
"""Requests per second to POST /register: each registration costs an app client of the user
pool's quota (1,000 by default), so registrations get a bound of their own, far below the
sign-ins' (servers/registration/README.md, "Limits, and why these")."""
REGISTER_THROTTLE_BURST = 10


@jsii.implements(apigwv2.IAccessLogSettings)
class AccessLogs:
    """A stage's access-log settings (an interface in the construct library, no class)."""

    def __init__(
        self, destination: apigwv2.IAccessLogDestination, log_format: apigw.AccessLogFormat
    ) -> None:
        self._destination = destination
        self._format = log_format

    @property
    def destination(self) -> apigwv2.IAccessLogDestination:
        return self._destination

    @property
    def format(self) -> apigw.AccessLogFormat:
        return self._format


class EdgeStack(Stack):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        identity: IdentityStack,
        issuer: str,
        hosted_zone_id: str,
        zone_name: str,
        **kwargs: object,
    ) -> None:
        """``issuer``: the registration edge's public URL, served here under its own name (a
        custom domain in the hosted zone), since it is what clients are told to call."""
        super().__init__(scope, construct_id, **kwargs)  # type: ignore[arg-type]
        function_logs, self.role = function_logs_and_role(
            self,
            "RegistrationLogs",
            "RegistrationRole",
            "The registration edge: creates and updates public app clients",
        )
        # The edge never deletes clients; UpdateUserPoolClient cannot be narrowed to the
        # clients it made by IAM (the code only updates `cimd ` clients it found by name).
        self.role.add_to_policy(
            iam.PolicyStatement(
                actions=[
                    "cognito-idp:CreateUserPoolClient",
                    "cognito-idp:ListUserPoolClients",
                    "cognito-idp:DescribeUserPoolClient",
                    "cognito-idp:UpdateUserPoolClient",
                ],
                resources=[identity.user_pool.user_pool_arn],
            )
        )
        self.registration_env = environment(
            RegistrationSettings,
            {
                "region": self.region,
                "user_pool_id": identity.user_pool.user_pool_id,
                "cognito_domain": identity.domain.base_url(),
                "issuer": issuer,
                "log_level": "INFO",
            },
        )
        self.function = lambda_.DockerImageFunction(
            self,
            "Registration",
            description="Registration edge: RFC 7591, client metadata documents, RFC 8414",
            code=lambda_code(REGISTRATION_HANDLER),
            architecture=lambda_.Architecture.ARM_64,
            memory_size=512,
            timeout=Duration.seconds(15),
            role=self.role,
            log_group=function_logs,
            environment=self.registration_env,
            # Bounds how many app clients a flood could create at once (the pool's quota is
            # the real limit; the handler's per-source limit is per instance).
            reserved_concurrent_executions=10,
        )

        access_logs = kept_log_group(self, "ApiAccessLogs")
        self.api = apigwv2.HttpApi(
            self,
            "RegistrationApi",
            description="Registration edge for MCP clients in front of Cognito",
            create_default_stage=False,
        )
        integration = integrations.HttpLambdaIntegration(
            "Handler",
            self.function,
            payload_format_version=apigwv2.PayloadFormatVersion.VERSION_2_0,
        )
        self.routes: list[apigwv2.HttpRoute] = []
        for method, path in REGISTRATION_ROUTES:
            methods = [method] if path == "/authorize" else [method, apigwv2.HttpMethod.OPTIONS]
            self.routes += self.api.add_routes(path=path, methods=methods, integration=integration)
        self.stage = apigwv2.HttpStage(
            self,
            "Stage",
            http_api=self.api,
            stage_name="$default",
            auto_deploy=True,
            throttle=apigwv2.ThrottleSettings(rate_limit=THROTTLE_RATE, burst_limit=THROTTLE_BURST),
            access_log_settings=AccessLogs(
                apigwv2.LogGroupLogDestination(access_logs), access_log_format()
            ),
        )
        # The construct library sets only the stage's default route settings. RouteSettings is
        # untyped JSON in CloudFormation, so its keys are written as CloudFormation spells them,
        # and API Gateway refuses settings for a route that does not exist yet: the stage waits
        # for the API's routes.
        stage = self.stage.node.default_child
        assert isinstance(stage, apigwv2.CfnStage)
        stage.route_settings = {
            "POST /register": {
                "ThrottlingRateLimit": REGISTER_THROTTLE_RATE,
                "ThrottlingBurstLimit": REGISTER_THROTTLE_BURST,
            }
        }
        self.stage.node.add_dependency(*self.routes)
        host = urlsplit(issuer).hostname
        if host is None:
            raise ValueError(f"ticketing:registrationIssuer has no host name: {issuer!r}")
        zone, certificate = zone_and_certificate(
            self, hosted_zone_id=hosted_zone_id, zone_name=zone_name, domain_name=host
        )
        self.domain_name = apigwv2.DomainName(
            self,
            "Domain",
            domain_name=host,
            certificate=certificate,
            security_policy=apigwv2.SecurityPolicy.TLS_1_2,
        )
        apigwv2.ApiMapping(
            self, "Mapping", api=self.api, domain_name=self.domain_name, stage=self.stage
        )
        alias_record(
            self,
            zone,
            host,
            route53_targets.ApiGatewayv2DomainProperties(
                self.domain_name.regional_domain_name, self.domain_name.regional_hosted_zone_id
            ),
        )
        CfnOutput(self, "RegistrationApiUrl", value=self.api.api_endpoint)
