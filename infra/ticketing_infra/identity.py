"""Identity: the Cognito user pool, its resource servers and scopes (from the kit's scope list),
the web client, one client-credentials client per calling service, and the managed-login domain."""

from __future__ import annotations

from collections import defaultdict

from aws_cdk import CfnOutput, Duration, RemovalPolicy, Stack
from aws_cdk import aws_cognito as cognito
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct
from servers.core import scopes

from .functions import function_logs_and_role
from .images import python_zip

PRE_TOKEN_RUNTIME = lambda_.Runtime.PYTHON_3_14
"""The newest Python runtime Lambda offers (nag L1); the handler is standard library only."""

SERVICE_CALLS: dict[str, tuple[str, ...]] = {
    # The ticket server calls data, payment (refunds too) and notify with its own token
    # (servers/ticket/__main__.py asks each server for only its scopes).
    "ticket-server": (
        scopes.DATA_READ,
        scopes.DATA_WRITE,
        scopes.PAYMENTS_READ,
        scopes.PAYMENTS_WRITE,
        scopes.PAYMENTS_REFUND,
        scopes.NOTIFY_SEND,
    ),
    # The payment server resolves a Cognito customer's subject to our customer id through
    # the data server's sign_in_customer, as the ticket server does (servers/core/subjects.py).
    "payment-server": (scopes.DATA_WRITE,),
    # The host reads public prices with its own token; everything about a customer it asks
    # with the customer's.
    "host-agent": (scopes.TICKETS_CATALOGUE,),
    # The REST edge hands the payment gateway's checked events to the ticket server's
    # receive_payment_event (servers/edge/handoff.py).
    "payment-edge": (scopes.TICKETS_WEBHOOKS,),
}
"""Each of our calling services and the scopes its client-credentials client may ask for."""


