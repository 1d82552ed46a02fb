"""Settings from the environment (prefix ``VTAC_``), shared by the command line and the service."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from vtac.core.config import ScienceConfig

DEFAULT_CATALOGS = ("PS1DR1=vizier", "SDSS12=vizier", "LSDR10=datalab", "GAIADR3=vizier", "USNOB1=vizier")


class VtacSettings(BaseSettings):
    """Everything configurable; e.g. ``VTAC_SCIENCE__BEST_PROBABILITY_THRESHOLD=0.3``, ``VTAC_OUTPUT_DIR``."""

    model_config = SettingsConfigDict(env_prefix="VTAC_", env_nested_delimiter="__", extra="ignore")

    science: ScienceConfig = ScienceConfig()
    catalogs: list[str] = Field(
        default_factory=lambda: list(DEFAULT_CATALOGS),
        description="NAME=SOURCE catalogues asked when none is named: the operational PS1, SDSS and Legacy "
        "Survey, plus Gaia (bright stars, proper motions) and USNO-B1 (where nothing deeper covers the sky). "
        "From the environment as JSON: VTAC_CATALOGS='[\"SDSS12=/data/store\"]'.",
    )
    output_dir: Path = Field(Path("."), description="Where products are written when --out is not given.")
