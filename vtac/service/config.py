"""Settings of the service: environment (``VTAC_*``), secret files, an optional TOML file, defaults.

Precedence, highest first: constructor arguments, environment variables, secret files (``secrets_dir``,
e.g. ``/run/secrets/vtac_sdb_token``), the TOML file named by ``VTAC_CONFIG_FILE``, then the defaults below
(the names of ``docs/ICD.md``). Nested values use ``__``: ``VTAC_SCIENCE__BEST_SCORE_THRESHOLD=0.6``.
Secrets are :class:`~pydantic.SecretStr`, so neither ``repr`` nor a log line ever shows them.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SecretsSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from vtac.core.config import ScienceConfig
from vtac.core.model import CATALOG_NAMES
from vtac.errors import ConfigurationError
from vtac.settings import DEFAULT_CATALOGS

CONFIG_FILE_VARIABLE = "VTAC_CONFIG_FILE"
SECRETS_DIR_VARIABLE = "VTAC_SECRETS_DIR"
DEFAULT_SECRETS_DIR = Path("/run/secrets")
DEFAULT_INPUT_ROUTING_KEYS = ("product.QSRCLIST_VT", "product.QPO_MXT", "position.MXT")


class ServiceSettings(BaseSettings):
    """Everything ``vtac serve`` needs: broker topology, state, SDB, catalogues, science, health."""

    model_config = SettingsConfigDict(
        env_prefix="VTAC_", env_nested_delimiter="__", extra="ignore", validate_default=True
    )

    # --- broker (names: docs/ICD.md) ---
    amqp_url: SecretStr = Field(
        SecretStr("amqp://guest:guest@127.0.0.1:5672/%2F"), description="Broker URL, password included."
    )
    inputs_exchange: str = Field("svom.products", description="Topic exchange of the upstream products.")
    inputs_queue: str = Field("vtac.inputs", description="Durable queue VTAC consumes.")
    input_routing_keys: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: list(DEFAULT_INPUT_ROUTING_KEYS),
        description="Bindings of the inputs queue (JSON list or comma-separated).",
    )
    notifications_exchange: str = Field("svom.notifications", description="Topic exchange of QPO_VT news.")
    ba_routing_key: str = Field("qpo_vt.ba", description="Notification to the Burst Advocate.")
    vtpp_routing_key: str = Field("qpo_vt.vtpp", description="Notification to VT post-processing.")
    dead_letter_exchange: str = Field("vtac.dlx", description="Where rejected inputs go.")
    dead_letter_queue: str = Field("vtac.inputs.dead", description="Queue of rejected inputs.")
    reason_header: str = Field("x-vtac-reason", description="Header carrying why an input was rejected.")
    prefetch: int = Field(2, ge=1, le=1000, description="Unacknowledged inputs the broker may hand us.")
    heartbeat_s: int = Field(30, ge=0, description="AMQP heartbeat (0: off).")
    retry_max_attempts: int = Field(
        0, ge=0, description="Attempts of a failing input; 0: no limit (age only)."
    )
    retry_delay_s: float = Field(2.0, gt=0, description="First delay before retrying an input (doubles).")
    retry_delay_cap_s: float = Field(60.0, gt=0, description="Longest delay between two attempts.")
    retry_max_age_s: float = Field(
        24 * 3600.0,
        gt=0,
        description="An input failing transiently is retried this long, then dead-lettered.",
    )

    # --- state, SDB, work files ---
    state_dir: Path = Field(Path("vtac-state"), description="Default home of the state, file SDB, work dir.")
    state_url: SecretStr | None = Field(
        None, description="postgresql://... (may hold a password), sqlite:///path or a path; None: SQLite."
    )
    sdb_url: str | None = Field(None, description="Base URL of the HTTP SDB; None: file SDB in state_dir.")
    sdb_fetch_urls: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Base URLs (scheme, host, port, path) that inbound sdb_url may point under (JSON list or "
        "comma-separated); empty: sdb_url only. Anything else is refused (no SSRF).",
    )
    sdb_token: SecretStr | None = Field(None, description="Bearer token of the SDB (env or secret file).")
    sdb_connect_timeout_s: float = Field(3.05, gt=0)
    sdb_read_timeout_s: float = Field(30.0, gt=0)
    sdb_max_attempts: int = Field(4, ge=1, description="Attempts per SDB call before the input is retried.")
    work_dir: Path | None = Field(None, description="Scratch space of each build; None: state_dir/work.")

    # --- bounds on what a message may cost (a message beyond one is dead-lettered naming the bound) ---
    max_message_bytes: int = Field(
        4 * 1024 * 1024, ge=1024, description="Largest input body; larger products come by sdb_url."
    )
    max_json_depth: int = Field(16, ge=2, le=200, description="Deepest JSON nesting of an input body.")
    max_fits_bytes: int = Field(
        64 * 1024 * 1024, ge=2880, description="Largest input product once decompressed (gzip included)."
    )
    max_fetch_bytes: int = Field(64 * 1024 * 1024, ge=1, description="Largest SDB answer read.")
    fetch_deadline_s: float = Field(60.0, gt=0, description="Whole-answer time limit of one SDB GET.")

    # --- science ---
    catalogs: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: list(DEFAULT_CATALOGS),
        description="NAME=SOURCE, in the order asked (JSON list or comma-separated).",
    )
    science: ScienceConfig = ScienceConfig()

    # --- health ---
    health_port: int | None = Field(8080, ge=0, le=65535, description="Liveness/readiness HTTP port.")
    health_file: Path | None = Field(None, description="Touched while healthy (for exec probes).")
    confirm_retry_s: float = Field(
        5.0, ge=0, description="How long marking notified versions published is retried (state store down)."
    )
    claim_lease_s: float = Field(
        120.0, gt=0, description="How long a crashed instance's claim on a burst blocks the others."
    )
    max_processing_s: float = Field(
        600.0, gt=0, description="/live fails when one input has been in progress longer than this."
    )
    log_level: str = Field("INFO", description="Python logging level name.")

    @field_validator("input_routing_keys", "catalogs", "sdb_fetch_urls", mode="before")
    @classmethod
    def _split_list(cls, value: Any) -> Any:
        """Accept a JSON list or a comma-separated string, so plain env values work."""
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                return json.loads(text)
            return [item.strip() for item in text.split(",") if item.strip()]
        return value

    @field_validator("catalogs")
    @classmethod
    def _known_catalogs(cls, value: list[str]) -> list[str]:
        """NAME=SOURCE with a known NAME, normalised to upper case; each catalogue once."""
        normalised = []
        for item in value:
            name, sep, source = item.partition("=")
            name, source = name.strip().upper(), source.strip()
            if not sep or not source:
                raise ValueError(f"{item!r}: expected NAME=SOURCE, e.g. SDSS12=vizier")
            if name not in CATALOG_NAMES:
                raise ValueError(f"{item!r}: unknown catalogue {name}; known: {', '.join(CATALOG_NAMES)}")
            normalised.append(f"{name}={source}")
        names = [item.split("=", 1)[0] for item in normalised]
        if len(set(names)) != len(names):
            raise ValueError(f"each catalogue at most once: {names}")
        return normalised

    @property
    def fetch_allow_list(self) -> list[str]:
        """Base URLs inbound ``sdb_url`` values must be under."""
        return list(self.sdb_fetch_urls) or ([self.sdb_url] if self.sdb_url else [])

    @property
    def state_location(self) -> str:
        """Where the input store is: ``state_url``, else ``state_dir/state.db``."""
        if self.state_url is not None and self.state_url.get_secret_value():
            return self.state_url.get_secret_value()
        return str(self.state_dir / "state.db")

    @property
    def file_sdb_root(self) -> Path:
        """Root of the file SDB (used when ``sdb_url`` is None)."""
        return self.state_dir / "sdb"

    @property
    def work_root(self) -> Path:
        """Scratch directory of the builds."""
        return self.work_dir or self.state_dir / "work"

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Environment over secret files over the TOML file (``VTAC_CONFIG_FILE``) over defaults."""
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings, dotenv_settings]
        secrets_dir = _secrets_dir()
        if secrets_dir is not None:
            sources.append(SecretsSettingsSource(settings_cls, secrets_dir=secrets_dir))
        config_file = os.environ.get(CONFIG_FILE_VARIABLE, "").strip()
        if config_file:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=_existing(config_file)))
        return tuple(sources)


def _secrets_dir() -> Path | None:
    """``VTAC_SECRETS_DIR``, else ``/run/secrets`` if it exists (pydantic warns on a missing directory)."""
    named = os.environ.get(SECRETS_DIR_VARIABLE, "").strip()
    if named:
        return _existing(named)
    return DEFAULT_SECRETS_DIR if DEFAULT_SECRETS_DIR.is_dir() else None


def _existing(name: str) -> Path:
    """A configured file or directory must exist: a typo must not silently fall back to defaults."""
    path = Path(name)
    if not path.exists():
        raise ConfigurationError(f"{name}: no such file or directory")
    return path
