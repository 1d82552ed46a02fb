"""One settings tree for the command line and the service: science, catalogues, broker, state, SDB, health.

Precedence, lowest first: the defaults below (the names of docs/ICD.md) < the TOML file named by
``VTAC_CONFIG_FILE`` < secret files (``VTAC_SECRETS_DIR``, default ``/run/secrets``, e.g.
``/run/secrets/vtac_sdb__token``) < the environment (``VTAC_*``, ``__`` for nesting:
``VTAC_SCIENCE__BEST_PROBABILITY_THRESHOLD=0.3``, ``VTAC_CATALOGUES__SERVICES__DEADLINE_S=12``) <
the command line.
An unknown key in the file or a nested section is an error naming it (a typo must not fall back to a default
silently). Secrets are :class:`~pydantic.SecretStr`: neither ``repr``, a log line nor ``vtac config show``
shows them. :func:`load_settings` turns every invalid value into one :class:`ConfigurationError` line.
"""

from __future__ import annotations

import contextvars
import json
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_serializer,
    field_validator,
)
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    NestedSecretsSettingsSource,
    NoDecode,
    PydanticBaseSettingsSource,
    SecretsSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from vtac.adapters.alerts import DEFAULT_MAX_RADIUS_DEG
from vtac.adapters.cone_cache import DEFAULT_MAX_AGE_S
from vtac.adapters.datalab import DEFAULT_DATALAB_URL
from vtac.adapters.http import HttpPolicy
from vtac.adapters.providers import DEFAULT_DEADLINE_S, RemoteSettings
from vtac.adapters.survey import DEFAULT_HIPS as DEFAULT_SURVEY_HIPS
from vtac.adapters.survey import DEFAULT_URL as DEFAULT_SURVEY_URL
from vtac.adapters.survey import SurveySettings
from vtac.adapters.vizier import DEFAULT_VIZIER_URL
from vtac.app.catalogs import CatalogSource, parse_catalog_sources
from vtac.core.photometry import load_transforms
from vtac.core.science_settings import ScienceConfig
from vtac.errors import ConfigurationError
from vtac.redaction import redact

CONFIG_FILE_VARIABLE = "VTAC_CONFIG_FILE"
SECRETS_DIR_VARIABLE = "VTAC_SECRETS_DIR"
DEFAULT_SECRETS_DIR = Path("/run/secrets")
DEFAULT_CATALOGS = ("PS1DR1=vizier", "SDSS12=vizier", "LSDR10=datalab", "GAIADR3=vizier", "USNOB1=vizier")
_DEFAULT_POLICY = HttpPolicy()
_BROKER_MOVED = (
    *(
        (name, name)
        for name in (
            "INPUTS_EXCHANGE",
            "INPUTS_QUEUE",
            "INPUT_ROUTING_KEYS",
            "NOTIFICATIONS_EXCHANGE",
            "BA_ROUTING_KEY",
            "VTPP_ROUTING_KEY",
            "BA_QUEUE",
            "VTPP_QUEUE",
            "DEAD_LETTER_EXCHANGE",
            "DEAD_LETTER_QUEUE",
            "REASON_HEADER",
            "HEARTBEAT_S",
            "BLOCKED_CONNECTION_TIMEOUT_S",
            "QUEUE_TYPE",
            "DELIVERY_LIMIT",
            "MAX_ATTEMPTS",
            "RETRY_DELAY_S",
            "RETRY_DELAY_CAP_S",
            "RETRY_MAX_AGE_S",
            "PROCESSING_DEADLINE_S",
            "RECONNECT_INITIAL_S",
            "RECONNECT_CAP_S",
            "SHUTDOWN_GRACE_S",
        )
    ),
    ("AMQP_URL", "URL"),
    ("PREFETCH", "MAX_UNACKED"),
)
_SDB_MOVED = (
    *(
        (f"SDB_{name}", name)
        for name in (
            "URL",
            "FETCH_URLS",
            "TOKEN",
            "CONNECT_TIMEOUT_S",
            "READ_TIMEOUT_S",
            "MAX_ATTEMPTS",
            "BACKOFF_S",
            "BACKOFF_CAP_S",
        )
    ),
    ("MAX_FETCH_BYTES", "MAX_FETCH_BYTES"),
    ("FETCH_DEADLINE_S", "FETCH_DEADLINE_S"),
)
_CATALOG_SERVICES_MOVED = (
    ("VIZIER_URL", "VIZIER_URL"),
    ("DATALAB_URL", "DATALAB_URL"),
    ("CATALOG_DEADLINE_S", "DEADLINE_S"),
    ("HTTP_CONNECT_TIMEOUT_S", "CONNECT_TIMEOUT_S"),
    ("HTTP_READ_TIMEOUT_S", "READ_TIMEOUT_S"),
    ("HTTP_RETRIES", "RETRIES"),
    ("HTTP_BACKOFF_S", "BACKOFF_S"),
    ("CONE_CACHE_DIR", "CACHE_DIR"),
    ("CONE_CACHE_MAX_AGE_S", "CACHE_MAX_AGE_S"),
)
_EXTRAS_MOVED = (
    ("EXTRAS", "ENABLED"),
    *((name, name) for name in ("SURVEY_IMAGE_URL", "SURVEY_IMAGE_HIPS", "SURVEY_IMAGE_DEADLINE_S")),
)


