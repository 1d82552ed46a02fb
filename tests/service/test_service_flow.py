"""The whole service path: real RabbitMQ, the real Consumer and the real Processor on a simulated burst.

Inputs go in through :func:`publish_inputs` exactly as upstream sends them; what comes out is read from
queues of our own bound to the notification exchange, from the SDB (a directory, or an HTTP server) and
from the state store. Each test has its own exchanges and queues, so nothing leaks between tests.
"""

# pylint: disable=redefined-outer-name  # pytest fixtures
from __future__ import annotations

import re
import threading
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
from paths import SDSS
from real_services import Broker, wait_for, with_changes
from service_rig import (
    AUDIENCES,
    BURST_ID,
    Burst,
    Service,
    collect_until,
    near,
    notified_once_up_to,
    simulate,
    versions_notified,
)
from werkzeug import Request, Response

from vtac.service.outcome import Action
from vtac.service.processor import Processor, message_id_of
from vtac.service.publish import publish_inputs
from vtac.service.sdb import HttpSdb
from vtac.service.state import open_sqlite_store
from vtac.settings import BrokerSettings, SdbSettings, VtacSettings

ONE_QUICK_ATTEMPT = SdbSettings(max_attempts=1, connect_timeout_s=1.0, read_timeout_s=5.0)


pytestmark = pytest.mark.usefixtures("rabbitmq")


# --- the burst --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def burst(sky, tmp_path_factory) -> Burst:
    return simulate(sky, tmp_path_factory.mktemp("burst"), BURST_ID)


# --- the broker -------------------------------------------------------------------------------------------


@pytest.fixture
def config(make_amqp_config: Callable[..., BrokerSettings]) -> BrokerSettings:
    return make_amqp_config("flow", shutdown_grace_s=5.0)


def stored_versions(sdb_root: Path, burst_id: str) -> list[str]:
    return sorted(path.name for path in (sdb_root / burst_id / "QPO_VT").iterdir())


# --- a. the full flow, inputs in two orders ----------------------------------------------------------------


@pytest.mark.parametrize("order", [("R", "B", "MXT"), ("MXT", "B", "R")], ids="-".join)
def test_inputs_in_any_order_end_in_stored_products_and_notifications_with_the_afterglow_first(
    broker: Broker, start_service, burst: Burst, tmp_path: Path, order
):
    service = start_service(broker.config)
    publish_inputs(broker.config, [burst.inputs[name] for name in order])

    expected = [1, 2, 3] if order[0] != "MXT" else [1, 2]  # a lone MXT position makes no version
    received = collect_until(
        broker, lambda got: all(expected[-1] in versions_notified(got)[key] for key in AUDIENCES)
    )

    wait_for(lambda: service.acks == len(order))  # an input is acked once its version is marked published

    notified = notified_once_up_to(received, expected[-1])
    final = received["qpo_vt.ba"][-1]
    assert final == received["qpo_vt.vtpp"][-1]
    assert (final["burst_id"], final["verified"]) == (BURST_ID, True)
    best = final["best_candidates"][0]
    assert near(best, *burst.afterglow) and best["flags"]["in_mxt"] is True
    assert set(best["magnitudes"]) == {f"{band}{n}" for band in "RB" for n in range(4)}
    assert Path(final["sdb"]["qpo_vt"].removeprefix("file://")).is_file()
    assert stored_versions(tmp_path / "sdb", BURST_ID) == [f"v{version}" for version in notified]
    assert service.processor.store.burst_state(BURST_ID).published == expected[-1]


# --- b. duplicates ----------------------------------------------------------------------------------------


def test_an_input_published_again_makes_no_second_version_and_no_second_notification(
    broker: Broker, start_service, burst: Burst, tmp_path: Path
):
    service = start_service(broker.config)
    publish_inputs(broker.config, [burst.inputs["R"]])
    first = collect_until(broker, lambda got: all(got.values()))
    publish_inputs(broker.config, [burst.inputs["R"]])

    wait_for(lambda: service.acks == 2)
    again = collect_until(broker, lambda got: True)

    assert versions_notified(first) == {key: [1] for key in AUDIENCES}
    assert again == {key: [] for key in AUDIENCES}
    assert stored_versions(tmp_path / "sdb", BURST_ID) == ["v1"]
    state = service.processor.store.burst_state(BURST_ID)
    assert (state.version, state.published) == (1, 1)
    assert broker.depth(broker.config.inputs_queue) == broker.depth(broker.config.dead_letter_queue) == 0


def test_an_input_published_twice_back_to_back_makes_one_version_and_one_notification(
    broker: Broker, start_service, burst: Burst, tmp_path: Path
):
    """Both copies are prefetched together; the second is processed only once the first is settled."""
    service = start_service(broker.config)
    publish_inputs(broker.config, [burst.inputs["R"], burst.inputs["R"]])

    wait_for(lambda: service.acks == 2)
    received = collect_until(broker, lambda got: all(got.values()))
    received_later = collect_until(broker, lambda got: True)

    assert versions_notified(received) == {key: [1] for key in AUDIENCES}
    assert received_later == {key: [] for key in AUDIENCES}
    assert {key: set(ids) for key, ids in broker.message_ids.items()} == {
        key: {message_id_of(BURST_ID, 1, audience)} for key, audience in AUDIENCES.items()
    }
    assert stored_versions(tmp_path / "sdb", BURST_ID) == ["v1"]
    assert service.processor.store.burst_state(BURST_ID).version == 1


