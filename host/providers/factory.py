"""The provider the settings choose, or None when no model is configured.

Each builder imports its own SDK: together they take seconds to import, and a host runs one
provider (or none). The SDKs' own retries are kept to one (a dropped connection); throttling is
retried by the loop, with its backoff and within the turn's time, so the two do not multiply.
"""

from __future__ import annotations

from host.settings import HostSettings

from .base import ModelProvider

SDK_RETRIES = 1


def build_provider(settings: HostSettings) -> ModelProvider | None:
    if settings.model_provider == "bedrock":
        return _bedrock(settings)
    if settings.model_provider == "anthropic":
        return _anthropic(settings)
    if settings.model_provider == "openai":
        return _openai(settings)
    return None


def _bedrock(settings: HostSettings) -> ModelProvider:
    import boto3
    from botocore.config import Config

    from .bedrock_converse import DEFAULT_MODEL, BedrockConverse

    client = boto3.client(
        "bedrock-runtime",
        region_name=settings.aws_region,
        config=Config(
            connect_timeout=min(settings.model_timeout_seconds, 10.0),
            read_timeout=settings.model_timeout_seconds,
            retries={"mode": "standard", "total_max_attempts": 1 + SDK_RETRIES},
        ),
    )
    return BedrockConverse(
        client, settings.model_id or DEFAULT_MODEL, max_tokens=settings.model_max_tokens
    )


def _anthropic(settings: HostSettings) -> ModelProvider:
    from anthropic import AsyncAnthropic

    from .anthropic_messages import AnthropicMessages

    # The settings' validation guarantees both (it names the missing setting).
    assert settings.anthropic_api_key is not None
    assert settings.model_id
    client = AsyncAnthropic(
        api_key=settings.anthropic_api_key.get_secret_value(),
        timeout=settings.model_timeout_seconds,
        max_retries=SDK_RETRIES,
    )
    return AnthropicMessages(client, settings.model_id, max_tokens=settings.model_max_tokens)


def _openai(settings: HostSettings) -> ModelProvider:
    from openai import AsyncOpenAI

    from .openai_chat import OpenAIChat

    assert settings.openai_base_url
    assert settings.model_id
    key = settings.openai_api_key
    client = AsyncOpenAI(
        base_url=settings.openai_base_url,
        # Local servers need no key, but the SDK insists on one; it is sent and ignored.
        api_key=key.get_secret_value() if key is not None else "unused",
        timeout=settings.model_timeout_seconds,
        max_retries=SDK_RETRIES,
    )
    return OpenAIChat(client, settings.model_id, max_tokens=settings.model_max_tokens)
