"""Runtimes: one AgentCore Runtime per MCP server (protocol MCP, arm64 image from
infra/docker/NAME.Dockerfile), each behind a JWT authorizer on the user pool, with its
environment named from the server's settings class and a role written for it."""

from __future__ import annotations

from aws_cdk import CfnOutput, Stack
from aws_cdk import aws_bedrockagentcore as agentcore
from aws_cdk import aws_iam as iam
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct
from pydantic_settings import BaseSettings

from .data import DATABASE_NAME, DataStack
from .identity import IdentityStack
from .images import REPO_ROOT, image_options, server_dockerfile
from .log_groups import kept_log_group
from .mail import MailSettings
from .model import CONCIERGE_MODEL
from .servers import (
    DATA,
    HOST,
    NOTIFY,
    PAYMENT,
    TICKET,
    Deployed,
    McpServer,
    environment,
)


def invocation_url(stack: Stack, runtime: agentcore.Runtime) -> str:
    """The runtime's MCP endpoint: AgentCore's invocation URL with the runtime ARN
    percent-encoded, built from parts because CloudFormation cannot encode a token."""
    arn = (
        f"arn%3A{stack.partition}%3Abedrock-agentcore%3A{stack.region}%3A{stack.account}"
        f"%3Aruntime%2F{runtime.agent_runtime_id}"
    )
    return (
        f"https://bedrock-agentcore.{stack.region}.amazonaws.com/runtimes/{arn}"
        "/invocations?qualifier=DEFAULT"
    )


def public_url(server: Deployed, public_domain: str) -> str:
    """A server's own name, ``https://NAME.mcp.DOMAIN``: its ``*_PUBLIC_URL`` (what its RFC 9728
    metadata and challenges name), served for the customer-facing ones by mcp_domains.py."""
    return f"https://{server.name}.{public_domain}"


