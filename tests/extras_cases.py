"""Bursts the extras tests share: a simulated GCN afterglow and a dark field, run through the real job."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np

from vtac.core.config import ScienceConfig
from vtac.core.model import QpoVtResult
from vtac.jobs import CatalogSource, QpoVtRequest, make_qpo_vt
from vtac.simulation.burst import BurstSpec, simulate_burst
from vtac.simulation.sky import DEMO_CENTRE, afterglow_burst_spec, data_path, load_demo_sky

SDSS = CatalogSource("SDSS12", str(data_path("sdss12_egs_1deg.fits")))
XSD = Path(__file__).parent / "data" / "voevent" / "VOEvent-v2.0.xsd"
GCN_SCHEMA = Path(__file__).parent / "data" / "gcn-schema" / "v7.2.3"
NOTICE_SCHEMA = Path(__file__).parents[1] / "schemas" / "vt_candidate_notice.schema.json"


@dataclass
class Run:
    """A finished run: what the extras are made from, and what was injected."""

    result: QpoVtResult
    summary: dict
    spec: BurstSpec
    out: Path

    @property
    def t0(self) -> datetime:
        return datetime.fromisoformat(self.spec.t0)


def run_simulated(folder: Path, *, afterglow: bool = True, seed: int = 3) -> Run:
    """Simulate a burst on the real SDSS field and run the one-off job on it (no extras)."""
    burst_id = "sb26050905" if afterglow else "sb26050999"
    spec = afterglow_burst_spec(*DEMO_CENTRE, burst_id, half_width_arcmin=4.0)
    if not afterglow:
        spec = BurstSpec(*DEMO_CENTRE, burst_id=burst_id, half_width_arcmin=4.0, mxt_r90_arcsec=60.0)
    burst = simulate_burst(load_demo_sky(), spec, np.random.default_rng(seed))
    paths = burst.write(folder / "inputs")
    request = QpoVtRequest(
        srclists=[paths["srclist_R"], paths["srclist_B"]],
        catalogs=[SDSS],
        out_dir=folder / "out",
        mxt_file=paths["mxt"],
    )
    outcome = make_qpo_vt(request, ScienceConfig())
    summary = json.loads(outcome.summary.read_text(encoding="utf-8"))
    return Run(outcome.result, summary, spec, folder / "out")
