"""The AMQP side of the service: topology, a robust consumer, health and metrics.

Design (pika 1.4 ``BlockingConnection``; names and headers in docs/ICD.md):

* One I/O thread owns the connection and both channels (pika is not thread-safe); ONE worker thread runs
  :meth:`Processor.process`, so heartbeats keep flowing during long computations. The worker hands each
  outcome back with ``add_callback_threadsafe``, the only thread-safe pika call.
* An input is acked only after every notification was confirmed by the broker (publisher confirms,
  ``mandatory``, persistent) and the processor was told (:meth:`Processor.confirmed`).
* REJECT: a copy of the input goes to the dead-letter exchange with the reason in the ``x-vtac-reason``
  header (``basic_reject`` cannot add headers), confirmed, then the original is acked. Should that publish
  fail, the input is rejected without requeue and the queue's own dead-lettering takes it (reason lost).
* RETRY: a copy goes to a delay queue (per-message TTL, dead-lettered back to the input queue) with the
  attempt count in ``x-vtac-attempt`` and the first failure in ``x-vtac-first-failure``; it waits out an
  outage of any length up to ``max_retry_age_s`` (and ``max_attempts`` if set), then is dead-lettered with
  the last reason and counted in ``retries_expired`` (an alert).
* Connection lost: reconnect with capped exponential backoff and jitter; unacked inputs are redelivered by
  the broker and processed again idempotently (the state store makes a repeat a no-op).
* SIGTERM only sets a flag: consuming stops, the in-flight input finishes within the grace period (else it
  is requeued by the broker when the connection closes).
"""

from __future__ import annotations

import contextvars
import json
import logging
import os
import queue
import random
import re
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import pika
import pika.exceptions
from pika.adapters.blocking_connection import BlockingChannel, BlockingConnection
from pika.spec import Basic, BasicProperties

from vtac.errors import ConfigurationError
from vtac.redaction import redact
from vtac.service.outcome import Action, ProcessOutcome

if TYPE_CHECKING:
    from vtac.service.config import ServiceSettings

log = logging.getLogger("vtac.service.amqp")

ATTEMPT_HEADER = "x-vtac-attempt"
FIRST_FAILURE_HEADER = "x-vtac-first-failure"
REASON_HEADER = "x-vtac-reason"
REJECTED_AT_HEADER = "x-vtac-rejected-at"
#: The reason header is one line; a stack of validation errors is cut here.
MAX_REASON_CHARS = 1000
burst_context: contextvars.ContextVar[str | None] = contextvars.ContextVar("burst_id", default=None)


class Processor(Protocol):
    """What the consumer needs from :class:`vtac.service.processor.Processor`."""

    def process(self, body: bytes) -> ProcessOutcome:
        """Decide on one input body."""

    def confirmed(self, outcome: ProcessOutcome) -> None:
        """Every notification of ``outcome`` was confirmed by the broker."""


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
    reconnect_initial_s: float = 0.5
    reconnect_cap_s: float = 30.0
    shutdown_grace_s: float = 20.0
    connection_name: str = "vtac"
    reason_header: str = REASON_HEADER

    @property
    def retry_queue(self) -> str:
        """Delay queue of inputs waiting for another attempt."""
        return f"{self.input_queue}.retry"


def amqp_config(settings: ServiceSettings, **overrides: Any) -> AmqpConfig:
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


def declare_topology(channel: BlockingChannel, config: AmqpConfig) -> None:
    """Declare every exchange, queue and binding; idempotent, so it runs at each (re)connection."""
    for exchange in (config.input_exchange, config.notification_exchange, config.dead_letter_exchange):
        channel.exchange_declare(exchange, exchange_type="topic", durable=True)
    input_args: dict[str, Any] = {
        "x-queue-type": config.queue_type,
        "x-dead-letter-exchange": config.dead_letter_exchange,
        "x-dead-letter-routing-key": config.input_queue,
    }
    if config.queue_type == "quorum":
        input_args["x-delivery-limit"] = config.delivery_limit
    channel.queue_declare(config.input_queue, durable=True, arguments=input_args)
    for key in config.input_routing_keys:
        channel.queue_bind(config.input_queue, config.input_exchange, routing_key=key)
    channel.queue_declare(config.dead_letter_queue, durable=True)
    channel.queue_bind(config.dead_letter_queue, config.dead_letter_exchange, routing_key=config.input_queue)
    retry_args = {"x-dead-letter-exchange": "", "x-dead-letter-routing-key": config.input_queue}
    channel.queue_declare(config.retry_queue, durable=True, arguments=retry_args)
    declare_notification_queues(channel, config)


