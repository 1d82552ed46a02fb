"""One burst through the service (real RabbitMQ, Consumer, Processor and extras worker), an ECLAIRs notice
first: the first version is 1, and every output tells the same T0, decay index and verified flag (page, JSON
summary, circular draft, VOEvent, GCN notice, QPO_VT's TT_ECL, the notification)."""

# pylint: disable=redefined-outer-name  # pytest fixtures
from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from astropy.io import fits
from lxml import etree
from paths import DATA, SDSS
from real_services import Broker, wait_for
from service_rig import (
    AUDIENCES,
    BURST_ID,
    PRODUCT_TIME,
    Service,
    collect_until,
    notified_once_up_to,
    simulate_files,
    versions_notified,
)

from vtac.adapters.alerts import alert_trigger_time, read_alert_file
from vtac.adapters.mxt import MxtRow, write_qpo_mxt
from vtac.adapters.srclist import read_srclists
from vtac.adapters.trigger import TriggerTime, choose_trigger_time
from vtac.app.version import usable_trigger_time
from vtac.entrypoints import cli
from vtac.entrypoints.one_off import OneOffFiles, read_inputs
from vtac.errors import InputError
from vtac.service.messages import PositionAlertV1
from vtac.service.processor import Processor
from vtac.service.publish import InputMessage, product_message, publish_inputs
from vtac.service.sdb import FileSdb
from vtac.service.state import open_sqlite_store
from vtac.settings import VtacSettings

ALERTS = DATA / "alerts"
T0 = "2026-05-09T21:51:09"


@pytest.fixture(scope="module")
def burst(sky, tmp_path_factory):
    return simulate_files(sky, tmp_path_factory.mktemp("inputs"), t0=T0)


def eclairs_notice(ra: float, dec: float, t0: str) -> PositionAlertV1:
    """The real ECLAIRs packet with its circle, Burst_Id and trigger time moved onto the simulated burst."""
    text = (ALERTS / "eclairs_313.xml").read_text(encoding="utf-8")
    text = re.sub(r"<C1>[^<]*</C1>", f"<C1>{ra:.5f}</C1>", text)
    text = re.sub(r"<C2>[^<]*</C2>", f"<C2>{dec:.5f}</C2>", text)
    text = re.sub(r'(name="Burst_Id" value=")[^"]*', rf"\g<1>{BURST_ID}", text)
    text = re.sub(r"<ISOTime>[^<]*</ISOTime>", f"<ISOTime>{t0}.000000</ISOTime>", text)
    return PositionAlertV1(burst_id=BURST_ID, content=text.encode(), filename="eclairs_313.xml")


def stored(root: Path, acronym: str, version: int) -> Path:
    (path,) = (root / BURST_ID / acronym / f"v{version}").iterdir()
    return path


@pytest.fixture
def config(make_amqp_config):
    return make_amqp_config("t0", shutdown_grace_s=5.0)


@pytest.fixture
def service(broker: Broker, tmp_path: Path) -> Iterator[Service]:
    """One instance with its extras, behind the real broker."""
    settings = VtacSettings(
        state_dir=tmp_path / "state", catalogues={"sources": [SDSS]}, extras={"enabled": True}
    )
    processor = Processor(
        settings, store=open_sqlite_store(tmp_path / "state.db"), sdb=FileSdb(tmp_path / "sdb")
    )
    started = Service(broker.config, processor)
    wait_for(lambda: started.consumer.health.ready)
    yield started
    if started.thread.is_alive():
        started.stop()
    processor.close(10)


