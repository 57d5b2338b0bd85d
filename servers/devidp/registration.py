"""Dynamic Client Registration (RFC 7591): public clients that register themselves.

Desktop assistants and the MCP SDKs know nothing but a server's URL; they discover this provider
and register a public client (PKCE, no secret) with their loopback or https callback. Registered
clients are kept in ``registered-clients.json`` beside the signing key, so a client registered
once keeps working after the provider restarts. What they may ask for is a customer's scopes only.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from servers.devidp.clients import (
    AUTHORIZATION_CODE,
    REFRESH_TOKEN,
    SELF_REGISTERED_SCOPES,
    Client,
    GrantType,
)
from servers.devidp.redirects import redirect_uri_problem

REGISTERED_CLIENTS_FILE = "registered-clients.json"
CLIENT_ID_PREFIX = "dyn-"
MAX_REGISTERED_CLIENTS = 1000
MAX_REDIRECT_URIS = 10
MAX_CLIENT_NAME_LENGTH = 100

_GRANT_TYPES: Mapping[str, GrantType] = {
    AUTHORIZATION_CODE: AUTHORIZATION_CODE,
    REFRESH_TOKEN: REFRESH_TOKEN,
}


class RegistrationError(ValueError):
    """A refused registration; ``error`` is the RFC 7591 §3.2.2 error code."""

    def __init__(self, error: str, description: str) -> None:
        super().__init__(description)
        self.error = error
        self.description = description


@dataclass(frozen=True)
class ClientMetadata:
    """Validated client metadata, from a registration request or a metadata document."""

    redirect_uris: tuple[str, ...]
    grant_types: tuple[GrantType, ...]
    scopes: tuple[str, ...]
    client_name: str | None

    def to_client(self, client_id: str) -> Client:
        return Client(
            client_id=client_id,
            client_secret=None,
            scopes=self.scopes,
            grant_types=self.grant_types,
            redirect_uris=self.redirect_uris,
            client_name=self.client_name,
            self_registered=True,
        )


def _string_list(document: Mapping[str, Any], name: str) -> list[str] | None:
    value = document.get(name)
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise RegistrationError("invalid_client_metadata", f"{name} must be a list of strings")
    return list(value)


def parse_client_metadata(document: Any) -> ClientMetadata:
    """Check a client's metadata (RFC 7591 §2) against what this provider allows.

    Unknown members are ignored, as §2 asks; known ones that ask for something not offered are
    refused rather than silently changed, so the client learns why.
    """
    if not isinstance(document, dict):
        raise RegistrationError("invalid_client_metadata", "the body must be a JSON object")
    # Some clients send every member of their model, unset ones as null: null means absent.
    document = {name: value for name, value in document.items() if value is not None}
    redirect_uris = _string_list(document, "redirect_uris")
    if not redirect_uris:
        raise RegistrationError("invalid_redirect_uri", "redirect_uris must name at least one URI")
    if len(redirect_uris) > MAX_REDIRECT_URIS:
        raise RegistrationError(
            "invalid_redirect_uri", f"at most {MAX_REDIRECT_URIS} redirect_uris are allowed"
        )
    for uri in redirect_uris:
        problem = redirect_uri_problem(uri)
        if problem is not None:
            raise RegistrationError("invalid_redirect_uri", f"redirect URI {uri!r} {problem}")

    method = document.get("token_endpoint_auth_method", "none")
    if method != "none":
        raise RegistrationError(
            "invalid_client_metadata",
            "only public clients can register: token_endpoint_auth_method must be none "
            "(PKCE S256 protects the code)",
        )
    grant_names = _string_list(document, "grant_types") or [AUTHORIZATION_CODE, REFRESH_TOKEN]
    unsupported = [name for name in grant_names if name not in _GRANT_TYPES]
    if unsupported or AUTHORIZATION_CODE not in grant_names:
        raise RegistrationError(
            "invalid_client_metadata",
            "grant_types may be authorization_code and refresh_token, and must include "
            "authorization_code",
        )
    response_types = _string_list(document, "response_types") or ["code"]
    if response_types != ["code"]:
        raise RegistrationError("invalid_client_metadata", "response_types must be [code]")

    scope = document.get("scope")
    if scope is not None and not isinstance(scope, str):
        raise RegistrationError("invalid_client_metadata", "scope must be a string")
    scopes = tuple(dict.fromkeys(scope.split())) if scope else SELF_REGISTERED_SCOPES
    refused = [s for s in scopes if s not in SELF_REGISTERED_SCOPES]
    if refused:
        raise RegistrationError(
            "invalid_client_metadata",
            f"scope {' '.join(refused)} is not available to registered clients "
            f"(available: {' '.join(SELF_REGISTERED_SCOPES)})",
        )

    client_name = document.get("client_name")
    if client_name is not None and (
        not isinstance(client_name, str)
        or not client_name.strip()
        or len(client_name) > MAX_CLIENT_NAME_LENGTH
        or not client_name.isprintable()
    ):
        raise RegistrationError(
            "invalid_client_metadata",
            f"client_name must be printable text of at most {MAX_CLIENT_NAME_LENGTH} characters",
        )
    return ClientMetadata(
        redirect_uris=tuple(dict.fromkeys(redirect_uris)),
        grant_types=tuple(_GRANT_TYPES[name] for name in dict.fromkeys(grant_names)),
        scopes=scopes,
        client_name=client_name.strip() if client_name else None,
    )


def registration_response(client: Client, issued_at: int) -> dict[str, Any]:
    """The RFC 7591 §3.2.1 answer: the client's metadata as registered, with its id."""
    body: dict[str, Any] = {
        "client_id": client.client_id,
        "client_id_issued_at": issued_at,
        "redirect_uris": list(client.redirect_uris),
        "grant_types": list(client.grant_types),
        "response_types": ["code"],
        "token_endpoint_auth_method": "none",
        "scope": " ".join(client.scopes),
    }
    if client.client_name is not None:
        body["client_name"] = client.client_name
    return body


