"""The REST edge: an API Gateway REST API in front of the concierge's chat and the payment
gateway's webhooks, a standard-library Lambda function behind each.

- ``POST /chat``: Cognito user-pool authorizer requiring ``concierge/chat`` (an access token),
  the body validated against the chat request's schema, CORS for the web origin only; relayed
  to the host runtime with the caller's token and **streamed** back as the host writes it: the
  integration's response transfer mode is ``STREAM`` and the function (servers/edge/chat.py) is
  an HTTP server behind the Lambda Web Adapter, which writes the format API Gateway streams
  (infra/README.md, "The chat streams").
- ``POST /webhooks/payment``: no token (the gateway signs instead); the signature is checked by
  its function (servers/edge/rest.py), which hands the event to the ticket server's runtime as a
  call of its ``receive_payment_event`` tool with a client-credentials token of its own
  (``payment-edge``, scope ``tickets/webhooks``); the ticket server checks the signature again.

The API has a custom domain, ``api.DOMAIN`` (an ACM certificate validated in the domain's hosted
zone, an alias record), so that the payment server's runtime can be told where to post its
events before this stack exists: this stack depends on the runtimes, not the other way round.

Stage throttling, a usage plan bounding the monthly total, access and execution logs, X-Ray
tracing, and a regional WAF web ACL (AWS managed common and known-bad-input rules and a rate
limit per source address).
"""

from __future__ import annotations

from aws_cdk import CfnOutput, Duration, RemovalPolicy, Stack
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_route53_targets as route53_targets
from aws_cdk import aws_wafv2 as wafv2
from constructs import Construct
from host.settings import HostSettings
from servers.core import scopes
from servers.edge.chat import MAX_MESSAGE_CHARS, READY_PATH
from servers.edge.rest import WEBHOOK_PATH

from .domains import alias_record, zone_and_certificate
from .functions import function_logs_and_role
from .gateway import stage_options, web_acl
from .identity import PRE_TOKEN_RUNTIME, IdentityStack
from .images import python_zip
from .log_groups import kept_log_group
from .runtimes import RuntimesStack, invocation_url

HANDLER = "servers.edge.rest.handler"
CHAT_HANDLER = "servers/edge/chat.sh"
"""An executable the Lambda Web Adapter's exec wrapper runs in place of Python's runtime."""
WEB_ADAPTER_LAYER = "arn:aws:lambda:{region}:753240598075:layer:LambdaAdapterLayerArm64:27"
"""AWS's Lambda Web Adapter 1.0.0 for arm64 (its published layer, account 753240598075)."""
HOST_TURN = Duration.seconds(int(HostSettings.model_fields["turn_timeout_seconds"].default))
CHAT_TIMEOUT = HOST_TURN.plus(Duration.seconds(30))
"""How long a chat turn may stream: the host's own bound on a turn, and time for its runtime to
start a microVM (API Gateway allows up to 15 minutes when streaming, 29 s when buffering)."""
RATE_LIMIT = 50
"""Requests per second across the stage; a chat turn is one request."""
BURST_LIMIT = 100
MONTHLY_QUOTA = 2_000_000
EDGE_CLIENT = "payment-edge"


def webhook_url(api_domain: str) -> str:
    """Where the payment server posts its events: the webhook route on the edge's own domain."""
    return f"https://{api_domain}{WEBHOOK_PATH}"


