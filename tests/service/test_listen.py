"""`vtac listen` (the Burst Advocate's view), the notification queues VTAC declares, pika's log lines."""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from typing import Any

import pika
import pytest
from real_services import BROKER_URL, isolated_amqp_config, with_changes

from vtac.entrypoints import cli
from vtac.errors import ConfigurationError
from vtac.service.consumer import Consumer
from vtac.service.listen import (
    ListenRequest,
    format_dead_letter,
    format_notification,
    listen,
    queue_of,
    show_dead_letters,
)
from vtac.service.logs import quiet_pika
from vtac.service.outcome import Action, ProcessOutcome
from vtac.service.topology import declare_topology
from vtac.settings import BrokerSettings

pytestmark = pytest.mark.broker

NOTIFICATION: dict[str, Any] = {
    "kind": "qpo_vt",
    "schema_version": "1",
    "burst_id": "sb25020504",
    "product_version": 2,
    "created": "2025-02-05T04:13:03Z",
    "sdb": {"qpo_vt": "file:///sdb/QPO_VT.fits", "qcandi_vt": "file:///q", "summary": "file:///s"},
    "verified": True,
    "n_candidates": 3,
    "best_candidates": [
        {
            "rank": 1,
            "vt_id": 7,
            "ra": 212.6401,
            "dec": 29.6899,
            "score": 0.9,
            "flags": {"in_mxt": True, "new_src": ["R0", "B0"], "dmag_cat": [], "mag_var": ["R0-R1"]},
        },
        {"rank": 2, "vt_id": 8, "ra": 212.6, "dec": 29.7, "score": 0.6, "flags": {}},
    ],
}


def test_a_notification_shows_burst_version_best_candidate_and_product():
    text = format_notification(json.dumps(NOTIFICATION).encode())

    assert text.splitlines()[0].startswith("sb25020504 v2  2025-02-05T04:13:03Z  3 candidate(s), verified")
    assert "best #1: VT 7 RA 212.64010 Dec +29.68990  score 0.90" in text
    assert "(uncatalogued in R0,B0; varies R0-R1; inside the MXT circle)" in text
    assert "+1 more best candidate(s)" in text and "QPO_VT: file:///sdb/QPO_VT.fits" in text


def test_probability_and_reasons_are_preferred_when_the_notification_has_them():
    best = NOTIFICATION["best_candidates"][0] | {"probability": 0.97, "reasons": ["new in R0", "fading"]}
    text = format_notification(json.dumps(NOTIFICATION | {"best_candidates": [best]}).encode())

    assert "probability 0.97  (new in R0; fading)" in text and "score" not in text


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b"not json", "unreadable notification (8 bytes)"),
        (b"[1, 2]", "unreadable notification"),
        (
            json.dumps({"burst_id": "sb1", "product_version": 1, "best_candidates": []}).encode(),
            "no candidate",
        ),
        (
            json.dumps(
                {"best_candidates": [{"rank": 1, "vt_id": 3, "flags": {}}], "verified": False}
            ).encode(),
            "VT 3 position unknown  no score",
        ),
    ],
)
def test_odd_notifications_are_shown_not_fatal(body, expected):
    assert expected in format_notification(body)


def test_the_not_verified_state_is_spelled_out():
    assert "NOT verified" in format_notification(json.dumps(NOTIFICATION | {"verified": False}).encode())


@pytest.fixture
def config(make_amqp_config):
    uid = uuid.uuid4().hex[:10]
    return make_amqp_config("listen", ba_queue=f"test.{uid}.ba", vtpp_queue=f"test.{uid}.vtpp")


def _notify(config: BrokerSettings, routing_key: str, bodies: list[bytes]) -> None:
    connection = pika.BlockingConnection(pika.URLParameters(BROKER_URL))
    channel = connection.channel()
    declare_topology(channel, config)
    channel.confirm_delivery()
    for body in bodies:  # mandatory + confirms: unroutable would raise
        channel.basic_publish(config.notifications_exchange, routing_key, body, mandatory=True)
    connection.close()


def test_notifications_are_routable_to_both_declared_queues_and_listen_takes_them(config, capsys, tmp_path):
    body = json.dumps(NOTIFICATION).encode()
    _notify(config, config.ba_routing_key, [body, body])
    _notify(config, config.vtpp_routing_key, [body])

    printed: list[str] = []
    assert listen(config, ListenRequest(config.ba_queue, count=2, timeout_s=5), printed.append) == 2
    assert all(text.startswith("sb25020504 v2") for text in printed)
    assert listen(config, ListenRequest(config.ba_queue, timeout_s=0.2), printed.append) == 0  # acked: gone

    environment = _environment(config) | {"VTAC_SECRETS_DIR": str(tmp_path)}
    with pytest.MonkeyPatch.context() as patch:
        for key, value in environment.items():
            patch.setenv(key, value)
        assert cli.main(["listen", "--to", "vtpp", "--count", "1", "--timeout", "5", "--json"]) == 0
        assert json.loads(capsys.readouterr().out) == NOTIFICATION
        assert cli.main(["listen", "--count", "1", "--timeout", "0.2"]) == 3  # nothing left for the BA
        assert "0 of 1 notification(s) within 0.2 s" in capsys.readouterr().err


def _environment(config: BrokerSettings) -> dict[str, str]:
    return {
        "VTAC_BROKER__URL": BROKER_URL,
        "VTAC_BROKER__NOTIFICATIONS_EXCHANGE": config.notifications_exchange,
        "VTAC_BROKER__BA_QUEUE": config.ba_queue,
        "VTAC_BROKER__VTPP_QUEUE": config.vtpp_queue,
    }


