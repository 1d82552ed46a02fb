"""``vtac serve``: the message-driven service (AMQP in, SDB and notifications out) until SIGTERM.

Everything is configured from the environment (``VTAC_*``), secret files and ``VTAC_CONFIG_FILE``
(:class:`vtac.settings.VtacSettings`); there are no options, so that a container and an operator
run exactly the same service.
"""

from __future__ import annotations

import argparse
import logging
import signal
import threading
import time
from typing import Any

from vtac.entrypoints.exits import ExitCode

# Service modules (pika, pydantic, drivers) load only when this sub-command runs: `vtac` stays fast.
# pylint: disable=import-outside-toplevel


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
    from vtac.service.consumer import Consumer
    from vtac.service.health import Health
    from vtac.service.logs import configure_json_logging, quiet_pika
    from vtac.service.metrics import Metrics
    from vtac.service.processor import open_processor
    from vtac.settings import check_usable, load_settings

    settings = load_settings()  # an unusable setting: exit 2, one line, before any message is taken
    check_usable(settings)
    configure_json_logging(getattr(logging, settings.log_level.upper(), logging.INFO))
    quiet_pika()
    stop = install_stop_handlers()
    health = Health(health_file=settings.health_file, max_busy_s=settings.max_processing_s)
    metrics = Metrics()
    processor = open_processor(settings)
    health.readiness_checks.append(processor.store.ping)  # /ready fails while the state store is unusable
    server = None
    if settings.health_port:
        server = _health_server(health, metrics, settings.health_host, settings.health_port)
    try:
        consumer = Consumer(
            settings.broker,
            processor,
            stop=stop,
            health=health,
            metrics=metrics,
            sweep_interval_s=settings.sweep_after_s,
        )
        consumer.run()
    finally:
        # The whole stop within the grace period from the signal: extras not stored by then are recorded
        # interrupted and redone at the next start.
        since = time.monotonic() - (stop.at or time.monotonic())
        processor.close(max(0.0, settings.broker.shutdown_grace_s - since))
        if server is not None:
            server.stop()
    logging.getLogger("vtac.serve").info("stopped")
    return ExitCode.OK


class StopRequest(threading.Event):
    """A stop flag that remembers when it was first set (the grace period counts from the signal)."""

    def __init__(self) -> None:
        super().__init__()
        self.at: float | None = None

    def set(self) -> None:
        """Set the flag; the first time, note the moment."""
        if self.at is None:
            self.at = time.monotonic()
        super().set()


def install_stop_handlers() -> StopRequest:
    """SIGTERM and SIGINT only set a flag: touching pika from a signal handler is undefined."""
    stop = StopRequest()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    return stop


def _health_server(health: Any, metrics: Any, host: str, port: int) -> Any:
    """The probes' server; a port in use is a configuration error (exit 2), not a crash."""
    from vtac.errors import ConfigurationError
    from vtac.service.health import HealthServer

    try:
        return HealthServer(health, metrics, host=host, port=port).start()
    except OSError as error:
        problem = f"health server on {host}:{port} (VTAC_HEALTH_PORT): {error.strerror}"
        raise ConfigurationError(problem) from None
