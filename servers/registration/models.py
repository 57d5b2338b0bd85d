"""The wire shapes: the RFC 7591 registration request and answer, the RFC 8414 document."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class RegistrationRequest(BaseModel):
    """The client metadata this edge reads (RFC 7591 §2). Other members, such as ``logo_uri``
    or ``application_type``, are ignored, as §2 allows: Cognito has nowhere to keep them, and
    the answer lists only what was registered."""

    model_config = ConfigDict(extra="ignore", strict=True, frozen=True)

    redirect_uris: list[str] = Field(min_length=1)
    token_endpoint_auth_method: str | None = None
    grant_types: list[str] | None = None
    response_types: list[str] | None = None
    client_name: str | None = None
    scope: str | None = None


class RegisteredClient(BaseModel):
    """The client information response (RFC 7591 §3.2.1). A public client: no secret, and no
    registration access token, since this edge offers no management endpoint (RFC 7592)."""

    model_config = ConfigDict(frozen=True)

    client_id: str
    client_id_issued_at: int
    client_name: str | None
    redirect_uris: list[str]
    grant_types: list[str]
    response_types: list[str]
    token_endpoint_auth_method: str
    scope: str


class AuthorizationServerMetadata(BaseModel):
    """RFC 8414 metadata: this edge's endpoints in front of Cognito, Cognito's keys."""

    model_config = ConfigDict(frozen=True)

    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    revocation_endpoint: str
    jwks_uri: str
    registration_endpoint: str
    scopes_supported: list[str]
    response_types_supported: list[str]
    response_modes_supported: list[str]
    grant_types_supported: list[str]
    code_challenge_methods_supported: list[str]
    token_endpoint_auth_methods_supported: list[str]
    revocation_endpoint_auth_methods_supported: list[str]
    client_id_metadata_document_supported: bool
