"""Bursts the extras tests share: a simulated GCN afterglow and a dark field, run through the real job."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np
from paths import SDSS_FILE

from vtac.adapters.extras import ExtrasContext, ExtrasFiles
from vtac.app.catalogs import CatalogSource
from vtac.core.records import MxtPosition, QpoVtResult
from vtac.core.science_settings import ScienceConfig
from vtac.entrypoints.one_off import OneOffFiles, make_version, write_version, write_version_extras
from vtac.settings import CatalogServices, CatalogueSettings
from vtac.simulation.burst import BurstSpec, simulate_burst
from vtac.simulation.sky import DEMO_CENTRE, afterglow_burst_spec, load_demo_sky

SDSS = CatalogSource("SDSS12", str(SDSS_FILE))
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
    files = OneOffFiles(srclists=[paths["srclist_R"], paths["srclist_B"]], mxt_file=paths["mxt"])
    version = make_version(files, CatalogueSettings(sources=[SDSS]), ScienceConfig())
    write_version(version, folder / "out")
    return Run(version.result, version.summary.document(), spec, folder / "out")


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
    catalogues, position = CatalogueSettings(sources=[SDSS]), None
    if case == "unverified":  # a VizieR that refuses every connection: the catalogues fail
        catalogues = CatalogueSettings(
            sources=[CatalogSource("PS1DR1", "vizier"), CatalogSource("GAIADR3", "vizier")],
            services=CatalogServices(vizier_url="http://127.0.0.1:9/viz-bin/votable", deadline_s=3.0),
        )
    if case == "off-field":
        position = MxtPosition(DEMO_CENTRE[0], DEMO_CENTRE[1] + 0.67, 300.0, instrument="ECLAIRs")
    files = OneOffFiles(
        srclists=[paths["srclist_R"], paths["srclist_B"]],
        mxt_file=paths["mxt"] if case in ("unverified", "dark") else None,
        mxt_position=position,
        t0=datetime.fromisoformat(spec.t0) if case != "dark" else None,
    )
    version = make_version(files, catalogues, ScienceConfig())
    write_version(version, folder / "out")
    extras = write_version_extras(version, ExtrasContext(version=1, simulated=True), folder / "out")
    return Run(version.result, version.summary.document(), spec, folder / "out"), extras
