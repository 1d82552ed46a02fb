"""Moving objects: one asteroid, one VT source per sequence — linked back into one mover.

An asteroid crossing the field at tens of arcsec per hour is a new, single-epoch source in every sequence
(R and B of one sequence index are simultaneous, so they associate with each other, not across indices).
Each looks like the perfect afterglow: uncatalogued, bright, there once. Linking them is what a BA does by
eye: sources seen at one sequence index only, without catalogue counterpart, whose positions at successive
indices move at a plausible, constant speed, with similar magnitudes.

A link needs three collinear epochs, or two epochs each detected in both channels (a real object, not
noise near the limit). Linked sources are labelled, listed, and never candidates. A mover that crossed a
field source at one sequence index merged with it there: :func:`stray_detections` finds those detections
on the track's extension so that the pipeline can give them back to the mover.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from vtac.core.flags import seen_in_both_bands
from vtac.core.records import N_SEQ_PER_BAND
from vtac.core.sky import pairs_within, separation_arcsec

#: Largest magnitude change between two epochs of one mover (asteroids vary little in an hour).
_MAX_DMAG = 0.75
#: Largest distance (arcsec) of a third epoch from the line through two others.
_MAX_LINE_RESIDUAL_ARCSEC = 2.0
#: Detections closer than this to their sequence's limit are not linked.
_LIMIT_GUARD_MAG = 0.5


def mover_tracks(
    position: tuple[NDArray[np.float64], NDArray[np.float64]],
    mag: NDArray[np.float64],
    maglim: NDArray[np.float64],
    uncatalogued: NDArray[np.bool_],
    epoch_hours: NDArray[np.float64],
    *,
    speed_range_arcsec_h: tuple[float, float],
    min_step_arcsec: float,
) -> list[tuple[int, ...]]:
    """The linked movers, each as the sources (one per sequence index) it was seen as.

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
    if len(members) < 2:
        return []
    hours = epoch_hours[epoch]
    brightest = np.min(np.where(detected, mag, np.inf), axis=1)
    links = _links(
        members, position, hours, brightest, speed_range=speed_range_arcsec_h, min_step=min_step_arcsec
    )
    both_channels = seen_in_both_bands(detected)
    linked: list[set[int]] = []
    for first, followers in links.items():
        for second in followers:
            if both_channels[first] and both_channels[second]:
                _join(linked, {first, second})
            for third in links.get(second, []):
                if _on_line((first, second, third), position, hours):
                    _join(linked, {first, second, third})
    return [tuple(sorted(group)) for group in linked]


def _join(groups: list[set[int]], members: set[int]) -> None:
    """Add linked sources to the groups, merging every group they share a source with."""
    touching = [group for group in groups if group & members]
    for group in touching:
        groups.remove(group)
        members |= group
    groups.append(members)


