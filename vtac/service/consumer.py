"""The AMQP consumer: one input at a time from the queue to its broker action, surviving broker failures.

Design (pika 1.4 ``BlockingConnection``; names and headers in docs/ICD.md):

* One I/O thread owns the connection and both channels (pika is not thread-safe); ONE worker thread runs
  :meth:`InputHandler.process`, so heartbeats keep flowing during long computations. The worker hands each
  outcome back with ``add_callback_threadsafe``, the only thread-safe pika call.
* An input is acked only after every notification was confirmed by the broker (publisher confirms,
  ``mandatory``, persistent) and the processor was told (:meth:`InputHandler.confirmed`).
* REJECT: a copy of the input goes to the dead-letter exchange with the reason in the ``x-vtac-reason``
  header (``basic_reject`` cannot add headers), confirmed, then the original is acked. Should that publish
  fail, the input is rejected without requeue and the queue's own dead-lettering takes it (reason lost).
* RETRY: a copy goes to a delay queue (per-message TTL, dead-lettered back to the input queue) with the
  attempt count in ``x-vtac-attempt`` and the first failure in ``x-vtac-first-failure``; it waits out an
  outage of any length up to ``retry_max_age_s`` (and ``max_attempts`` if set), then is dead-lettered with
  the last reason and counted in ``retries_expired`` (an alert).
* Connection lost: reconnect with capped exponential backoff and jitter (:mod:`vtac.service.reconnect`);
  unacked inputs are redelivered by the broker and processed again idempotently (the state store makes a
  repeat a no-op). Topology: :mod:`vtac.service.topology`; health and metrics: :mod:`vtac.service.health`,
  :mod:`vtac.service.metrics`.
* SIGTERM only sets a flag: consuming stops, the in-flight input finishes within the grace period (else it
  is requeued by the broker when the connection closes).
"""

from __future__ import annotations

import logging
import queue
import re
import threading
import time
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from typing import Any, Protocol

import pika
import pika.exceptions
from pika.adapters.blocking_connection import BlockingChannel, BlockingConnection
from pika.spec import Basic, BasicProperties

from vtac.errors import ConfigurationError
from vtac.redaction import redact
from vtac.service.broker import (
    ATTEMPT_HEADER,
    FIRST_FAILURE_HEADER,
    REJECTED_AT_HEADER,
    connection_name,
    connection_parameters,
)
from vtac.service.health import Health
from vtac.service.logs import burst_logging
from vtac.service.metrics import Metrics
from vtac.service.outcome import Action, ProcessOutcome
from vtac.service.reconnect import Backoff, retry_delay
from vtac.service.topology import declare_topology
from vtac.settings import BrokerSettings

log = logging.getLogger("vtac.service.amqp")

#: The reason header is one line; a stack of validation errors is cut here.
MAX_REASON_CHARS = 1000


class InputHandler(Protocol):
    """What the consumer needs from what decides on its inputs: :class:`vtac.service.processor.Processor`."""

    def process(self, body: bytes, *, newer_waiting: Callable[[str], bool] | None = None) -> ProcessOutcome:
        """Decide on one input body; ``newer_waiting(burst_id)`` says whether a later input of that burst is
        already in hand (its build may then wait for it)."""

    def confirmed(self, outcome: ProcessOutcome) -> None:
        """Every notification of ``outcome`` was confirmed by the broker."""


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


@dataclass
class _Delivery:
    """One input and where it came from: the ack must go back on the same channel."""

    connection: BlockingConnection
    channel: BlockingChannel
    method: Basic.Deliver
    properties: BasicProperties
    body: bytes
    received: float = field(default_factory=time.monotonic)
    burst_id: str | None = field(init=False)

    def __post_init__(self) -> None:
        self.burst_id = _peek_burst_id(self.body)

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


