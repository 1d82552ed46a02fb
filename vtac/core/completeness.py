"""How complete each sequence is near its limit, measured in the lists themselves.

A sequence's MAGLIM is a nominal 5-sigma depth; whether a source of magnitude m is actually detected there is
a roll-off whose centre and width depend on the extraction, the seeing and the background of that stack, and
differ from one sequence (and one detector) to the next. A non-detection counts as evidence of a fade only
against that roll-off, so it is measured rather than assumed: the field's own sources are the test set. A
source seen in the other sequences of the same band has a reference magnitude there; the fraction of such
sources that this sequence detects, against that magnitude, is its completeness curve

    P(detected | m) = 1 / (1 + exp((m - m50) / width)).

``m50`` and ``width`` are the maximum a posteriori values on a grid, with weak priors centred on MAGLIM and on
the configured width: a sparse field (few sources near the limit) keeps the nominal curve, a rich one
speaks for itself. Transients are a handful among hundreds of field sources and do not move the fit.

Well above the limit a list still misses a source now and then (the field's edge as it dithers, a bad
column, a blend, a cosmic ray on the source): the curve levels off below one, at ``1 - miss_floor``. The
floor is measured too, on the sources several widths above m50 in each band (the FSC's simulations miss
about 1 % of them, ours a few in ten thousand): a steady star that one sequence missed must not read as a
fade, nor a bright source's miss as proof of an artefact, on lists less tidy than ours.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from vtac.core.records import N_SEQ_PER_BAND

#: Offsets of m50 from MAGLIM and widths tried (mag).
_OFFSETS = np.arange(-1.2, 0.801, 0.05)
_WIDTHS = np.array([0.05, 0.08, 0.12, 0.18, 0.25, 0.35, 0.5, 0.7])
#: Prior sigmas: of the m50 offset (mag), and of ln(width / nominal width).
_OFFSET_PRIOR_SIGMA = 0.5
_LOG_WIDTH_PRIOR_SIGMA = 0.8
#: Reference magnitudes used: this far above and below MAGLIM.
_WINDOW_ABOVE, _WINDOW_BELOW = 2.5, 1.5
#: The miss floor is measured on references from this far above m50 (mag), and at least this many widths
#: above it (where the roll-off itself misses fewer than 0.25 %), up to ``_FLOOR_WINDOW_TOP`` above it.
_FLOOR_WINDOW_START, _FLOOR_WINDOW_WIDTHS, _FLOOR_WINDOW_TOP = 1.5, 6.0, 5.0
#: Beta prior of the miss floor: its mean (a sparse field keeps it) and its weight in sources.
_FLOOR_PRIOR_MEAN, _FLOOR_PRIOR_WEIGHT = 0.005, 100.0
#: Width of the reference-magnitude bins the likelihood is summed over (mag).
_BIN = 0.05
#: The bins' edges from MAGLIM, and log P(detected) and log P(missed) of a source at each bin's centre for
#: every (m50 offset, width) of the grid: the same for every sequence, so computed once.
_EDGES = np.arange(-_WINDOW_ABOVE, _WINDOW_BELOW + _BIN, _BIN)
_Z = np.clip(
    (0.5 * (_EDGES[:-1] + _EDGES[1:])[None, None, :] - _OFFSETS[:, None, None]) / _WIDTHS[None, :, None],
    -50.0,
    50.0,
)
_LOG_DETECT, _LOG_MISS = -np.logaddexp(0.0, _Z), -np.logaddexp(0.0, -_Z)


@dataclass(frozen=True)
class Completeness:
    """Per sequence (R0..R3, B0..B3): the 50 % completeness magnitude, the roll-off width and the share of
    bright sources missed all the same."""

    m50: NDArray[np.float64]
    width: NDArray[np.float64]
    #: How many field sources the curve of each sequence was measured on (0: nominal curve).
    n_reference: NDArray[np.int64]
    #: P(missed) of a source far above the limit: the curve levels off at 1 - miss_floor.
    miss_floor: NDArray[np.float64]

    @classmethod
    def nominal(cls, maglim: NDArray[np.float64], width: float) -> Completeness:
        """The curve assumed before measuring: centred on MAGLIM, of the configured width, with the prior
        miss floor."""
        maglim = np.asarray(maglim, dtype=float)
        return cls(
            maglim.copy(),
            np.full(maglim.shape, width),
            np.zeros(maglim.shape, dtype=np.int64),
            np.full(maglim.shape, _FLOOR_PRIOR_MEAN),
        )

    def columns(self, which: slice) -> Completeness:
        """The curves of some sequences only (one band's, for instance)."""
        return Completeness(
            self.m50[which], self.width[which], self.n_reference[which], self.miss_floor[which]
        )

    def detection_probability(self, mag: NDArray[np.float64]) -> NDArray[np.float64]:
        """P(detected) of sources of magnitude ``mag`` (source x sequence; NaN where m50 is unknown)."""
        with np.errstate(over="ignore", invalid="ignore"):
            z = np.clip((mag - self.m50[None, :]) / self.width[None, :], -50.0, 50.0)
            probability: NDArray[np.float64] = (1.0 - self.miss_floor[None, :]) / (1.0 + np.exp(z))
        return probability


def measure_completeness(
    mag: NDArray[np.float64], maglim: NDArray[np.float64], nominal_width: float
) -> Completeness:
    """The completeness curve of every sequence, from which field sources it detects.

    ``mag`` is the source x sequence magnitude matrix (NaN: not detected), ``maglim`` each sequence's limit
    (NaN: sequence absent). A sequence with no reference source keeps the nominal curve.
    """
    measured = Completeness.nominal(maglim, nominal_width)
    m50, width, count = measured.m50.copy(), measured.width.copy(), measured.n_reference.copy()
    reference = {
        column: _reference_magnitudes(mag, maglim, column)
        for column in map(int, np.flatnonzero(np.isfinite(maglim)))
    }
    for column, magnitudes in reference.items():
        offset = magnitudes - maglim[column]
        with np.errstate(invalid="ignore"):
            near = (offset >= -_WINDOW_ABOVE) & (offset <= _WINDOW_BELOW)
        if not near.any():
            continue
        detected = np.isfinite(mag[near, column])
        m50[column], width[column] = _map_curve(
            maglim[column] + offset[near], detected, maglim[column], nominal_width
        )
        count[column] = int(near.sum())
    floor = _miss_floors(np.isfinite(mag), reference, Completeness(m50, width, count, measured.miss_floor))
    return Completeness(m50, width, count, floor)


def _miss_floors(
    detected: NDArray[np.bool_], reference: dict[int, NDArray[np.float64]], curve: Completeness
) -> NDArray[np.float64]:
    """Per sequence, the share of bright field sources (``reference`` magnitudes, several widths above the
    ``curve``'s m50) its band's sequences miss, pooled over the band (about one in a hundred is a handful
    per sequence), as the mean of its Beta posterior."""
    floors = curve.miss_floor.copy()
    for band in range(len(floors) // N_SEQ_PER_BAND):
        columns = [k for k in reference if k // N_SEQ_PER_BAND == band]
        misses = references = 0
        for column in columns:
            start = max(_FLOOR_WINDOW_START, _FLOOR_WINDOW_WIDTHS * curve.width[column])
            with np.errstate(invalid="ignore"):
                offset = reference[column] - curve.m50[column]
                bright = (offset <= -start) & (offset >= -_FLOOR_WINDOW_TOP)
            references += int(bright.sum())
            misses += int((bright & ~detected[:, column]).sum())
        prior = _FLOOR_PRIOR_MEAN * _FLOOR_PRIOR_WEIGHT
        floors[columns] = (misses + prior) / (references + _FLOOR_PRIOR_WEIGHT)
    return floors


def _reference_magnitudes(
    mag: NDArray[np.float64], maglim: NDArray[np.float64], column: int
) -> NDArray[np.float64]:
    """Each source's median magnitude in the other sequences of the same band (NaN: seen in none)."""
    band = column // N_SEQ_PER_BAND
    others = [
        k
        for k in range(band * N_SEQ_PER_BAND, (band + 1) * N_SEQ_PER_BAND)
        if k != column and np.isfinite(maglim[k])
    ]
    if not others:
        return np.full(len(mag), np.nan)
    seen = mag[:, others]
    reference = np.full(len(mag), np.nan)
    rows = np.isfinite(seen).any(axis=1)
    reference[rows] = _row_medians(seen[rows])
    return reference


def _row_medians(values: NDArray[np.float64]) -> NDArray[np.float64]:
    """``np.nanmedian(values, axis=1)`` of rows holding a value, the same numbers without its masked-array
    path (slow on a few columns: it was most of the measurement): the mean of the two middle values."""
    ordered = np.sort(values, axis=1)  # NaN last
    count = np.count_nonzero(~np.isnan(values), axis=1)[:, None]
    low = np.take_along_axis(ordered, (count - 1) // 2, axis=1)
    high = np.take_along_axis(ordered, count // 2, axis=1)
    median: NDArray[np.float64] = ((low + high) / 2.0)[:, 0]
    return median


def _map_curve(
    reference: NDArray[np.float64], detected: NDArray[np.bool_], maglim: float, nominal_width: float
) -> tuple[float, float]:
    """The (m50, width) of the grid with the largest posterior for these detections and misses.

    The reference magnitudes are binned (``_BIN`` mag): the likelihood is a sum over bins of hits and
    misses, whatever the number of sources.
    """
    hits = np.histogram(reference[detected] - maglim, _EDGES)[0]
    misses = np.histogram(reference[~detected] - maglim, _EDGES)[0]
    log_likelihood = _LOG_DETECT @ hits + _LOG_MISS @ misses
    log_prior = (
        -0.5 * np.square(_OFFSETS / _OFFSET_PRIOR_SIGMA)[:, None]
        - 0.5 * np.square(np.log(_WIDTHS / nominal_width) / _LOG_WIDTH_PRIOR_SIGMA)[None, :]
    )
    best = np.unravel_index(np.argmax(log_likelihood + log_prior), log_prior.shape)
    return float(maglim + _OFFSETS[best[0]]), float(_WIDTHS[best[1]])
