"""Association of the R and B detections of every sequence into unique VT sources (VT_ID).

Sequences are taken in FSC order (R0..R3, B0..B3). Each detection joins the nearest known source within
``R_XMATCH`` whose running mean position it is closest to; a source holds at most one detection per
sequence (when two detections of one sequence claim the same source, the nearer one wins and the other
starts a new source). Sources are numbered in order of creation, so the IDs of a field stay the same when
later sequences are added.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from numpy.typing import NDArray

from vtac.core.records import SEQUENCES
from vtac.core.sky import NearestIndex, SkyIndex, radec_from_vectors, unit_vectors


def associate(
    seq: NDArray[np.str_],
    ra: NDArray[np.float64],
    dec: NDArray[np.float64],
    radius_arcsec: float,
    index_factory: Callable[[NDArray[np.float64], NDArray[np.float64]], NearestIndex] = SkyIndex,
) -> NDArray[np.int64]:
    """Return, for each detection, the 0-based index of the VT source it belongs to.

    ``index_factory`` builds the nearest-neighbour index of the sources known so far (the benchmark passes
    astropy's matcher to compare like with like).
    """
    xyz = unit_vectors(ra, dec)
    source_of = np.full(len(xyz), -1, dtype=np.int64)
    vector_sums = np.empty((0, 3))
    for name in SEQUENCES:
        members = np.flatnonzero(seq == name)
        if len(members) == 0:
            continue
        matched = _match_one_per_source(index_factory, vector_sums, ra[members], dec[members], radius_arcsec)
        new = matched < 0
        matched[new] = len(vector_sums) + np.arange(np.count_nonzero(new))
        vector_sums = np.concatenate([vector_sums, np.zeros((np.count_nonzero(new), 3))])
        np.add.at(vector_sums, matched, xyz[members])
        source_of[members] = matched
    return source_of


def _match_one_per_source(
    index_factory: Callable[[NDArray[np.float64], NDArray[np.float64]], NearestIndex],
    vector_sums: NDArray[np.float64],
    ra: NDArray[np.float64],
    dec: NDArray[np.float64],
    radius_arcsec: float,
) -> NDArray[np.int64]:
    """Nearest source of each detection, or -1; a source keeps only its nearest detection."""
    if len(vector_sums) == 0:
        return np.full(len(ra), -1, dtype=np.int64)
    source_ra, source_dec = radec_from_vectors(vector_sums)
    index, separation = index_factory(source_ra, source_dec).nearest(ra, dec, radius_arcsec)
    claimed = np.flatnonzero(index >= 0)
    by_distance = claimed[np.argsort(separation[claimed], kind="stable")]
    _, first = np.unique(index[by_distance], return_index=True)
    losers = np.setdiff1d(by_distance, by_distance[first])
    index[losers] = -1
    return index
