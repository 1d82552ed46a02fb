"""Bursts the extras tests share: a simulated GCN afterglow and a dark field, run through the real job."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np

from vtac.adapters.extras import ExtrasContext, ExtrasFiles
from vtac.adapters.providers import RemoteSettings
from vtac.core.config import ScienceConfig
from vtac.core.model import MxtPosition, QpoVtResult
from vtac.jobs import CatalogSource, QpoVtRequest, make_extras, make_qpo_vt
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


def run_case(folder: Path, case: str, *, seed: int = 3) -> tuple[Run, ExtrasFiles]:
    """One of the burst-page cases a BA meets, run through the real job and extras:

    ``no-circle`` (an afterglow, no X-ray position), ``off-field`` (the ECLAIRs circle 40' from the field),
    ``unverified`` (an afterglow, every catalogue service failed), ``dark`` (no afterglow in the MXT circle).
    """
    glow = case != "dark"
    burst_id = {"no-circle": "sb26050911", "off-field": "sb26050912", "unverified": "sb26050913"}.get(
        case, "sb26050914"
    )
    spec = afterglow_burst_spec(*DEMO_CENTRE, burst_id, half_width_arcmin=4.0)
    if not glow:
        spec = BurstSpec(*DEMO_CENTRE, burst_id=burst_id, half_width_arcmin=4.0, mxt_r90_arcsec=60.0)
    burst = simulate_burst(load_demo_sky(), spec, np.random.default_rng(seed))
    paths = burst.write(folder / "inputs")
    catalogs, remote, position = [SDSS], None, None
    if case == "unverified":  # a VizieR that refuses every connection: the catalogues fail
        catalogs = [CatalogSource("PS1DR1", "vizier"), CatalogSource("GAIADR3", "vizier")]
        remote = RemoteSettings(vizier_url="http://127.0.0.1:9/viz-bin/votable", deadline_s=3.0)
    if case == "off-field":
        position = MxtPosition(DEMO_CENTRE[0], DEMO_CENTRE[1] + 0.67, 300.0, instrument="ECLAIRs")
    request = QpoVtRequest(
        srclists=[paths["srclist_R"], paths["srclist_B"]],
        catalogs=catalogs,
        out_dir=folder / "out",
        mxt_file=paths["mxt"] if case in ("unverified", "dark") else None,
        mxt_position=position,
        remote=remote,
        trigger_time=datetime.fromisoformat(spec.t0) if case != "dark" else None,
    )
    outcome = make_qpo_vt(request, ScienceConfig())
    summary = json.loads(outcome.summary.read_text(encoding="utf-8"))
    extras = make_extras(outcome, ExtrasContext(version=1, simulated=True))
    return Run(outcome.result, summary, spec, folder / "out"), extras
