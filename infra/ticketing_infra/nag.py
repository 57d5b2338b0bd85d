"""Every cdk-nag finding we accept, each on the construct it concerns and with its reason.

Nothing is acknowledged app- or stack-wide: a new resource with the same finding fails synth
until someone writes down why it is fine there too. ``ACKNOWLEDGED`` keeps them all, so a test
can list them and check that each has a reason.
"""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import Acknowledgment, Stack, Validations
from constructs import IConstruct

from .data import DataStack
from .edge import EdgeStack
from .identity import IdentityStack
from .mcp_domains import McpDomainsStack
from .rest_edge import RestEdgeStack
from .runtimes import RuntimesStack
from .web import WebStack


@dataclass(frozen=True)
class Acknowledged:
    path: str
    rule: str
    reason: str


ACKNOWLEDGED: list[Acknowledged] = []
"""What the last ``acknowledge`` call acknowledged (the app is built once per process)."""

_NO_RESOURCE_LEVEL = (
    "{actions} support no resource-level permissions (the IAM service authorization "
    "reference lists only *); added by the AgentCore Runtime construct for the runtime to "
    "{purpose}."
)


def _ack(construct: IConstruct, rule: str, reason: str) -> None:
    Validations.of(construct).acknowledge(Acknowledgment(id=rule, reason=reason))
    ACKNOWLEDGED.append(Acknowledged(construct.node.path, rule, reason))


def _runtime_role_findings(stack: Stack) -> dict[str, str]:
    """The wildcards the AgentCore Runtime construct adds to the execution role it is given:
    each is either a service without resource-level permissions or a name AgentCore picks."""
    region, account = stack.region, stack.account
    logs = f"arn:<AWS::Partition>:logs:{region}:{account}:log-group"
    runtimes = f"{logs}:/aws/bedrock-agentcore/runtimes/*"
    return {
        "AwsSolutions-IAM5[Resource::*]": _NO_RESOURCE_LEVEL.format(
            actions="xray:PutTraceSegments/PutTelemetryRecords/GetSampling*, "
            "cloudwatch:PutMetricData (narrowed by a namespace condition) and "
            "ecr:GetAuthorizationToken",
            purpose="send traces and metrics and pull its image",
        ),
        f"AwsSolutions-IAM5[Resource::{logs}:*]": (
            "logs:DescribeLogGroups is a list call: it authorizes on the account's log-group "
            "ARN pattern, not on one group."
        ),
        f"AwsSolutions-IAM5[Resource::{runtimes}]": (
            "AgentCore names the runtime's own log group after the runtime id it assigns at "
            "creation, which the role (created first) cannot name; the prefix is AgentCore's."
        ),
        f"AwsSolutions-IAM5[Resource::{runtimes}:log-stream:*]": (
            "Log streams are created by AgentCore per session inside the runtime's group above; "
            "the prefix is AgentCore's."
        ),
        (
            "AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:bedrock-agentcore:"
            f"{region}:{account}:workload-identity-directory/default/workload-identity/*]"
        ): (
            "The runtime's workload identity is created by AgentCore with the runtime, under "
            "the account's default directory; the construct cannot name it beforehand."
        ),
    }


AWS_CUSTOM_RESOURCE_FUNCTION = "AWS679f53fac002430cb0da5b7982bd2287"
"""The id CDK gives the singleton function behind every AwsCustomResource of a stack."""


def _secrets(identity: IdentityStack, runtimes: RuntimesStack) -> None:
    for name, secret in identity.client_secrets.items():
        _ack(
            secret,
            "AwsSolutions-SMG4",
            f"The {name} client secret is Cognito's, copied here at deploy: Secrets Manager "
            "cannot rotate it; it changes when the app client is replaced (infra/README.md).",
        )
    for secret in (runtimes.webhook_secret, runtimes.fingerprint_key):
        _ack(
            secret,
            "AwsSolutions-SMG4",
            "A shared key with no service to rotate it against: the payment and ticket servers "
            "read it at start-up, so it is changed by hand and both restarted (infra/README.md).",
        )
    reader = identity.node.find_child(AWS_CUSTOM_RESOURCE_FUNCTION)
    _ack(
        reader.node.find_child("ServiceRole"),
        "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
        "AWSLambdaBasicExecutionRole]",
        "CDK's AwsCustomResource function behind UserPoolClient.user_pool_client_secret: its "
        "AWSLambdaBasicExecutionRole only lets it write its own logs; the one API call it makes "
        "(cognito-idp:DescribeUserPoolClient) is granted on this user pool alone.",
    )


