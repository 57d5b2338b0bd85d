"""Registered OAuth clients of the dev identity provider.

The client id is the client's name (``ops``, ``ticket-server``), so servers' allow-lists read
plainly. Confidential clients' secrets are never written down: each is derived from the signing
key, so it is stable on one machine and differs between machines.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Self
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, model_validator

from servers.core.scopes import (
    ALL_SCOPES,
    CUSTOMER_SCOPES,
    DATA_READ,
    DATA_WRITE,
    NOTIFY_READ,
    NOTIFY_SEND,
    OPS_SCOPES,
    PAYMENTS_READ,
    PAYMENTS_REFUND,
    PAYMENTS_WRITE,
    TICKETS_CATALOGUE,
    TICKETS_WEBHOOKS,
)
from servers.devidp.keys import SigningKey
from servers.devidp.redirects import redirect_uri_matches

GrantType = Literal["client_credentials", "authorization_code", "refresh_token"]

CLIENT_CREDENTIALS: GrantType = "client_credentials"
AUTHORIZATION_CODE: GrantType = "authorization_code"
REFRESH_TOKEN: GrantType = "refresh_token"  # noqa: S105 - a grant type, not a secret

OIDC_SCOPES: tuple[str, ...] = ("openid", "email", "profile")

# What a client that registered itself (RFC 7591) or is known by its metadata document may ask
# for: a customer's scopes. Service-only scopes (data/*, notify/*, payments/refund) stay with the
# service clients named below.
SELF_REGISTERED_SCOPES: tuple[str, ...] = CUSTOMER_SCOPES + OIDC_SCOPES


class ClientSpec(BaseModel):
    """A client as registered, without its secret (also the shape of ``IDP_CLIENTS_FILE``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9._-]+$")
    confidential: bool
    scopes: tuple[str, ...]
    grant_types: tuple[GrantType, ...] = Field(min_length=1)
    redirect_uris: tuple[str, ...] = ()

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        unknown = sorted(set(self.scopes) - set(ALL_SCOPES) - set(OIDC_SCOPES))
        if unknown:
            raise ValueError(f"client {self.name}: unknown scopes {unknown}")
        if not self.confidential and CLIENT_CREDENTIALS in self.grant_types:
            raise ValueError(f"client {self.name}: a public client cannot use client_credentials")
        if AUTHORIZATION_CODE in self.grant_types and not self.redirect_uris:
            raise ValueError(f"client {self.name}: authorization_code needs redirect_uris")
        for uri in self.redirect_uris:
            parts = urlsplit(uri)
            if parts.scheme not in {"http", "https"} or not parts.netloc or parts.fragment:
                raise ValueError(f"client {self.name}: bad redirect URI {uri!r}")
        return self


class ClientsFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    clients: list[ClientSpec]


@dataclass(frozen=True)
class Client:
    """A registered client; ``client_secret`` is None for public clients.

    ``client_name`` is what the client calls itself; for a self-registered client nobody checked
    it, so the consent screen shows it next to the id (or metadata document URL), never alone.
    """

    client_id: str
    client_secret: str | None
    scopes: tuple[str, ...]
    grant_types: tuple[GrantType, ...]
    redirect_uris: tuple[str, ...]
    client_name: str | None = None
    self_registered: bool = False

    @property
    def confidential(self) -> bool:
        return self.client_secret is not None

    def accepts_redirect_uri(self, uri: str) -> bool:
        return any(redirect_uri_matches(registered, uri) for registered in self.redirect_uris)


_LOCAL_WEB_CALLBACKS = (
    "http://127.0.0.1:8080/callback",
    "http://localhost:8080/callback",
    "http://localhost:5173/callback",
)