def _http_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{value!r}: expected an http(s):// URL with a host")
    return value


class CatalogServices(BaseModel):
    """Remote catalogue services: where they are, how long to wait, where to cache their answers."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    vizier_url: str = Field(DEFAULT_VIZIER_URL, description="VizieR base URL.")
    datalab_url: str = Field(DEFAULT_DATALAB_URL, description="Astro Data Lab base URL.")
    deadline_s: float = Field(DEFAULT_DEADLINE_S, gt=0, description="Deadline of all queries of one burst.")
    connect_timeout_s: float = Field(
        _DEFAULT_POLICY.connect_timeout_s, gt=0, description="Connection timeout of one catalogue request."
    )
    read_timeout_s: float = Field(
        _DEFAULT_POLICY.read_timeout_s,
        gt=0,
        description="Read timeout of one catalogue request (not retried).",
    )
    retries: int = Field(_DEFAULT_POLICY.retries, ge=0, description="Retries after the first attempt.")
    backoff_s: float = Field(_DEFAULT_POLICY.backoff_s, ge=0, description="Base of the exponential backoff.")
    backoff_cap_s: float = Field(
        _DEFAULT_POLICY.max_backoff_s, ge=0, description="Longest wait between two attempts."
    )
    cache_dir: Path | None = Field(None, description="Directory of the cone cache (None: no cache).")
    cache_max_age_s: float = Field(DEFAULT_MAX_AGE_S, ge=0, description="Oldest cached answer used.")

    @field_validator("vizier_url", "datalab_url")
    @classmethod
    def _urls(cls, value: str) -> str:
        return _http_url(value)

    def remote_settings(self) -> RemoteSettings:
        """The providers' value object."""
        policy = HttpPolicy(
            connect_timeout_s=self.connect_timeout_s,
            read_timeout_s=self.read_timeout_s,
            retries=self.retries,
            backoff_s=self.backoff_s,
            max_backoff_s=self.backoff_cap_s,
        )
        return RemoteSettings(
            vizier_url=self.vizier_url,
            datalab_url=self.datalab_url,
            policy=policy,
            deadline_s=self.deadline_s,
            cache_dir=self.cache_dir,
            cache_max_age_s=self.cache_max_age_s,
        )