def _edge(edge: EdgeStack) -> None:
    for route in edge.routes:
        _ack(
            route,
            "AwsSolutions-APIG4",
            "An OAuth endpoint of the registration edge, called before a client has any token: "
            "open registration (RFC 7591, rate-limited per source), public metadata (RFC 8414), "
            "and authorize/token/revoke, which Cognito authenticates by the client's code, PKCE "
            "verifier or credentials it forwards; CORS preflights carry no credentials.",
        )


def _rest_edge(rest_edge: RestEdgeStack) -> None:
    for rule in ("AwsSolutions-APIG4", "AwsSolutions-COG4"):
        _ack(
            rest_edge.webhook_method,
            rule,
            "The payment gateway's webhooks carry no token: each is signed (HMAC-SHA256 with a "
            "timestamp, 300 s tolerance), checked by the edge function and again by the ticket "
            "server; the route accepts nothing else.",
        )
        _ack(
            rest_edge.preflight,
            rule,
            "A CORS preflight (OPTIONS) answered by API Gateway itself with the allow-list: "
            "browsers send it without credentials by the fetch standard, and it reaches no "
            "function.",
        )
    role = rest_edge.api.node.find_child("CloudWatchRole")
    _ack(
        role,
        "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
        "AmazonAPIGatewayPushToCloudWatchLogs]",
        "API Gateway's account-wide role for execution logs (nag APIG6) must carry this AWS "
        "managed policy; API Gateway alone assumes it, and it only writes logs.",
    )


def _mcp_domains(mcp_domains: McpDomainsStack) -> None:
    for name, domain in mcp_domains.domains.items():
        _ack(
            domain.api,
            "AwsSolutions-APIG2",
            f"No request validator: the {name} server's body is JSON-RPC that the server checks "
            "itself and answers in the protocol's own errors (parse error, invalid request), "
            "which a gateway model would replace by a bare 400; the other routes take no input.",
        )
        for rule in ("AwsSolutions-APIG4", "AwsSolutions-COG4"):
            _ack(
                domain.metadata_method,
                rule,
                f"The {name} server's RFC 9728 metadata, which a client reads before it has any "
                "token (the 401 sends it there): public by the standard, as the server's own "
                "route is; a fixed document answered by API Gateway itself.",
            )
            _ack(
                domain.preflight,
                rule,
                "A CORS preflight (OPTIONS) of the metadata route answered by API Gateway "
                "itself: browsers send it without credentials by the fetch standard, and it "
                "reaches no backend.",
            )
    for method in mcp_domains.checkout.methods:
        for rule in ("AwsSolutions-APIG4", "AwsSolutions-COG4"):
            _ack(
                method,
                rule,
                "The payment server's hosted checkout page, opened by a customer's browser from "
                "the unguessable session link the server handed out (a cs_ id from a CSPRNG), "
                "with no token, as the server serves it beside /mcp; its form posts are checked "
                "by the page itself (a CSRF token bound to its cookie and the session, Origin).",
            )


def acknowledge(
    *,
    data: DataStack,
    identity: IdentityStack,
    edge: EdgeStack,
    rest_edge: RestEdgeStack,
    mcp_domains: McpDomainsStack,
    runtimes: RuntimesStack,
    web: WebStack,
) -> None:
    ACKNOWLEDGED.clear()
    _secrets(identity, runtimes)
    _edge(edge)
    _rest_edge(rest_edge)
    _mcp_domains(mcp_domains)
    _ack(
        data.migrations.role.node.find_child("DefaultPolicy"),
        "AwsSolutions-IAM5[Resource::*]",
        "xray:PutTraceSegments and xray:PutTelemetryRecords support no resource-level "
        "permissions (the IAM service authorization reference lists only *); added by Lambda's "
        "active tracing of the migrations function.",
    )
    _ack(
        identity.user_pool,
        "AwsSolutions-COG2",
        "Customers are members of the public buying an upgrade: MFA is offered (TOTP) but not "
        "forced; the Plus plan's threat protection in full-function mode asks for a second "
        "factor when a sign-in looks risky.",
    )
    cdn = web.distribution.node.default_child
    assert cdn is not None
    _ack(
        cdn,
        "AwsSolutions-CFR1",
        "The customer app is for visitors from anywhere; the venue sells to every country, so "
        "there is no country to block.",
    )
    for role in runtimes.roles.values():
        policy = role.node.find_child("DefaultPolicy")
        for rule, reason in _runtime_role_findings(runtimes).items():
            _ack(policy, rule, reason)