def stray_detections(
    tracks: list[tuple[int, ...]],
    source_position: tuple[NDArray[np.float64], NDArray[np.float64]],
    source_mag: NDArray[np.float64],
    detections: tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.float64], NDArray[np.float64]],
    epoch_hours: NDArray[np.float64],
) -> NDArray[np.int64]:
    """Detections a mover made while crossing another source, to be split off that source.

    An asteroid passing within the association radius of a field star at one sequence index merges with
    it: the star then shows one bright epoch and looks like a fading transient. Each linked track is
    extended to the indices it was not linked at (uniform motion fitted to its epochs); a detection of
    another source found there, on the track and as bright as the mover, is the mover's.
    ``detections`` is (source, sequence column 0..7, ra, dec) per detection; ``source_mag`` the source x
    sequence magnitudes.
    """
    source, column, ra, dec = detections
    index = column % N_SEQ_PER_BAND
    on_track = np.zeros(len(source), dtype=bool)
    in_tracks = np.isin(source, [member for track in tracks for member in track])
    detected = np.isfinite(source_mag)
    epoch = np.argmax(detected[:, :N_SEQ_PER_BAND] | detected[:, N_SEQ_PER_BAND:], axis=1)
    band_columns = np.arange(2 * N_SEQ_PER_BAND).reshape(2, N_SEQ_PER_BAND)
    for track in tracks:
        members = np.array(track)
        hours = epoch_hours[epoch[members]]
        brightness = _band_magnitudes(source_mag[members], band_columns)[column // N_SEQ_PER_BAND]
        for missing in sorted(set(range(N_SEQ_PER_BAND)) - set(epoch[members].tolist())):
            if not np.isfinite(epoch_hours[missing]):
                continue
            predicted = _extrapolate(source_position, members, hours, float(epoch_hours[missing]))
            distance = separation_arcsec(ra, dec, *predicted)
            mag_here = source_mag[source, column]
            with np.errstate(invalid="ignore"):
                on_track |= (
                    (index == missing)
                    & ~in_tracks
                    & (distance <= _MAX_LINE_RESIDUAL_ARCSEC)
                    & (np.abs(mag_here - brightness) <= _MAX_DMAG)
                )
    return np.flatnonzero(on_track)


def _band_magnitudes(mag: NDArray[np.float64], band_columns: NDArray[np.int64]) -> NDArray[np.float64]:
    """A mover's mean magnitude in VT_R and in VT_B (its mean over both where a band never saw it)."""
    overall = float(np.nanmean(mag))
    means = []
    for columns in band_columns:
        values = mag[:, columns]
        means.append(float(np.nanmean(values)) if np.isfinite(values).any() else overall)
    return np.array(means)


def _extrapolate(
    position: tuple[NDArray[np.float64], NDArray[np.float64]],
    members: NDArray[np.int64],
    hours: NDArray[np.float64],
    when: float,
) -> tuple[float, float]:
    """Where a mover was at ``when`` (hours), from a straight-line fit to its linked positions."""
    ra, dec = position
    ra_rad = np.unwrap(np.radians(ra[members]))
    slope_ra, origin_ra = np.polyfit(hours, ra_rad, 1)
    slope_dec, origin_dec = np.polyfit(hours, dec[members], 1)
    return float(np.degrees(slope_ra * when + origin_ra) % 360.0), float(slope_dec * when + origin_dec)


def _links(
    members: NDArray[np.int64],
    position: tuple[NDArray[np.float64], NDArray[np.float64]],
    hours: NDArray[np.float64],
    brightest: NDArray[np.float64],
    *,
    speed_range: tuple[float, float],
    min_step: float,
) -> dict[int, list[int]]:
    """Earlier source -> later sources it may have moved to (allowed speed, similar brightness).

    Every close pair is judged at once (a separation per pair, one by one, was most of the mover's time);
    the links keep the order of the pairs.
    """
    ra, dec = position
    span = float(np.nanmax(hours[members]) - np.nanmin(hours[members]))
    reach_arcsec = speed_range[1] * max(span, 1e-3)
    pairs = members[pairs_within(ra[members], dec[members], reach_arcsec)]
    # Each pair earlier first (the pair's own order where the hours are equal).
    later_first = hours[pairs[:, 1]] < hours[pairs[:, 0]]
    first = np.where(later_first, pairs[:, 1], pairs[:, 0])
    second = np.where(later_first, pairs[:, 0], pairs[:, 1])
    elapsed = hours[second] - hours[first]
    distance = separation_arcsec(ra[first], dec[first], ra[second], dec[second])
    with np.errstate(divide="ignore", invalid="ignore"):
        speed = distance / elapsed
    linked = (
        ~((elapsed <= 0) | (np.abs(brightest[first] - brightest[second]) > _MAX_DMAG))
        & (distance > min_step)
        & (speed_range[0] <= speed)
        & (speed <= speed_range[1])
    )
    links: dict[int, list[int]] = {}
    for earlier, later in zip(first[linked].tolist(), second[linked].tolist(), strict=True):
        links.setdefault(earlier, []).append(later)
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