class ConePrefetch(BaseModel):
    """The service's catalogue prefetch: the first X-ray position of a burst starts the VT field's cones."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    enabled: bool = Field(True, description="Fetch the catalogues around the first position of a burst.")
    workers: int = Field(
        3, ge=1, le=16, description="Bursts prefetched at once (worker processes, all catalogues each)."
    )
    max_radius_arcmin: float = Field(
        45.0, gt=0, le=120, description="Largest prefetched cone (VT field + circle + margins, bounded)."
    )


def _split_list(value: Any) -> Any:
    """A JSON list or a comma-separated string as a list, so plain environment values work."""
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            return json.loads(text)
        return [item.strip() for item in text.split(",") if item.strip()]
    return value


class CatalogueSettings(BaseModel):
    """The reference catalogues (``VTAC_CATALOGUES__*``): which to ask, the services that answer, the
    service's prefetch of their cones."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    sources: Annotated[list[CatalogSource], NoDecode] = Field(
        default_factory=lambda: parse_catalog_sources(DEFAULT_CATALOGS),
        description="NAME=SOURCE, in the order asked (JSON list or comma-separated): the operational PS1, "
        "SDSS and Legacy Survey, plus Gaia (bright stars, proper motions) and USNO-B1 (where nothing deeper "
        "covers the sky).",
    )
    services: CatalogServices = CatalogServices()
    prefetch: ConePrefetch = ConePrefetch()

    @field_validator("sources", mode="before")
    @classmethod
    def _sources(cls, value: Any) -> Any:
        return parse_catalog_sources(value) if isinstance(value, str | list | tuple) else value

    @field_serializer("sources")
    def _sources_as_text(self, sources: list[CatalogSource]) -> list[str]:
        return [str(source) for source in sources]


def _moved_section(old: str, new: str, section: type[BaseModel]) -> Iterator[tuple[str, str]]:
    """A section renamed: its own name (set as one JSON object) and each of its fields."""
    for suffix in ("", *(f"__{name.upper()}" for name in section.model_fields)):
        yield f"{old}{suffix}", f"{new}{suffix}"


_CATALOGUES_MOVED = (
    ("CATALOGS", "SOURCES"),
    *_moved_section("CATALOG_SERVICES", "SERVICES", CatalogServices),
    *_moved_section("CONE_PREFETCH", "PREFETCH", ConePrefetch),
)
#: Variables of earlier versions: still set, they would be ignored silently, so they stop the start naming
#: the new name (a secret file of the old name too: ``vtac_sdb_token`` is now ``vtac_sdb__token``).
RETIRED_VARIABLES = {
    f"VTAC_{old}": f"VTAC_{section}__{new}"
    for section, moved in (
        ("BROKER", _BROKER_MOVED),
        ("SDB", _SDB_MOVED),
        ("CATALOGUES__SERVICES", _CATALOG_SERVICES_MOVED),
        ("CATALOGUES", _CATALOGUES_MOVED),
        ("EXTRAS", _EXTRAS_MOVED),
    )
    for old, new in moved
}


