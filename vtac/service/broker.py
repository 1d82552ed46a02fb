"""The broker side of the settings: names, tuning, connection parameters, header names (docs/ICD.md)."""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pika

if TYPE_CHECKING:
    from vtac.settings import VtacSettings

#: Headers VTAC adds to an input it retries or dead-letters (docs/ICD.md).
ATTEMPT_HEADER = "x-vtac-attempt"
FIRST_FAILURE_HEADER = "x-vtac-first-failure"
REASON_HEADER = "x-vtac-reason"
REJECTED_AT_HEADER = "x-vtac-rejected-at"


@dataclass(frozen=True)
class AmqpConfig:  # pylint: disable=too-many-instance-attributes  # one flat record of settings
    """Broker names and consumer tuning; the defaults are those of the ICD."""

    url: str = "amqp://guest:guest@127.0.0.1:5672/%2F"
    input_exchange: str = "svom.products"
    input_queue: str = "vtac.inputs"
    input_routing_keys: tuple[str, ...] = (
        "product.QSRCLIST_VT",
        "product.QPO_MXT",
        "position.MXT",
        "position.ALERT",
    )
    notification_exchange: str = "svom.notifications"
    ba_routing_key: str = "qpo_vt.ba"
    vtpp_routing_key: str = "qpo_vt.vtpp"
    #: Durable queues of the notification receivers, declared and bound by VTAC so that no notification is
    #: unroutable in a standard deployment; "" leaves that queue to its consumer.
    ba_queue: str = "vtac.notifications.ba"
    vtpp_queue: str = "vtac.notifications.vtpp"
    dead_letter_exchange: str = "vtac.dlx"
    dead_letter_queue: str = "vtac.inputs.dead"
    queue_type: str = "quorum"
    #: Quorum queues only: deliveries of one input (e.g. crashes mid-processing) before the broker parks it.
    delivery_limit: int = 20
    prefetch: int = 2
    heartbeat_s: int = 30
    blocked_connection_timeout_s: float = 60.0
    #: Attempts before an input that keeps failing transiently is dead-lettered; 0: no limit (the age bounds).
    max_attempts: int = 0
    retry_delay_s: float = 2.0
    retry_delay_cap_s: float = 60.0
    #: An input failing transiently waits (outage of the SDB, the state store...) at most this long since its
    #: first failure, then is dead-lettered with the reason (metric ``vtac_retries_expired_total``).
    max_retry_age_s: float = 24 * 3600.0
    #: This often, the worker asks the processor for a version nothing else will notify (0: never).
    sweep_interval_s: float = 60.0
    #: An input in progress longer is dead-lettered and a new worker goes on (0: no deadline).
    processing_deadline_s: float = 300.0
    reconnect_initial_s: float = 0.5
    reconnect_cap_s: float = 30.0
    shutdown_grace_s: float = 20.0
    connection_name: str = "vtac"
    reason_header: str = REASON_HEADER

    @property
    def retry_queue(self) -> str:
        """Delay queue of inputs waiting for another attempt (a quorum queue: ``.retry``, the classic one of
        earlier versions, is left to drain into the input queue by itself)."""
        return f"{self.input_queue}.delay"


def amqp_config(settings: VtacSettings, **overrides: Any) -> AmqpConfig:
    """The broker part of the service settings."""
    values: dict[str, Any] = {
        "url": settings.amqp_url.get_secret_value(),
        "input_exchange": settings.inputs_exchange,
        "input_queue": settings.inputs_queue,
        "input_routing_keys": tuple(settings.input_routing_keys),
        "notification_exchange": settings.notifications_exchange,
        "ba_routing_key": settings.ba_routing_key,
        "vtpp_routing_key": settings.vtpp_routing_key,
        "ba_queue": settings.ba_queue,
        "vtpp_queue": settings.vtpp_queue,
        "dead_letter_exchange": settings.dead_letter_exchange,
        "dead_letter_queue": settings.dead_letter_queue,
        "reason_header": settings.reason_header,
        "prefetch": settings.prefetch,
        "max_retry_age_s": settings.retry_max_age_s,
        "heartbeat_s": settings.heartbeat_s,
        "blocked_connection_timeout_s": settings.blocked_connection_timeout_s,
        "queue_type": settings.queue_type,
        "delivery_limit": settings.delivery_limit,
        "max_attempts": settings.max_attempts,
        "retry_delay_s": settings.retry_delay_s,
        "retry_delay_cap_s": settings.retry_delay_cap_s,
        "sweep_interval_s": settings.sweep_after_s,
        "processing_deadline_s": settings.processing_deadline_s,
        "reconnect_initial_s": settings.reconnect_initial_s,
        "reconnect_cap_s": settings.reconnect_cap_s,
        "shutdown_grace_s": settings.shutdown_grace_s,
        "connection_name": f"vtac@{socket.gethostname()}:{os.getpid()}",
    }
    return AmqpConfig(**{**values, **overrides})


def connection_parameters(config: AmqpConfig) -> pika.URLParameters:
    """Heartbeats and a blocked-connection timeout so that no broker state can hang the service forever."""
    params = pika.URLParameters(config.url)
    params.heartbeat = config.heartbeat_s
    params.blocked_connection_timeout = config.blocked_connection_timeout_s
    params.client_properties = {"connection_name": config.connection_name}
    return params
