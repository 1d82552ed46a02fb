"""The AMQP layer against the real RabbitMQ on 127.0.0.1:5672: every test has its own exchanges and queues.

The processor here is a small stand-in with the contract of :mod:`vtac.service.processor` (validation by
:func:`parse_input`, a new version per new input, a repeat is a no-op, notifications re-sent until
confirmed), so that these tests exercise the broker side only and stay fast.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pika
import pytest
from paths import REPO
from prometheus_client.parser import text_string_to_metric_families
from real_services import AUDIENCES, BROKER_URL, Broker, wait_for, with_changes
from service_rig import StandInProcessor, http_get, stand_in_mxt

from vtac.adapters.mxt import write_qpo_mxt
from vtac.entrypoints import cli
from vtac.errors import ConfigurationError, TransientError
from vtac.service.broker import REASON_HEADER
from vtac.service.consumer import Consumer
from vtac.service.health import Health, HealthServer
from vtac.service.logs import JsonFormatter, burst_logging
from vtac.service.messages import ProductNotificationV1, parse_input
from vtac.service.metrics import Metrics
from vtac.service.outcome import Action, ProcessOutcome
from vtac.service.publish import message_id, product_message, publish_inputs
from vtac.service.reconnect import Backoff, retry_delay
from vtac.settings import BrokerSettings

pytestmark = pytest.mark.usefixtures("rabbitmq")


class Running:
    """A consumer on a background thread (the test plays the operator who sends SIGTERM)."""

    def __init__(self, config: BrokerSettings, processor: StandInProcessor) -> None:
        self.processor = processor
        self.consumer = Consumer(config, processor)
        self.thread = threading.Thread(target=self.consumer.run, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.consumer.stop.set()
        self.thread.join(10)
        assert not self.thread.is_alive()


@pytest.fixture
def run_consumer(broker: Broker) -> Iterator[Any]:
    started: list[Running] = []

    def start(processor: StandInProcessor, **changes: Any) -> Running:
        running = Running(with_changes(broker.config, **changes), processor)
        started.append(running)
        return running

    yield start
    for running in started:
        running.stop()


def _bodies(taken: list[tuple[Any, bytes]]) -> list[dict[str, Any]]:
    return [json.loads(body) for _, body in taken]


def test_full_flow_notifies_both_audiences_once_per_new_input(
    broker: Broker, run_consumer: Any, tmp_path: Path
):
    processor = StandInProcessor()
    running = run_consumer(processor)
    srclist = tmp_path / "QSRCLIST_VT_R.fits"
    srclist.write_bytes(b"SIMPLE  =                    T" + b" " * 50)
    messages = [stand_in_mxt("sb1"), product_message(srclist, acronym="QSRCLIST_VT", burst_id="sb1")]
    publish_inputs(broker.config, messages)

    taken = broker.take(broker.notifications_queue, 4)
    versions = sorted(
        (body["product_version"], props.message_id)
        for props, body in zip([p for p, _ in taken], _bodies(taken), strict=True)
    )
    assert [version for version, _ in versions] == [1, 1, 2, 2]
    assert {props.delivery_mode for props, _ in taken} == {2}  # persistent
    assert {props.correlation_id for props, _ in taken} == {message_id(m) for m in messages}
    assert sorted(processor.confirmed_versions) == [("sb1", 1), ("sb1", 2)]

    publish_inputs(broker.config, messages)  # the same inputs again: acked, no new version, no notification
    wait_for(lambda: processor.calls == 4)
    wait_for(lambda: running.consumer.metrics.counters["acks"] == 4)
    assert broker.depth(broker.notifications_queue) == 0
    assert broker.depth(broker.config.inputs_queue) == 0
    assert running.consumer.metrics.counters["products"] == 2


def _notified(taken: list[tuple[Any, bytes]]) -> list[tuple[str, int]]:
    return sorted({(body["burst_id"], body["product_version"]) for body in _bodies(taken)})


def test_an_input_whose_burst_has_a_later_one_in_hand_is_built_with_it(broker: Broker, run_consumer: Any):
    processor = StandInProcessor(delay_s=0.3, fold=True)
    running = run_consumer(processor)
    publish_inputs(
        broker.config, [stand_in_mxt("sb30"), stand_in_mxt("sb30", version=2), stand_in_mxt("sb31")]
    )

    taken = broker.take(broker.notifications_queue, 4)

    assert _notified(taken) == [("sb30", 2), ("sb31", 1)]  # sb30's first input was in hand with its second
    wait_for(lambda: running.consumer.metrics.counters["acks"] == 3)
    assert broker.depth(broker.notifications_queue) == 0


def test_a_build_left_to_an_input_that_is_dead_lettered_is_made_at_once(broker: Broker, run_consumer: Any):
    processor = StandInProcessor(delay_s=0.3, fold=True)
    run_consumer(processor)
    publish_inputs(broker.config, [stand_in_mxt("sb32")])
    broker.publish_raw(
        json.dumps({**json.loads(stand_in_mxt("sb32").model_dump_json()), "ra": 400.0}).encode()
    )

    taken = broker.take(broker.notifications_queue, 2)

    assert _notified(taken) == [("sb32", 1)]
    [(props, _)] = broker.take(broker.config.dead_letter_queue, 1)
    assert props.headers[REASON_HEADER].startswith("column ra:")
    assert processor.deferred == set()


def test_deep_or_mistyped_messages_are_dead_lettered_naming_the_bound_and_the_worker_survives(
    broker: Broker, run_consumer: Any
):
    running = run_consumer(StandInProcessor())
    for depth in (200, 1_000, 100_000):  # once: RecursionError on the worker (or the I/O) thread
        broker.publish_raw(b'{"burst_id": "sb3", "x": ' + b"[" * depth + b"]" * depth + b"}")
    broker.channel.basic_publish(
        broker.config.inputs_exchange,
        "product.QPO_MXT",
        stand_in_mxt("sb3").model_dump_json().encode(),
        pika.BasicProperties(content_type="text/plain"),
    )
    dead = broker.take(broker.config.dead_letter_queue, 4)
    reasons = [props.headers[REASON_HEADER] for props, _ in dead]
    assert all("max_json_depth=16" in reason for reason in reasons[:3])
    assert "content_type 'text/plain'" in reasons[3]

    publish_inputs(broker.config, [stand_in_mxt("sb3")])
    assert len(broker.take(broker.notifications_queue, 2)) == 2
    assert running.consumer._worker.is_alive()  # pylint: disable=protected-access


def test_invalid_message_is_dead_lettered_with_reason_and_consumer_stays_up(
    broker: Broker, run_consumer: Any
):
    run_consumer(StandInProcessor())
    broker.publish_raw(b"not json at all")
    broker.publish_raw(
        json.dumps({**json.loads(stand_in_mxt("sb2").model_dump_json()), "ra": 400.0}).encode()
    )
    dead = broker.take(broker.config.dead_letter_queue, 2)
    reasons = [props.headers[REASON_HEADER] for props, _ in dead]
    assert "invalid input message" in reasons[0]
    assert reasons[1].startswith("column ra:")
    assert dead[0][1] == b"not json at all"  # the original body, for an operator to inspect or replay

    publish_inputs(broker.config, [stand_in_mxt("sb2")])
    assert len(broker.take(broker.notifications_queue, 2)) == 2
    assert broker.depth(broker.config.dead_letter_queue) == 0


def test_retry_then_ack_gives_one_version(broker: Broker, run_consumer: Any):
    processor = StandInProcessor()
    processor.retries_left["sb3"] = 2
    running = run_consumer(processor)
    publish_inputs(broker.config, [stand_in_mxt("sb3")])
    taken = broker.take(broker.notifications_queue, 2)
    assert {body["product_version"] for body in _bodies(taken)} == {1}
    assert processor.calls == 3
    assert running.consumer.metrics.counters["retries"] == 2
    assert broker.depth(broker.config.dead_letter_queue) == 0


def test_retries_are_bounded_then_dead_lettered(broker: Broker, run_consumer: Any):
    processor = StandInProcessor()
    processor.retries_left["sb4"] = 99
    run_consumer(processor, max_attempts=3)
    publish_inputs(broker.config, [stand_in_mxt("sb4")])
    [(props, _)] = broker.take(broker.config.dead_letter_queue, 1)
    assert props.headers[REASON_HEADER] == "gave up after 3 attempts: SDB answered 503"
    assert processor.calls == 3


def test_an_outage_longer_than_any_attempt_count_loses_nothing(broker: Broker, run_consumer: Any):
    processor = StandInProcessor()
    processor.retries_left["sb16"] = 15  # 15 failed attempts: three times the old fixed budget
    running = run_consumer(processor)
    publish_inputs(broker.config, [stand_in_mxt("sb16")])
    assert len(broker.take(broker.notifications_queue, 2, timeout_s=20)) == 2
    assert processor.calls == 16 and running.consumer.metrics.counters["retries"] == 15
    assert broker.depth(broker.config.dead_letter_queue) == 0


def test_retries_end_at_the_maximum_age_with_an_alert(broker: Broker, run_consumer: Any):
    processor = StandInProcessor()
    processor.retries_left["sb17"] = 10_000
    running = run_consumer(processor, retry_max_age_s=0.6)
    publish_inputs(broker.config, [stand_in_mxt("sb17")])
    [(props, _)] = broker.take(broker.config.dead_letter_queue, 1)
    reason = props.headers[REASON_HEADER]
    assert "(retry_max_age_s=0.6): SDB answered 503" in reason and reason.startswith("gave up after")
    assert running.consumer.metrics.counters["retries_expired"] == 1
    assert _sample(running.consumer.metrics.render(), "vtac_retries_expired_total") == 1


def test_unroutable_notification_is_not_acked_as_done(broker: Broker, run_consumer: Any):
    broker.unbind_notifications()
    processor = StandInProcessor()
    run_consumer(processor, max_attempts=2)
    publish_inputs(broker.config, [stand_in_mxt("sb5")])
    [(props, _)] = broker.take(broker.config.dead_letter_queue, 1)
    assert "notification not confirmed" in props.headers[REASON_HEADER]
    assert processor.confirmed_versions == []


def test_connection_closed_by_broker_reconnects_and_loses_nothing(broker: Broker, run_consumer: Any):
    processor = StandInProcessor(delay_s=0.1)
    running = run_consumer(processor)
    publish_inputs(broker.config, [stand_in_mxt(f"sb6-{index}") for index in range(6)])
    seen = {props.message_id for props, _ in broker.take(broker.notifications_queue, 2)}
    _close_connection(broker.config.connection_name)
    expected = {f"sb6-{index}:1:{audience}" for index in range(6) for audience in AUDIENCES}
    deadline = time.monotonic() + 10
    while seen != expected and time.monotonic() < deadline:  # repeats allowed (at least once), losses not
        seen |= {props.message_id for props, _ in broker.take(broker.notifications_queue, 1)}
    assert seen == expected
    wait_for(lambda: len(set(processor.confirmed_versions)) == 6)  # ... and confirmed
    assert running.consumer.metrics.counters["reconnects"] >= 1
    assert broker.depth(broker.config.inputs_queue) == 0


@pytest.mark.subprocess
def test_sigterm_mid_processing_leaves_the_input_for_redelivery(broker: Broker, tmp_path: Path):
    started = tmp_path / "started"
    script = tmp_path / "consumer.py"
    slow = with_changes(broker.config, shutdown_grace_s=0.3)
    slow_config = json.dumps({**slow.model_dump(mode="json"), "url": slow.url.get_secret_value()})
    script.write_text(
        textwrap.dedent(f"""
        import sys, time
        from pathlib import Path
        from vtac.entrypoints.serve import install_stop_handlers
        from vtac.settings import BrokerSettings
        from vtac.service.consumer import Consumer
        from vtac.service.outcome import Action, ProcessOutcome

        class Slow:
            def process(self, body, *, newer_waiting=None):
                Path({str(started)!r}).touch()
                time.sleep(30)
                return ProcessOutcome(Action.ACK)
            def confirmed(self, outcome):
                pass

        config = BrokerSettings.model_validate_json({slow_config!r})
        Consumer(config, Slow(), stop=install_stop_handlers()).run()
        """)
    )
    process = subprocess.Popen([sys.executable, str(script)], cwd=REPO)
    try:
        publish_inputs(broker.config, [stand_in_mxt("sb7")])
        wait_for(started.exists, timeout_s=15)
        process.send_signal(signal.SIGTERM)
        sent = time.monotonic()
        assert process.wait(timeout=10) == 0
        assert time.monotonic() - sent < 3
    finally:
        process.kill()
    method, _, body = broker.channel.basic_get(broker.config.inputs_queue, auto_ack=True)
    assert method is not None and method.redelivered
    assert parse_input(body).burst_id == "sb7"


def test_health_endpoints_follow_the_consumer(broker: Broker, run_consumer: Any):
    running = run_consumer(StandInProcessor())
    server = HealthServer(running.consumer.health, running.consumer.metrics).start()
    try:
        base = f"http://127.0.0.1:{server.port}"
        wait_for(lambda: running.consumer.health.ready)
        assert http_get(f"{base}/ready") == (200, "ready\n")
        assert http_get(f"{base}/live")[0] == 200
        publish_inputs(broker.config, [stand_in_mxt("sb8")])
        broker.take(broker.notifications_queue, 2)
        wait_for(lambda: _sample(http_get(f"{base}/metrics")[1], "vtac_products_total") == 1)  # after the ack
        status, text = http_get(f"{base}/metrics")
        assert status == 200 and _sample(text, "vtac_input_latency_seconds_count") == 1
        assert _sample(text, "vtac_notifications_total") == 2
        assert http_get(f"{base}/nothing")[0] == 404
        running.stop()
        assert http_get(f"{base}/ready")[0] == 503
    finally:
        server.stop()


def _sample(exposition: str, name: str) -> float | None:
    """One sample's value, read by prometheus_client's own parser (None when absent)."""
    for family in text_string_to_metric_families(exposition):
        for sample in family.samples:
            if sample.name == name:
                return float(sample.value)
    return None


def test_two_services_in_one_process_keep_their_own_metrics():
    first, second = Metrics(), Metrics()
    first.count("retries", 3)
    second.observe_latency(0.3)
    assert (
        _sample(first.render(), "vtac_retries_total") == 3
        and _sample(second.render(), "vtac_retries_total") == 0
    )
    assert _sample(second.render(), "vtac_input_latency_seconds_count") == 1
    assert first.counters["retries"] == 3 and second.counters == dict.fromkeys(second.counters, 0)


def test_health_goes_stale_and_touches_its_file(tmp_path: Path):
    health = Health(stale_after_s=0.05, health_file=tmp_path / "alive")
    health.beat()
    assert health.live and (tmp_path / "alive").exists()
    time.sleep(0.06)
    assert not health.live


def test_reconnect_waits_are_full_jitter_in_a_doubling_window_up_to_the_cap():
    backoff = Backoff(1.0, 5.0)
    runs = []
    for _ in range(200):
        backoff.reset()  # a connection succeeded: the windows start again
        runs.append([backoff.next_delay() for _ in range(5)])
    for n, window in enumerate((1.0, 2.0, 4.0, 5.0, 5.0)):
        waits = [run[n] for run in runs]
        assert min(waits) >= 0.0 and max(waits) <= window
        assert max(waits) > 0.75 * window  # the window does grow (200 draws: the top quarter is reached)
    assert [retry_delay(BrokerSettings(retry_delay_s=1, retry_delay_cap_s=5), n) for n in (1, 2, 3, 4)] == [
        1,
        2,
        4,
        5,
    ]


def test_json_logs_carry_the_burst_id():
    formatter = JsonFormatter()
    record = logging.LogRecord("vtac", logging.WARNING, __file__, 1, "input %s", ("retried",), None)
    with burst_logging("sb9"):
        entry = json.loads(formatter.format(record))
    assert entry["burst_id"] == "sb9" and entry["message"] == "input retried" and entry["level"] == "WARNING"
    assert "burst_id" not in json.loads(formatter.format(record))


def test_unreachable_broker_is_retried_with_backoff_while_alive(config: BrokerSettings):
    consumer = Consumer(with_changes(config, url="amqp://guest:guest@127.0.0.1:1/%2F"), StandInProcessor())
    thread = threading.Thread(target=consumer.run, daemon=True)
    thread.start()
    wait_for(lambda: consumer.metrics.counters["reconnects"] >= 3)
    assert consumer.health.live and not consumer.health.ready
    consumer.stop.set()
    thread.join(5)
    assert not thread.is_alive()


def test_login_refused_is_a_configuration_error(config: BrokerSettings):
    broker = urllib.parse.urlsplit(BROKER_URL)  # the test broker, wherever it runs (CI: a service container)
    bad = with_changes(
        config, url=broker._replace(netloc=f"guest:wrong@{broker.hostname}:{broker.port}").geturl()
    )
    with pytest.raises(ConfigurationError, match="login refused"):
        Consumer(bad, StandInProcessor()).run()


def test_publish_and_schema_commands(broker: Broker, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys):
    for name, value in (
        ("BROKER__URL", BROKER_URL),
        ("BROKER__INPUTS_EXCHANGE", broker.config.inputs_exchange),
    ):
        monkeypatch.setenv(f"VTAC_{name}", value)
    assert cli.main(["publish", "--mxt-position", "212.64,29.69,12.5", "--burst-id", "sb10"]) == 0
    assert "published position.MXT sb10" in capsys.readouterr().out
    text_file = tmp_path / "notes.txt"
    text_file.write_bytes(b"SIMPLE")
    assert cli.main(["publish", str(text_file), "--acronym", "QSRCLIST_VT", "--burst-id", "sb10"]) == 2
    assert "notes.txt" in capsys.readouterr().err  # not FITS: refused, nothing sent
    fits = write_qpo_mxt(tmp_path / "QPO_MXT.fits", [[(212.64, 29.69, 12.5, 0)]], "sb10")
    assert cli.main(["publish", str(fits), "--acronym", "QSRCLIST_VT", "--burst-id", "sb10"]) == 2
    assert "CARD = 'QPO_MXT', not QSRCLIST_VT" in capsys.readouterr().err
    assert cli.main(["publish", str(fits), "--acronym", "QPO_MXT", "--burst-id", "sb11"]) == 2
    assert "BURST_ID = 'sb10' differs from --burst-id sb11" in capsys.readouterr().err
    assert (
        cli.main(
            [
                "publish",
                str(fits),
                "--acronym",
                "QPO_MXT",
                "--burst-id",
                "sb10",
                "--time",
                "2025-02-05T04:13:02Z",
            ]
        )
        == 0
    )
    [(_, first), (_, second)] = broker.take(broker.config.inputs_queue, 2)
    product = parse_input(second)
    assert parse_input(first).burst_id == "sb10"
    assert isinstance(product, ProductNotificationV1) and product.content == fits.read_bytes()

    assert cli.main(["publish", "--burst-id", "sb10"]) == 2
    assert cli.main(["publish", str(fits), "--burst-id", "sb10"]) == 2
    assert cli.main(["publish", "--mxt-position", "1,2", "--burst-id", "sb10"]) == 2
    assert cli.main(["publish", "--mxt-position", "400,2,3", "--burst-id", "sb10"]) == 2
    assert "column ra" in capsys.readouterr().err
    assert (
        cli.main(["publish", str(tmp_path / "missing.fits"), "--acronym", "QPO_MXT", "--burst-id", "x"]) == 2
    )

    assert cli.main(["schema", "--out", str(tmp_path / "schemas")]) == 0
    written = sorted(path.name for path in (tmp_path / "schemas").iterdir())
    assert written == [
        "qpo_vt_notification.v1.schema.json",
        "qpo_vt_summary.schema.json",
        "vtac_input.v1.schema.json",
    ]


def test_publish_without_a_bound_queue_fails_loudly(config: BrokerSettings):
    config = with_changes(config, input_routing_keys=("product.QSRCLIST_VT",))  # MXT positions are not bound
    broker = Broker(config)
    try:
        with pytest.raises(TransientError, match="no queue"):
            publish_inputs(config, [stand_in_mxt("sb11")])
    finally:
        broker.close()


@pytest.mark.subprocess
def test_an_input_published_before_the_service_starts_waits_in_its_queue(config: BrokerSettings):
    publish_inputs(config, [stand_in_mxt("sb11b")])  # nothing declared yet: publishing declares the topology
    broker = Broker(config)
    try:
        assert broker.depth(config.inputs_queue) == 1
    finally:
        broker.close()


def _close_connection(name: str) -> None:
    """Close the consumer's connection from the broker side, as an operator or a broker failover would.

    ``rabbitmqctl`` where the broker runs on this host; the management API where it is another machine
    (CI service containers: the job image has ``rabbitmqctl`` too, for the fault suite's own nodes).
    """
    local = urllib.parse.urlparse(BROKER_URL).hostname in {"127.0.0.1", "localhost", "::1"}
    if not local or shutil.which("rabbitmqctl") is None:
        _close_connection_by_api(name)
        return
    listing = subprocess.run(
        ["rabbitmqctl", "list_connections", "-q", "--no-table-headers", "pid", "client_properties"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    pids = [line.split("\t")[0] for line in listing.splitlines() if f'{{"connection_name","{name}"}}' in line]
    assert pids, f"no connection named {name}"
    for pid in pids:
        subprocess.run(
            ["rabbitmqctl", "close_connection", pid, "test: connection killed"],
            check=True,
            capture_output=True,
        )


def _close_connection_by_api(name: str) -> None:
    """The management API's way (CI: `make ci-local`). The API lists a connection once the broker
    has emitted its statistics (every 5 s by default), hence the wait."""
    import requests

    api = os.environ.get("VTAC_TEST_RABBITMQ_API", "http://127.0.0.1:15672/api")
    auth = ("guest", "guest")
    names: list[str] = []

    def listed() -> bool:
        connections = requests.get(f"{api}/connections", auth=auth, timeout=5).json()
        names[:] = [
            c["name"] for c in connections if c.get("client_properties", {}).get("connection_name") == name
        ]
        return bool(names)

    wait_for(listed, timeout_s=30.0)
    for connection in names:
        url = f"{api}/connections/{urllib.parse.quote(connection)}"
        requests.delete(url, auth=auth, timeout=5).raise_for_status()


@pytest.mark.subprocess
def test_vtac_serve_runs_the_real_processor_until_sigterm(
    broker: Broker, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
):
    config = broker.config
    port = _free_port()
    env = {
        "BROKER__URL": BROKER_URL,
        "BROKER__INPUTS_EXCHANGE": config.inputs_exchange,
        "BROKER__INPUTS_QUEUE": config.inputs_queue,
        "BROKER__NOTIFICATIONS_EXCHANGE": config.notifications_exchange,
        "BROKER__DEAD_LETTER_EXCHANGE": config.dead_letter_exchange,
        "BROKER__DEAD_LETTER_QUEUE": config.dead_letter_queue,
        "STATE_DIR": str(tmp_path / "state"),
        "HEALTH_PORT": str(port),
        "HEALTH_FILE": str(tmp_path / "alive"),
    }
    for name, value in env.items():
        monkeypatch.setenv(f"VTAC_{name}", value)
    outcome: dict[str, Any] = {}

    def operator() -> None:
        try:
            wait_for(lambda: _get_or_none(f"http://127.0.0.1:{port}/ready") == (200, "ready\n"))
            publish_inputs(config, [stand_in_mxt("sb12")])
            broker.publish_raw(b"{}")
            [(props, _)] = broker.take(config.dead_letter_queue, 1)
            outcome["reason"] = props.headers[REASON_HEADER]
        finally:
            os.kill(os.getpid(), signal.SIGTERM)

    root = logging.getLogger()
    saved = root.handlers[:], root.level, signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)
    helper = threading.Thread(target=operator)
    helper.start()
    try:
        code = cli.main(["serve"])
    finally:
        helper.join(10)
        root.handlers[:], root.level = saved[0], saved[1]
        signal.signal(signal.SIGTERM, saved[2])
        signal.signal(signal.SIGINT, saved[3])
    assert code == 0, capsys.readouterr().err
    assert "invalid input message" in outcome["reason"]
    assert (tmp_path / "alive").exists()
    assert broker.depth(config.inputs_queue) == 0


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _get_or_none(url: str) -> tuple[int, str] | None:
    try:
        return http_get(url)
    except OSError:
        return None


def test_processor_and_state_failures_are_retried_not_lost(broker: Broker, run_consumer: Any):
    processor = StandInProcessor()
    processor.crash_on_process, processor.crash_on_confirmed = 1, 1
    running = run_consumer(processor)
    publish_inputs(broker.config, [stand_in_mxt("sb13")])
    wait_for(lambda: processor.confirmed_versions == [("sb13", 1)])
    ids = {props.message_id for props, _ in broker.take(broker.notifications_queue, 4)}  # sent twice
    assert ids == {f"sb13:1:{audience}" for audience in AUDIENCES}
    assert running.consumer.metrics.counters["retries"] == 2


def test_stop_finishes_the_input_in_flight_and_requeues_the_prefetched(broker: Broker, run_consumer: Any):
    processor = StandInProcessor(delay_s=0.3)
    running = run_consumer(processor, max_unacked=4)
    publish_inputs(broker.config, [stand_in_mxt(f"sb14-{index}") for index in range(3)])
    wait_for(lambda: processor.calls == 1)
    running.stop()
    assert processor.calls == 1 and processor.confirmed_versions == [("sb14-0", 1)]
    # the broker requeues the unacked ones when the connection closes: asynchronously, on a loaded machine
    wait_for(lambda: broker.depth(broker.config.inputs_queue) == 2)


def test_topology_mismatch_is_a_configuration_error(config: BrokerSettings):
    connection = pika.BlockingConnection(pika.URLParameters(BROKER_URL))
    channel = connection.channel()
    channel.queue_declare(config.inputs_queue, durable=True)  # classic, no dead-letter arguments
    try:
        with pytest.raises(ConfigurationError, match="does not match"):
            Consumer(config, StandInProcessor()).run()
    finally:
        connection.close()  # the config fixture deletes the queue and the exchanges


def test_publish_to_an_unreachable_broker_is_a_transient_error(config: BrokerSettings):
    with pytest.raises(TransientError, match="cannot connect"):
        publish_inputs(with_changes(config, url="amqp://guest:guest@127.0.0.1:1/%2F"), [stand_in_mxt("sb15")])


def test_publish_to_a_clashing_exchange_is_a_configuration_error(config: BrokerSettings):
    connection = pika.BlockingConnection(pika.URLParameters(BROKER_URL))
    channel = connection.channel()
    channel.exchange_declare(config.inputs_exchange, exchange_type="fanout")
    try:
        with pytest.raises(ConfigurationError, match="broker refused"):
            publish_inputs(config, [stand_in_mxt("sb16")])
    finally:
        connection.close()  # the config fixture deletes the exchange


@pytest.mark.subprocess
def test_bin_vtac_service_is_vtac_serve():
    answer = subprocess.run(
        [sys.executable, str(REPO / "bin" / "vtac-service"), "--help"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "usage: vtac serve" in answer.stdout


class LeakyProcessor(StandInProcessor):
    """Rejects and retries with reasons that hold secrets, as an error text from a library might."""

    def process(self, body: bytes, *, newer_waiting=None) -> ProcessOutcome:
        self.calls += 1
        if self.calls == 1:
            return ProcessOutcome(Action.RETRY, reason="GET https://svc:sdbpass@sdb/x?token=tok1: timeout")
        return ProcessOutcome(Action.REJECT, reason="store postgresql://u@db/v?password=pgpass: refused")


def test_dead_letter_and_retry_reasons_are_redacted(broker: Broker, run_consumer: Any):
    run_consumer(LeakyProcessor())
    publish_inputs(broker.config, [stand_in_mxt("sb15")])
    ((properties, _),) = broker.take(broker.config.dead_letter_queue, 1)
    reason = properties.headers[REASON_HEADER]
    assert "password=***" in reason and "pgpass" not in reason
    assert "sdbpass" not in json.dumps(properties.headers) and "tok1" not in json.dumps(properties.headers)


def test_one_file_for_two_bursts_or_two_products_has_two_message_ids(tmp_path: Path):
    fits = write_qpo_mxt(tmp_path / "QPO_MXT.fits", [[(212.64, 29.69, 12.5, 0)]])  # no BURST_ID
    first = product_message(fits, acronym="QPO_MXT", burst_id="sb10")
    again = product_message(fits, acronym="QPO_MXT", burst_id="sb10")
    other = product_message(fits, acronym="QPO_MXT", burst_id="sb12")
    assert message_id(first) == message_id(again)
    assert message_id(first) != message_id(other)
