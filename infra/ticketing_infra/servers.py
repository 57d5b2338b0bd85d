"""The MCP servers the stacks deploy, described from the servers' own code.

Names, env prefixes and resource servers come from each server's settings class and the kit's
scope list, so a server that gains a setting or a scope is seen here without a copy to update.
"""

from __future__ import annotations

from dataclasses import dataclass

from host.settings import HostSettings
from pydantic import AliasChoices
from pydantic_settings import BaseSettings
from servers.core import scopes
from servers.core.secretref import reference_names
from servers.core.settings import ServerSettings
from servers.data.settings import DataSettings
from servers.notify.settings import NotifySettings
from servers.payment.settings import PaymentSettings
from servers.ticket.settings import TicketSettings


@dataclass(frozen=True)
class McpServer:
    """One MCP server as the infrastructure sees it."""

    name: str
    """Folder under servers/ and the ``python -m servers.NAME`` module."""
    settings: type[ServerSettings]
    resource_server: str
    """Its Cognito resource-server identifier: the prefix of the scopes it accepts."""
    stores_data: bool

    @property
    def scopes(self) -> tuple[str, ...]:
        return tuple(
            s for s in scopes.ALL_SCOPES if scopes.resource_server(s) == self.resource_server
        )

    @property
    def customer_facing(self) -> bool:
        """Whether any client registered with the pool may call it (customer scopes), rather
        than only our own service clients."""
        return any(s in scopes.CUSTOMER_SCOPES for s in self.scopes)


DATA = McpServer("data", DataSettings, "data", stores_data=True)
TICKET = McpServer("ticket", TicketSettings, "tickets", stores_data=False)
PAYMENT = McpServer("payment", PaymentSettings, "payments", stores_data=True)
NOTIFY = McpServer("notify", NotifySettings, "notify", stores_data=True)
MCP_SERVERS: tuple[McpServer, ...] = (DATA, TICKET, PAYMENT, NOTIFY)


@dataclass(frozen=True)
class HostRuntime:
    """The concierge host as the infrastructure sees it: an HTTP runtime (port 8080)."""

    name: str
    settings: type[ServerSettings]
    scopes: tuple[str, ...]
    """What a token needs to reach it (the host checks it again per route)."""


HOST = HostRuntime("host", HostSettings, (scopes.CONCIERGE_CHAT,))
Deployed = McpServer | HostRuntime
"""Anything that runs in an AgentCore Runtime."""


def env_name(settings: type[BaseSettings], field: str) -> str:
    """The environment variable pydantic-settings reads ``field`` from: the field's own alias
    where it has one (``VENUE_TZ``, ``DEV_MODE``), else the class's prefix and the field name."""
    info = settings.model_fields[field]
    alias = info.validation_alias
    if isinstance(alias, str):
        return alias.upper()
    if isinstance(alias, AliasChoices):
        first = alias.choices[0]
        if isinstance(first, str):
            return first.upper()
    prefix = str(settings.model_config.get("env_prefix", ""))
    return f"{prefix}{field}".upper()


def known_env(settings: type[BaseSettings]) -> dict[str, str]:
    """Every environment variable a settings class reads, mapped to its field: its fields'
    names and, for each secret field, its by-reference name (``NAME_ARN``, read at start-up
    from Secrets Manager by servers/core/secretref.py)."""
    names = {env_name(settings, field): field for field in settings.model_fields}
    return names | reference_names(settings)


def environment(
    settings: type[BaseSettings],
    values: dict[str, str],
    secret_arns: dict[str, str] | None = None,
) -> dict[str, str]:
    """A runtime's environment from field names: ``{"auth_issuer": ...}`` becomes
    ``{"TICKET_AUTH_ISSUER": ...}``, and a secret field given in ``secret_arns``
    (``{"client_secret": ARN}``) becomes its reference ``TICKET_CLIENT_SECRET_ARN``: a secret's
    value never goes into a runtime's environment. An unknown field, a secret given as a plain
    value or a reference to a field that is not secret is a mistake caught at synth."""
    unknown = sorted(set(values) - set(settings.model_fields))
    if unknown:
        raise ValueError(f"{settings.__name__} has no setting {', '.join(unknown)}")
    references = {field: name for name, field in reference_names(settings).items()}
    plain_secrets = sorted(set(values) & set(references))
    if plain_secrets:
        raise ValueError(f"{', '.join(plain_secrets)} of {settings.__name__} go by reference")
    arns = secret_arns or {}
    not_secret = sorted(set(arns) - set(references))
    if not_secret:
        raise ValueError(f"{settings.__name__} has no secret setting {', '.join(not_secret)}")
    env = {env_name(settings, field): value for field, value in values.items()}
    return env | {references[field]: arn for field, arn in arns.items()}