class BrokerSettings(BaseModel):
    """The broker (``VTAC_BROKER__*``): where it is, the names of docs/ICD.md §5, how inputs are consumed,
    retried and dead-lettered."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    url: SecretStr = Field(
        SecretStr("amqp://guest:guest@127.0.0.1:5672/%2F"), description="Broker URL, password included."
    )
    inputs_exchange: str = Field("svom.products", description="Topic exchange of the upstream products.")
    inputs_queue: str = Field("vtac.inputs", description="Durable queue VTAC consumes.")
    input_routing_keys: Annotated[tuple[str, ...], NoDecode] = Field(
        ("product.QSRCLIST_VT", "product.QPO_MXT", "position.MXT", "position.ALERT"),
        description="Bindings of the inputs queue (JSON list or comma-separated).",
    )
    notifications_exchange: str = Field("svom.notifications", description="Topic exchange of QPO_VT news.")
    ba_routing_key: str = Field("qpo_vt.ba", description="Notification to the Burst Advocate.")
    vtpp_routing_key: str = Field("qpo_vt.vtpp", description="Notification to VT post-processing.")
    ba_queue: str = Field(
        "vtac.notifications.ba",
        description="Durable queue of the Burst Advocate, declared and bound by VTAC ('': left to the BA).",
    )
    vtpp_queue: str = Field(
        "vtac.notifications.vtpp",
        description="Durable queue of VT post-processing, declared and bound by VTAC ('': left to it).",
    )
    dead_letter_exchange: str = Field("vtac.dlx", description="Where rejected inputs go.")
    dead_letter_queue: str = Field("vtac.inputs.dead", description="Queue of rejected inputs.")
    reason_header: str = Field("x-vtac-reason", description="Header carrying why an input was rejected.")
    max_unacked: int = Field(
        8,
        ge=1,
        le=1000,
        description="Unacknowledged inputs the broker may hand us (AMQP QoS prefetch count): a burst's "
        "inputs that come together are then in hand together and built together.",
    )
    heartbeat_s: int = Field(30, ge=0, description="AMQP heartbeat (0: off).")
    blocked_connection_timeout_s: float = Field(
        60.0, gt=0, description="Give up a connection the broker blocks (memory/disk alarm) this long."
    )
    queue_type: Literal["quorum", "classic"] = Field(
        "quorum", description="Type of the queues VTAC declares."
    )
    delivery_limit: int = Field(
        20, ge=1, description="Quorum queues: deliveries of one input (crashes) before the broker parks it."
    )
    max_attempts: int = Field(
        0, ge=0, description="Attempts of a failing input; 0: no limit (retry_max_age_s bounds it)."
    )
    retry_delay_s: float = Field(2.0, gt=0, description="Delay before the 2nd attempt; doubles each time.")
    retry_delay_cap_s: float = Field(60.0, gt=0, description="Longest delay between two attempts.")
    retry_max_age_s: float = Field(
        24 * 3600.0,
        gt=0,
        description="An input failing transiently (SDB or state outage) is retried this long, then "
        "dead-lettered.",
    )
    processing_deadline_s: float = Field(
        300.0,
        ge=0,
        description='An input in progress longer is dead-lettered ("processing deadline exceeded") and a '
        "new worker goes on; 0: none.",
    )
    reconnect_initial_s: float = Field(0.5, gt=0, description="First wait before reconnecting to the broker.")
    reconnect_cap_s: float = Field(30.0, gt=0, description="Longest wait between two reconnection attempts.")
    shutdown_grace_s: float = Field(
        20.0, ge=0, description="SIGTERM: time the input in flight has to finish."
    )
    connection_name: str = Field(
        "", description="Name the broker shows for VTAC's connection (empty: vtac@HOST:PID)."
    )

    @field_validator("input_routing_keys", mode="before")
    @classmethod
    def _routing_keys(cls, value: Any) -> Any:
        return _split_list(value)

    @field_validator("url")
    @classmethod
    def _amqp_url(cls, value: SecretStr) -> SecretStr:
        parts = urlsplit(value.get_secret_value())
        if parts.scheme not in ("amqp", "amqps") or not parts.hostname:
            raise ValueError("expected an amqp:// or amqps:// URL with a host (value not shown: secret)")
        return value

    @property
    def retry_queue(self) -> str:
        """Delay queue of inputs waiting for another attempt (a quorum queue: ``.retry``, the classic one of
        earlier versions, is left to drain into the input queue by itself)."""
        return f"{self.inputs_queue}.delay"


class SdbSettings(BaseModel):
    """The science database (``VTAC_SDB__*``): where the products go, where inbound products may be fetched
    from, and how long each call may take."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    url: str | None = Field(None, description="Base URL of the HTTP SDB; none: file SDB in state_dir.")
    fetch_urls: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Base URLs (scheme, host, port, path) that inbound sdb_url may point under (JSON list or "
        "comma-separated); empty: url only. Anything else is refused (no SSRF).",
    )
    token: SecretStr | None = Field(None, description="Bearer token of the SDB (env or secret file).")
    connect_timeout_s: float = Field(3.05, gt=0, description="Connection timeout of one SDB call.")
    read_timeout_s: float = Field(30.0, gt=0, description="Read timeout of one SDB call.")
    max_attempts: int = Field(4, ge=1, description="Attempts per SDB call before the input is retried.")
    backoff_s: float = Field(0.5, ge=0, description="Base of the backoff between SDB attempts.")
    backoff_cap_s: float = Field(
        8.0, ge=0, description="Longest wait between SDB attempts, and longest Retry-After honoured."
    )
    max_fetch_bytes: int = Field(64 * 1024 * 1024, ge=1, description="Largest SDB answer read.")
    fetch_deadline_s: float = Field(60.0, gt=0, description="Whole-answer time limit of one SDB GET.")

    @field_validator("fetch_urls", mode="before")
    @classmethod
    def _fetch_urls(cls, value: Any) -> Any:
        return _split_list(value)

    @field_validator("url")
    @classmethod
    def _sdb_url(cls, value: str | None) -> str | None:
        return _http_url(value) if value else value

    @property
    def fetch_allow_list(self) -> list[str]:
        """Base URLs inbound ``sdb_url`` values must be under."""
        return list(self.fetch_urls) or ([self.url] if self.url else [])


