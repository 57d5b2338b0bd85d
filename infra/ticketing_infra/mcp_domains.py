"""The customer-facing MCP servers (ticket, payment) under names of their own,
``https://NAME.mcp.DOMAIN/mcp``, so that an assistant given that URL discovers our
registration edge, registers and connects with no client id handed out.

Behind AgentCore's invocation URL an assistant meets AgentCore's own ``401`` and RFC 9728
metadata, which name the user pool, and Cognito registers no clients. Here each server gets
an API Gateway REST API at its public name (the ``*_PUBLIC_URL`` its runtime already has):

- ``POST /mcp``: an HTTP proxy to the runtime's invocation URL (``qualifier=DEFAULT``). A
  proxy passes every request header (``Authorization``, mapped explicitly as well,
  ``Mcp-Session-Id``, ``Mcp-Protocol-Version``, ``Accept``, ``Content-Type``, ``Mcp-Method``,
  ``Mcp-Name``, ``Mcp-Param-*``) and every response header (AgentCore's ``Mcp-Session-Id``,
  which keeps a client on one warm microVM). Answers are buffered: our servers answer JSON.
- ``GET`` and ``DELETE /mcp``: ``405`` from the gateway, what the MCP transport lets a server
  answer when it offers no stream of its own and no session to end. AgentCore's invocation
  endpoint takes ``POST`` only, and a stateless server's ``GET`` stream, if it got there,
  would hold a buffering gateway until its 29 s timeout.
- ``GET /.well-known/oauth-protected-resource/mcp``: the server's own metadata, naming the
  registration edge; a mock integration whose body is servers/core/resource_metadata.py's
  document, built at synth from the inputs the server itself gets in AWS (the main suite checks
  that a kit server serves exactly that document), with the server's caching and CORS headers.

**The 401 challenge.** A request without a valid token must be told where *our* metadata is.
Taken: a Cognito user-pool authorizer on ``/mcp`` requiring one of the server's customer
scopes, and the gateway's own refusals (``UNAUTHORIZED``, ``ACCESS_DENIED``) answered with
``WWW-Authenticate: Bearer resource_metadata="https://NAME.mcp.DOMAIN/.well-known/..."``. Why:

- A token must be refused *before* AgentCore: AgentCore's ``401`` names AgentCore's metadata,
  and an HTTP proxy hands a backend's headers on as they are. Only a non-proxy integration can
  rewrite them, and it must then map each header both ways by name, while MCP's per-call
  headers (``Mcp-Param-<argument>``) are named per tool.
- The Cognito authorizer checks what AgentCore's JWT authorizer checks (the pool's signature,
  expiry, an access token carrying one of the scopes) with nothing of ours to run; a Lambda
  authorizer with the kit's verifier would be a function on every call and code to keep.
- A missing, malformed, expired or foreign token, or one without those scopes, is
  ``UNAUTHORIZED``; results are not cached, so a token that has expired is refused even if it
  passed a moment before. What still reaches AgentCore's own ``401`` is a token that expires
  between the gateway's check and AgentCore's; the client's next try gets our challenge.
- ``MISSING_AUTHENTICATION_TOKEN`` is API Gateway's ``403`` for a path or method it does not
  have (a missing token is ``UNAUTHORIZED`` with this authorizer), so it answers ``404`` like
  the server for an unknown path, with no challenge: a client probing ``/`` or
  ``/.well-known/oauth-authorization-server`` here is told "not here", not sent to sign in.
  (A request there that carries a bearer token may instead get API Gateway's ``403`` for a
  malformed AWS signature: it reads any ``Authorization`` header on an unknown route as one.)

The server itself checks the token again (and answers its own ``401``/``403``, which already
name this host: its public URL is this name). Each API has stage throttling, execution logs of
errors, access logs and tracing; one regional WAF web ACL with the REST edge's rules
(gateway.py) is associated with every stage. The payment server's name also serves its hosted
checkout page (checkout.py). This stack depends on the data stack (the page's database), the
identity stack (the pool), the runtimes (their ids) and the REST edge, whose API sets API
Gateway's account-wide CloudWatch role that execution logs need; the runtimes depend on nothing
here, since the names are known before.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from aws_cdk import CfnOutput, Duration, Stack
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_route53_targets as route53_targets
from aws_cdk import aws_wafv2 as wafv2
from constructs import Construct
from servers.core.resource_metadata import (
    MCP_PATH,
    WELL_KNOWN_PATH,
    protected_resource_metadata,
    requestable,
    resource_metadata_url,
)

from .checkout import CheckoutPage
from .data import DataStack
from .domains import alias_record, zone_and_certificate
from .gateway import stage_options, web_acl
from .identity import IdentityStack
from .log_groups import kept_log_group
from .rest_edge import RestEdgeStack
from .runtimes import RuntimesStack, invocation_url, public_url
from .servers import PAYMENT, McpServer

RATE_LIMIT = 50
"""Requests per second across one server's stage; a tool call is one request."""
BURST_LIMIT = 100
METADATA_CACHE = "public, max-age=3600"
"""The Cache-Control the MCP SDK's metadata route sends."""
METADATA_CORS_HEADERS = "mcp-protocol-version"
"""What the SDK's metadata route lets a browser send (its CORS allows any origin)."""
JSON = "application/json"


