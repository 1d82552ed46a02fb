"""Settings from the environment (prefix ``VTAC_``), shared by the command line and the service."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from vtac.core.config import ScienceConfig


class VtacSettings(BaseSettings):
    """Everything configurable; e.g. ``VTAC_SCIENCE__BEST_SCORE_THRESHOLD=0.6``, ``VTAC_OUTPUT_DIR=/data``."""

    model_config = SettingsConfigDict(env_prefix="VTAC_", env_nested_delimiter="__", extra="ignore")

    science: ScienceConfig = ScienceConfig()
    output_dir: Path = Field(Path("."), description="Where products are written when --out is not given.")
