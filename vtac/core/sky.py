"""Positions on the sphere as unit vectors, and a kd-tree index for nearest-neighbour matching.

Matching in 3-D Cartesian space with scipy's cKDTree gives exact great-circle nearest neighbours without the
RA wrap-around and pole problems of RA/Dec boxes. This is what astropy's ``match_to_catalog_sky`` does too;
we skip its frame and unit machinery, build the tree unbalanced (faster to build, as fast to query for sky
positions), and bound each query by the match radius, so a VT field matches a catalogue several times faster.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.spatial import cKDTree

ARCSEC_PER_RAD = 180.0 / np.pi * 3600.0


def unit_vectors(ra_deg: ArrayLike, dec_deg: ArrayLike) -> NDArray[np.float64]:
    """Cartesian unit vectors, shape (..., 3), of ICRS positions in degrees."""
    ra = np.radians(np.asarray(ra_deg, dtype=float))
    dec = np.radians(np.asarray(dec_deg, dtype=float))
    cos_dec = np.cos(dec)
    return np.stack((cos_dec * np.cos(ra), cos_dec * np.sin(ra), np.sin(dec)), axis=-1)


def radec_from_vectors(xyz: NDArray[np.float64]) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Inverse of :func:`unit_vectors` (vectors need not be normalised)."""
    x, y, z = xyz[:, 0], xyz[:, 1], xyz[:, 2]
    ra = np.degrees(np.arctan2(y, x)) % 360.0
    dec = np.degrees(np.arctan2(z, np.hypot(x, y)))
    return ra, dec


def chord_from_arcsec(arcsec: ArrayLike) -> NDArray[np.float64]:
    """Chord length between unit vectors separated by this angle."""
    return 2.0 * np.sin(np.asarray(arcsec, dtype=float) / ARCSEC_PER_RAD / 2.0)


def arcsec_from_chord(chord: ArrayLike) -> NDArray[np.float64]:
    """Angle, in arcsec, subtended by a chord between unit vectors."""
    return 2.0 * np.arcsin(np.clip(np.asarray(chord, dtype=float) / 2.0, 0.0, 1.0)) * ARCSEC_PER_RAD


def separation_arcsec(ra1: ArrayLike, dec1: ArrayLike, ra2: ArrayLike, dec2: ArrayLike) -> NDArray[np.float64]:
    """Great-circle separation in arcsec (Vincenty-stable through the chord)."""
    return arcsec_from_chord(np.linalg.norm(unit_vectors(ra1, dec1) - unit_vectors(ra2, dec2), axis=-1))


class SkyIndex:
    """A fixed set of sky positions, indexed for nearest-neighbour queries within a radius."""

    def __init__(self, ra_deg: ArrayLike, dec_deg: ArrayLike) -> None:
        xyz = unit_vectors(ra_deg, dec_deg)
        self.size = len(xyz)
        self._tree = cKDTree(xyz, balanced_tree=False, compact_nodes=False) if self.size else None

    def nearest(
        self, ra_deg: ArrayLike, dec_deg: ArrayLike, max_radius_arcsec: float
    ) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
        """Index of the nearest indexed position within the radius (-1 if none) and its separation (NaN)."""
        return self.nearest_vectors(unit_vectors(ra_deg, dec_deg), max_radius_arcsec)

    def nearest_vectors(
        self, xyz: NDArray[np.float64], max_radius_arcsec: float
    ) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
        """As :meth:`nearest`, for unit vectors."""
        index = np.full(len(xyz), -1, dtype=np.int64)
        separation = np.full(len(xyz), np.nan)
        if self._tree is None or len(xyz) == 0:
            return index, separation
        chord, found = self._tree.query(
            xyz, k=1, distance_upper_bound=float(chord_from_arcsec(max_radius_arcsec)), workers=-1
        )
        hit = found < self.size
        index[hit] = found[hit]
        separation[hit] = arcsec_from_chord(chord[hit])
        return index, separation
