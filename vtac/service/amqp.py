"""The AMQP side of the service, by job: one name to import them from.

* :mod:`vtac.service.broker` — :class:`AmqpConfig` (names, tuning), connection parameters, header names;
* :mod:`vtac.service.topology` — exchanges, queues, bindings;
* :mod:`vtac.service.consumer` — the consumer (worker thread, ack/retry/dead-letter, graceful stop);
* :mod:`vtac.service.reconnect` — waits between reconnections and retried inputs;
* :mod:`vtac.service.health`, :mod:`vtac.service.metrics` — probes and ``/metrics``;
* :mod:`vtac.service.logs` — JSON log lines with the burst, pika kept quiet.
"""

from __future__ import annotations

from vtac.service.broker import (
    ATTEMPT_HEADER,
    FIRST_FAILURE_HEADER,
    REASON_HEADER,
    REJECTED_AT_HEADER,
    AmqpConfig,
    amqp_config,
    connection_parameters,
)
from vtac.service.consumer import MAX_REASON_CHARS, Consumer, Processor, unacceptable_properties
from vtac.service.health import Health, HealthServer
from vtac.service.logs import JsonFormatter, burst_context, burst_logging, configure_json_logging
from vtac.service.metrics import Metrics
from vtac.service.reconnect import Backoff, retry_delay
from vtac.service.topology import declare_notification_queues, declare_topology, notification_queues

__all__ = [
    "ATTEMPT_HEADER",
    "FIRST_FAILURE_HEADER",
    "MAX_REASON_CHARS",
    "REASON_HEADER",
    "REJECTED_AT_HEADER",
    "AmqpConfig",
    "Backoff",
    "Consumer",
    "Health",
    "HealthServer",
    "JsonFormatter",
    "Metrics",
    "Processor",
    "amqp_config",
    "burst_context",
    "burst_logging",
    "configure_json_logging",
    "connection_parameters",
    "declare_notification_queues",
    "declare_topology",
    "notification_queues",
    "retry_delay",
    "unacceptable_properties",
]
