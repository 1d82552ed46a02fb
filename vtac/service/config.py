"""Settings of the service: the one settings tree of :mod:`vtac.settings`, under the name the service uses.

Kept as a module so that ``from vtac.service.config import ServiceSettings`` keeps working; the fields,
their precedence (defaults < TOML file < secret files < environment < command line) and their validation
live in :class:`vtac.settings.VtacSettings`.
"""

from __future__ import annotations

from vtac.settings import (
    CONFIG_FILE_VARIABLE,
    DEFAULT_INPUT_ROUTING_KEYS,
    DEFAULT_SECRETS_DIR,
    SECRETS_DIR_VARIABLE,
    VtacSettings,
    load_settings,
)

ServiceSettings = VtacSettings

__all__ = [
    "CONFIG_FILE_VARIABLE",
    "DEFAULT_INPUT_ROUTING_KEYS",
    "DEFAULT_SECRETS_DIR",
    "SECRETS_DIR_VARIABLE",
    "ServiceSettings",
    "load_settings",
]