class ExtrasSettings(BaseModel):
    """What the Burst Advocate receives besides the products (``VTAC_EXTRAS__*``): whether they are made,
    when the extras worker may run, the survey image under the chart."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    enabled: bool = Field(
        True,
        description="Make and store the burst page, chart, light curves, VOEvent, notice and circular draft "
        "of each version, after its notifications went out.",
    )
    settle_s: float = Field(
        0.05,
        ge=0,
        description="Quiet time after an input before a drawing or an upload starts (covers its publication "
        "and the next delivery of a queue that holds more).",
    )
    max_hold_s: float = Field(10.0, ge=0, description="Longest hold of the extras by a stream of inputs.")
    timeout_s: float = Field(
        300.0,
        gt=0,
        description="Longest drawing of one version before the worker is killed (version failed).",
    )
    lease_s: float = Field(
        900.0,
        gt=0,
        description="How long a version's pending extras belong to their instance (past it: a crashed owner, "
        "taken over).",
    )
    survey_image_url: str = Field(
        "",
        description="CDS hips2fits endpoint of the burst page's survey image of the chart's frame, e.g. "
        f"{DEFAULT_SURVEY_URL} (empty: none, the catalogue chart alone).",
    )
    survey_image_hips: str = Field(DEFAULT_SURVEY_HIPS, description="HiPS survey of that image.")
    survey_image_deadline_s: float = Field(
        5.0, gt=0, le=60, description="Longest wait for the survey image (then the page goes without it)."
    )

    def survey(self, cache_dir: Path) -> SurveySettings | None:
        """The survey image settings (None: no survey image), cached in ``cache_dir``."""
        if not self.survey_image_url:
            return None
        return SurveySettings(
            self.survey_image_url, self.survey_image_hips, self.survey_image_deadline_s, cache_dir
        )


@dataclass(frozen=True)
class _Load:
    """How :func:`load_settings` wants the sources: which TOML file, whether to read the environment."""

    config_file: Path | None
    environment: bool


_LOAD: contextvars.ContextVar[_Load | None] = contextvars.ContextVar("vtac_settings_load", default=None)


class VtacSettings(BaseSettings):
    """Everything configurable, for ``vtac make-qpo-vt``, ``vtac serve`` and the other commands."""

    model_config = SettingsConfigDict(
        env_prefix="VTAC_", env_nested_delimiter="__", extra="forbid", validate_default=True
    )

    # --- science and catalogues ---
    science: ScienceConfig = ScienceConfig()
    catalogues: CatalogueSettings = CatalogueSettings()
    max_position_radius_deg: float = Field(
        DEFAULT_MAX_RADIUS_DEG,
        gt=0,
        le=180,
        description="Largest X-ray error circle (90 %, deg) accepted from a notice: ECLAIRs' 10-13' and "
        "Swift BAT's 1-4' pass, Fermi GBM's degrees are refused (they hold the whole VT field).",
    )
    output_dir: Path = Field(Path("."), description="Where `vtac make-qpo-vt` writes without --out.")

    broker: BrokerSettings = BrokerSettings()

    # --- state, SDB, work files ---
    state_dir: Path = Field(
        Path("vtac-state"),
        description="Home of the SQLite state, the file SDB (sdb/), the cone cache (cones/) and the survey "
        "images (survey/), relative to the working directory.",
    )
    state_url: SecretStr | None = Field(
        None,
        description="postgresql://user:pass@host/db to share the state between instances (secret), "
        "sqlite:///path or a path; none: SQLite in state_dir.",
    )
    sdb: SdbSettings = SdbSettings()
    confirm_retry_s: float = Field(
        5.0, ge=0, description="How long marking notified versions published is retried (state store down)."
    )
    sweep_after_s: float = Field(
        60.0,
        ge=0,
        description="A burst with a version stored but not notified and no input for this long is built "
        "and notified by the sweeper (checked when idle this often); 0: no sweeper.",
    )
    claim_lease_s: float = Field(
        15.0,
        gt=0,
        description="How long a crashed instance's claim on a burst blocks the others (renewed every third "
        "of it while the burst is built).",
    )

    # --- bounds on what a message may cost (a message beyond one is dead-lettered naming the bound) ---
    max_message_bytes: int = Field(
        4 * 1024 * 1024, ge=1024, description="Largest input body; larger products come by sdb_url."
    )
    max_json_depth: int = Field(16, ge=2, le=200, description="Deepest JSON nesting of an input body.")
    max_json_elements: int = Field(
        1000, ge=16, description="Most JSON values (array items, object members) in an input body."
    )
    max_fits_bytes: int = Field(
        64 * 1024 * 1024, ge=2880, description="Largest input product once decompressed (gzip included)."
    )
    max_processing_s: float = Field(
        600.0, gt=0, description="/live fails when one input has been in progress longer than this."
    )

    # --- what the Burst Advocate and the world receive besides the products ---
    extras: ExtrasSettings = ExtrasSettings()
    simulated: bool = Field(
        False, description="A rehearsal on simulated inputs: VOEvent role and notice tense are 'test'."
    )

    @property
    def survey(self) -> SurveySettings | None:
        """The survey image settings of the extras (None: no survey image); cached under ``state_dir``."""
        return self.extras.survey(self.state_dir / "survey")

    # --- health and logs ---
    health_port: int | None = Field(
        8080, ge=0, le=65535, description="Port of /live, /ready and /metrics (0: no health server)."
    )
    health_host: str = Field(
        "0.0.0.0",
        description="Bind address of the health server (all interfaces; 127.0.0.1: this host only).",
    )
    health_file: Path | None = Field(None, description="Touched while the main loop turns (for exec probes).")
    log_level: str = Field(
        "INFO",
        description="Level of the JSON logs on stderr (pika's own at WARNING: one line per reconnect "
        "attempt).",
    )

    @field_validator("state_url")
    @classmethod
    def _state_url(cls, value: SecretStr | None) -> SecretStr | None:
        text = value.get_secret_value() if value is not None else ""
        scheme = urlsplit(text).scheme if "://" in text else ""
        if scheme and scheme not in ("postgresql", "postgres", "sqlite"):
            raise ValueError(f"expected postgresql://, sqlite:/// or a path, not {scheme}:// (not shown)")
        return value

    @field_validator("log_level")
    @classmethod
    def _log_level(cls, value: str) -> str:
        if value.upper() not in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
            raise ValueError(f"{value!r}: expected DEBUG, INFO, WARNING, ERROR or CRITICAL")
        return value.upper()

    @property
    def state_location(self) -> str:
        """Where the input store is: ``state_url``, else ``state_dir/state.db``."""
        if self.state_url is not None and self.state_url.get_secret_value():
            return self.state_url.get_secret_value()
        return str(self.state_dir / "state.db")

    @property
    def file_sdb_root(self) -> Path:
        """Root of the file SDB (used when ``sdb.url`` is None)."""
        return self.state_dir / "sdb"

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Command line (init) over environment over secret files over the TOML file over defaults."""
        del env_settings, dotenv_settings, file_secret_settings
        return (init_settings, *(source for _, source in _file_and_env_sources(settings_cls)))