def test_a_receiver_without_a_queue_is_a_configuration_error(config):
    with pytest.raises(ConfigurationError, match="VTAC_BROKER__VTPP_QUEUE is empty"):
        queue_of(with_changes(config, vtpp_queue=""), "vtpp")
    assert queue_of(config, "ba") == config.ba_queue


def test_listening_to_a_missing_queue_is_a_configuration_error(config):
    with pytest.raises(ConfigurationError, match="refused queue"):
        listen(config, ListenRequest(f"{config.ba_queue}.missing", timeout_s=0.2))


class _Idle:
    def process(self, body: bytes, *, newer_waiting=None) -> ProcessOutcome:
        return ProcessOutcome(Action.ACK)

    def confirmed(self, outcome: ProcessOutcome) -> None:
        """Nothing to record."""


def test_a_refused_connection_logs_one_line_per_attempt_and_nothing_from_pika(caplog):
    quiet_pika()
    quiet_pika()  # idempotent: one filter
    assert len(logging.getLogger("pika.adapters.blocking_connection").filters) == 1
    config = isolated_amqp_config("quiet", url="amqp://guest:guest@127.0.0.1:1/%2F")
    consumer = Consumer(config, _Idle())
    thread = threading.Thread(target=consumer.run, daemon=True)
    with caplog.at_level(logging.DEBUG):
        thread.start()
        deadline = time.monotonic() + 10
        while consumer.metrics.counters["reconnects"] < 3 and time.monotonic() < deadline:
            time.sleep(0.02)
        consumer.stop.set()
        thread.join(5)
    attempts = consumer.metrics.counters["reconnects"]
    assert attempts >= 3
    assert not [record for record in caplog.records if record.name.startswith("pika")]
    lost = [record for record in caplog.records if "AMQP connection lost" in record.getMessage()]
    assert len(lost) == attempts
    logging.getLogger("pika.adapters.blocking_connection").warning("kept: not about a connection attempt")
    assert caplog.records[-1].getMessage() == "kept: not about a connection attempt"


class _Refuses:
    """A processor that refuses every input for good, as a bad product is: the consumer dead-letters it."""

    def process(self, body: bytes, *, newer_waiting=None) -> ProcessOutcome:
        burst_id = json.loads(body)["burst_id"]
        return ProcessOutcome(Action.REJECT, reason=f"file QSRCLIST_VT.fits, HDU FINDCH_R0: bad {burst_id}")

    def confirmed(self, outcome: ProcessOutcome) -> None:
        """Nothing to record."""


def _dead_letter_two(config: BrokerSettings) -> None:
    """Two inputs through the real consumer into the real dead-letter queue."""
    connection = pika.BlockingConnection(pika.URLParameters(BROKER_URL))
    channel = connection.channel()
    declare_topology(channel, config)
    channel.confirm_delivery()
    for burst_id in ("sb26050901", "sb26050902"):
        body = json.dumps({"kind": "product", "burst_id": burst_id, "acronym": "QSRCLIST_VT"}).encode()
        channel.basic_publish("", config.inputs_queue, body, mandatory=True)
    connection.close()
    consumer = Consumer(config, _Refuses())
    thread = threading.Thread(target=consumer.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while consumer.metrics.counters["dead_letters"] < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    consumer.stop.set()
    thread.join(10)


def _depth(config: BrokerSettings, queue: str) -> int:
    connection = pika.BlockingConnection(pika.URLParameters(BROKER_URL))
    depth = connection.channel().queue_declare(queue, passive=True).method.message_count
    connection.close()
    return depth


def test_dead_letters_are_shown_with_their_reasons_and_left_or_requeued(config, capsys, tmp_path):
    _dead_letter_two(config)
    shown: list[str] = []
    assert show_dead_letters(config, emit=shown.append) == 2
    assert shown[0].startswith("DEAD sb26050901 QSRCLIST_VT product  rejected 20")
    assert "reason: file QSRCLIST_VT.fits, HDU FINDCH_R0: bad sb26050901" in shown[0]
    assert "bad sb26050902" in shown[1]
    assert _depth(config, config.dead_letter_queue) == 2  # shown, not consumed
    assert show_dead_letters(config, emit=shown.append) == 2  # and in the same order again
    assert "sb26050901" in shown[2] and "sb26050902" in shown[3]

    environment = _environment(config) | {
        "VTAC_SECRETS_DIR": str(tmp_path),
        "VTAC_BROKER__INPUTS_QUEUE": config.inputs_queue,
        "VTAC_BROKER__DEAD_LETTER_QUEUE": config.dead_letter_queue,
        "VTAC_BROKER__DEAD_LETTER_EXCHANGE": config.dead_letter_exchange,
    }
    with pytest.MonkeyPatch.context() as patch:
        for key, value in environment.items():
            patch.setenv(key, value)
        assert cli.main(["listen", "--dead", "--requeue", "--count", "1"]) == 0
        printed = capsys.readouterr().out
    assert "requeued to " + config.inputs_queue in printed and "1 dead-lettered input(s) requeued" in printed
    assert (_depth(config, config.dead_letter_queue), _depth(config, config.inputs_queue)) == (1, 1)


def test_a_dead_letter_without_our_reason_says_so():
    text = format_dead_letter(b"\x00binary", {"x-death": [{"reason": b"rejected"}]})
    assert (
        text
        == "DEAD unreadable body (7 bytes)\n  reason: dead-lettered by the broker (rejected), no VTAC reason"
    )


def test_the_burst_page_link_is_printed():
    body = json.dumps(NOTIFICATION | {"extras": {"page": "https://sdb/QPO_VT_PAGE/v2"}}).encode()
    assert format_notification(body).endswith("  page: https://sdb/QPO_VT_PAGE/v2")