class Consumer:  # pylint: disable=too-many-instance-attributes  # connection, channels and worker state
    """Consume inputs, run the processor on one worker thread, publish, ack; survive broker failures.

    ``sweep_interval_s``: how often the processor's sweeper is asked for a version nothing else will notify
    (``vtac serve`` passes ``sweep_after_s``; 0: never).
    """

    def __init__(
        self,
        config: BrokerSettings,
        processor: InputHandler,
        *,
        stop: threading.Event | None = None,
        health: Health | None = None,
        metrics: Metrics | None = None,
        sweep_interval_s: float = 0.0,
    ) -> None:
        self.config, self.processor = config, processor
        self.sweep_interval_s = sweep_interval_s
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
        self._last_sweep = time.monotonic()
        # The input the worker is on and since when; past processing_deadline_s it is dead-lettered and a
        # new worker (next generation) goes on, the old one ending unheard when it returns.
        self._current: tuple[_Delivery, float] | None = None
        self._generation = 0
        self._worker = self._new_worker()

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
        channel.basic_qos(prefetch_count=self.config.max_unacked)
        self._pending.clear()
        self._channel = channel
        self._consumer_tag = channel.basic_consume(self.config.inputs_queue, self._on_message)
        self.health.ready = True
        log.info("consuming %s on %s", self.config.inputs_queue, connection_name(self.config))

    def _pump(self) -> None:
        assert self._connection is not None and self._channel is not None
        while not self.stop.is_set():
            self._connection.process_data_events(time_limit=0.25)
            self.health.beat()
            self._enforce_deadline()
        self._drain()

    def _new_worker(self) -> threading.Thread:
        worker = threading.Thread(
            target=self._work, args=(self._generation,), name="vtac-worker", daemon=True
        )
        self.health.watch(worker)
        return worker

    def _enforce_deadline(self) -> None:
        """Dead-letter the input in progress past ``processing_deadline_s`` and hand on to a new worker."""
        current, limit = self._current, self.config.processing_deadline_s
        if current is None or not limit or time.monotonic() - current[1] < limit:
            return
        delivery = current[0]
        self._current = None
        self._generation += 1
        log.error("input in progress for over %g s: dead-lettered, a new worker goes on", limit)
        if delivery.channel is self._channel and delivery.method.delivery_tag in self._pending:
            self._pending.discard(delivery.method.delivery_tag)
            self._dead_letter(delivery, f"processing deadline exceeded (processing_deadline_s={limit:g})")
        self.health.idle()
        self._settled.set()
        self._worker = self._new_worker()
        self._worker.start()

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

    def _work(self, generation: int) -> None:
        while (delivery := self._next_job()) is not None:
            self._current = (delivery, time.monotonic())
            outcome = None if self.stop.is_set() else self._process(delivery)
            if generation != self._generation:
                log.warning(
                    "an input past the deadline finished: its outcome is dropped (it was dead-lettered)"
                )
                return
            self._current = None
            self._settled.clear()
            try:
                delivery.connection.add_callback_threadsafe(partial(self._finish, delivery, outcome))
            except pika.exceptions.AMQPError:
                continue  # the connection is gone: the broker redelivers that input
            # One input at a time, end to end: the next one (perhaps a duplicate of this one) must find this
            # one's version published, or it would build and notify it again.
            self._settled.wait()

    def _next_job(self) -> _Delivery | None:
        """The next input, after the builds an earlier input left to one no longer held, and after a sweep
        whenever ``sweep_interval_s`` has passed since the last one (busy or idle: a steady stream of inputs
        must not starve the sweeper)."""
        interval = self.sweep_interval_s
        build_deferred = getattr(self.processor, "build_deferred", None)
        while True:
            if build_deferred is not None:
                self._publish_built("deferred build", partial(build_deferred, self._holds_input_of))
            if interval and time.monotonic() - self._last_sweep >= interval:
                self._last_sweep = time.monotonic()
                self._publish_built("sweep", getattr(self.processor, "sweep", None))
            wait = max(0.0, interval - (time.monotonic() - self._last_sweep)) if interval else None
            with suppress(queue.Empty):
                return self._jobs.get(timeout=wait)

    def _holds_input_of(self, burst_id: str) -> bool:
        """Whether an input of ``burst_id`` waits for the worker (delivered to us, not yet processed)."""
        with self._jobs.mutex:
            return any(job is not None and job.burst_id == burst_id for job in self._jobs.queue)

    def _publish_built(self, what: str, build: Callable[[], ProcessOutcome | None] | None) -> None:
        """Publish what the processor built outside any input (the sweeper's version stored but never
        notified, or a build an input left to a later one), like an input's notifications."""
        connection = self._connection
        if build is None or connection is None or not self.health.ready or self.stop.is_set():
            return
        self.health.busy()
        try:
            outcome = build()
        except Exception:  # pylint: disable=broad-exception-caught  # a bug must not kill the worker
            log.exception("%s failed", what)
            return
        finally:
            self.health.idle()
        if outcome is None:
            return
        self._settled.clear()
        try:
            connection.add_callback_threadsafe(partial(self._publish_unprompted, outcome))
        except pika.exceptions.AMQPError:
            return  # the sweeper builds it again once its claim lapses
        self._settled.wait()

    def _publish_unprompted(self, outcome: ProcessOutcome) -> None:
        try:
            self._publish_notifications(outcome, correlation_id=None)
            self.processor.confirmed(outcome)
            self.metrics.count("products")
            self.metrics.count("notifications", len(outcome.notifications))
        except Exception as error:  # pylint: disable=broad-exception-caught  # the sweeper's again later
            if isinstance(error, pika.exceptions.AMQPConnectionError | pika.exceptions.AMQPChannelError):
                raise
            log.warning("version not notified now: %r", error, extra={"burst_id": outcome.burst_id})
        finally:
            self._settled.set()

    def _process(self, delivery: _Delivery) -> ProcessOutcome:
        self.health.busy()
        try:
            with burst_logging(delivery.burst_id):
                problem = unacceptable_properties(delivery.properties)
                if problem is not None:
                    return ProcessOutcome(Action.REJECT, reason=problem)
                return self.processor.process(delivery.body, newer_waiting=self._holds_input_of)
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
        if delivery.method.delivery_tag not in self._pending:
            return  # already dead-lettered past the processing deadline
        self._pending.discard(delivery.method.delivery_tag)
        if outcome is None:  # stopping: not started, give it back
            self._channel.basic_reject(delivery.method.delivery_tag, requeue=True)
            return
        self.metrics.count("inputs")
        with burst_logging(outcome.burst_id or delivery.burst_id):
            if outcome.action is Action.ACK:
                self._acknowledge(delivery, outcome)
            elif outcome.action is Action.RETRY:
                self._retry_or_dead_letter(delivery, outcome.reason)
            else:
                self.metrics.count("rejections")
                self._dead_letter(delivery, outcome.reason)
        self.metrics.observe_latency(time.monotonic() - delivery.received)

    def _publish_notifications(self, outcome: ProcessOutcome, correlation_id: str | None) -> None:
        """Every notification, persistent and mandatory, each confirmed by the broker (raises if not)."""
        assert self._publisher is not None
        for notification in outcome.notifications:
            self._publisher.basic_publish(
                self.config.notifications_exchange,
                notification.routing_key,
                notification.body,
                properties=BasicProperties(
                    content_type="application/json",
                    delivery_mode=pika.DeliveryMode.Persistent,
                    message_id=notification.message_id,
                    correlation_id=correlation_id,
                    headers={
                        "burst_id": outcome.burst_id,
                        "product_version": notification.product_version or outcome.product_version,
                    },
                ),
                mandatory=True,
            )

    def _acknowledge(self, delivery: _Delivery, outcome: ProcessOutcome) -> None:
        try:
            self._publish_notifications(outcome, delivery.properties.message_id)
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
        elif waited + retry_delay(self.config, attempts) > self.config.retry_max_age_s:
            limit = f"retry_max_age_s={self.config.retry_max_age_s:g}"
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
        exchange, key = self.config.dead_letter_exchange, self.config.inputs_queue
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
