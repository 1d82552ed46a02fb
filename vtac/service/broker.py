"""The broker connection's parameters and the headers VTAC adds (docs/ICD.md); the broker's settings are
:class:`vtac.settings.BrokerSettings`."""

from __future__ import annotations

import os
import socket

import pika

from vtac.settings import BrokerSettings

#: Headers VTAC adds to an input it retries or dead-letters (docs/ICD.md); the reason's is a setting.
ATTEMPT_HEADER = "x-vtac-attempt"
FIRST_FAILURE_HEADER = "x-vtac-first-failure"
REASON_HEADER = BrokerSettings().reason_header
REJECTED_AT_HEADER = "x-vtac-rejected-at"


def connection_name(config: BrokerSettings) -> str:
    """The name the broker shows for this connection: the configured one, else ``vtac@<host>:<pid>``."""
    return config.connection_name or f"vtac@{socket.gethostname()}:{os.getpid()}"


def connection_parameters(config: BrokerSettings) -> pika.URLParameters:
    """Heartbeats and a blocked-connection timeout so that no broker state can hang the service forever."""
    params = pika.URLParameters(config.url.get_secret_value())
    params.heartbeat = config.heartbeat_s
    params.blocked_connection_timeout = config.blocked_connection_timeout_s
    params.client_properties = {"connection_name": connection_name(config)}
    return params