def notification_queues(config: AmqpConfig) -> dict[str, tuple[str, str]]:
    """Receiver -> (queue, routing key) of the notification queues VTAC declares ("" queue: not declared)."""
    queues = {
        "ba": (config.ba_queue, config.ba_routing_key),
        "vtpp": (config.vtpp_queue, config.vtpp_routing_key),
    }
    return {receiver: pair for receiver, pair in queues.items() if pair[0]}


def declare_notification_queues(channel: BlockingChannel, config: AmqpConfig) -> None:
    """The Burst Advocate's and VT post-processing's durable queues, bound to the notifications exchange."""
    channel.exchange_declare(config.notification_exchange, exchange_type="topic", durable=True)
    for name, routing_key in notification_queues(config).values():
        channel.queue_declare(name, durable=True, arguments={"x-queue-type": config.queue_type})
        channel.queue_bind(name, config.notification_exchange, routing_key=routing_key)


def retry_delay(config: AmqpConfig, attempt: int) -> float:
    """Capped exponential delay before attempt ``attempt + 1`` (attempt counts from 1)."""
    return float(min(config.retry_delay_s * 2 ** max(attempt - 1, 0), config.retry_delay_cap_s))


class Backoff:
    """Capped exponential backoff with jitter, so that restarted instances do not reconnect in lockstep."""

    def __init__(self, initial_s: float, cap_s: float) -> None:
        self.initial_s, self.cap_s = initial_s, cap_s
        self.current_s = initial_s

    def next_delay(self) -> float:
        """The delay to wait now; the following one doubles, up to the cap."""
        delay = self.current_s + random.uniform(0.0, self.current_s / 2)
        self.current_s = min(self.current_s * 2, self.cap_s)
        return min(delay, self.cap_s)

    def reset(self) -> None:
        """A connection succeeded: start again from the initial delay."""
        self.current_s = self.initial_s


# --------------------------------------------------------------------------------------------- metrics


LATENCY_BUCKETS_S = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class Metrics:
    """Counters and a latency histogram in the Prometheus text format; updated from any thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.counters: dict[str, int] = {
            name: 0
            for name in (
                "inputs",
                "acks",
                "products",
                "notifications",
                "rejections",
                "retries",
                "dead_letters",
                "reconnects",
                "retries_expired",
            )
        }
        self._buckets = [0] * len(LATENCY_BUCKETS_S)
        self._latency_sum = 0.0
        self._latency_count = 0

    def count(self, name: str, amount: int = 1) -> None:
        """Add to one counter."""
        with self._lock:
            self.counters[name] += amount

    def observe_latency(self, seconds: float) -> None:
        """Record the time from delivery to the final broker action of one input."""
        with self._lock:
            self._latency_sum += seconds
            self._latency_count += 1
            for index, bound in enumerate(LATENCY_BUCKETS_S):
                if seconds <= bound:
                    self._buckets[index] += 1

    def render(self) -> str:
        """The exposition text served on ``/metrics``."""
        with self._lock:
            lines = []
            for name, value in self.counters.items():
                lines += [f"# TYPE vtac_{name}_total counter", f"vtac_{name}_total {value}"]
            lines.append("# TYPE vtac_input_latency_seconds histogram")
            for bound, value in zip(LATENCY_BUCKETS_S, self._buckets, strict=True):
                lines.append(f'vtac_input_latency_seconds_bucket{{le="{bound}"}} {value}')
            lines.append(f'vtac_input_latency_seconds_bucket{{le="+Inf"}} {self._latency_count}')
            lines.append(f"vtac_input_latency_seconds_sum {self._latency_sum:.6f}")
            lines.append(f"vtac_input_latency_seconds_count {self._latency_count}")
        return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------------------------- health


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
        if self._worker is not None and not self._worker.is_alive():
            return "the worker thread is dead"
        busy_since = self._busy_since
        if busy_since is not None and now - busy_since >= self.max_busy_s:
            limit = f"max_processing_s={self.max_busy_s:g}"
            return f"one input in progress for {now - busy_since:.0f} s (limit {limit})"
        return None

    @property
    def is_ready(self) -> bool:
        """Ready for inputs: the broker side is ready and every other check passes."""
        return self.ready and all(check() for check in self.readiness_checks)

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
                "/ready": lambda: (200, "ready\n") if health.is_ready else (503, "not ready\n"),
                "/metrics": lambda: (200, metrics.render()),
            }
            status, text = routes.get(self.path, lambda: (404, "not found\n"))()
            payload = text.encode()
            self.send_response(status)
            self.send_header("Content-Type", "text/plain; version=0.0.4")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: Any) -> None:  # pylint: disable=redefined-builtin
            """Probes every few seconds would drown the logs."""

    return Handler


# --------------------------------------------------------------------------------------------- logging


class JsonFormatter(logging.Formatter):
    """One JSON object per line, with the burst being processed (``burst_id``) when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": redact(record.getMessage()),
        }
        burst_id = getattr(record, "burst_id", None) or burst_context.get()
        if burst_id:
            entry["burst_id"] = burst_id
        if record.exc_info:
            entry["exception"] = redact(self.formatException(record.exc_info))
        return json.dumps(entry)


