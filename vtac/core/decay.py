"""Afterglow decay: a power law fitted to the VT magnitudes of one candidate in both bands at once.

An afterglow fades as F ~ t^-alpha, i.e. mag(t) = m_ref + 2.5 alpha log10(t / t_ref). Both VT channels see
the same decay (the colour of an afterglow hardly changes within the first hours), so one alpha is fitted
with one offset per band; weighted least squares, errors floored because a zero-point is never better than
0.02 mag (Palmerio et al. 2026).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from vtac.core.constants import VT_FRAME_S

ERROR_FLOOR_MAG = 0.02
DEFAULT_ERROR_MAG = 0.1


@dataclass(frozen=True)
class Point:
    """One detection: band ('R' or 'B'), time after the reference (s), magnitude and its error."""

    band: str
    t_s: float
    mag: float
    err: float | None


@dataclass(frozen=True)
class PowerLawDecay:
    """mag(t) = ``offsets[band]`` + 2.5 ``alpha`` log10(t / ``t_ref_s``)."""

    alpha: float
    alpha_err: float
    t_ref_s: float
    offsets: dict[str, float]

    def magnitude(self, band: str, t_s: float | np.ndarray) -> np.ndarray:
        """Model magnitude of ``band`` at ``t_s`` seconds after the reference."""
        return self.offsets[band] + 2.5 * self.alpha * np.log10(np.asarray(t_s, float) / self.t_ref_s)


def n_frames(exposure_s: float | None) -> int | None:
    """Number of 50 s VT frames stacked in an exposure, None when unknown."""
    if exposure_s is None or not math.isfinite(exposure_s) or exposure_s <= 0:
        return None
    return max(1, round(exposure_s / VT_FRAME_S))


def fit_power_law(points: Sequence[Point]) -> PowerLawDecay | None:
    """The joint decay, or None when the points cannot constrain it (fewer than 3, or one epoch only)."""
    usable = [p for p in points if p.t_s > 0 and math.isfinite(p.t_s) and math.isfinite(p.mag)]
    bands = sorted({p.band for p in usable})
    epochs = {round(p.t_s, 3) for p in usable}
    if len(usable) < len(bands) + 1 or len(epochs) < 2:
        return None
    t_ref = float(np.exp(np.mean(np.log([p.t_s for p in usable]))))
    design = np.zeros((len(usable), len(bands) + 1))
    for row, point in enumerate(usable):
        design[row, 0] = 2.5 * math.log10(point.t_s / t_ref)
        design[row, 1 + bands.index(point.band)] = 1.0
    mags = np.array([p.mag for p in usable])
    errors = np.array([_error(p.err) for p in usable])
    weighted = design / errors[:, None]
    solution, *_ = np.linalg.lstsq(weighted, mags / errors, rcond=None)
    covariance = np.linalg.pinv(weighted.T @ weighted)
    alpha_err = float(math.sqrt(max(covariance[0, 0], 0.0)))
    return PowerLawDecay(
        alpha=float(solution[0]),
        alpha_err=alpha_err,
        t_ref_s=t_ref,
        offsets={band: float(solution[1 + index]) for index, band in enumerate(bands)},
    )


def _error(err: float | None) -> float:
    if err is None or not math.isfinite(err) or err <= 0:
        return DEFAULT_ERROR_MAG
    return max(err, ERROR_FLOOR_MAG)
