"""Settings of the concierge host (env prefix ``HOST_``; the model settings' names are fixed by
docs/ARCHITECTURE.md so operators and tests can rely on them)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import SettingsConfigDict

from servers.core.settings import DatabaseSettings, ServerSettings

from .webapp import DIST as WEB_DIST

MODEL_SETTINGS = (
    "HOST_MODEL_PROVIDER (bedrock, anthropic or openai)",
    "HOST_MODEL_ID",
    "HOST_AWS_REGION (bedrock)",
    "HOST_ANTHROPIC_API_KEY (anthropic)",
    "HOST_OPENAI_BASE_URL and HOST_OPENAI_API_KEY (openai)",
)
"""What an operator sets to give the host a model, as the 503 without one says."""


class HostSettings(DatabaseSettings, ServerSettings):
    model_config = SettingsConfigDict(env_prefix="HOST_")

    # The AgentCore Runtime's HTTP contract for agents is port 8080; `make run` uses it too.
    port: int = Field(8080, ge=1, le=65535, description="TCP port of every entry point.")
    model_provider: Literal["bedrock", "anthropic", "openai"] | None = Field(
        None, description="bedrock, anthropic or openai; unset, the chat answers 503."
    )
    model_id: str | None = Field(
        None, description="Model id; the default depends on the provider (Nova Pro on Bedrock)."
    )
    anthropic_api_key: SecretStr | None = Field(None, description="Anthropic API key.")
    openai_base_url: str | None = Field(
        None, description="Base URL of an OpenAI-compatible endpoint (Ollama, vLLM, ...)."
    )
    openai_api_key: SecretStr | None = Field(
        None, description="API key of the OpenAI-compatible endpoint, if it needs one."
    )
    ticket_url: str = Field(
        "http://127.0.0.1:8002/mcp", description="MCP endpoint of the ticket server."
    )
    payment_url: str = Field(
        "http://127.0.0.1:8003/mcp", description="MCP endpoint of the payment server."
    )
    web_dist: Path = Field(
        WEB_DIST,
        description="The built web app served at / (`make web` builds it into web/dist).",
    )
    web_client_id: str = Field(
        "web", description="The OAuth client the web app signs in with (its /config.json)."
    )
    max_steps: int = Field(
        8, ge=1, le=50, description="Model calls per chat turn before the turn is stopped."
    )
    turn_timeout_seconds: float = Field(
        90.0, gt=0, le=900, description="Wall time of one chat turn, model and tools together."
    )
    tool_timeout_seconds: float = Field(
        20.0, gt=0, le=300, description="Time one MCP call (discovery or a tool) may take."
    )
    model_retries: int = Field(
        3, ge=0, le=10, description="Retries of a throttled model call, with backoff."
    )
    # Memory (host/memory): sessions, turns and long-term facts.
    memory_backend: Literal["postgres", "agentcore"] = Field(
        "postgres",
        description="Where sessions and long-term facts are kept: postgres (schema host) or "
        "agentcore (Amazon Bedrock AgentCore Memory).",
    )
    agentcore_memory_id: str | None = Field(
        None, description="The AgentCore Memory's id (memory backend agentcore)."
    )
    agentcore_memory_region: str = Field(
        "us-west-2", description="AWS region of the AgentCore Memory."
    )
    # Visitors who are not signed in: the host's own client-credentials token, which reaches
    # the public catalogue only (tickets/catalogue), never a customer's things.
    client_id: str = Field(
        "host-agent", description="The host's own OAuth client (client credentials)."
    )
    client_secret: SecretStr | None = Field(
        None,
        description="The host's client secret; unset, visitors who are not signed in get 401.",
    )

    @model_validator(mode="after")
    def _check_model(self) -> HostSettings:
        if self.model_provider == "anthropic" and self.anthropic_api_key is None:
            raise ValueError("HOST_MODEL_PROVIDER=anthropic needs HOST_ANTHROPIC_API_KEY")
        if self.model_provider == "openai" and not (self.openai_base_url and self.model_id):
            raise ValueError(
                "HOST_MODEL_PROVIDER=openai needs HOST_OPENAI_BASE_URL and HOST_MODEL_ID"
            )
        if self.memory_backend == "agentcore" and not self.agentcore_memory_id:
            raise ValueError("HOST_MEMORY_BACKEND=agentcore needs HOST_AGENTCORE_MEMORY_ID")
        return self