class RegisteredClients:
    """Self-registered clients, persisted as one JSON file written atomically."""

    def __init__(self, path: Path, *, limit: int = MAX_REGISTERED_CLIENTS) -> None:
        self._path = path
        self._limit = limit
        self._lock = threading.Lock()
        self._records: dict[str, dict[str, Any]] = {}
        self._clients: dict[str, Client] = {}
        if path.exists():
            self._load()

    def _load(self) -> None:
        try:
            document = json.loads(self._path.read_text("utf-8"))
            records = document["clients"]
            for record in records:
                metadata = parse_client_metadata(record)
                client_id = record["client_id"]
                if not isinstance(client_id, str) or not client_id.startswith(CLIENT_ID_PREFIX):
                    raise ValueError(f"bad client_id {client_id!r}")
                self._records[client_id] = record
                self._clients[client_id] = metadata.to_client(client_id)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ValueError(
                f"{self._path} is not a registered-clients file ({exc}); move it away to start "
                "with no registered clients"
            ) from exc

    def get(self, client_id: str) -> Client | None:
        return self._clients.get(client_id)

    def __len__(self) -> int:
        return len(self._clients)

    def register(self, metadata: ClientMetadata, issued_at: int) -> Client:
        """A new client with a fresh unguessable id, saved before it is returned."""
        with self._lock:
            if len(self._clients) >= self._limit:
                raise RegistrationError(
                    "invalid_client_metadata",
                    f"this provider holds its limit of {self._limit} registered clients; "
                    f"remove {self._path} to start over",
                )
            client_id = CLIENT_ID_PREFIX + secrets.token_urlsafe(16)
            client = metadata.to_client(client_id)
            record = {
                "client_id": client_id,
                "client_id_issued_at": issued_at,
                "redirect_uris": list(metadata.redirect_uris),
                "grant_types": list(metadata.grant_types),
                "scope": " ".join(metadata.scopes),
                "client_name": metadata.client_name,
            }
            records = [*self._records.values(), record]
            _write_atomically(self._path, {"clients": records})
            self._records[client_id] = record
            self._clients[client_id] = client
            return client


def _write_atomically(path: Path, document: Mapping[str, Sequence[Any]]) -> None:
    """Write a private temporary file, fsync it, then rename it over ``path``.

    A reader (or a crash) sees the old file or the new one, never half of one.
    """
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    tmp = path.parent / f".{path.name}.{os.getpid()}.{secrets.token_hex(8)}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(document, handle, indent=1)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