def _retired_keys(fields: Mapping[str, Any]) -> dict[str, str]:
    """The retired variables of the top level that are no field of it (``fields``), as TOML keys."""
    keys = {
        old.removeprefix("VTAC_").lower(): new.removeprefix("VTAC_").lower().replace("__", ".")
        for old, new in RETIRED_VARIABLES.items()
        if "__" not in old
    }
    return {old: new for old, new in keys.items() if old not in fields}


#: Top-level keys of earlier versions in the TOML file (or the command line's overrides), with their place
#: now: refused naming it, rather than as an unknown key.
RETIRED_KEYS = _retired_keys(VtacSettings.model_fields)


def _file_and_env_sources(
    settings_cls: type[BaseSettings],
) -> Iterator[tuple[str, PydanticBaseSettingsSource]]:
    """The labelled sources below the command line, highest first."""
    load = _LOAD.get() or _Load(_config_file(), environment=True)
    if load.environment:
        yield "environment", EnvSettingsSource(settings_cls)
        secrets_dir = _secrets_dir()
        if secrets_dir is not None:
            secrets = NestedSecretsSettingsSource(
                SecretsSettingsSource(settings_cls, secrets_dir=secrets_dir), secrets_nested_delimiter="__"
            )
            yield f"secret file in {secrets_dir}", secrets
    if load.config_file is not None:
        yield str(load.config_file), TomlConfigSettingsSource(settings_cls, toml_file=load.config_file)


