"""Settings of the data server (env prefix ``DATA_``)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from servers.core.settings import DatabaseSettings, ServerSettings


class DataSettings(DatabaseSettings, ServerSettings):
    model_config = SettingsConfigDict(env_prefix="DATA_")

    capacity_standard: int = Field(
        200, ge=0, description="Default Standard-tier seats per date (set_capacity overrides)."
    )
    capacity_non_stop: int = Field(100, ge=0, description="Default Non-stop seats per date.")
    capacity_double_fun: int = Field(50, ge=0, description="Default Double Fun seats per date.")