def configure_json_logging(level: int = logging.INFO) -> None:
    """Send every log record to stderr as JSON lines."""
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)


_BURST_ID_FIELD = re.compile(rb'"burst_id"\s*:\s*"([A-Za-z0-9_.\-]{1,64})"')
#: Content types an input may declare (none declared is accepted: the body is validated anyway).
JSON_CONTENT_TYPES = ("application/json",)


def _peek_burst_id(body: bytes) -> str | None:
    """The burst of an input, for log context only (the processor does the real validation).

    A regular expression, not a JSON parser: this runs on the I/O thread too, where no body, however deep or
    large, may raise or take long.
    """
    match = _BURST_ID_FIELD.search(body)
    return match.group(1).decode("ascii") if match else None


def unacceptable_properties(properties: BasicProperties) -> str | None:
    """Why an input's AMQP properties rule it out (a declared non-JSON content type or any encoding)."""
    content_type = (properties.content_type or "").split(";", 1)[0].strip().lower()
    if content_type and content_type not in JSON_CONTENT_TYPES:
        return f"content_type {properties.content_type!r} is not application/json"
    if properties.content_encoding:
        return f"content_encoding {properties.content_encoding!r}: inputs must be plain UTF-8 JSON"
    return None


@contextmanager
def _burst_logging(burst_id: str | None) -> Iterator[None]:
    token = burst_context.set(burst_id)
    try:
        yield
    finally:
        burst_context.reset(token)


# -------------------------------------------------------------------------------------------- consumer


@dataclass
class _Delivery:
    """One input and where it came from: the ack must go back on the same channel."""

    connection: BlockingConnection
    channel: BlockingChannel
    method: Basic.Deliver
    properties: BasicProperties
    body: bytes
    received: float = field(default_factory=time.monotonic)

    @property
    def attempt(self) -> int:
        """Attempts already made before this delivery (our retry header, 0 on first delivery)."""
        headers = self.properties.headers or {}
        try:
            return int(headers.get(ATTEMPT_HEADER, 0))
        except (TypeError, ValueError):
            return 0

    @property
    def first_failure(self) -> float:
        """When this input first failed transiently (epoch seconds; now if it never did)."""
        headers = self.properties.headers or {}
        try:
            return float(headers.get(FIRST_FAILURE_HEADER, time.time()))
        except (TypeError, ValueError):
            return time.time()


