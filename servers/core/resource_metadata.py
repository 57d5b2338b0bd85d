"""A server's RFC 9728 protected-resource metadata as plain data (pydantic only, no FastMCP).

The kit's servers serve it through FastMCP's ``RemoteAuthProvider`` (``build_auth`` in
servers/core/auth.py, from the same inputs); the infrastructure, whose environment has pydantic
but not FastMCP, serves the same document itself in front of AgentCore, which answers only
``/mcp`` (infra/ticketing_infra/mcp_domains.py). tests/core/test_resource_metadata.py checks
that a kit server serves exactly what :func:`protected_resource_metadata` gives.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from pydantic import AnyHttpUrl

from .scopes import SERVICE_ONLY_SCOPES

MCP_PATH = "/mcp"
"""Where every server answers MCP: the AgentCore Runtime MCP contract's path."""
WELL_KNOWN_PATH = "/.well-known/oauth-protected-resource"


def requestable(scopes: Iterable[str]) -> list[str]:
    """The scopes to advertise for authorization requests. MCP clients ask for every scope a
    resource advertises, and a registered client may hold customer scopes only: advertising a
    service-only one (``tickets/operate``, ``payments/refund``) makes their registration fail.
    Service clients get those by client credentials. A resource with service scopes only (data,
    notify) advertises them, for its service clients."""
    every = list(scopes)
    return [s for s in every if s not in SERVICE_ONLY_SCOPES] or every


def resource_metadata_url(base_url: str, mcp_path: str) -> str:
    """Where RFC 9728 metadata of the endpoint at ``mcp_path`` is served."""
    return f"{base_url.rstrip('/')}{WELL_KNOWN_PATH}{mcp_path}"


def protected_resource_metadata(
    *,
    base_url: str,
    mcp_path: str,
    authorization_servers: Sequence[str],
    scopes: Iterable[str],
    name: str,
) -> dict[str, object]:
    """The document served at :func:`resource_metadata_url`, in the order and form FastMCP
    writes it: URLs as pydantic writes them (a bare origin gains a trailing slash, which is
    what clients compare issuers against), only the fields the servers set, ``None`` left out.
    ``json.dumps(..., separators=(",", ":"))`` of it is the served body byte for byte."""
    if not authorization_servers:
        raise ValueError("a protected resource names at least one authorization server")
    return {
        "resource": str(AnyHttpUrl(f"{base_url.rstrip('/')}/{mcp_path.lstrip('/')}")),
        "authorization_servers": [str(AnyHttpUrl(url)) for url in authorization_servers],
        "scopes_supported": requestable(scopes),
        # MCP sends tokens in the Authorization header only (the SDK's model's default).
        "bearer_methods_supported": ["header"],
        "resource_name": name,
    }
