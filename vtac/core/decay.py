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
from vtac.core.lightcurve import solve_power_law

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
    """The joint decay, or None when the points cannot constrain it (fewer than 3, or one epoch only).

    The same least squares as the ranking's light-curve fit (:func:`vtac.core.lightcurve.solve_power_law`),
    on this candidate's own measurement times.
    """
    usable = [p for p in points if p.t_s > 0 and math.isfinite(p.t_s) and math.isfinite(p.mag)]
    bands = sorted({p.band for p in usable})
    epochs = {round(p.t_s, 3) for p in usable}
    if len(usable) < len(bands) + 1 or len(epochs) < 2:
        return None
    times = np.array([p.t_s for p in usable])
    t_ref = float(np.exp(np.mean(np.log(times))))
    is_r = np.array([p.band == "R" for p in usable], dtype=float)
    weight = 1.0 / np.square([_error(p.err) for p in usable])
    mags = np.array([p.mag for p in usable])
    theta, normal = solve_power_law(mags[None, :], weight[None, :], is_r, np.log10(times / t_ref))
    alpha_err = float(math.sqrt(max(np.linalg.inv(normal[0])[2, 2], 0.0)))
    return PowerLawDecay(
        alpha=float(theta[0, 2]),
        alpha_err=alpha_err,
        t_ref_s=t_ref,
        offsets={band: float(theta[0, 0 if band == "R" else 1]) for band in bands},
    )


def _error(err: float | None) -> float:
    if err is None or not math.isfinite(err) or err <= 0:
        return DEFAULT_ERROR_MAG
    return max(err, ERROR_FLOOR_MAG)
