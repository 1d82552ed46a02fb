"""Real GCN notices drive the service: real RabbitMQ, the real Consumer and Processor, a local VizieR.

The notices are the real samples of tests/data/alerts with only their circle's centre (and SVOM's Burst_Id)
moved onto the simulated burst on the packaged SDSS field; the catalogue is asked over HTTP (``vizier``)
from a local server answering in VizieR's real VOTable format, so what the prefetch does can be counted.
"""

# pylint: disable=redefined-outer-name  # pytest fixtures
from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from astropy.io import fits
from paths import DATA
from real_services import Broker, wait_for
from service_rig import (
    AUDIENCES,
    Burst,
    Service,
    collect_until,
    notified_once_up_to,
    simulate,
    versions_notified,
)
from vizier_answers import vizier_handler
from werkzeug import Request, Response

from vtac.service.messages import MxtPositionV1, PositionAlertV1
from vtac.service.publish import publish_inputs
from vtac.settings import CatalogServices, VtacSettings

ALERTS = DATA / "alerts"
BURST_ID = "sb26050907"


def xray_centre(burst: Burst) -> MxtPositionV1:
    """The simulated burst's MXT position message: where the notices' circles are moved to."""
    position = burst.inputs["MXT"]
    assert isinstance(position, MxtPositionV1)
    return position


def notice(name: str, ra: float, dec: float, burst_id: str = BURST_ID) -> PositionAlertV1:
    """A real notice with its circle's centre (and an SVOM Burst_Id) moved onto the simulated burst."""
    text = (ALERTS / name).read_text(encoding="utf-8")
    if name.endswith(".json"):
        content = json.dumps({**json.loads(text), "ra": ra, "dec": dec})
    else:
        content = re.sub(r"<C1>[^<]*</C1>", f"<C1>{ra:.5f}</C1>", text)
        content = re.sub(r"<C2>[^<]*</C2>", f"<C2>{dec:.5f}</C2>", content)
        content = re.sub(r'(name="Burst_Id" value=")[^"]*', rf"\g<1>{burst_id}", content)
    return PositionAlertV1(burst_id=burst_id, content=content.encode(), filename=name)


class Vizier:
    """The local VizieR: real answers after ``delay_s``, 503 to the first ``failures`` requests; counts."""

    def __init__(self, delay_s: float = 0.0, failures: int = 0) -> None:
        self.delay_s, self.failures = delay_s, failures
        self.requests = 0
        self._lock = threading.Lock()
        self._answer = vizier_handler()

    def __call__(self, request: Request) -> Response:
        with self._lock:
            self.requests += 1
            refuse = self.requests <= self.failures
        if refuse:
            return Response("busy", status=503)
        time.sleep(self.delay_s)
        return self._answer(request)


@pytest.fixture(scope="module")
def burst(sky, tmp_path_factory) -> Burst:
    return simulate(sky, tmp_path_factory.mktemp("burst"), BURST_ID)


@pytest.fixture
def config(make_amqp_config):
    return make_amqp_config("alerts", shutdown_grace_s=5.0)


@pytest.fixture
def serve(tmp_path: Path, httpserver, start_service) -> Callable[..., Service]:
    """Start one instance asking SDSS12 of the local VizieR (``Vizier`` handler given)."""

    def start(config, vizier: Vizier) -> Service:
        httpserver.expect_request("/viz-bin/votable").respond_with_handler(vizier)
        services = CatalogServices(
            vizier_url=httpserver.url_for("/"), deadline_s=8.0, retries=1, backoff_s=0.05, read_timeout_s=5.0
        )
        settings = VtacSettings(
            state_dir=tmp_path / "state", catalogues={"sources": ["SDSS12=vizier"], "services": services}
        )
        return start_service(config, settings=settings)

    return start


def prefetched(service: Service) -> bool:
    status = service.processor.prefetch_status(BURST_ID) or {}
    return bool(status) and "in flight" not in status.values()


def stored(tmp_path: Path, version: int) -> tuple[dict, fits.Header]:
    folder = tmp_path / "sdb" / BURST_ID
    summary = json.loads(next((folder / "QPO_VT_SUMMARY" / f"v{version}").iterdir()).read_text())
    with fits.open(next((folder / "QPO_VT" / f"v{version}").iterdir())) as hdus:
        return summary, hdus[0].header.copy()


def test_a_position_first_is_prefetched_and_the_vt_lists_need_no_catalogue_request(
    broker: Broker, serve, burst: Burst, tmp_path: Path
):
    vizier = Vizier()
    service = serve(broker.config, vizier)
    centre = xray_centre(burst)
    publish_inputs(broker.config, [notice("eclairs_313.xml", centre.ra, centre.dec)])
    wait_for(lambda: prefetched(service))
    asked_ahead = vizier.requests

    publish_inputs(broker.config, [burst.inputs["R"], burst.inputs["B"]])
    received = collect_until(broker, lambda got: all(2 in versions_notified(got)[key] for key in AUDIENCES))

    assert asked_ahead == 1 and vizier.requests == 1, "the VT lists were matched from the prefetched cone"
    notified_once_up_to(received, 2)  # the notice made no version
    assert received["qpo_vt.ba"][-1]["verified"] is True
    summary, header = stored(tmp_path, 2)
    assert summary["prefetch"]["SDSS12"].startswith("ok: ")
    assert "prefetched around the X-ray position" in summary["catalogs"][0]["message"]
    assert summary["mxt"]["mission"] == "SVOM" and summary["mxt"]["instrument"] == "ECLAIRs"
    assert summary["mxt"]["origin"] == "ivo://org.svom/fsc#sb26050905_eclairs-wakeup"
    assert (header["XRAYMISS"], header["XRAYINST"]) == ("SVOM", "ECLAIRs")
    assert header["MXT_ERR"] == pytest.approx(0.0787)