class RestEdgeStack(Stack):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        identity: IdentityStack,
        runtimes: RuntimesStack,
        web_origin: str,
        api_domain: str,
        hosted_zone_id: str,
        zone_name: str,
        **kwargs: object,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)  # type: ignore[arg-type]
        function_logs, role = function_logs_and_role(
            self,
            "EdgeLogs",
            "EdgeRole",
            "The REST edge's webhooks: its logs, the webhook signing secret and its client secret",
        )
        runtimes.webhook_secret.grant_read(role)
        identity.client_secrets[EDGE_CLIENT].grant_read(role)
        self.function = lambda_.Function(
            self,
            "Edge",
            description="REST edge: payment webhooks checked, then handed to the ticket server",
            runtime=PRE_TOKEN_RUNTIME,
            architecture=lambda_.Architecture.ARM_64,
            handler=HANDLER,
            code=python_zip(
                "servers/__init__.py",
                "servers/core/__init__.py",
                "servers/core/webhooks.py",
                "servers/edge/__init__.py",
                "servers/edge/handoff.py",
                "servers/edge/rest.py",
            ),
            # API Gateway gives up after 29 s (servers/edge/handoff.py's per-request timeout).
            timeout=Duration.seconds(28),
            memory_size=256,
            role=role,
            log_group=function_logs,
            environment={
                "EDGE_TICKET_MCP_URL": invocation_url(runtimes, runtimes.runtimes["ticket"]),
                "EDGE_TOKEN_URL": f"{identity.domain.base_url()}/oauth2/token",
                "EDGE_CLIENT_ID": identity.service_clients[EDGE_CLIENT].user_pool_client_id,
                "EDGE_CLIENT_SECRET_ARN": identity.client_secrets[EDGE_CLIENT].secret_arn,
                "EDGE_WEBHOOK_SECRET_ARN": runtimes.webhook_secret.secret_arn,
            },
        )
        chat_logs, chat_role = function_logs_and_role(
            self,
            "ChatLogs",
            "ChatRole",
            "The REST edge's chat relay: its logs only (the caller's token is relayed)",
        )
        self.chat_function = lambda_.Function(
            self,
            "Chat",
            description="REST edge: the chat relayed to the host runtime, streamed back",
            runtime=PRE_TOKEN_RUNTIME,
            architecture=lambda_.Architecture.ARM_64,
            handler=CHAT_HANDLER,
            code=python_zip(
                "servers/__init__.py",
                "servers/edge/__init__.py",
                "servers/edge/chat.py",
                CHAT_HANDLER,
            ),
            layers=[
                lambda_.LayerVersion.from_layer_version_arn(
                    self, "WebAdapter", WEB_ADAPTER_LAYER.format(region=self.region)
                )
            ],
            # The function outlives the gateway's wait a little, so the gateway ends a turn
            # that ran over, not Lambda in the middle of a piece.
            timeout=CHAT_TIMEOUT.plus(Duration.seconds(10)),
            memory_size=256,
            role=chat_role,
            log_group=chat_logs,
            environment={
                "AWS_LAMBDA_EXEC_WRAPPER": "/opt/bootstrap",
                "AWS_LWA_INVOKE_MODE": "response_stream",
                "AWS_LWA_PORT": "8080",
                "AWS_LWA_READINESS_CHECK_PATH": READY_PATH,
                "EDGE_HOST_URL": invocation_url(runtimes, runtimes.runtimes["host"]),
                "EDGE_ALLOWED_ORIGINS": web_origin,
            },
        )

        access_logs = kept_log_group(self, "ApiAccessLogs")
        self.api = apigw.RestApi(
            self,
            "Api",
            # Its alarm finds it by this name (API Gateway's metrics carry names, not ids).
            rest_api_name="ticketing-edge",
            description="Chat relay and payment webhooks",
            endpoint_types=[apigw.EndpointType.REGIONAL],
            # Execution logs need API Gateway's account-wide CloudWatch role.
            cloud_watch_role=True,
            cloud_watch_role_removal_policy=RemovalPolicy.RETAIN,
            deploy_options=stage_options(
                access_logs, rate_limit=RATE_LIMIT, burst_limit=BURST_LIMIT
            ),
        )
        validator = self.api.add_request_validator(
            "Requests", validate_request_body=True, validate_request_parameters=True
        )
        integration = apigw.LambdaIntegration(self.function)
        chat_integration = apigw.LambdaIntegration(
            self.chat_function,
            response_transfer_mode=apigw.ResponseTransferMode.STREAM,
            timeout=CHAT_TIMEOUT,
        )
        authorizer = apigw.CognitoUserPoolsAuthorizer(
            self, "Customers", cognito_user_pools=[identity.user_pool]
        )
        chat_model = self.api.add_model(
            "ChatRequest",
            content_type="application/json",
            schema=apigw.JsonSchema(
                schema=apigw.JsonSchemaVersion.DRAFT4,
                type=apigw.JsonSchemaType.OBJECT,
                required=["message"],
                additional_properties=False,
                properties={
                    "message": apigw.JsonSchema(
                        type=apigw.JsonSchemaType.STRING,
                        min_length=1,
                        max_length=MAX_MESSAGE_CHARS,
                    ),
                    "session_id": apigw.JsonSchema(
                        type=[apigw.JsonSchemaType.STRING, apigw.JsonSchemaType.NULL]
                    ),
                    "context": apigw.JsonSchema(
                        type=[apigw.JsonSchemaType.OBJECT, apigw.JsonSchemaType.NULL]
                    ),
                },
            ),
        )
        chat = self.api.root.add_resource(
            "chat",
            default_cors_preflight_options=apigw.CorsOptions(
                allow_origins=[web_origin],
                allow_methods=["POST"],
                allow_headers=["authorization", "content-type"],
                max_age=Duration.minutes(10),
            ),
        )
        self.chat_method = chat.add_method(
            "POST",
            chat_integration,
            authorizer=authorizer,
            authorization_type=apigw.AuthorizationType.COGNITO,
            authorization_scopes=[scopes.CONCIERGE_CHAT],
            request_validator=validator,
            request_models={"application/json": chat_model},
        )
        self.preflight = chat.node.find_child("OPTIONS")
        self.webhook_method = (
            self.api.root.add_resource("webhooks")
            .add_resource("payment")
            .add_method("POST", integration, request_validator=validator)
        )
        self.api.add_usage_plan(
            "Plan",
            description="Bounds the edge's total traffic per month",
            throttle=apigw.ThrottleSettings(rate_limit=RATE_LIMIT, burst_limit=BURST_LIMIT),
            quota=apigw.QuotaSettings(limit=MONTHLY_QUOTA, period=apigw.Period.MONTH),
            api_stages=[apigw.UsagePlanPerApiStage(api=self.api, stage=self.api.deployment_stage)],
        )
        self.web_acl = web_acl(self, "Firewall", metric_name="ticketing-edge", kind="REGIONAL")
        wafv2.CfnWebACLAssociation(
            self,
            "FirewallOnStage",
            resource_arn=self.api.deployment_stage.stage_arn,
            web_acl_arn=self.web_acl.attr_arn,
        )
        zone, certificate = zone_and_certificate(
            self, hosted_zone_id=hosted_zone_id, zone_name=zone_name, domain_name=api_domain
        )
        self.domain_name = self.api.add_domain_name(
            "ApiDomain",
            domain_name=api_domain,
            certificate=certificate,
            endpoint_type=apigw.EndpointType.REGIONAL,
            security_policy=apigw.SecurityPolicy.TLS_1_2,
        )
        alias_record(self, zone, api_domain, route53_targets.ApiGatewayDomain(self.domain_name))
        CfnOutput(self, "ChatUrl", value=self.api.url_for_path("/chat"))
        CfnOutput(self, "WebhookUrl", value=webhook_url(api_domain))
