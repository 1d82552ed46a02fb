"""Sky footprints of the reference catalogues: a catalogue is evidence only where it looked.

Outside its footprint a catalogue answers "nothing here", which must not read as "every VT source is new".
A footprint is a MOC (IVOA Multi-Order Coverage map); the adapter :mod:`vtac.adapters.moc` loads it (the
shipped MOCs of the remote catalogues, a HATS catalogue's own coverage) and hands this module the HEALPix
cells (NESTED, one order) the cone touches and those of them inside the footprint. The decision is here:
FULL when every cell of the cone is inside, PARTIAL when some are (still worth asking: the core only calls a
source new where the catalogue has neighbours), NONE otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import numpy as np
from numpy.typing import NDArray

from vtac.core.sky import unit_vectors


@dataclass(frozen=True)
class Cone:
    """A cone on the sky: centre (deg, ICRS) and radius (deg)."""

    ra: float
    dec: float
    radius_deg: float


class Coverage(StrEnum):
    """How much of a cone lies inside a catalogue's footprint."""

    FULL = "full"
    PARTIAL = "partial"
    NONE = "none"


def coverage_of_cells(cone_cells: NDArray[np.uint64], covered_cells: NDArray[np.uint64]) -> Coverage:
    """How much of a cone a footprint covers, from the cells the cone touches and those of them covered."""
    inside = np.isin(cone_cells, covered_cells)
    if len(inside) and inside.all():
        return Coverage.FULL
    return Coverage.PARTIAL if inside.any() else Coverage.NONE


def separation_deg(ra1: float, dec1: float, ra2: float, dec2: float) -> float:
    """Angular distance between two positions, degrees."""
    a = unit_vectors(np.array([ra1]), np.array([dec1]))[0]
    b = unit_vectors(np.array([ra2]), np.array([dec2]))[0]
    return float(np.degrees(np.arctan2(np.linalg.norm(np.cross(a, b)), float(a @ b))))


def circle_off_field(
    ra: NDArray[np.float64], dec: NDArray[np.float64], centre_ra: float, centre_dec: float, radius_deg: float
) -> tuple[float, float] | None:
    """(distance of the circle's centre from the field's, field radius), degrees, when a circle does not
    reach the field the positions span; None when it does or there is no position.
    """
    if len(ra) == 0:
        return None
    xyz = unit_vectors(np.asarray(ra, dtype=float), np.asarray(dec, dtype=float))
    centre = xyz.sum(axis=0)
    centre /= np.linalg.norm(centre)
    field_radius = float(np.degrees(np.arccos(np.clip((xyz @ centre).min(), -1.0, 1.0))))
    field_ra = float(np.degrees(np.arctan2(centre[1], centre[0])) % 360.0)
    field_dec = float(np.degrees(np.arcsin(np.clip(centre[2], -1.0, 1.0))))
    distance = separation_deg(field_ra, field_dec, centre_ra, centre_dec)
    return None if distance <= field_radius + radius_deg else (distance, field_radius)
