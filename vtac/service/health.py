"""Liveness and readiness of the service, and the HTTP server of ``/live``, ``/ready`` and ``/metrics``."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from vtac.service.metrics import CONTENT_TYPE, Metrics

PLAIN_TEXT = "text/plain; charset=utf-8"
WORKER_DEAD = "the worker thread is dead"

log = logging.getLogger(__name__)


class Health:
    """Liveness (the I/O loop turned recently) and readiness (connected and consuming).

    The I/O thread only sets plain attributes; probes read them, never a pika object.
    """

    def __init__(
        self, *, stale_after_s: float = 30.0, health_file: Path | None = None, max_busy_s: float = 600.0
    ) -> None:
        self.stale_after_s = stale_after_s
        self.health_file = health_file
        self.max_busy_s = max_busy_s
        self.ready = False  # connected to the broker, consuming, not blocked
        #: Further readiness conditions (e.g. the state store answers); each returns True when usable.
        self.readiness_checks: list[Callable[[], bool]] = []
        self._last_beat = time.monotonic()
        self._worker: threading.Thread | None = None
        self._worker_death_logged = False
        self._busy_since: float | None = None

    def watch(self, worker: threading.Thread) -> None:
        """Liveness also requires this thread (the one that processes inputs) to be alive."""
        self._worker = worker

    def busy(self) -> None:
        """An input is being processed from now on."""
        self._busy_since = time.monotonic()

    def idle(self) -> None:
        """The input being processed is done."""
        self._busy_since = None

    @property
    def problem(self) -> str | None:
        """Why the service is not live (None when it is): a stuck loop, a dead worker, a stuck input."""
        now = time.monotonic()
        if now - self._last_beat >= self.stale_after_s:
            return "stale: the I/O loop has not turned"
        if self.worker_dead:
            return WORKER_DEAD
        busy_since = self._busy_since
        if busy_since is not None and now - busy_since >= self.max_busy_s:
            limit = f"max_processing_s={self.max_busy_s:g}"
            return f"one input in progress for {now - busy_since:.0f} s (limit {limit})"
        return None

    @property
    def worker_dead(self) -> bool:
        """True once the worker thread has died (logged once: nothing is processed any more)."""
        dead = self._worker is not None and not self._worker.is_alive()
        if dead and not self._worker_death_logged:
            self._worker_death_logged = True
            log.critical("%s: no input is processed any more; /live and /ready answer 503", WORKER_DEAD)
        return dead

    @property
    def is_ready(self) -> bool:
        """Ready for inputs: the broker side is ready, the worker alive and every other check passes."""
        return self.ready and not self.worker_dead and all(check() for check in self.readiness_checks)

    def beat(self) -> None:
        """The main loop is alive; touch the health file for file-based probes."""
        self._last_beat = time.monotonic()
        if self.health_file is not None:
            self.health_file.touch()

    @property
    def live(self) -> bool:
        """True when the main loop turned within ``stale_after_s``, the worker is alive and not stuck."""
        return self.problem is None


class HealthServer:
    """``/live``, ``/ready`` and ``/metrics`` over HTTP on a daemon thread."""

    def __init__(self, health: Health, metrics: Metrics, *, host: str = "127.0.0.1", port: int = 0) -> None:
        handler = _health_handler(health, metrics)
        self._server = ThreadingHTTPServer((host, port), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="vtac-health", daemon=True)

    @property
    def port(self) -> int:
        """The bound port (useful with port 0)."""
        return int(self._server.server_address[1])

    def start(self) -> HealthServer:
        """Serve in the background."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and release the port."""
        self._server.shutdown()
        self._server.server_close()


def _health_handler(health: Health, metrics: Metrics) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        """Plain-text probes; 503 when not live / not ready."""

        def do_GET(self) -> None:
            """Answer a probe or a scrape."""
            routes: dict[str, Callable[[], tuple[int, str]]] = {
                "/live": lambda: (
                    (200, "live\n") if (problem := health.problem) is None else (503, f"{problem}\n")
                ),
                "/ready": lambda: (
                    (200, "ready\n")
                    if health.is_ready
                    else (503, f"not ready: {WORKER_DEAD}\n" if health.worker_dead else "not ready\n")
                ),
                "/metrics": lambda: (200, metrics.render()),
            }
            status, text = routes.get(self.path, lambda: (404, "not found\n"))()
            payload = text.encode()
            self.send_response(status)
            self.send_header("Content-Type", CONTENT_TYPE if self.path == "/metrics" else PLAIN_TEXT)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: Any) -> None:  # pylint: disable=redefined-builtin
            """Probes every few seconds would drown the logs."""

    return Handler