class IdentityStack(Stack):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        domain_prefix: str,
        web_origin: str,
        **kwargs: object,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)  # type: ignore[arg-type]
        self.user_pool = cognito.UserPool(
            self,
            "Users",
            self_sign_up_enabled=True,
            sign_in_aliases=cognito.SignInAliases(email=True),
            auto_verify=cognito.AutoVerifiedAttrs(email=True),
            password_policy=cognito.PasswordPolicy(
                min_length=12,
                require_digits=True,
                require_lowercase=True,
                require_uppercase=True,
                require_symbols=True,
                temp_password_validity=Duration.days(3),
            ),
            mfa=cognito.Mfa.OPTIONAL,
            mfa_second_factor=cognito.MfaSecondFactor(otp=True, sms=False),
            account_recovery=cognito.AccountRecovery.EMAIL_ONLY,
            # Plus: threat protection (nag COG3) and refresh-token rotation, which the
            # registration edge's clients use (servers/registration/README.md).
            feature_plan=cognito.FeaturePlan.PLUS,
            standard_threat_protection_mode=cognito.StandardThreatProtectionMode.FULL_FUNCTION,
            deletion_protection=True,
            removal_policy=RemovalPolicy.RETAIN,
        )
        self._add_pre_token_trigger()
        self.domain = self.user_pool.add_domain(
            "Login",
            cognito_domain=cognito.CognitoDomainOptions(domain_prefix=domain_prefix),
            managed_login_version=cognito.ManagedLoginVersion.NEWER_MANAGED_LOGIN,
        )

        self.scopes: dict[str, cognito.OAuthScope] = {}
        grouped: dict[str, list[str]] = defaultdict(list)
        for full in scopes.ALL_SCOPES:
            grouped[scopes.resource_server(full)].append(full)
        for identifier, members in grouped.items():
            resource_scopes = [
                cognito.ResourceServerScope(
                    scope_name=full.split("/", 1)[1], scope_description=full
                )
                for full in members
            ]
            server = self.user_pool.add_resource_server(
                f"Resource{identifier.capitalize()}",
                identifier=identifier,
                scopes=resource_scopes,
            )
            for full, resource_scope in zip(members, resource_scopes, strict=True):
                self.scopes[full] = cognito.OAuthScope.resource_server(server, resource_scope)

        self.web_client = self.user_pool.add_client(
            "Web",
            generate_secret=False,
            auth_flows=cognito.AuthFlow(user_srp=True),
            o_auth=cognito.OAuthSettings(
                flows=cognito.OAuthFlows(authorization_code_grant=True),
                scopes=[
                    cognito.OAuthScope.OPENID,
                    cognito.OAuthScope.EMAIL,
                    *(self.scopes[s] for s in scopes.CUSTOMER_SCOPES),
                ],
                callback_urls=[f"{web_origin}/callback"],
                logout_urls=[f"{web_origin}/"],
            ),
            prevent_user_existence_errors=True,
            enable_token_revocation=True,
            access_token_validity=Duration.minutes(60),
            id_token_validity=Duration.minutes(60),
            refresh_token_validity=Duration.days(30),
        )

        self.service_clients: dict[str, cognito.UserPoolClient] = {}
        self.client_secrets: dict[str, secretsmanager.Secret] = {}
        for name, allowed in SERVICE_CALLS.items():
            logical = f"Service{''.join(p.capitalize() for p in name.split('-'))}"
            client = self.service_clients[name] = self.user_pool.add_client(
                logical,
                user_pool_client_name=name,
                generate_secret=True,
                o_auth=cognito.OAuthSettings(
                    flows=cognito.OAuthFlows(client_credentials=True),
                    scopes=[self.scopes[s] for s in allowed],
                ),
                enable_token_revocation=True,
                access_token_validity=Duration.minutes(60),
            )
            # Cognito generates the secret and only DescribeUserPoolClient tells it: the L2's
            # user_pool_client_secret reads it at deploy (a custom resource allowed that one
            # call on this pool) into a Secrets Manager secret, which the service's runtime
            # reads at start-up by ARN (servers/core/secretref.py). The value never appears in
            # a template or a runtime's environment.
            self.client_secrets[name] = secretsmanager.Secret(
                self,
                f"{logical}Secret",
                description=f"Client secret of the {name} Cognito app client",
                secret_string_value=client.user_pool_client_secret,
            )

        CfnOutput(self, "UserPoolId", value=self.user_pool.user_pool_id)
        CfnOutput(self, "LoginUrl", value=self.domain.base_url())

    def _add_pre_token_trigger(self) -> None:
        """Cognito's access tokens name the user by a UUID and carry no e-mail address; the
        ticket server maps the UUID to a customer by the verified address
        (servers/core/subjects.py), which this trigger adds (servers/edge/pretoken.py).
        Standard library only: a small zip that starts well within Cognito's 5 s."""
        logs_group, role = function_logs_and_role(
            self,
            "PreTokenLogs",
            "PreTokenRole",
            "Cognito pre-token trigger: writes its own logs, nothing else",
        )
        self.pre_token = lambda_.Function(
            self,
            "PreToken",
            description="Adds the verified e-mail address to customers' access tokens",
            runtime=PRE_TOKEN_RUNTIME,
            architecture=lambda_.Architecture.ARM_64,
            handler="servers.edge.pretoken.handler",
            code=python_zip(
                "servers/__init__.py", "servers/edge/__init__.py", "servers/edge/pretoken.py"
            ),
            memory_size=256,
            timeout=Duration.seconds(3),
            role=role,
            log_group=logs_group,
        )
        self.user_pool.add_trigger(
            cognito.UserPoolOperation.PRE_TOKEN_GENERATION_CONFIG,
            self.pre_token,
            cognito.LambdaVersion.V2_0,
        )

    @property
    def issuer(self) -> str:
        """Cognito's ``iss``: what every resource server verifies tokens against."""
        return f"https://cognito-idp.{self.region}.amazonaws.com/{self.user_pool.user_pool_id}"

    @property
    def discovery_url(self) -> str:
        return f"{self.issuer}/.well-known/openid-configuration"

    @property
    def jwks_url(self) -> str:
        return f"{self.issuer}/.well-known/jwks.json"