# --- c. the SDB down for a while ----------------------------------------------------------------------------


class FlakySdb:
    """An HTTP SDB answering 503 to the first ``failures`` uploads, then storing (201)."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.stored: list[str] = []
        self.refused = 0
        self._lock = threading.Lock()

    def __call__(self, request: Request) -> Response:
        with self._lock:
            if self.refused < self.failures:
                self.refused += 1
                return Response("maintenance", status=503)
            self.stored.append(request.path)
        return Response(status=201)


def test_inputs_wait_while_the_sdb_is_down_and_end_in_one_product(
    broker: Broker, start_service, burst: Burst, httpserver
):
    sdb = FlakySdb(failures=3)
    httpserver.expect_request(re.compile(r"/sdb/v1/bursts/.*"), method="PUT").respond_with_handler(sdb)
    service = start_service(broker.config, sdb=HttpSdb(httpserver.url_for("/sdb"), ONE_QUICK_ATTEMPT))
    publish_inputs(broker.config, [burst.inputs["R"]])

    received = collect_until(broker, lambda got: all(got.values()))
    wait_for(lambda: service.acks == 1)

    assert sdb.refused == 3 and service.consumer.metrics.counters["retries"] == 3
    assert versions_notified(received) == {key: [1] for key in AUDIENCES}
    assert sorted(sdb.stored) == [
        f"/sdb/v1/bursts/{BURST_ID}/products/{acronym}/versions/1"
        for acronym in ("QCANDI_VT", "QPO_VT", "QPO_VT_SUMMARY")
    ]
    assert received["qpo_vt.ba"][0]["sdb"]["qpo_vt"].endswith("/QPO_VT/versions/1")
    assert broker.depth(broker.config.dead_letter_queue) == 0
    assert service.processor.store.burst_state(BURST_ID).published == 1


def test_a_version_stored_but_never_notified_is_notified_by_the_sweeper(
    broker: Broker, burst: Burst, tmp_path: Path, httpserver
):
    # The upload failed and the input's retry was then lost (dead-lettered, given up): nothing in any queue.
    sdb = FlakySdb(failures=1)
    httpserver.expect_request(re.compile(r"/sdb/v1/bursts/.*"), method="PUT").respond_with_handler(sdb)
    settings = VtacSettings(state_dir=tmp_path, catalogues={"sources": [SDSS]}, sweep_after_s=0.5)
    http_sdb = HttpSdb(httpserver.url_for("/sdb"), ONE_QUICK_ATTEMPT)
    processor = Processor(settings, store=open_sqlite_store(tmp_path / "state.db"), sdb=http_sdb)
    body = burst.inputs["R"].model_dump_json().encode()
    assert processor.process(body).action is Action.RETRY

    service = Service(broker.config, processor, sweep_interval_s=0.5)
    try:
        received = collect_until(broker, lambda got: all(got.values()))
        wait_for(lambda: processor.store.burst_state(BURST_ID).published == 1)
    finally:
        service.stop()

    assert versions_notified(received) == {key: [1] for key in AUDIENCES}
    assert service.consumer.metrics.counters["products"] == 1
    assert broker.depth(broker.config.dead_letter_queue) == 0


# --- d. two instances on one queue -------------------------------------------------------------------------


def test_two_instances_on_one_queue_make_one_version_per_input_change(
    broker: Broker, start_service, sky, tmp_path: Path, postgres_store
):
    burst = simulate(sky, tmp_path / "inputs", f"sb{uuid.uuid4().hex[:10]}")
    one_at_a_time = with_changes(
        broker.config, max_unacked=1
    )  # the first build always starts from a source list
    services = [start_service(one_at_a_time, store=postgres_store(), name=name) for name in "ab"]
    inputs = [burst.inputs[name] for name in ("R", "B", "MXT")]
    publish_inputs(broker.config, inputs + inputs)  # three changes, each also sent again

    wait_for(lambda: sum(service.acks for service in services) == 6, timeout_s=30)
    received = collect_until(broker, lambda got: all(3 in versions_notified(got)[key] for key in AUDIENCES))

    assert all(service.acks > 0 for service in services), "both instances took inputs"
    # a change stored while the other instance built the burst is folded into the next build
    notified = notified_once_up_to(received, 3)
    for key, audience in AUDIENCES.items():
        assert set(broker.message_ids[key]) == {
            message_id_of(burst.burst_id, version, audience) for version in notified
        }
    state = services[0].processor.store.burst_state(burst.burst_id)
    assert (state.version, state.published) == (3, 3)
    assert stored_versions(tmp_path / "sdb", burst.burst_id) == [f"v{version}" for version in notified]