def challenge(metadata_url: str, error: str | None = None) -> str:
    """A ``WWW-Authenticate`` value sending the client to this resource's metadata; no
    ``error`` for a request that came without a token (RFC 6750 §3.1), as the server does."""
    attributes = ([f'error="{error}"'] if error else []) + [f'resource_metadata="{metadata_url}"']
    return f"Bearer {', '.join(attributes)}"


def _static(value: str) -> str:
    """A static value in an API Gateway mapping: single-quoted, no single quote inside."""
    if "'" in value:
        raise ValueError(f"{value!r} cannot be a static mapping value")
    return f"'{value}'"


def _template(document: object) -> str:
    """A JSON body as a mapping template: VTL would read ``$`` and ``#`` in it as its own."""
    body = json.dumps(document, separators=(",", ":"))
    if "$" in body or "#" in body:
        raise ValueError(f"{body} is not a literal mapping template")
    return body


class McpDomain(Construct):
    """One server's name: its REST API, custom domain and alias record."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        server: McpServer,
        runtimes: RuntimesStack,
        identity: IdentityStack,
        public_domain: str,
        edge_issuer: str,
        hosted_zone_id: str,
        zone_name: str,
    ) -> None:
        super().__init__(scope, construct_id)
        base_url = public_url(server, public_domain)
        self.domain_name = base_url.removeprefix("https://")
        self.url = f"{base_url}{MCP_PATH}"
        self.metadata_url = resource_metadata_url(base_url, MCP_PATH)
        self.scopes = requestable(server.scopes)
        # What the server serves at that path with the settings the runtimes stack gives it.
        self.metadata = protected_resource_metadata(
            base_url=base_url,
            mcp_path=MCP_PATH,
            authorization_servers=[edge_issuer],
            scopes=server.scopes,
            name=server.name,
        )

        access_logs = kept_log_group(self, "AccessLogs")
        self.api = apigw.RestApi(
            self,
            "Api",
            rest_api_name=f"ticketing-{server.name}-mcp",
            description=f"The {server.name} MCP server's own name, in front of its runtime",
            endpoint_types=[apigw.EndpointType.REGIONAL],
            # Only under its own name: the metadata names that host as the resource, and the
            # execute-api host would serve the same document for another one.
            disable_execute_api_endpoint=True,
            # The account-wide role is the REST edge's (one per account and region).
            cloud_watch_role=False,
            deploy_options=stage_options(
                access_logs, rate_limit=RATE_LIMIT, burst_limit=BURST_LIMIT
            ),
        )
        # CDK's output of the execute-api URL, which is switched off above.
        self.api.node.try_remove_child("Endpoint")
        self._refusals()
        authorizer = apigw.CognitoUserPoolsAuthorizer(
            self,
            "Customers",
            cognito_user_pools=[identity.user_pool],
            results_cache_ttl=Duration.seconds(0),
        )
        # Every method of /mcp needs a customer's access token, as the server's does.
        mcp = self.api.root.add_resource(
            MCP_PATH.strip("/"),
            default_method_options=apigw.MethodOptions(
                authorizer=authorizer,
                authorization_type=apigw.AuthorizationType.COGNITO,
                authorization_scopes=self.scopes,
            ),
        )
        mcp.add_method(
            "POST",
            apigw.HttpIntegration(
                invocation_url(runtimes, runtimes.runtimes[server.name]),
                http_method="POST",
                proxy=True,
                options=apigw.IntegrationOptions(
                    request_parameters={
                        "integration.request.header.Authorization": (
                            "method.request.header.Authorization"
                        )
                    }
                ),
            ),
            # Declared for the mapping above, optional: the authorizer, not a validator,
            # answers a request without one (with our challenge).
            request_parameters={"method.request.header.Authorization": False},
        )
        not_allowed = apigw.MockIntegration(
            request_templates={JSON: '{"statusCode": 405}'},
            integration_responses=[
                apigw.IntegrationResponse(
                    status_code="405",
                    response_parameters={"method.response.header.Allow": _static("POST")},
                    response_templates={
                        JSON: _template(
                            {
                                "jsonrpc": "2.0",
                                "id": None,
                                "error": {
                                    "code": -32600,
                                    "message": "Method Not Allowed: this server takes POST only",
                                },
                            }
                        )
                    },
                )
            ],
        )
        for verb in ("GET", "DELETE"):
            mcp.add_method(
                verb,
                not_allowed,
                method_responses=[
                    apigw.MethodResponse(
                        status_code="405",
                        response_parameters={"method.response.header.Allow": True},
                    )
                ],
            )

        metadata_resource = self.api.root.resource_for_path(f"{WELL_KNOWN_PATH}{MCP_PATH}")
        metadata_resource.add_cors_preflight(
            allow_origins=apigw.Cors.ALL_ORIGINS,
            allow_methods=["GET", "OPTIONS"],
            allow_headers=[METADATA_CORS_HEADERS],
        )
        self.preflight = metadata_resource.node.find_child("OPTIONS")
        headers = {
            "Cache-Control": _static(METADATA_CACHE),
            "Access-Control-Allow-Origin": _static("*"),
        }
        self.metadata_method = metadata_resource.add_method(
            "GET",
            apigw.MockIntegration(
                request_templates={JSON: '{"statusCode": 200}'},
                integration_responses=[
                    apigw.IntegrationResponse(
                        status_code="200",
                        response_parameters={
                            f"method.response.header.{name}": value
                            for name, value in headers.items()
                        },
                        response_templates={JSON: _template(self.metadata)},
                    )
                ],
            ),
            method_responses=[
                apigw.MethodResponse(
                    status_code="200",
                    response_parameters={
                        f"method.response.header.{name}": True for name in headers
                    },
                )
            ],
        )

        zone, certificate = zone_and_certificate(
            self,
            hosted_zone_id=hosted_zone_id,
            zone_name=zone_name,
            domain_name=self.domain_name,
        )
        self.domain = self.api.add_domain_name(
            "Domain",
            domain_name=self.domain_name,
            certificate=certificate,
            endpoint_type=apigw.EndpointType.REGIONAL,
            security_policy=apigw.SecurityPolicy.TLS_1_2,
        )
        alias_record(self, zone, self.domain_name, route53_targets.ApiGatewayDomain(self.domain))

    def _refusals(self) -> None:
        """The gateway's own refusals, in the server's words and with our challenge."""
        unauthorized = {
            "error": "unauthorized",
            "error_description": "This resource needs a bearer access token from its "
            f"authorization server. Its metadata: {self.metadata_url}",
        }
        for construct_id, kind, status, header, body in (
            (
                "Unauthorized",
                apigw.ResponseType.UNAUTHORIZED,
                "401",
                challenge(self.metadata_url),
                unauthorized,
            ),
            (
                "AccessDenied",
                apigw.ResponseType.ACCESS_DENIED,
                "403",
                challenge(self.metadata_url, "insufficient_scope"),
                {
                    "error": "insufficient_scope",
                    "error_description": f"Required scope: {' or '.join(self.scopes)}",
                },
            ),
        ):
            self.api.add_gateway_response(
                construct_id,
                type=kind,
                status_code=status,
                response_headers={"WWW-Authenticate": _static(header)},
                templates={JSON: _template(body)},
            )
        self.api.add_gateway_response(
            "NotFound",
            type=apigw.ResponseType.MISSING_AUTHENTICATION_TOKEN,
            status_code="404",
            templates={
                JSON: _template(
                    {"error": "not_found", "error_description": "Nothing is served here."}
                )
            },
        )


class McpDomainsStack(Stack):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        servers: Sequence[McpServer],
        data: DataStack,
        identity: IdentityStack,
        runtimes: RuntimesStack,
        rest_edge: RestEdgeStack,
        public_domain: str,
        edge_issuer: str,
        hosted_zone_id: str,
        zone_name: str,
        **kwargs: object,
    ) -> None:
        """``servers``: the customer-facing MCP servers; ``public_domain``: ``mcp.DOMAIN``."""
        super().__init__(scope, construct_id, **kwargs)  # type: ignore[arg-type]
        # Execution logs need API Gateway's account-wide CloudWatch role, set by the REST
        # edge's API: its stack goes first.
        self.add_stack_dependency(rest_edge)
        self.web_acl = web_acl(self, "Firewall", metric_name="ticketing-mcp", kind="REGIONAL")
        self.domains: dict[str, McpDomain] = {}
        for server in servers:
            title = server.name.capitalize()
            domain = McpDomain(
                self,
                title,
                server=server,
                runtimes=runtimes,
                identity=identity,
                public_domain=public_domain,
                edge_issuer=edge_issuer,
                hosted_zone_id=hosted_zone_id,
                zone_name=zone_name,
            )
            wafv2.CfnWebACLAssociation(
                self,
                f"FirewallOn{title}",
                resource_arn=domain.api.deployment_stage.stage_arn,
                web_acl_arn=self.web_acl.attr_arn,
            )
            CfnOutput(self, f"{title}McpUrl", value=domain.url)
            self.domains[server.name] = domain
        # The payment server's hosted checkout page, on its name beside /mcp (checkout.py).
        self.checkout = CheckoutPage(
            self,
            "Checkout",
            api=self.domains[PAYMENT.name].api,
            runtimes=runtimes,
            data=data,
        )