def test_an_eclairs_notice_first_gives_t0_and_every_output_agrees(broker, service, burst, tmp_path):
    simulated, paths = burst
    mxt = simulated.mxt
    # QPO_MXT says a T0 5 s off: the notice is the better source and wins
    late = (datetime.fromisoformat(T0) + timedelta(seconds=5)).isoformat()
    qpo_mxt = write_qpo_mxt(
        tmp_path / "QPO_MXT.fits", [[MxtRow(mxt.ra, mxt.dec, mxt.r90_arcsec)]], BURST_ID, trigger_time=late
    )
    publish_inputs(broker.config, [eclairs_notice(mxt.ra, mxt.dec, T0)])
    wait_for(lambda: service.acks == 1)  # the notice is in, alone: it makes no version
    assert service.processor.store.burst_state(BURST_ID).version == 0
    products: list[InputMessage] = [
        product_message(paths[name], acronym=acronym, burst_id=BURST_ID, product_time=PRODUCT_TIME)
        for name, acronym in (("srclist_R", "QSRCLIST_VT"), ("srclist_B", "QSRCLIST_VT"))
    ]
    products.append(product_message(qpo_mxt, acronym="QPO_MXT", burst_id=BURST_ID, product_time=PRODUCT_TIME))
    publish_inputs(broker.config, products)
    received = collect_until(broker, lambda got: all(3 in versions_notified(got)[key] for key in AUDIENCES))
    notified_once_up_to(received, 3)  # the first list made v1 (the notice no version): three changes
    assert service.processor.wait_for_extras(180)

    version = 3
    notified = received["qpo_vt.ba"][-1]
    sdb = tmp_path / "sdb"
    assert notified["extras"]["page"] == stored(sdb, "QPO_VT_PAGE", version).as_uri()
    summary = json.loads(stored(sdb, "QPO_VT_SUMMARY", version).read_text(encoding="utf-8"))
    assert summary["trigger_time"].startswith(T0)
    assert summary["trigger_time_source"] == "SVOM ECLAIRs notice"
    with fits.open(stored(sdb, "QPO_VT", version)) as hdul:
        assert hdul[0].header["TT_ECL"].startswith(T0)

    best = next(c for c in summary["candidates"] if c["vt_id"] == summary["best_candidates"][0])
    alpha, alpha_err = best["alpha"], best["alpha_err"]
    assert alpha == pytest.approx(1.0, abs=max(0.2, 3 * alpha_err))  # injected alpha = 1, T0 from the notice
    decay_text = f"alpha = {alpha:.2f} ± {alpha_err:.2f}"

    page = stored(sdb, "QPO_VT_PAGE", version).read_text(encoding="utf-8")
    circular = stored(sdb, "QPO_VT_CIRCULAR", version).read_text(encoding="utf-8")
    voevent = etree.parse(str(stored(sdb, "QPO_VT_VOEVENT", version))).getroot()
    notice = json.loads(stored(sdb, "QPO_VT_NOTICE", version).read_text(encoding="utf-8"))
    flat = " ".join(circular.split())

    # T0
    assert f"{T0} UTC (from the SVOM ECLAIRs notice)" in page
    assert f"T0 = {T0} UTC, from the SVOM ECLAIRs notice" in flat
    assert voevent.find(".//Param[@name='Alert_Seq_T0']").get("value").startswith(T0)
    assert notice["data"]["burst"]["trigger_time"].startswith(T0)
    # one decay index
    assert decay_text in page
    assert decay_text in flat
    assert float(voevent.find(".//Param[@name='Decay_Index']").get("value")) == pytest.approx(alpha, abs=5e-4)
    assert float(voevent.find(".//Param[@name='Decay_Index_Err']").get("value")) == pytest.approx(
        alpha_err, abs=5e-4
    )
    (target,) = [t for t in notice["data"]["targets"] if t["vt_id"] == best["vt_id"]]
    assert (target["decay_index"], target["decay_index_error"]) == (round(alpha, 3), round(alpha_err, 3))
    said = [reason for reason in notified["best_candidates"][0]["reasons"] if "alpha = " in reason]
    assert said and all(f"alpha = {alpha:.2f} +/- {alpha_err:.2f}" in reason for reason in said)
    # verified
    assert summary["verified"] is True and notified["verified"] is True
    assert voevent.find(".//Group[@name='VTAC_Checks']/Param[@name='Verified']").get("value") == "true"
    assert notice["data"]["burst"]["verified"] is True
    assert 'id="unverified"' not in page
    # the circle is called what it is
    assert "ECLAIRs circle" in page or "MXT circle" in page  # the smallest circle filtered: MXT's 60"
    assert summary["mxt"]["instrument"] in page


def test_the_one_off_refuses_a_t0_after_the_first_stack(burst):
    _, paths = burst
    files = OneOffFiles(
        srclists=[paths["srclist_R"], paths["srclist_B"]], t0=datetime.fromisoformat(T0) + timedelta(days=1)
    )
    with pytest.raises(InputError, match=r"\(--t0\) is after the start of the first VT stack"):
        read_inputs(files)


def test_a_late_notice_t0_is_skipped_in_the_service_and_the_next_source_used(burst):
    _, paths = burst
    observation = read_srclists([paths["srclist_R"], paths["srclist_B"]])
    late = TriggerTime("SVOM ECLAIRs notice", datetime.fromisoformat(T0) + timedelta(days=1))
    operator = TriggerTime("--t0", datetime.fromisoformat(T0))
    chosen = usable_trigger_time([late], observation, refuse_late=False, operator=operator)
    assert chosen == operator


def test_the_one_off_command_exits_2_on_a_t0_after_the_first_stack(burst, tmp_path, capsys):
    _, paths = burst
    late = (datetime.fromisoformat(T0) + timedelta(days=1)).isoformat()
    command = ["make-qpo-vt", "--srclist", str(paths["srclist_R"]), "--srclist", str(paths["srclist_B"])]
    assert cli.main([*command, "--catalog", SDSS, "--out", str(tmp_path), "--t0", late]) == 2
    assert "is after the start of the first VT stack" in capsys.readouterr().err


def test_t0_is_read_from_notices_and_fits_headers_and_a_bad_one_is_named(burst, tmp_path, caplog):
    _, paths = burst
    alert = read_alert_file(
        ALERTS / "svom_eclairs_trigger.slewing.example.json", max_radius_deg=1, accept_tests=True
    )
    assert alert_trigger_time(alert) == TriggerTime(
        "SVOM ECLAIRs notice", datetime.fromisoformat("2024-02-22T08:51:31.320")
    )
    with fits.open(paths["srclist_R"]) as hdul:
        hdul[0].header["TT_ECL"] = "yesterday"
        hdul.writeto(tmp_path / "bad.fits")
    with pytest.raises(InputError, match=r"file bad.fits, HDU PRIMARY, column TT_ECL: TT_ECL = 'yesterday'"):
        read_srclists([tmp_path / "bad.fits"])
    with fits.open(paths["srclist_R"]) as hdul:
        hdul[0].header["TT_ECL"] = T0
        hdul.writeto(tmp_path / "good.fits")
    assert read_srclists([tmp_path / "good.fits"]).trigger_time == datetime.fromisoformat(T0)
    later = TriggerTime("TT_ECL", datetime.fromisoformat(T0) + timedelta(seconds=30))
    chosen = choose_trigger_time([None, TriggerTime("QPO_MXT", datetime.fromisoformat(T0)), later])
    assert chosen is not None and chosen.source == "QPO_MXT"
    assert "T0 of the TT_ECL" in caplog.text and "the QPO_MXT one is used" in caplog.text
    assert choose_trigger_time([None]) is None
