"""The provider the settings choose, or None when no model is configured."""

from __future__ import annotations

from host.settings import HostSettings

from .base import ModelProvider


def build_provider(settings: HostSettings) -> ModelProvider | None:
    if settings.model_provider is None:
        return None
    raise SystemExit(
        f"configuration error: HOST_MODEL_PROVIDER={settings.model_provider} is not "
        "available in this build yet; unset it to run the host without a model"
    )