DEFAULT_CLIENTS: tuple[ClientSpec, ...] = (
    ClientSpec(
        name="ops",
        confidential=True,
        scopes=OPS_SCOPES,
        grant_types=(CLIENT_CREDENTIALS,),
    ),
    ClientSpec(
        name="ticket-server",
        confidential=True,
        scopes=(
            DATA_READ,
            DATA_WRITE,
            PAYMENTS_READ,
            PAYMENTS_WRITE,
            PAYMENTS_REFUND,
            NOTIFY_SEND,
            NOTIFY_READ,
        ),
        grant_types=(CLIENT_CREDENTIALS,),
    ),
    # The concierge's own token serves visitors who are not signed in: public prices only.
    # Customers' things it reaches with the customer's own token, never with this one.
    ClientSpec(
        name="host-agent",
        confidential=True,
        scopes=(TICKETS_CATALOGUE,),
        grant_types=(CLIENT_CREDENTIALS,),
    ),
    # The REST edge hands the payment gateway's events to the ticket server in AWS (locally the
    # payment server posts them to the ticket server's webhook route itself).
    ClientSpec(
        name="payment-edge",
        confidential=True,
        scopes=(TICKETS_WEBHOOKS,),
        grant_types=(CLIENT_CREDENTIALS,),
    ),
    ClientSpec(
        name="web",
        confidential=False,
        scopes=CUSTOMER_SCOPES + OIDC_SCOPES,
        grant_types=(AUTHORIZATION_CODE, REFRESH_TOKEN),
        redirect_uris=_LOCAL_WEB_CALLBACKS,
    ),
    ClientSpec(
        name="mcp-inspector",
        confidential=False,
        scopes=CUSTOMER_SCOPES,
        grant_types=(AUTHORIZATION_CODE, REFRESH_TOKEN),
        redirect_uris=(
            "http://localhost:6274/oauth/callback",
            "http://127.0.0.1:6274/oauth/callback",
        ),
    ),
)


def derive_client_secret(key: SigningKey, name: str) -> str:
    """The secret of confidential client ``name`` on this machine."""
    return key.derive_secret(f"client-secret:{name}")


def load_client_specs(path: Path) -> tuple[ClientSpec, ...]:
    """Read ``{"clients": [ClientSpec, ...]}`` from a JSON file."""
    return tuple(ClientsFile.model_validate(json.loads(path.read_text("utf-8"))).clients)


class ClientRegistry:
    """Clients by id, with secrets derived from the signing key."""

    def __init__(self, key: SigningKey, specs: Iterable[ClientSpec] = DEFAULT_CLIENTS) -> None:
        clients: dict[str, Client] = {}
        for spec in specs:
            clients[spec.name] = Client(
                client_id=spec.name,
                client_secret=derive_client_secret(key, spec.name) if spec.confidential else None,
                scopes=spec.scopes,
                grant_types=spec.grant_types,
                redirect_uris=spec.redirect_uris,
            )
        self._clients: Mapping[str, Client] = clients

    @classmethod
    def load(cls, key: SigningKey, clients_file: Path | None = None) -> ClientRegistry:
        """The defaults, with clients from ``clients_file`` added or replacing them by name."""
        specs = {spec.name: spec for spec in DEFAULT_CLIENTS}
        if clients_file is not None:
            specs.update({spec.name: spec for spec in load_client_specs(clients_file)})
        return cls(key, specs.values())

    def names(self) -> list[str]:
        return sorted(self._clients)

    def get(self, client_id: str) -> Client | None:
        return self._clients.get(client_id)

    def client_secret(self, name: str) -> str | None:
        """The secret of a registered client (None for a public one); KeyError if unknown."""
        return self._clients[name].client_secret

    def authenticate(self, client_id: str, client_secret: str) -> Client | None:
        """The confidential client whose id and secret these are, else None."""
        client = self._clients.get(client_id)
        if client is None or client.client_secret is None:
            return None
        if not hmac.compare_digest(client.client_secret.encode(), client_secret.encode()):
            return None
        return client

    def browser_origins(self) -> list[str]:
        """Origins of every registered redirect URI: the browser apps allowed to call us."""
        origins: set[str] = set()
        for client in self._clients.values():
            for uri in client.redirect_uris:
                parts = urlsplit(uri)
                origins.add(f"{parts.scheme}://{parts.netloc}")
        return sorted(origins)
