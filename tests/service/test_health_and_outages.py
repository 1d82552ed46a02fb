"""Health that tells the truth and a state store that survives its database (issue 9, items 2 and 3).

``/live`` fails when the worker thread is dead or one input has been in progress too long; ``/ready`` fails
when the broker or the state store is unusable. A PostgreSQL connection that the server dropped is a
retriable error, and the next call reconnects.
"""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import psycopg
import pytest
from real_services import POSTGRES_URL, Broker, wait_for, with_changes
from service_rig import StandInProcessor, http_get, stand_in_mxt

from vtac.errors import TransientError
from vtac.service.broker import REASON_HEADER
from vtac.service.consumer import Consumer
from vtac.service.health import Health, HealthServer
from vtac.service.metrics import Metrics
from vtac.service.outcome import ProcessOutcome
from vtac.service.publish import publish_inputs
from vtac.service.state import open_sqlite_store


class DyingProcessor(StandInProcessor):
    """A processor whose thread dies (something no ``except Exception`` catches)."""

    def process(self, body: bytes, *, newer_waiting=None) -> ProcessOutcome:
        raise SystemExit("worker killed")


def _serve(consumer: Consumer) -> tuple[HealthServer, threading.Thread, str]:
    server = HealthServer(consumer.health, consumer.metrics).start()
    thread = threading.Thread(target=consumer.run, daemon=True)
    thread.start()
    return server, thread, f"http://127.0.0.1:{server.port}"


def _stop(consumer: Consumer, server: HealthServer, thread: threading.Thread) -> None:
    consumer.stop.set()
    thread.join(10)
    server.stop()


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_live_and_ready_fail_with_a_log_line_when_the_worker_thread_is_dead(broker: Broker, caplog):
    consumer = Consumer(broker.config, DyingProcessor())
    server, thread, base = _serve(consumer)
    try:
        wait_for(lambda: consumer.health.ready)
        assert http_get(f"{base}/live") == (200, "live\n")
        assert http_get(f"{base}/ready") == (200, "ready\n")
        publish_inputs(broker.config, [stand_in_mxt("sb21")])
        wait_for(lambda: http_get(f"{base}/live")[0] == 503)
        assert http_get(f"{base}/live") == (503, "the worker thread is dead\n")
        assert http_get(f"{base}/ready") == (503, "not ready: the worker thread is dead\n")
        deaths = [record for record in caplog.records if "the worker thread is dead" in record.getMessage()]
        assert len(deaths) == 1 and deaths[0].levelname == "CRITICAL"
    finally:
        _stop(consumer, server, thread)


def test_live_fails_while_one_input_is_in_progress_too_long(broker: Broker):
    consumer = Consumer(broker.config, StandInProcessor(delay_s=1.5), health=Health(max_busy_s=0.3))
    server, thread, base = _serve(consumer)
    try:
        wait_for(lambda: consumer.health.ready)
        publish_inputs(broker.config, [stand_in_mxt("sb22")])
        wait_for(lambda: http_get(f"{base}/live")[0] == 503)
        text = http_get(f"{base}/live")[1]
        assert "one input in progress for" in text and "max_processing_s=0.3" in text
        broker.take(broker.notifications_queue, 2)
        wait_for(lambda: http_get(f"{base}/live")[0] == 200)  # done: live again
    finally:
        _stop(consumer, server, thread)


@pytest.mark.postgres
def test_ready_fails_when_the_state_store_is_unusable(tmp_path):
    store = open_sqlite_store(tmp_path / "state.db")
    health = Health()
    health.ready = True
    health.readiness_checks.append(store.ping)
    server = HealthServer(health, Metrics()).start()
    try:
        assert http_get(f"http://127.0.0.1:{server.port}/ready") == (200, "ready\n")
        store.close()
        assert http_get(f"http://127.0.0.1:{server.port}/ready") == (503, "not ready\n")
        assert health.live  # unusable state is not a reason to restart the process
    finally:
        server.stop()


def _terminate_backend_of(store: Any) -> None:
    """Make the server drop the store's connection, as a PostgreSQL restart would (only that session)."""
    pid = store._conn.info.backend_pid  # pylint: disable=protected-access
    with psycopg.connect(POSTGRES_URL, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
    time.sleep(0.1)


def test_a_dropped_postgresql_connection_is_a_retry_then_reconnected(postgres_store):
    store = postgres_store()
    burst = f"sb-reconnect-{time.time_ns()}"
    try:
        assert store.record(burst, "QSRCLIST_VT", b"one", b"{}").state.version == 1
        _terminate_backend_of(store)
        with pytest.raises(TransientError, match="input store unavailable") as error:
            store.record(burst, "QSRCLIST_VT", b"two", b"{}")
        assert error.value.retriable
        assert store.record(burst, "QSRCLIST_VT", b"two", b"{}").state.version == 2  # reconnected
        _terminate_backend_of(store)
        assert store.ping() is False and store.ping() is True  # readiness sees it, then recovers
        assert store.burst_state(burst).version == 2
    finally:
        store.close()


class StuckProcessor(StandInProcessor):
    """Never returns on burst ``sbstuck`` until released (an input no bound foresaw)."""

    def __init__(self) -> None:
        super().__init__()
        self.release = threading.Event()

    def process(self, body: bytes, *, newer_waiting=None) -> ProcessOutcome:
        if b'"sbstuck"' in body:
            self.release.wait(30)
        return super().process(body)


def test_an_input_past_the_processing_deadline_is_dead_lettered_and_the_worker_goes_on(broker: Broker):
    processor = StuckProcessor()
    consumer = Consumer(with_changes(broker.config, processing_deadline_s=1.0), processor)
    server, thread, base = _serve(consumer)
    try:
        wait_for(lambda: consumer.health.ready)
        publish_inputs(broker.config, [stand_in_mxt("sbstuck"), stand_in_mxt("sb23")])

        (dead,) = broker.take(broker.config.dead_letter_queue, 1)
        notified = broker.take(broker.notifications_queue, 2)
        assert dead[0].headers[REASON_HEADER] == "processing deadline exceeded (processing_deadline_s=1)"
        assert {json.loads(body)["burst_id"] for _, body in notified} == {"sb23"}
        assert http_get(f"{base}/live") == (200, "live\n")

        processor.release.set()  # the stuck input returns at last: its outcome is dropped, nothing twice
        publish_inputs(broker.config, [stand_in_mxt("sb24")])
        assert {json.loads(body)["burst_id"] for _, body in broker.take(broker.notifications_queue, 2)} == {
            "sb24"
        }
        assert (
            broker.depth(broker.notifications_queue) == 0
            and broker.depth(broker.config.dead_letter_queue) == 0
        )
        assert consumer.metrics.counters["reconnects"] == 0  # no double ack closed the channel
    finally:
        _stop(consumer, server, thread)