class Consumer:
    """Consume inputs, run the processor on one worker thread, publish, ack; survive broker failures."""

    def __init__(
        self,
        config: AmqpConfig,
        processor: Processor,
        *,
        stop: threading.Event | None = None,
        health: Health | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        self.config, self.processor = config, processor
        self.stop = stop or threading.Event()
        self.health = health or Health()
        self.metrics = metrics or Metrics()
        self._jobs: queue.Queue[_Delivery | None] = queue.Queue()
        # Set by the I/O thread once the worker's last input is acked, rejected or lost with its connection.
        self._settled = threading.Event()
        self._pending: set[int] = set()  # delivery tags of the current channel not yet acked or rejected
        self._consumer_tag = ""
        self._connection: BlockingConnection | None = None
        self._channel: BlockingChannel | None = None
        self._publisher: BlockingChannel | None = None
        self._worker = threading.Thread(target=self._work, name="vtac-worker", daemon=True)
        self.health.watch(self._worker)

    # ---- main loop (I/O thread)

    def run(self) -> None:
        """Consume until :attr:`stop` is set; reconnect on broker failures, fail on configuration errors."""
        self._worker.start()
        backoff = Backoff(self.config.reconnect_initial_s, self.config.reconnect_cap_s)
        try:
            while not self.stop.is_set():
                try:
                    self._connect()
                    backoff.reset()
                    self._pump()
                except (
                    pika.exceptions.ProbableAuthenticationError,
                    pika.exceptions.ProbableAccessDeniedError,
                ) as error:
                    raise ConfigurationError(redact(f"AMQP login refused: {error!r}")) from None
                except (pika.exceptions.AMQPError, OSError) as error:
                    self._lost(error, backoff)
        finally:
            self._jobs.put(None)
            self._close()

    def _connect(self) -> None:
        connection = pika.BlockingConnection(connection_parameters(self.config))
        self._connection = connection
        channel = connection.channel()
        try:
            declare_topology(channel, self.config)
        except pika.exceptions.ChannelClosedByBroker as error:
            if error.reply_code == 406:  # PRECONDITION_FAILED: an existing queue with other arguments
                raise ConfigurationError(f"AMQP topology does not match the broker's: {error}") from None
            raise
        # A broker alarm (memory, disk) blocks publishing: not ready until it is lifted.
        connection.add_on_connection_blocked_callback(lambda *_: setattr(self.health, "ready", False))
        connection.add_on_connection_unblocked_callback(lambda *_: setattr(self.health, "ready", True))
        self._publisher = connection.channel()
        self._publisher.confirm_delivery()
        channel.basic_qos(prefetch_count=self.config.prefetch)
        self._pending.clear()
        self._channel = channel
        self._consumer_tag = channel.basic_consume(self.config.input_queue, self._on_message)
        self.health.ready = True
        log.info("consuming %s on %s", self.config.input_queue, self.config.connection_name)

    def _pump(self) -> None:
        assert self._connection is not None and self._channel is not None
        while not self.stop.is_set():
            self._connection.process_data_events(time_limit=0.25)
            self.health.beat()
        self._drain()

    def _drain(self) -> None:
        """Stop consuming; let the in-flight input finish (bounded by the grace period)."""
        assert self._connection is not None and self._channel is not None
        self.health.ready = False
        self._channel.basic_cancel(self._consumer_tag)  # prefetched, undispatched inputs are requeued
        deadline = time.monotonic() + self.config.shutdown_grace_s
        while self._pending and time.monotonic() < deadline:
            self._connection.process_data_events(time_limit=0.1)
            self.health.beat()
        if self._pending:
            log.warning("shutdown grace expired; %d input(s) left for redelivery", len(self._pending))

    def _lost(self, error: BaseException, backoff: Backoff) -> None:
        self.health.ready = False
        self.metrics.count("reconnects")
        self._close()
        delay = backoff.next_delay()
        log.warning("AMQP connection lost (%r); reconnecting in %.1f s", error, delay)
        deadline = time.monotonic() + delay
        while (left := deadline - time.monotonic()) > 0 and not self.stop.wait(min(1.0, left)):
            self.health.beat()  # alive, not ready, while waiting to reconnect

    def _close(self) -> None:
        self._settled.set()  # a worker waiting on an input of this connection: the broker will redeliver it
        connection, self._connection, self._channel, self._publisher = self._connection, None, None, None
        if connection is not None and connection.is_open:
            with suppress(pika.exceptions.AMQPError, OSError):  # already going down: the broker requeues
                connection.close()

    def _on_message(
        self, channel: BlockingChannel, method: Basic.Deliver, properties: BasicProperties, body: bytes
    ) -> None:
        assert self._connection is not None
        self._pending.add(method.delivery_tag)
        self._jobs.put(_Delivery(self._connection, channel, method, properties, body))

    # ---- worker thread

    def _work(self) -> None:
        while (delivery := self._jobs.get()) is not None:
            outcome = None if self.stop.is_set() else self._process(delivery)
            self._settled.clear()
            try:
                delivery.connection.add_callback_threadsafe(partial(self._finish, delivery, outcome))
            except pika.exceptions.AMQPError:
                continue  # the connection is gone: the broker redelivers that input
            # One input at a time, end to end: the next one (perhaps a duplicate of this one) must find this
            # one's version published, or it would build and notify it again.
            self._settled.wait()

    def _process(self, delivery: _Delivery) -> ProcessOutcome:
        self.health.busy()
        try:
            with _burst_logging(_peek_burst_id(delivery.body)):
                problem = unacceptable_properties(delivery.properties)
                if problem is not None:
                    return ProcessOutcome(Action.REJECT, reason=problem)
                return self.processor.process(delivery.body)
        except Exception as error:  # pylint: disable=broad-exception-caught  # a bug must not kill us
            log.exception("processor failed")
            return ProcessOutcome(Action.RETRY, reason=f"internal error: {type(error).__name__}: {error}")
        finally:
            self.health.idle()

    # ---- back on the I/O thread

    def _finish(self, delivery: _Delivery, outcome: ProcessOutcome | None) -> None:
        try:
            self._settle(delivery, outcome)
        finally:
            self._settled.set()

    def _settle(self, delivery: _Delivery, outcome: ProcessOutcome | None) -> None:
        channel = delivery.channel
        if not channel.is_open or channel is not self._channel:
            return  # delivered on a previous connection: already requeued by the broker
        self._pending.discard(delivery.method.delivery_tag)
        if outcome is None:  # stopping: not started, give it back
            self._channel.basic_reject(delivery.method.delivery_tag, requeue=True)
            return
        self.metrics.count("inputs")
        with _burst_logging(outcome.burst_id or _peek_burst_id(delivery.body)):
            if outcome.action is Action.ACK:
                self._acknowledge(delivery, outcome)
            elif outcome.action is Action.RETRY:
                self._retry_or_dead_letter(delivery, outcome.reason)
            else:
                self.metrics.count("rejections")
                self._dead_letter(delivery, outcome.reason)
        self.metrics.observe_latency(time.monotonic() - delivery.received)

    def _acknowledge(self, delivery: _Delivery, outcome: ProcessOutcome) -> None:
        assert self._publisher is not None
        try:
            for notification in outcome.notifications:
                self._publisher.basic_publish(
                    self.config.notification_exchange,
                    notification.routing_key,
                    notification.body,
                    properties=BasicProperties(
                        content_type="application/json",
                        delivery_mode=pika.DeliveryMode.Persistent,
                        message_id=notification.message_id,
                        correlation_id=delivery.properties.message_id,
                        headers={
                            "burst_id": outcome.burst_id,
                            "product_version": notification.product_version or outcome.product_version,
                        },
                    ),
                    mandatory=True,
                )
            self.processor.confirmed(outcome)
        except (pika.exceptions.UnroutableError, pika.exceptions.NackError) as error:
            self._retry_or_dead_letter(delivery, f"notification not confirmed: {error!r}")
            return
        except Exception as error:  # pylint: disable=broad-exception-caught  # the state store failed
            if isinstance(error, pika.exceptions.AMQPConnectionError | pika.exceptions.AMQPChannelError):
                raise
            log.exception("marking the products published failed")
            self._retry_or_dead_letter(delivery, f"internal error: {type(error).__name__}: {error}")
            return
        delivery.channel.basic_ack(delivery.method.delivery_tag)
        self.metrics.count("acks")
        if outcome.notifications:
            self.metrics.count("products")
            self.metrics.count("notifications", len(outcome.notifications))
        log.info(
            "input done: version %s, %d notification(s)",
            outcome.product_version,
            len(outcome.notifications),
            extra={"burst_id": outcome.burst_id},
        )

    def _retry_or_dead_letter(self, delivery: _Delivery, reason: str) -> None:
        """Retry later unless the attempts (if limited) or the time since the first failure are used up."""
        attempts, waited = delivery.attempt + 1, time.time() - delivery.first_failure
        if self.config.max_attempts and attempts >= self.config.max_attempts:
            self._give_up(delivery, f"gave up after {attempts} attempts: {reason}")
        elif waited + retry_delay(self.config, attempts) > self.config.max_retry_age_s:
            limit = f"max_retry_age_s={self.config.max_retry_age_s:g}"
            self._give_up(
                delivery, f"gave up after {attempts} attempts in {waited:.0f} s ({limit}): {reason}"
            )
        else:
            self._retry(delivery, reason)

    def _give_up(self, delivery: _Delivery, reason: str) -> None:
        self.metrics.count("retries_expired")  # an alert: an outage outlasted the retry budget
        log.error("input given up: %s", reason)
        self._dead_letter(delivery, reason)

    def _retry(self, delivery: _Delivery, reason: str) -> None:
        """Park a copy in the delay queue with the attempt count, then ack the original."""
        attempt = delivery.attempt + 1
        delay = retry_delay(self.config, attempt)
        reason = redact(" ".join(reason.split()))[:MAX_REASON_CHARS]
        properties = _copy_properties(
            delivery.properties,
            {
                ATTEMPT_HEADER: attempt,
                FIRST_FAILURE_HEADER: f"{delivery.first_failure:.3f}",
                self.config.reason_header: reason,
            },
        )
        properties.expiration = str(int(delay * 1000))
        if self._publish_copy("", self.config.retry_queue, delivery, properties):
            delivery.channel.basic_ack(delivery.method.delivery_tag)
        else:
            delivery.channel.basic_reject(delivery.method.delivery_tag, requeue=True)
        self.metrics.count("retries")
        log.warning("input retried (attempt %d, in %.1f s): %s", attempt, delay, reason)

    def _dead_letter(self, delivery: _Delivery, reason: str) -> None:
        """Park a copy with the reason on the dead-letter exchange, then ack the original."""
        reason = redact(" ".join(reason.split()))[:MAX_REASON_CHARS]
        stamp = datetime.now(UTC).isoformat(timespec="seconds")
        properties = _copy_properties(
            delivery.properties, {self.config.reason_header: reason, REJECTED_AT_HEADER: stamp}
        )
        exchange, key = self.config.dead_letter_exchange, self.config.input_queue
        if self._publish_copy(exchange, key, delivery, properties):
            delivery.channel.basic_ack(delivery.method.delivery_tag)
        else:  # the queue's own dead-lettering still parks it, without our reason header
            delivery.channel.basic_reject(delivery.method.delivery_tag, requeue=False)
        self.metrics.count("dead_letters")
        log.warning("input dead-lettered: %s", reason)

    def _publish_copy(
        self, exchange: str, routing_key: str, delivery: _Delivery, properties: BasicProperties
    ) -> bool:
        assert self._publisher is not None
        try:
            self._publisher.basic_publish(exchange, routing_key, delivery.body, properties, mandatory=True)
        except (pika.exceptions.UnroutableError, pika.exceptions.NackError) as error:
            log.error("could not park the input on %r/%r: %r", exchange, routing_key, error)
            return False
        return True


def _copy_properties(original: BasicProperties, headers: dict[str, Any]) -> BasicProperties:
    """The original properties, persistent, with our headers added (earlier x-death dropped: we count)."""
    kept = {key: value for key, value in (original.headers or {}).items() if key != "x-death"}
    return BasicProperties(
        content_type=original.content_type,
        message_id=original.message_id,
        correlation_id=original.correlation_id,
        timestamp=original.timestamp,
        delivery_mode=pika.DeliveryMode.Persistent,
        headers={**kept, **headers},
    )
