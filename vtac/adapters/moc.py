"""Catalogue footprints as MOCs (IVOA Multi-Order Coverage maps, read and combined with ``mocpy``).

The five remote catalogues' MOCs are shipped in ``vtac/data/moc/<NAME>.fits`` (their origin:
``vtac/data/moc/README.md``); a HATS catalogue brings its own (:mod:`vtac.adapters.hats_catalog`). The cone
is turned into cells here, the decision is the core's (:func:`vtac.core.coverage.coverage_of_cells`).
``mocpy`` is imported on first use, so the one-off command's start-up does not pay for it.
"""

from __future__ import annotations

import atexit
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

from vtac.core.coverage import Cone, Coverage, coverage_of_cells
from vtac.errors import InputError

#: HEALPix order at which a cone is compared with a footprint (cells of 3.4'), unless the MOC is finer.
COVERAGE_ORDER = 10
#: The finest order used: finer MOCs are compared at this order (cells of 0.43').
MAX_COVERAGE_ORDER = 13


def shipped_moc_path(name: str) -> Path:
    """Where the shipped MOC of a remote catalogue is."""
    return Path(str(resources.files("vtac") / "data" / "moc" / f"{name}.fits"))


@lru_cache(maxsize=16)
def load_moc(path: Path) -> Any:
    """A MOC FITS file (cached: a footprint is read once per process)."""
    from mocpy import MOC  # pylint: disable=import-outside-toplevel

    try:
        return MOC.load(path, format="fits")
    except (OSError, ValueError, KeyError) as exc:
        raise InputError(f"not a MOC FITS file: {exc}", file=str(path)) from exc


# Cached MOCs must go while mocpy still stands: its finaliser fails once interpreter shutdown tore it down.
atexit.register(load_moc.cache_clear)


def footprint_coverage(name: str, cone: Cone) -> Coverage:
    """How much of the cone a remote catalogue covers; a catalogue without a shipped MOC is all-sky."""
    path = shipped_moc_path(name)
    return moc_coverage(load_moc(path), cone) if path.exists() else Coverage.FULL


def moc_coverage(moc: Any, cone: Cone) -> Coverage:
    """How much of the cone lies inside ``moc`` (a ``mocpy.MOC``), at the finer of the two orders."""
    order = min(max(COVERAGE_ORDER, int(moc.max_order)), MAX_COVERAGE_ORDER)
    cone_cells = cone_moc(cone, order)
    if moc.max_order > order:
        moc = moc.degrade_to_order(order)
    covered = cone_cells.intersection(moc)
    return coverage_of_cells(_cells(cone_cells, order), _cells(covered, order))


def cone_moc(cone: Cone, order: int, *, inner: bool = False) -> Any:
    """The MOC of the cells of ``order`` a cone overlaps (a ``mocpy.MOC``); with ``inner``, only cells
    wholly inside it (the cone shrunk by two cell widths first: what a fetched cone can vouch for).
    """
    # pylint: disable=import-outside-toplevel
    from astropy.coordinates import Angle, Latitude, Longitude
    from mocpy import MOC

    radius = cone.radius_deg - (2.0 * cell_width_deg(order) if inner else 0.0)
    if radius <= 0.0 and inner:
        return MOC.new_empty(order)
    return MOC.from_cone(
        lon=Longitude(cone.ra, unit="deg"),
        lat=Latitude(cone.dec, unit="deg"),
        radius=Angle(max(radius, 1e-6), unit="deg"),
        max_depth=order,
    )


def cell_width_deg(order: int) -> float:
    """The mean width of a HEALPix cell of ``order`` (degrees)."""
    return 58.6323 / 2**order


def points_moc(ra: Any, dec: Any, order: int) -> Any:
    """The cells of ``order`` holding at least one of the positions (deg): a catalogue file's coverage."""
    # pylint: disable=import-outside-toplevel
    from astropy.coordinates import Latitude, Longitude
    from mocpy import MOC

    if len(ra) == 0:
        return MOC.new_empty(order)
    return MOC.from_lonlat(Longitude(ra, unit="deg"), Latitude(dec, unit="deg"), max_norder=order)


def _cells(moc: Any, order: int) -> Any:
    """The NESTED cells of ``moc`` at ``order``."""
    return moc.flatten() if int(moc.max_order) == order else moc.degrade_to_order(order).flatten()