def _everyone_has(version: int, received: dict[str, list[dict[str, Any]]]) -> bool:
    """Every audience has been notified of ``version``."""
    return all(version in seen for seen in versions_notified(received).values())


def test_a_better_circle_supersedes_and_a_worse_one_of_another_mission_does_not(
    broker: Broker, serve, burst: Burst, tmp_path: Path
):
    service = serve(broker.config, Vizier())
    centre = xray_centre(burst)
    publish_inputs(broker.config, [notice("eclairs_313.xml", centre.ra, centre.dec)])
    wait_for(lambda: prefetched(service))
    later = [
        burst.inputs["R"],
        notice("mxt_48.xml", centre.ra, centre.dec),  # MXT, 1.9': better
        notice("alert_247.json", centre.ra, centre.dec),  # EP WXT, 3.1': later but worse
    ]
    for version, message in enumerate(later, start=1):  # one at a time: inputs together build together
        publish_inputs(broker.config, [message])
        collect_until(broker, partial(_everyone_has, version))

    used = {version: stored(tmp_path, version)[1]["XRAYINST"] for version in (1, 2, 3)}
    assert used == {1: "ECLAIRs", 2: "MXT", 3: "MXT"}
    summary, _ = stored(tmp_path, 3)
    assert summary["mxt"]["origin"] == "ivo://org.svom/fsc#sb26040203_mxt-initial_qf2"


def test_a_cone_still_in_flight_is_awaited_rather_than_asked_again(
    broker: Broker, serve, burst: Burst, tmp_path: Path
):
    vizier = Vizier(delay_s=1.5)
    serve(broker.config, vizier)
    centre = xray_centre(burst)
    publish_inputs(broker.config, [notice("eclairs_313.xml", centre.ra, centre.dec), burst.inputs["R"]])
    received = collect_until(broker, lambda got: all(got.values()))

    assert versions_notified(received) == {key: [1] for key in AUDIENCES}
    assert received["qpo_vt.ba"][0]["verified"] is True and vizier.requests == 1
    assert "prefetched around" in stored(tmp_path, 1)[0]["catalogs"][0]["message"]


def test_a_failed_prefetch_is_asked_once_more_with_the_vt_lists(
    broker: Broker, serve, burst: Burst, tmp_path
):
    vizier = Vizier(failures=2)  # the prefetch's two attempts get 503
    service = serve(broker.config, vizier)
    centre = xray_centre(burst)
    publish_inputs(broker.config, [notice("alert_247.json", centre.ra, centre.dec)])
    wait_for(lambda: prefetched(service))
    assert service.processor.prefetch_status(BURST_ID)["SDSS12"].startswith("failed: ")

    publish_inputs(broker.config, [burst.inputs["R"]])
    received = collect_until(broker, lambda got: all(got.values()))

    assert received["qpo_vt.ba"][0]["verified"] is True and vizier.requests == 3
    summary, header = stored(tmp_path, 1)
    assert summary["catalogs"][0]["status"] == "ok"
    assert (header["XRAYMISS"], header["XRAYINST"]) == ("EP", "WXT")


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        (
            "fermi_gbm_flt_pos_8126.xml",
            "Fermi/GBM error radius 13.3 deg exceeds max_position_radius_deg=0.25",
        ),
        ("fermi_gbm_trigger.flight1.example.json", "Fermi/GBM error radius 11.8 deg exceeds"),
        ("grm_334.xml", "error radius -1: unknown"),
    ],
)
def test_an_unusable_notice_is_dead_lettered_with_its_reason(broker: Broker, serve, name, reason):
    service = serve(broker.config, Vizier())
    with (ALERTS / name).open("rb") as stream:
        message = PositionAlertV1(burst_id=BURST_ID, content=stream.read(), filename=name)
    publish_inputs(broker.config, [message])

    wait_for(lambda: broker.depth(broker.config.dead_letter_queue) == 1)
    _, properties, _ = broker.channel.basic_get(broker.config.dead_letter_queue, auto_ack=True)
    assert reason in properties.headers[broker.config.reason_header]
    assert service.processor.prefetch_status(BURST_ID) is None
    assert service.processor.store.burst_state(BURST_ID).version == 0


def test_an_svom_notice_of_another_burst_is_refused(broker: Broker, serve, burst: Burst):
    serve(broker.config, Vizier())
    centre = xray_centre(burst)
    stray = notice("eclairs_313.xml", centre.ra, centre.dec, burst_id="sb26050999")
    publish_inputs(broker.config, [stray.model_copy(update={"burst_id": BURST_ID})])

    wait_for(lambda: broker.depth(broker.config.dead_letter_queue) == 1)
    _, properties, _ = broker.channel.basic_get(broker.config.dead_letter_queue, auto_ack=True)
    assert "Burst_Id sb26050999 differs" in properties.headers[broker.config.reason_header]
