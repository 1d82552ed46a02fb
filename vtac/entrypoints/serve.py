"""``vtac serve``: the message-driven service (AMQP in, SDB and notifications out) until SIGTERM.

Everything is configured from the environment (``VTAC_*``), secret files and ``VTAC_CONFIG_FILE``
(:class:`vtac.service.config.ServiceSettings`); there are no options, so that a container and an operator
run exactly the same service.
"""

from __future__ import annotations

import argparse
import logging
import signal
import threading
from typing import Any

# Service modules (pika, pydantic, drivers) load only when this sub-command runs: `vtac` stays fast.
# pylint: disable=import-outside-toplevel

EXIT_OK = 0


def add_parser(subparsers: Any) -> None:
    """Register ``vtac serve``."""
    parser = subparsers.add_parser(
        "serve",
        help="run the AMQP service until SIGTERM",
        description="Consume VT source lists and MXT positions from RabbitMQ, store each new QPO_VT version "
        "in the SDB and notify the Burst Advocate and VT post-processing. Configuration: VTAC_* environment "
        "variables, secret files, VTAC_CONFIG_FILE (TOML); see docs/ICD.md.",
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:  # pylint: disable=unused-argument  # configured from the env
    """Serve until SIGTERM/SIGINT; the in-flight input finishes or goes back to the queue."""
    from vtac.service.amqp import Consumer, Health, HealthServer, Metrics, amqp_config, configure_json_logging
    from vtac.service.config import ServiceSettings
    from vtac.service.processor import open_processor

    settings = ServiceSettings()
    configure_json_logging(getattr(logging, settings.log_level.upper(), logging.INFO))
    stop = install_stop_handlers()
    health = Health(health_file=settings.health_file, max_busy_s=settings.max_processing_s)
    metrics = Metrics()
    processor = open_processor(settings)
    health.readiness_checks.append(processor.store.ping)  # /ready fails while the state store is unusable
    server = None
    if settings.health_port:
        server = HealthServer(health, metrics, host="0.0.0.0", port=settings.health_port).start()
    try:
        Consumer(amqp_config(settings), processor, stop=stop, health=health, metrics=metrics).run()
    finally:
        if server is not None:
            server.stop()
    logging.getLogger("vtac.serve").info("stopped")
    return EXIT_OK


def install_stop_handlers() -> threading.Event:
    """SIGTERM and SIGINT only set a flag: touching pika from a signal handler is undefined."""
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    return stop