class RuntimesStack(Stack):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        data: DataStack,
        identity: IdentityStack,
        mail: MailSettings,
        memory: agentcore.Memory,
        public_domain: str,
        web_origin: str,
        edge_issuer: str,
        webhook_url: str,
        **kwargs: object,
    ) -> None:
        """``webhook_url``: where the payment server posts its signed events, the REST edge's
        webhook route on its custom domain (a name known before the edge exists)."""
        super().__init__(scope, construct_id, **kwargs)  # type: ignore[arg-type]
        self.roles: dict[str, iam.Role] = {}
        self.runtimes: dict[str, agentcore.Runtime] = {}
        self.environments: dict[str, dict[str, str]] = {}
        ticket_client = identity.service_clients["ticket-server"].user_pool_client_id
        host_client = identity.service_clients["host-agent"].user_pool_client_id
        payment_client = identity.service_clients["payment-server"].user_pool_client_id
        edge_client = identity.service_clients["payment-edge"].user_pool_client_id
        service_clients = ",".join([ticket_client, host_client, payment_client, edge_client])

        def common(server: Deployed) -> dict[str, str]:
            return {
                "public_url": public_url(server, public_domain),
                "auth_issuer": identity.issuer,
                "auth_jwks_url": identity.jwks_url,
                "auth_authorization_servers": edge_issuer,
                "auth_service_client_ids": service_clients,
                "rate_limit_exempt_clients": ticket_client,
                "log_level": "INFO",
            }

        def database() -> dict[str, str]:
            return {
                "db_backend": "dataapi",
                "dataapi_resource_arn": data.cluster.cluster_arn,
                "dataapi_secret_arn": data.secret.secret_arn,
                "dataapi_database": DATABASE_NAME,
                "aws_region": self.region,
            }

        # Secrets the stack makes itself: the payment server signs webhooks with the same
        # secret the ticket server checks them with; the fingerprint key keeps card
        # fingerprints stable across restarts. Neither has anything to rotate with, so they
        # are changed by hand (infra/README.md).
        self.webhook_secret = self._generated_secret(
            "WebhookSecret", "Signing secret of the payment server's webhooks"
        )
        self.fingerprint_key = self._generated_secret(
            "FingerprintKey", "Key of the payment server's card fingerprints"
        )
        # Its ARN, not its value: infra/smoke.sh reads the secret (with the caller's own AWS
        # credentials) to sign a test event.
        CfnOutput(self, "WebhookSecretArn", value=self.webhook_secret.secret_arn)
        secrets: dict[str, dict[str, secretsmanager.ISecret]] = {
            PAYMENT.name: {
                "webhook_secret": self.webhook_secret,
                "fingerprint_key": self.fingerprint_key,
                "client_secret": identity.client_secrets["payment-server"],
            },
            TICKET.name: {
                "client_secret": identity.client_secrets["ticket-server"],
                "webhook_secret": self.webhook_secret,
            },
        }

        # The services are built callee first: the ticket server's environment names the
        # others' endpoints.
        for server in (DATA, PAYMENT, NOTIFY):
            values = common(server) | database()
            if server is NOTIFY:
                values |= {
                    "mail_backend": "ses",
                    "mail_from": mail.sender,
                    "ses_configuration_set": mail.configuration_set,
                }
            if server is PAYMENT:
                # Cognito customers' subjects resolved to our customer ids (saved cards); its
                # signed events to the REST edge, which hands them to the ticket server.
                values |= {
                    "data_url": invocation_url(self, self.runtimes[DATA.name]),
                    "client_id": payment_client,
                    "webhook_urls": webhook_url,
                }
            # The data server is called by the ticket server and, for sign-ins, the payment
            # server; the others by the ticket server alone.
            callers = (ticket_client, payment_client) if server is DATA else (ticket_client,)
            self._mcp_runtime(
                server, identity, values, secrets.get(server.name, {}), callers=callers
            )
            data.grant_data_api(self.roles[server.name])
        self.roles[NOTIFY.name].add_to_policy(
            iam.PolicyStatement(
                actions=["ses:SendEmail", "ses:SendRawEmail"],
                resources=[mail.identity_arn, mail.configuration_set_arn],
            )
        )

        ticket = common(TICKET) | {
            "data_url": invocation_url(self, self.runtimes[DATA.name]),
            "payment_url": invocation_url(self, self.runtimes[PAYMENT.name]),
            "notify_url": invocation_url(self, self.runtimes[NOTIFY.name]),
            "client_id": ticket_client,
        }
        self._mcp_runtime(TICKET, identity, ticket, secrets[TICKET.name], callers=(host_client,))

        # The concierge: AgentCore's HTTP contract (POST /invocations, GET /ping on 8080),
        # called with a customer's token carrying concierge/chat, from any client of the pool.
        host = (
            common(HOST)
            | database()
            | {
                "ticket_url": invocation_url(self, self.runtimes[TICKET.name]),
                "payment_url": invocation_url(self, self.runtimes[PAYMENT.name]),
                "allowed_origins": web_origin,
                "web_client_id": identity.web_client.user_pool_client_id,
                "model_provider": "bedrock",
                "model_id": CONCIERGE_MODEL.profile_id,
                "memory_backend": "agentcore",
                "agentcore_memory_id": memory.memory_id,
                "agentcore_memory_region": self.region,
                # Visitors who are not signed in: the host's own catalogue-only client.
                "client_id": host_client,
            }
        )
        self._runtime(
            HOST.name,
            HOST.settings,
            host,
            {"client_secret": identity.client_secrets["host-agent"]},
            protocol=agentcore.ProtocolType.HTTP,
            identity=identity,
            clients=None,
            scopes=list(HOST.scopes),
        )
        host_role = self.roles[HOST.name]
        data.grant_data_api(host_role)
        memory.grant_read(host_role)
        memory.grant_write(host_role)
        host_role.add_to_policy(CONCIERGE_MODEL.invoke_statement(self))

    def _generated_secret(self, construct_id: str, description: str) -> secretsmanager.Secret:
        return secretsmanager.Secret(
            self,
            construct_id,
            description=description,
            generate_secret_string=secretsmanager.SecretStringGenerator(
                password_length=48, exclude_punctuation=True
            ),
        )

    def _runtime(
        self,
        name: str,
        settings: type[BaseSettings],
        values: dict[str, str],
        secrets: dict[str, secretsmanager.ISecret],
        *,
        protocol: agentcore.ProtocolType,
        identity: IdentityStack,
        clients: list[str] | None,
        scopes: list[str],
    ) -> None:
        title = name.capitalize()
        role = iam.Role(
            self,
            f"{title}Role",
            assumed_by=iam.ServicePrincipal("bedrock-agentcore.amazonaws.com"),
            description=f"Execution role of the {name} runtime",
        )
        log_group = kept_log_group(self, f"{title}Logs")
        env = environment(settings, values, {field: s.secret_arn for field, s in secrets.items()})
        for secret in secrets.values():
            secret.grant_read(role)
        runtime = agentcore.Runtime(
            self,
            f"{title}Runtime",
            runtime_name=f"ticketing_{name}",
            description=f"The {name} runtime",
            agent_runtime_artifact=agentcore.AgentRuntimeArtifact.from_asset(
                str(REPO_ROOT), **image_options(server_dockerfile(name))
            ),
            protocol_configuration=protocol,
            authorizer_configuration=agentcore.RuntimeAuthorizerConfiguration.using_jwt(
                identity.discovery_url, allowed_clients=clients, allowed_scopes=scopes
            ),
            # The server checks the token again (scopes per tool, the customer's own data),
            # so AgentCore must hand it on.
            request_header_configuration=agentcore.RequestHeaderConfiguration(
                allowlisted_headers=["Authorization"]
            ),
            environment_variables=env,
            execution_role=role,
            tracing_enabled=True,
            logging_configs=[
                agentcore.LoggingConfig(
                    destination=agentcore.LoggingDestination.cloud_watch_logs(log_group),
                    log_type=agentcore.LogType.APPLICATION_LOGS,
                )
            ],
        )
        self.roles[name] = role
        self.runtimes[name] = runtime
        self.environments[name] = env

    def _mcp_runtime(
        self,
        server: McpServer,
        identity: IdentityStack,
        values: dict[str, str],
        secrets: dict[str, secretsmanager.ISecret],
        *,
        callers: tuple[str, ...],
    ) -> None:
        # A customer-facing server takes tokens of any client registered with the pool (the
        # registration edge creates them at run time), so only its scopes are checked here;
        # a service-only server takes tokens of its calling services' clients alone.
        self._runtime(
            server.name,
            server.settings,
            values,
            secrets,
            protocol=agentcore.ProtocolType.MCP,
            identity=identity,
            clients=None if server.customer_facing else list(callers),
            scopes=list(server.scopes),
        )
