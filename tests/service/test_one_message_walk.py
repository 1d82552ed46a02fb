"""The walk of a message from the consumer to the notification reads each input once and writes no
temporary file (issue 19): the real RabbitMQ, Consumer and Processor, a simulated burst's three inputs.

Every FITS input goes through one structural reader (:func:`vtac.adapters.rawfits.fits_hdus`): counting its
calls by content, wherever a module bound it, counts the reads of each input.
"""

# pylint: disable=redefined-outer-name  # pytest fixtures
from __future__ import annotations

import hashlib
import sys
import tempfile
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from astropy.io import fits
from paths import SDSS
from real_services import Broker, wait_for
from service_rig import AUDIENCES, BURST_ID, Service, notified_once_up_to, versions_notified

from vtac.adapters import rawfits
from vtac.provenance import running_code
from vtac.service.processor import Processor
from vtac.service.publish import InputMessage, product_message, publish_inputs
from vtac.service.sdb import FileSdb
from vtac.service.state import open_sqlite_store
from vtac.settings import BrokerSettings, VtacSettings
from vtac.simulation import load_demo_sky, simulate_burst
from vtac.simulation.sky import DEMO_CENTRE, afterglow_burst_spec

pytestmark = pytest.mark.usefixtures("rabbitmq")
TEMPORARY = ("mkstemp", "mkdtemp", "NamedTemporaryFile", "TemporaryFile", "SpooledTemporaryFile")


@pytest.fixture
def config(make_amqp_config: Callable[..., BrokerSettings]) -> BrokerSettings:
    return make_amqp_config("walk", shutdown_grace_s=5.0)


def simulated_inputs(folder: Path) -> dict[str, Path]:
    """R and B source lists and a QPO_MXT file of a small simulated burst, as upstream sends them."""
    spec = afterglow_burst_spec(
        DEMO_CENTRE[0] + 0.05, DEMO_CENTRE[1] - 0.05, BURST_ID, half_width_arcmin=3.0, mxt_r90_arcsec=60.0
    )
    paths = simulate_burst(load_demo_sky(), spec, np.random.default_rng(7)).write(folder)
    return {"R": paths["srclist_R"], "B": paths["srclist_B"], "MXT": paths["mxt"]}


def count_reads(monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    """Reads of FITS content by SHA-256, on every thread, through every binding of the reader."""
    reads: Counter[str] = Counter()
    original = rawfits.fits_hdus

    def counting(raw: bytes, *args: Any, **kwargs: Any) -> Any:
        reads[hashlib.sha256(raw).hexdigest()] += 1
        return original(raw, *args, **kwargs)

    for module in [module for name, module in sys.modules.items() if name.startswith("vtac")]:
        if getattr(module, "fits_hdus", None) is original:
            monkeypatch.setattr(module, "fits_hdus", counting)
    return reads


def watch_temporary_files(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The names of the :mod:`tempfile` functions called from now on."""
    calls: list[str] = []

    def watched(name: str) -> Callable[..., Any]:
        original = getattr(tempfile, name)

        def call(*args: Any, **kwargs: Any) -> Any:
            calls.append(name)
            return original(*args, **kwargs)

        return call

    for name in (*TEMPORARY, "TemporaryDirectory"):
        monkeypatch.setattr(tempfile, name, watched(name))
    return calls


def test_each_message_reads_each_input_once_and_writes_no_temporary_file(
    broker: Broker, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    paths = simulated_inputs(tmp_path / "upstream")
    now = datetime(2026, 5, 9, 22, 1, tzinfo=UTC)
    messages: list[InputMessage] = [
        product_message(paths[name], acronym=acronym, burst_id=BURST_ID, product_time=now)
        for name, acronym in (("R", "QSRCLIST_VT"), ("B", "QSRCLIST_VT"), ("MXT", "QPO_MXT"))
    ]
    state = tmp_path / "state"
    state.mkdir()
    settings = VtacSettings(state_dir=state, catalogues={"sources": [SDSS]})
    processor = Processor(settings, store=open_sqlite_store(state / "state.db"), sdb=FileSdb(state / "sdb"))
    service = Service(broker.config, processor)
    try:
        wait_for(lambda: service.consumer.health.ready)
        reads, temporary = count_reads(monkeypatch), watch_temporary_files(monkeypatch)
        publish_inputs(broker.config, messages)
        received: dict[str, list[dict]] = {key: [] for key in AUDIENCES}

        def all_three_notified() -> bool:
            for key in AUDIENCES:
                received[key] += broker.notifications(key)
            return all(3 in versions for versions in versions_notified(received).values())

        wait_for(all_three_notified)
    finally:
        service.stop()

    notified_once_up_to(received, 3)
    contents = {name: hashlib.sha256(path.read_bytes()).hexdigest() for name, path in paths.items()}
    # each input read once on arrival; the builds of versions 2 and 3 reuse the lists read before
    assert {name: reads[digest] for name, digest in contents.items()} == {"R": 1, "B": 1, "MXT": 1}
    assert temporary == []
    written = sorted(path.relative_to(state).parts[0] for path in state.rglob("*") if path.is_file())
    assert set(written) <= {"sdb", "state.db", "state.db-wal", "state.db-shm"}
    # the products say which code made them
    (qpo_vt,) = (state / "sdb" / BURST_ID / "QPO_VT" / "v3").iterdir()
    assert fits.getheader(qpo_vt)["VTACCOMM"] == running_code().commit
