"""Extra sources for simulated bursts: the cases the tests of VTAC need (a flaring star, a one-sequence
artefact, a high-proper-motion star, an afterglow's host), as :class:`~vtac.simulation.burst.InjectedSource`
records or sky rows that :func:`~vtac.simulation.burst.simulate_burst` takes."""

from __future__ import annotations

import math

import numpy as np
from astropy.table import Table, vstack

from vtac.core.constants import DEFAULT_CATALOG_EPOCH
from vtac.core.flags import EFlag
from vtac.core.records import N_SEQ_PER_BAND
from vtac.simulation.burst import AfterglowSpec, InjectedSource


def flaring_star(
    ra: float,
    dec: float,
    mag_r: float,
    mag_b: float,
    *,
    flare_index: int = 1,
    amplitude: float = 1.5,
    label: str = "flaring_star",
) -> InjectedSource:
    """A catalogued star (replaced within 1") that is ``amplitude`` mag brighter in one sequence index."""
    boost = tuple(amplitude if nth == flare_index else 0.0 for nth in range(N_SEQ_PER_BAND))
    return InjectedSource(
        label,
        ra,
        dec,
        tuple(mag_r - step for step in boost),
        tuple(mag_b - step for step in boost),
        replaces_radius_arcsec=1.0,
    )


def artefact(
    ra: float,
    dec: float,
    *,
    seq: str = "R1",
    mag: float = 21.0,
    eflag: int = int(EFlag.OTHER),
    label: str = "artefact",
) -> InjectedSource:
    """One flagged detection in a single sequence: what VTAC must not call an afterglow."""
    nan = (math.nan,) * N_SEQ_PER_BAND
    mags = tuple(mag if nth == int(seq[1]) else math.nan for nth in range(N_SEQ_PER_BAND))
    flags = tuple(eflag if nth == int(seq[1]) else 0 for nth in range(N_SEQ_PER_BAND))
    if seq[0] == "R":
        return InjectedSource(label, ra, dec, mags, nan, eflag_r=flags)
    return InjectedSource(label, ra, dec, nan, mags, eflag_b=flags)


def high_proper_motion_star(
    sky: Table,
    ra: float,
    dec: float,
    mag_r: float,
    mag_b: float,
    *,
    pm_mas_yr: tuple[float, float] = (3000.0, -2000.0),
    epoch: float = DEFAULT_CATALOG_EPOCH,
) -> Table:
    """``sky`` plus one star at (ra, dec) at ``epoch`` moving by (pmRA*, pmDEC) mas/yr (Barnard-like).

    The catalogue position is where the star *was*: a reader that ignores proper motion finds no
    counterpart at the VT position.
    """
    extra = Table(
        {
            "RA": [ra],
            "DEC": [dec],
            "MAG_R": [mag_r],
            "MAG_B": [mag_b],
            "PMRA": [pm_mas_yr[0]],
            "PMDEC": [pm_mas_yr[1]],
            "EPOCH": [epoch],
        }
    )
    base = sky.copy()
    for name in ("PMRA", "PMDEC"):
        if name not in base.colnames:
            base[name] = np.zeros(len(base))
    if "EPOCH" not in base.colnames:
        base["EPOCH"] = np.full(len(base), epoch)
    for name in base.colnames:
        if name not in extra.colnames:
            extra[name] = np.zeros(1, dtype=base[name].dtype)
    return vstack([base, extra[base.colnames]], metadata_conflicts="silent")


def host_galaxy(
    afterglow: AfterglowSpec,
    mag_r: float = 22.8,
    mag_b: float = 23.4,
    *,
    offset_arcsec: float = 0.4,
    label: str = "host_galaxy",
) -> InjectedSource:
    """A faint constant galaxy ``offset_arcsec`` north of the afterglow: unresolved, their fluxes add."""
    dec = afterglow.dec + offset_arcsec / 3600.0
    return InjectedSource(
        label,
        afterglow.ra,
        dec,
        (mag_r,) * N_SEQ_PER_BAND,
        (mag_b,) * N_SEQ_PER_BAND,
        extended=True,
    )
