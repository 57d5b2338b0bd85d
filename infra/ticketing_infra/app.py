"""The app: every stack in us-west-2 but what CloudFront takes from us-east-1 (the web app's
certificate and web ACL), cdk-nag's AWS Solutions checks over all of them."""

from __future__ import annotations

from aws_cdk import App, Environment, Validations
from cdk_nag import AwsSolutionsChecks

from .data import DataStack
from .edge import EdgeStack
from .identity import IdentityStack
from .mail import MailStack
from .mcp_domains import McpDomainsStack
from .memory import MemoryStack
from .nag import acknowledge
from .observability import ObservabilityStack
from .rest_edge import RestEdgeStack, webhook_url
from .runtimes import RuntimesStack, invocation_url
from .servers import MCP_SERVERS
from .web import WebStack
from .web_global import CLOUDFRONT_REGION, WebGlobalStack

REGION = "us-west-2"
PLACEHOLDER_ACCOUNT = "111111111111"
"""Synth never talks to AWS; `make deploy` passes the real account as CDK_DEFAULT_ACCOUNT."""


def build(app: App) -> App:
    """Adds the stacks to ``app``; settings come from its context (cdk.json)."""
    account = app.node.try_get_context("account") or PLACEHOLDER_ACCOUNT
    env = Environment(account=str(account), region=REGION)
    domain = str(app.node.get_context("ticketing:domain"))
    edge_issuer = str(app.node.get_context("ticketing:registrationIssuer"))
    # The REST edge's name: the payment server posts its events there (infra/README.md).
    api_domain = f"api.{domain}"
    hosted_zone_id = str(app.node.get_context("ticketing:hostedZoneId"))
    # The MCP servers' own names (NAME.mcp.DOMAIN): their public URLs, served for the
    # customer-facing ones by the MCP domains stack.
    mcp_domain = f"mcp.{domain}"

    data = DataStack(app, "TicketingData", env=env)
    identity = IdentityStack(
        app,
        "TicketingIdentity",
        domain_prefix=str(app.node.get_context("ticketing:loginDomainPrefix")),
        web_origin=f"https://{domain}",
        env=env,
    )
    edge = EdgeStack(
        app,
        "TicketingEdge",
        identity=identity,
        issuer=edge_issuer,
        hosted_zone_id=hosted_zone_id,
        zone_name=domain,
        env=env,
    )
    mail = MailStack(app, "TicketingMail", mail_domain=domain, env=env)
    memory = MemoryStack(app, "TicketingMemory", env=env)
    runtimes = RuntimesStack(
        app,
        "TicketingRuntimes",
        data=data,
        identity=identity,
        mail=mail.settings,
        memory=memory.memory,
        public_domain=mcp_domain,
        web_origin=f"https://{domain}",
        edge_issuer=edge_issuer,
        webhook_url=webhook_url(api_domain),
        env=env,
    )
    rest_edge = RestEdgeStack(
        app,
        "TicketingRestEdge",
        identity=identity,
        runtimes=runtimes,
        web_origin=f"https://{domain}",
        api_domain=api_domain,
        hosted_zone_id=hosted_zone_id,
        zone_name=domain,
        env=env,
    )
    mcp_domains = McpDomainsStack(
        app,
        "TicketingMcpDomains",
        servers=[s for s in MCP_SERVERS if s.customer_facing],
        data=data,
        identity=identity,
        runtimes=runtimes,
        rest_edge=rest_edge,
        public_domain=mcp_domain,
        edge_issuer=edge_issuer,
        hosted_zone_id=hosted_zone_id,
        zone_name=domain,
        env=env,
    )
    ObservabilityStack(
        app,
        "TicketingObservability",
        runtimes=runtimes,
        rest_apis={"RestEdge": rest_edge.api}
        | {f"{name.capitalize()}Mcp": d.api for name, d in mcp_domains.domains.items()},
        http_apis={"RegistrationApi": edge.api},
        functions={
            "Webhooks": rest_edge.function,
            "ChatRelay": rest_edge.chat_function,
            "Registration": edge.function,
            "CheckoutPage": mcp_domains.checkout.function,
        },
        env=env,
    )
    web_global = WebGlobalStack(
        app,
        "TicketingWebGlobal",
        domain=domain,
        hosted_zone_id=hosted_zone_id,
        env=Environment(account=str(account), region=CLOUDFRONT_REGION),
        cross_region_references=True,
    )
    web = WebStack(
        app,
        "TicketingWeb",
        domain=domain,
        hosted_zone_id=hosted_zone_id,
        certificate=web_global.certificate,
        web_acl_arn=web_global.web_acl.attr_arn,
        cross_region_references=True,
        config={
            # The web app's config.json (web/src/config.ts): what it needs to sign in and call
            # the servers, nothing secret.
            "issuer": identity.issuer,
            "client_id": identity.web_client.user_pool_client_id,
            "ticket_url": invocation_url(runtimes, runtimes.runtimes["ticket"]),
            "payment_url": invocation_url(runtimes, runtimes.runtimes["payment"]),
            "chat_url": rest_edge.api.url_for_path("/chat"),
        },
        env=env,
    )
    acknowledge(
        data=data,
        identity=identity,
        edge=edge,
        rest_edge=rest_edge,
        mcp_domains=mcp_domains,
        runtimes=runtimes,
        web=web,
    )
    Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    return app
