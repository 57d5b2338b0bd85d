"""HOST_MODEL_* settings choose and configure the provider; a missing setting is named."""

from __future__ import annotations

from typing import Any

import pytest

from host.providers.anthropic_messages import AnthropicMessages
from host.providers.bedrock_converse import DEFAULT_MODEL, BedrockConverse
from host.providers.factory import build_provider
from host.providers.openai_chat import OpenAIChat
from host.settings import HostSettings
from servers.core.settings import load_settings

BASE = {
    "auth_issuer": "http://127.0.0.1:9000",
    "auth_jwks_url": "http://127.0.0.1:9000/.well-known/jwks.json",
    "database_url": "postgresql://u@127.0.0.1:1/db",
}


def host_settings(**values: Any) -> HostSettings:
    return HostSettings.model_validate({**BASE, **values})


def test_no_provider_means_no_model() -> None:
    assert build_provider(host_settings()) is None


def test_bedrock_defaults_to_nova_pro_in_us_west_2_with_bounded_time_and_retries() -> None:
    provider = build_provider(
        host_settings(model_provider="bedrock", model_timeout_seconds=25, model_max_tokens=900)
    )
    assert isinstance(provider, BedrockConverse)
    assert provider.model_id == DEFAULT_MODEL == "us.amazon.nova-pro-v1:0"
    assert provider.max_tokens == 900
    client: Any = provider._client
    assert client.meta.region_name == "us-west-2"
    assert client.meta.config.read_timeout == 25
    assert client.meta.config.connect_timeout == 10
    assert client.meta.config.retries == {"mode": "standard", "total_max_attempts": 2}


def test_bedrock_takes_another_model_and_region() -> None:
    provider = build_provider(
        host_settings(
            model_provider="bedrock",
            model_id="anthropic.claude-x",
            aws_region="eu-central-1",
        )
    )
    assert isinstance(provider, BedrockConverse)
    assert provider.model_id == "anthropic.claude-x"
    assert provider._client.meta.region_name == "eu-central-1"


def test_anthropic_and_openai_are_built_from_their_settings() -> None:
    anthropic = build_provider(
        host_settings(model_provider="anthropic", anthropic_api_key="sk-test", model_id="claude-z")
    )
    assert isinstance(anthropic, AnthropicMessages)
    assert anthropic.model_id == "claude-z"
    openai = build_provider(
        host_settings(
            model_provider="openai",
            openai_base_url="http://127.0.0.1:11434/v1",
            model_id="llama3.2",
        )
    )
    assert isinstance(openai, OpenAIChat)
    assert str(openai._client.base_url) == "http://127.0.0.1:11434/v1/"


@pytest.mark.parametrize(
    ("values", "named"),
    [
        ({"model_provider": "anthropic", "model_id": "claude-z"}, "HOST_ANTHROPIC_API_KEY"),
        ({"model_provider": "anthropic", "anthropic_api_key": "sk-test"}, "HOST_MODEL_ID"),
        ({"model_provider": "openai", "model_id": "llama3.2"}, "HOST_OPENAI_BASE_URL"),
        ({"model_provider": "openai", "openai_base_url": "http://x/v1"}, "HOST_MODEL_ID"),
        ({"model_provider": "bedrock", "model_max_tokens": "0"}, "HOST_MODEL_MAX_TOKENS"),
        ({"model_provider": "gemini"}, "HOST_MODEL_PROVIDER"),
    ],
)
def test_a_missing_or_wrong_setting_is_named_at_start(
    monkeypatch: pytest.MonkeyPatch, values: dict[str, str], named: str
) -> None:
    for name, value in {**BASE, **values}.items():
        monkeypatch.setenv(f"HOST_{name.upper()}", value)
    with pytest.raises(SystemExit) as raised:
        load_settings(HostSettings)
    assert named in str(raised.value)
    assert "sk-test" not in str(raised.value)
