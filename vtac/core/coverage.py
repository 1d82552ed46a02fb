"""Sky footprints of the reference catalogues: a catalogue is evidence only where it looked.

Outside its footprint a catalogue answers "nothing here", which must not read as "every VT source is new".
The footprints are documented approximations, drawn on the safe side (a field is called outside when in
doubt), until MOCs (mocpy) replace them:

* GAIADR3, USNOB1: the whole sky.
* PS1DR1: Dec >= -30 deg (the 3pi survey limit).
* SDSS12: the northern Galactic cap of the Legacy imaging (b >= +30 deg and -3 <= Dec <= +65 deg) and
  Stripe 82 (|Dec| <= 1.25 deg, RA >= 310 or <= 59 deg). The small southern stripes 76 and 86 are left out.
* LSDR10 (``ls_dr10.tractor``, DECam only): -68 <= Dec <= +32 deg and |b| >= 20 deg (DECaLS, DES and the
  DR10 DECam extension; the Galactic plane and the far south are left out).

A cone is tested at its centre and at points of its rim: FULL when all are inside, PARTIAL when some are
(still worth asking: the core only calls a source new where the catalogue has neighbours), NONE otherwise.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

import numpy as np
from numpy.typing import NDArray

from vtac.core.sky import unit_vectors

#: ICRS -> Galactic rotation (Hipparcos definition, as astropy's), applied to unit column vectors.
_ICRS_TO_GALACTIC = np.array(
    [
        [-0.0548755604162154, -0.8734370902348850, -0.4838350155487132],
        [0.4941094278755837, -0.4448296299600112, 0.7469822444972189],
        [-0.8676661490190047, -0.1980763734312015, 0.4559837761750669],
    ]
)
_RIM_POINTS = 16


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


def galactic_latitude(ra_deg: NDArray[np.float64], dec_deg: NDArray[np.float64]) -> NDArray[np.float64]:
    """Galactic latitude b (deg) of ICRS positions."""
    galactic = unit_vectors(ra_deg, dec_deg) @ _ICRS_TO_GALACTIC.T
    return np.asarray(np.degrees(np.arcsin(np.clip(galactic[..., 2], -1.0, 1.0))), dtype=np.float64)


def _all_sky(ra: NDArray[np.float64], dec: NDArray[np.float64]) -> NDArray[np.bool_]:
    del dec
    return np.ones(len(ra), dtype=bool)


def _ps1(ra: NDArray[np.float64], dec: NDArray[np.float64]) -> NDArray[np.bool_]:
    del ra
    return dec >= -30.0


def _sdss(ra: NDArray[np.float64], dec: NDArray[np.float64]) -> NDArray[np.bool_]:
    north_cap = (galactic_latitude(ra, dec) >= 30.0) & (dec >= -3.0) & (dec <= 65.0)
    stripe_82 = (np.abs(dec) <= 1.25) & ((ra >= 310.0) | (ra <= 59.0))
    return north_cap | stripe_82


def _ls_dr10(ra: NDArray[np.float64], dec: NDArray[np.float64]) -> NDArray[np.bool_]:
    return (dec >= -68.0) & (dec <= 32.0) & (np.abs(galactic_latitude(ra, dec)) >= 20.0)


FOOTPRINTS: dict[str, Callable[[NDArray[np.float64], NDArray[np.float64]], NDArray[np.bool_]]] = {
    "GAIADR3": _all_sky,
    "USNOB1": _all_sky,
    "PS1DR1": _ps1,
    "SDSS12": _sdss,
    "LSDR10": _ls_dr10,
}


def cone_samples(cone: Cone, n_rim: int = _RIM_POINTS) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """The centre of a cone and ``n_rim`` points on its rim (deg)."""
    ra0, dec0, radius = np.radians([cone.ra, cone.dec, cone.radius_deg])
    angle = np.linspace(0.0, 2.0 * np.pi, n_rim, endpoint=False)
    sin_dec = np.sin(dec0) * np.cos(radius) + np.cos(dec0) * np.sin(radius) * np.cos(angle)
    dec = np.arcsin(np.clip(sin_dec, -1.0, 1.0))
    ra = ra0 + np.arctan2(
        np.sin(angle) * np.sin(radius) * np.cos(dec0), np.cos(radius) - np.sin(dec0) * sin_dec
    )
    return (
        np.concatenate(([cone.ra], np.degrees(ra) % 360.0)),
        np.concatenate(([cone.dec], np.degrees(dec))),
    )


def footprint_coverage(name: str, cone: Cone) -> Coverage:
    """How much of the cone the catalogue covers; an unknown catalogue is taken as all-sky."""
    inside = FOOTPRINTS.get(name, _all_sky)(*cone_samples(cone))
    if inside.all():
        return Coverage.FULL
    return Coverage.PARTIAL if inside.any() else Coverage.NONE


def separation_deg(ra1: float, dec1: float, ra2: float, dec2: float) -> float:
    """Angular distance between two positions, degrees."""
    a = unit_vectors(np.array([ra1]), np.array([dec1]))[0]
    b = unit_vectors(np.array([ra2]), np.array([dec2]))[0]
    return float(np.degrees(np.arctan2(np.linalg.norm(np.cross(a, b)), float(a @ b))))


def points_in_cone(ra: NDArray[np.float64], dec: NDArray[np.float64], cone: Cone) -> int:
    """How many of the positions lie inside ``cone``."""
    if len(ra) == 0:
        return 0
    centre = unit_vectors(np.array([cone.ra]), np.array([cone.dec]))[0]
    cosines = unit_vectors(np.asarray(ra, dtype=float), np.asarray(dec, dtype=float)) @ centre
    return int(np.count_nonzero(cosines >= np.cos(np.radians(cone.radius_deg))))


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
