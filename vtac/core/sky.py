"""Positions on the sphere as unit vectors, and indexes for nearest-neighbour matching and close pairs.

A VT field or a catalogue cone is small: its positions are sorted into square cells of a flat local frame
(numpy only; RA 0 is folded), and candidates found there are ranked by their true great-circle separation.
Large or polar sets, and radii larger than a cell, use scipy's cKDTree of 3-D unit vectors, exact everywhere,
as astropy's ``match_to_catalog_sky`` does; scipy is imported only then.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

import numpy as np
from numpy.typing import ArrayLike, NDArray

if TYPE_CHECKING:
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


def separation_arcsec(
    ra1: ArrayLike, dec1: ArrayLike, ra2: ArrayLike, dec2: ArrayLike
) -> NDArray[np.float64]:
    """Great-circle separation in arcsec (Vincenty-stable through the chord)."""
    return arcsec_from_chord(np.linalg.norm(unit_vectors(ra1, dec1) - unit_vectors(ra2, dec2), axis=-1))


#: A set is indexed in a flat local frame when it is this small (deg) and the frame this little distorted.
_FLAT_MAX_EXTENT_DEG = 10.0
_FLAT_MAX_STRETCH = 1.02
#: A tree query of at least this many positions runs on every core.
_PARALLEL_QUERIES = 20_000


def _wrap(delta_ra: NDArray[np.float64]) -> NDArray[np.float64]:
    """RA differences folded into [-180, 180)."""
    return (delta_ra + 180.0) % 360.0 - 180.0


def _stretch(dec_min: float, dec_max: float, dec0: float) -> float:
    """Largest factor by which a flat frame about Dec0 stretches or shrinks local distances in a Dec range."""
    cos0 = np.cos(np.radians(dec0))
    cos_edges = np.cos(np.radians([dec_min, dec_max, min(max(0.0, dec_min), dec_max)]))
    return float(np.max(np.maximum(cos0 / cos_edges, cos_edges / cos0)))


class _FlatFrame:
    """x = dRA cos(Dec0), y = dDec (deg) about a centre: local distances within a factor ``stretch``."""

    def __init__(self, ra0: float, dec0: float, stretch: float, wraps: bool) -> None:
        self.ra0, self.dec0, self.stretch, self._wraps = ra0, dec0, stretch, wraps
        self._cos0 = float(np.cos(np.radians(dec0)))

    @classmethod
    def fit(cls, ra: NDArray[np.float64], dec: NDArray[np.float64]) -> _FlatFrame | None:
        """A frame for these positions, or None where a flat frame would be too distorted."""
        ra_min, ra_max = float(ra.min()), float(ra.max())
        wraps = ra_max - ra_min > 180.0  # the set straddles RA 0: fold differences (slower float modulo)
        if wraps:
            offset = _wrap(ra - ra_min)
            ra_min, ra_max = ra_min + float(offset.min()), ra_min + float(offset.max())
        dec_min, dec_max = float(dec.min()), float(dec.max())
        dec0 = 0.5 * (dec_min + dec_max)
        half_width = 0.5 * (ra_max - ra_min) * np.cos(np.radians(dec0))
        stretch = _stretch(dec_min, dec_max, dec0)
        if max(half_width, dec_max - dec0) > _FLAT_MAX_EXTENT_DEG or stretch > _FLAT_MAX_STRETCH:
            return None
        return cls((0.5 * (ra_min + ra_max)) % 360.0, dec0, stretch, wraps)

    def project(self, ra: NDArray[np.float64], dec: NDArray[np.float64]) -> NDArray[np.float64]:
        """(x, y) in degrees of the frame."""
        delta_ra = ra - self.ra0
        if self._wraps or delta_ra.min() < -180.0 or delta_ra.max() >= 180.0:
            delta_ra = _wrap(delta_ra)
        return np.column_stack((delta_ra * self._cos0, dec - self.dec0))


class NearestIndex(Protocol):
    """Anything that answers nearest-neighbour queries within a radius as :class:`SkyIndex` does."""

    def nearest(
        self, ra_deg: ArrayLike, dec_deg: ArrayLike, max_radius_arcsec: float
    ) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
        """Index of the nearest position within the radius (-1 if none) and its separation (NaN)."""


class _CellGrid:
    """Points of a flat frame sorted by square cell: the candidates of a query are in its 3 x 3 cells."""

    def __init__(self, points: NDArray[np.float64], cell: float) -> None:
        self.points, self.cell = points, cell
        ij = np.floor(points / cell).astype(np.int64)
        self._origin = ij.min(axis=0)
        ij -= self._origin
        self._height = int(ij[:, 1].max()) + 1
        keys = ij[:, 0] * self._height + ij[:, 1]
        self._order = np.argsort(keys)
        self._sorted_keys = keys[self._order]

    def candidate_pairs(self, queries: NDArray[np.float64]) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
        """(query index, point index) of every point in the 3 x 3 cells around each query."""
        ij = np.floor(queries / self.cell).astype(np.int64) - self._origin
        # Sorted needles make searchsorted walk the keys in order: several times faster on large sets.
        by_cell = np.argsort(ij[:, 0] * self._height + ij[:, 1])
        column, row = ij[by_cell, 0], ij[by_cell, 1]
        low, high = np.maximum(row - 1, 0), np.minimum(row + 1, self._height - 1)
        inside = low <= high
        starts, counts = [], []
        for dx in (-1, 0, 1):
            base = (column + dx) * self._height
            start = np.searchsorted(self._sorted_keys, base + low, side="left")
            end = np.searchsorted(self._sorted_keys, base + high, side="right")
            starts.append(start)
            counts.append(np.where(inside, end - start, 0))
        start_all, count_all = np.concatenate(starts), np.concatenate(counts)
        query_all = np.tile(by_cell, 3)
        total = int(count_all.sum())
        first_of_range = np.cumsum(count_all) - count_all
        position = np.repeat(start_all - first_of_range, count_all) + np.arange(total)
        return np.repeat(query_all, count_all), self._order[position]


class SkyIndex:
    """A fixed set of sky positions, indexed for nearest-neighbour queries within a radius.

    VT fields and catalogue cones are small: there the index sorts the positions into square cells of a
    flat frame about the field centre (sorting integer cell numbers is several times cheaper than building
    a tree). The frame stretches local distances by at most f <= 1.02, so every true neighbour within r lies
    within r f in the frame, hence in the 3 x 3 cells around the query when r f <= the cell size; candidates
    are then ranked by their true great-circle separation, so the answer is exact. Larger radii, and large,
    polar or RA-wrapping sets, use a 3-D tree of unit vectors, exact everywhere.
    """

    def __init__(self, ra_deg: ArrayLike, dec_deg: ArrayLike, cell_arcsec: float = 3.1) -> None:
        self._ra = np.asarray(ra_deg, dtype=float)
        self._dec = np.asarray(dec_deg, dtype=float)
        self.size = len(self._ra)
        self._frame = _FlatFrame.fit(self._ra, self._dec) if self.size else None
        self._grid = (
            _CellGrid(self._frame.project(self._ra, self._dec), cell_arcsec / 3600.0) if self._frame else None
        )
        self._sphere_tree: cKDTree | None = None

    def nearest(
        self, ra_deg: ArrayLike, dec_deg: ArrayLike, max_radius_arcsec: float
    ) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
        """Index of the nearest indexed position within the radius (-1 if none) and its separation (NaN)."""
        ra = np.atleast_1d(np.asarray(ra_deg, dtype=float))
        dec = np.atleast_1d(np.asarray(dec_deg, dtype=float))
        if self.size == 0 or len(ra) == 0:
            return np.full(len(ra), -1, dtype=np.int64), np.full(len(ra), np.nan)
        bound = max_radius_arcsec / 3600.0 * _FLAT_MAX_STRETCH
        frame, grid = self._frame, self._grid
        if (
            frame is not None
            and grid is not None
            and bound <= grid.cell
            and _stretch(float(dec.min()), float(dec.max()), frame.dec0) <= _FLAT_MAX_STRETCH
        ):
            return self._nearest_flat(frame, grid, ra, dec, max_radius_arcsec)
        return self._nearest_sphere(ra, dec, max_radius_arcsec)

    def _nearest_flat(
        self,
        frame: _FlatFrame,
        grid: _CellGrid,
        ra: NDArray[np.float64],
        dec: NDArray[np.float64],
        radius_arcsec: float,
    ) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
        queries = frame.project(ra, dec)
        query, point = grid.candidate_pairs(queries)
        flat = np.hypot(*(queries[query] - grid.points[point]).T)
        near = flat <= radius_arcsec / 3600.0 * _FLAT_MAX_STRETCH
        query, point = query[near], point[near]
        separation = separation_arcsec(ra[query], dec[query], self._ra[point], self._dec[point])
        within = separation <= radius_arcsec
        query, point, separation = query[within], point[within], separation[within]
        by_query = np.lexsort((separation, query))
        _, first = np.unique(query[by_query], return_index=True)
        nearest = by_query[first]
        index = np.full(len(ra), -1, dtype=np.int64)
        best_separation = np.full(len(ra), np.nan)
        index[query[nearest]] = point[nearest]
        best_separation[query[nearest]] = separation[nearest]
        return index, best_separation

    def _nearest_sphere(
        self, ra: NDArray[np.float64], dec: NDArray[np.float64], radius_arcsec: float
    ) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
        if self._sphere_tree is None:
            from scipy.spatial import cKDTree  # pylint: disable=import-outside-toplevel  # large sets only

            self._sphere_tree = cKDTree(
                unit_vectors(self._ra, self._dec), balanced_tree=False, compact_nodes=False
            )
        chord, found = self._sphere_tree.query(
            unit_vectors(ra, dec),
            k=1,
            distance_upper_bound=float(chord_from_arcsec(radius_arcsec)),
            # Threads pay off on large query sets only: starting them cost ~1 ms per field's coverage test.
            workers=-1 if len(ra) >= _PARALLEL_QUERIES else 1,
        )
        hit = found < self.size
        return np.where(hit, found, -1).astype(np.int64), np.where(hit, arcsec_from_chord(chord), np.nan)


def pairs_within(ra_deg: ArrayLike, dec_deg: ArrayLike, radius_arcsec: float) -> NDArray[np.int64]:
    """Every pair ``(i, j)``, ``i < j``, of positions at most ``radius_arcsec`` apart, shape (n, 2), sorted.

    A small set is paired through the cells of its flat frame (a true neighbour lies within the radius times
    the frame's stretch, so in the 3 x 3 cells of that size); a large or polar one through a 3-D tree. Both
    keep exactly the pairs whose great-circle separation is within the radius.
    """
    ra = np.atleast_1d(np.asarray(ra_deg, dtype=float))
    dec = np.atleast_1d(np.asarray(dec_deg, dtype=float))
    if len(ra) < 2:
        return np.empty((0, 2), dtype=np.int64)
    frame = _FlatFrame.fit(ra, dec)
    if frame is None:
        from scipy.spatial import cKDTree  # pylint: disable=import-outside-toplevel  # large sets only

        pairs = cKDTree(unit_vectors(ra, dec)).query_pairs(
            float(chord_from_arcsec(radius_arcsec)), output_type="ndarray"
        )
        first, second = pairs[:, 0].astype(np.int64), pairs[:, 1].astype(np.int64)
    else:
        cell = max(radius_arcsec / 3600.0 * _FLAT_MAX_STRETCH, 1e-9)
        points = frame.project(ra, dec)
        first, second = _CellGrid(points, cell).candidate_pairs(points)
        ordered = first < second
        first, second = first[ordered], second[ordered]
    within = separation_arcsec(ra[first], dec[first], ra[second], dec[second]) <= radius_arcsec
    order = np.lexsort((second[within], first[within]))
    return np.column_stack((first[within][order], second[within][order]))