def _config_file() -> Path | None:
    named = os.environ.get(CONFIG_FILE_VARIABLE, "").strip()
    return _existing(named) if named else None


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


def _refuse_retired_names() -> None:
    """A variable or secret file of an earlier version stops the start, naming what it is now."""
    retired = sorted(name for name in RETIRED_VARIABLES if name in os.environ)
    if retired:
        raise ConfigurationError(f"{retired[0]} is now {RETIRED_VARIABLES[retired[0]]}")
    secrets_dir = _secrets_dir()
    if secrets_dir is None:
        return
    for name in sorted(RETIRED_VARIABLES):
        if (secrets_dir / name.lower()).exists():
            new = RETIRED_VARIABLES[name].lower()
            raise ConfigurationError(f"secret file {secrets_dir / name.lower()} is now {secrets_dir / new}")


def load_settings(
    config_file: Path | None = None, *, environment: bool = True, **overrides: Any
) -> VtacSettings:
    """The effective settings; ConfigurationError, one line naming the setting, when one is unusable.

    ``config_file`` replaces ``VTAC_CONFIG_FILE``; ``environment=False`` reads neither the environment nor
    secret files (``vtac config check`` judges a file alone); ``overrides`` come from the command line.
    """
    load = _Load(config_file if config_file is not None else _config_file(), environment)
    if environment:
        _refuse_retired_names()
    if load.config_file is not None and not load.config_file.is_file():
        raise ConfigurationError(f"{load.config_file}: no such file")
    token = _LOAD.set(load)
    try:
        return VtacSettings(**overrides)
    except ValidationError as error:
        raise ConfigurationError(_one_line(error, load, overrides)) from None
    except ValueError as error:  # a TOML syntax error
        raise ConfigurationError(f"{load.config_file}: {error}") from None
    finally:
        _LOAD.reset(token)


