"""The payment server's hosted checkout page on its own name, ``https://payment.mcp.DOMAIN``.

The links the payment server hands out (``/checkout/{id}``: the card form, the 3-D Secure step)
are on its public URL, which mcp_domains.py serves as an API Gateway REST API in front of the
AgentCore runtime; AgentCore's invocation URL reaches ``/mcp`` only. So that API gets the page's
route (servers/payment/links.py's ``CHECKOUT_PATH``, GET and POST) as a Lambda proxy
integration to a function that runs **the payment server itself**: the runtime's own image
(infra/docker/payment.Dockerfile, the same asset, built once) behind AWS's Lambda Web Adapter,
which that image carries in ``/opt/extensions`` (Lambda starts it; AgentCore ignores it). The
adapter turns each API Gateway event into an HTTP request to the server on its port, as it does
for the chat relay (rest_edge.py). Why this shape:

- The page is the server's code (servers/payment/pages.py: CSRF token bound to a cookie and the
  session, its Origin check, its security headers) over the server's database: a copy of it
  for Lambda would be a second page to keep in step, and a zip cannot carry the server's
  dependencies without a build at synth.
- Its settings are the payment runtime's environment, as the runtimes stack makes it from the
  server's settings class (secrets by reference only), less the data server's client: that
  only resolves customers' tokens on ``/mcp``, which never reaches this function, so the role
  need not read the client secret. The fingerprint key is the runtime's, so cards saved here
  fingerprint as there and the CSRF key (derived from it) is the same on every instance.
- No authorizer on these two methods: the page is reached by its unguessable session link
  (``cs_`` ids from a CSPRNG), as on the local stack, where the server serves it beside
  ``/mcp`` without a token; every post is checked by the page itself. The form posts back to
  the page's own path (no ``action``) and answers with a redirect there, so both methods on
  that one path are all the page needs; it loads nothing else (one inline stylesheet, no
  scripts, images or fonts). Any other path under the name still gets the gateway's 404.
- The role, written here, may write the function's logs, use the Data API on the cluster
  (with its secret) and read the webhook secret and fingerprint key: what the server reads at
  start-up and uses to take a payment. The stage's throttling and the name's WAF web ACL
  (mcp_domains.py) bound how often the page can be asked.

Lambda freezes the process between requests, so the server's webhook worker in this function
delivers events only while an instance is awake; every payment process takes deliveries from
the same table (``SKIP LOCKED``), so the runtime's worker delivers them as well.
"""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_lambda as lambda_
from constructs import Construct
from servers.core.secretref import reference_names
from servers.payment.links import CHECKOUT_PATH
from servers.payment.settings import PaymentSettings

from .data import DataStack
from .functions import function_logs_and_role
from .images import REPO_ROOT, image_options, server_dockerfile
from .runtimes import RuntimesStack
from .servers import PAYMENT, env_name

PORT = 8000
"""Where the server listens in the function, and where the adapter sends requests."""
HEALTH_PATH = "/health"
"""servers/core/app.py's health route (no token; the database pinged): the adapter's
readiness check, so an instance takes requests once the server has started."""
METHODS = ("GET", "POST")
"""The page's two routes (servers/payment/server.py)."""
DATA_CLIENT = ("data_url", "client_id", "client_secret")
"""The payment server's client of the data server: for customers' tokens on ``/mcp`` only."""


def page_environment(runtime_env: dict[str, str]) -> dict[str, str]:
    """The payment runtime's environment without the data server's client, and the adapter's
    settings."""
    references = {field: name for name, field in reference_names(PaymentSettings).items()}
    dropped = {references.get(field, env_name(PaymentSettings, field)) for field in DATA_CLIENT}
    kept = {name: value for name, value in runtime_env.items() if name not in dropped}
    return kept | {
        env_name(PaymentSettings, "port"): str(PORT),
        "AWS_LWA_PORT": str(PORT),
        "AWS_LWA_READINESS_CHECK_PATH": HEALTH_PATH,
    }


class CheckoutPage(Construct):
    """The page's route on ``api`` (the payment server's name) and the function serving it."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        api: apigw.RestApi,
        runtimes: RuntimesStack,
        data: DataStack,
    ) -> None:
        super().__init__(scope, construct_id)
        logs, self.role = function_logs_and_role(
            self,
            "Logs",
            "Role",
            "The payment server's checkout page: its logs, the Data API on the cluster, the "
            "webhook secret and the fingerprint key",
        )
        data.grant_data_api(self.role)
        runtimes.webhook_secret.grant_read(self.role)
        runtimes.fingerprint_key.grant_read(self.role)
        self.function = lambda_.DockerImageFunction(
            self,
            "Function",
            description="The payment server's hosted checkout page (its image, Web Adapter)",
            # The runtime's asset, same arguments: one image for both.
            code=lambda_.DockerImageCode.from_image_asset(
                str(REPO_ROOT), **image_options(server_dockerfile(PAYMENT.name))
            ),
            architecture=lambda_.Architecture.ARM_64,
            # The server's start-up (imports, secrets, database) is CPU-bound: Lambda gives
            # CPU in proportion to memory.
            memory_size=1024,
            # API Gateway gives up after 29 s.
            timeout=Duration.seconds(28),
            role=self.role,
            log_group=logs,
            environment=page_environment(runtimes.environments[PAYMENT.name]),
        )
        resource = api.root.resource_for_path(CHECKOUT_PATH)
        integration = apigw.LambdaIntegration(self.function)
        self.methods = [resource.add_method(method, integration) for method in METHODS]
