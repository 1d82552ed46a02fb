"""Moving objects: one asteroid, one VT source per sequence — linked back into one mover.

An asteroid crossing the field at tens of arcsec per hour is a new, single-epoch source in every sequence
(R and B of one sequence index are simultaneous, so they associate with each other, not across indices).
Each looks like the perfect afterglow: uncatalogued, bright, there once. Linking them is what a BA does by
eye: sources seen at one sequence index only, without catalogue counterpart, whose positions at successive
indices move at a plausible, constant speed, with similar magnitudes.

A link needs three collinear epochs, or two epochs each detected in both channels (a real object, not
noise near the limit). Linked sources are labelled, listed, and never candidates.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray
from scipy.spatial import cKDTree

from vtac.core.flags import seen_in_both_bands
from vtac.core.model import N_SEQ_PER_BAND
from vtac.core.sky import chord_from_arcsec, separation_arcsec, unit_vectors

#: Largest magnitude change between two epochs of one mover (asteroids vary little in an hour).
_MAX_DMAG = 0.75
#: Largest distance (arcsec) of a third epoch from the line through two others.
_MAX_LINE_RESIDUAL_ARCSEC = 2.0
#: Detections closer than this to their sequence's limit are not linked.
_LIMIT_GUARD_MAG = 0.5


def link_movers(
    position: tuple[NDArray[np.float64], NDArray[np.float64]],
    mag: NDArray[np.float64],
    maglim: NDArray[np.float64],
    uncatalogued: NDArray[np.bool_],
    epoch_hours: NDArray[np.float64],
    *,
    speed_range_arcsec_h: tuple[float, float],
    min_step_arcsec: float,
) -> NDArray[np.bool_]:
    """Which sources belong to a linked mover.

    ``mag`` is the source x sequence magnitude matrix (R0..R3, B0..B3), ``maglim`` the limit of each
    sequence, ``epoch_hours`` the mid-time of each sequence index (4 values), ``min_step_arcsec`` the least
    motion between epochs that tells a mover from one source seen twice (about the association radius).
    Detections within ``_LIMIT_GUARD_MAG`` of the limit are not linked: noise there is plentiful.
    """
    detected = np.isfinite(mag)
    by_index = detected[:, :N_SEQ_PER_BAND] | detected[:, N_SEQ_PER_BAND:]
    epoch = np.argmax(by_index, axis=1)
    headroom = np.max(np.where(detected, np.nan_to_num(maglim, nan=np.inf)[None, :] - mag, -np.inf), axis=1)
    single = uncatalogued & (by_index.sum(axis=1) == 1) & (headroom > _LIMIT_GUARD_MAG)
    members = np.flatnonzero(single & np.isfinite(epoch_hours[epoch]))
    moving = np.zeros(len(position[0]), dtype=bool)
    if len(members) < 2:
        return moving
    hours = epoch_hours[epoch]
    brightest = np.min(np.where(detected, mag, np.inf), axis=1)
    links = _links(
        members, position, hours, brightest, speed_range=speed_range_arcsec_h, min_step=min_step_arcsec
    )
    both_channels = seen_in_both_bands(detected)
    for first, followers in links.items():
        for second in followers:
            if both_channels[first] and both_channels[second]:
                moving[[first, second]] = True
            for third in links.get(second, []):
                if _on_line((first, second, third), position, hours):
                    moving[[first, second, third]] = True
    return moving


def _links(
    members: NDArray[np.int64],
    position: tuple[NDArray[np.float64], NDArray[np.float64]],
    hours: NDArray[np.float64],
    brightest: NDArray[np.float64],
    *,
    speed_range: tuple[float, float],
    min_step: float,
) -> dict[int, list[int]]:
    """Earlier source -> later sources it may have moved to (allowed speed, similar brightness)."""
    ra, dec = position
    span = float(np.nanmax(hours[members]) - np.nanmin(hours[members]))
    reach = float(chord_from_arcsec(speed_range[1] * max(span, 1e-3)))
    links: dict[int, list[int]] = {}
    for i, j in cKDTree(unit_vectors(ra[members], dec[members])).query_pairs(reach, output_type="ndarray"):
        first, second = sorted((int(members[i]), int(members[j])), key=lambda k: hours[k])
        elapsed = hours[second] - hours[first]
        if elapsed <= 0 or abs(brightest[first] - brightest[second]) > _MAX_DMAG:
            continue
        distance = float(separation_arcsec(ra[[first]], dec[[first]], ra[second], dec[second])[0])
        if distance > min_step and speed_range[0] <= distance / elapsed <= speed_range[1]:
            links.setdefault(first, []).append(second)
    return links


def _on_line(
    trio: tuple[int, int, int],
    position: tuple[NDArray[np.float64], NDArray[np.float64]],
    hours: NDArray[np.float64],
) -> bool:
    """Whether the third epoch continues the uniform motion from the first to the second."""
    ra, dec = position
    first, second, third = trio
    scale = (hours[third] - hours[first]) / (hours[second] - hours[first])
    predicted_ra = ra[first] + (ra[second] - ra[first]) * scale
    predicted_dec = dec[first] + (dec[second] - dec[first]) * scale
    offset = np.hypot((ra[third] - predicted_ra) * np.cos(np.radians(dec[first])), dec[third] - predicted_dec)
    return bool(offset * 3600.0 <= _MAX_LINE_RESIDUAL_ARCSEC)