def _one_line(error: ValidationError, load: _Load, overrides: Mapping[str, Any]) -> str:
    """The first error, or the first key of an earlier version, naming its place now."""
    errors = error.errors(include_url=False, include_input=False)
    retired = [item for item in errors if item["type"] == "extra_forbidden" and _retired_key(item["loc"])]
    first = (retired or errors)[0]
    key = ".".join(str(part) for part in first["loc"])
    where = "command line" if _has(overrides, key) else _origin(key, load)
    more = f" (and {error.error_count() - 1} more)" if error.error_count() > 1 else ""
    if retired:
        return f"setting {key} ({where}) is now {RETIRED_KEYS[key]}{more}"
    return f"setting {key} ({where}): {first['msg']}{more}"


def _retired_key(location: tuple[int | str, ...]) -> bool:
    return len(location) == 1 and location[0] in RETIRED_KEYS


def _origin(key: str, load: _Load) -> str:
    """Which source set ``key`` (dotted), as shown by ``vtac config show``."""
    token = _LOAD.set(load)
    try:
        for label, values in _source_values():
            if _has(values, key):
                return label
    finally:
        _LOAD.reset(token)
    return "default"


def _source_values() -> Iterator[tuple[str, dict[str, Any]]]:
    for label, source in _file_and_env_sources(VtacSettings):
        try:
            yield label, source()
        except (ValueError, OSError):  # e.g. a bad JSON value: that source did set something
            yield label, {}


def _has(values: Mapping[str, Any], key: str) -> bool:
    head, _, rest = key.partition(".")
    if head not in values:
        return False
    value = values[head]
    return not rest or not isinstance(value, Mapping) or _has(value, rest)


def effective_settings(config_file: Path | None = None, **overrides: Any) -> list[tuple[str, str, str]]:
    """(setting, value, source) of every leaf setting, secrets masked, for ``vtac config show``."""
    settings = load_settings(config_file, **overrides)
    load = _Load(config_file if config_file is not None else _config_file(), environment=True)
    token = _LOAD.set(load)
    try:
        sources = [("command line", overrides), *_source_values()]
    finally:
        _LOAD.reset(token)
    shown = settings.model_dump(mode="json")
    for section, name in _URL_SECRETS:  # a URL's host helps whoever reads this: mask its password only
        secret = getattr(getattr(settings, section) if section else settings, name)
        if secret is not None:
            (shown[section] if section else shown)[name] = redact(secret.get_secret_value())
    rows = []
    for key, value in _leaves(shown):
        origin = next((label for label, values in sources if _has(values, key)), "default")
        rows.append((key, redact(value), origin))  # redact: a password typed into a plain URL setting
    return rows


#: Secret settings that are URLs: ``config show`` prints them with the password masked.
_URL_SECRETS = (("broker", "url"), ("", "state_url"))


def _leaves(values: Mapping[str, Any], prefix: str = "") -> Iterator[tuple[str, str]]:
    for name, value in values.items():
        key = f"{prefix}{name}"
        if isinstance(value, Mapping) and value and name != "catalog_depths":
            yield from _leaves(value, f"{key}.")
        else:
            yield key, json.dumps(value)


#: Certificate bundles requests (and so every HTTP client of VTAC) reads from the environment.
CA_BUNDLE_VARIABLES = ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE")


def check_usable(settings: VtacSettings) -> None:
    """Fail at startup on what would fail every input later: transforms file, CA bundle, state directory."""
    load_transforms(settings.science.transforms_file)  # ConfigurationError naming the file
    for variable in CA_BUNDLE_VARIABLES:
        bundle = os.environ.get(variable, "").strip()
        if bundle and not (os.path.isfile(bundle) and os.access(bundle, os.R_OK)):
            raise ConfigurationError(f"{variable}={bundle}: CA bundle missing or unreadable")
    folder = settings.state_dir
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise ConfigurationError(f"{folder}: cannot create the directory: {error.strerror}") from None
    if not os.access(folder, os.W_OK):
        raise ConfigurationError(f"{folder}: directory not writable")
