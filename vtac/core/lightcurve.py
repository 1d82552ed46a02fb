"""Joint light-curve fit of every source: a power-law decay against a constant, both bands at once.

An afterglow fades as a power law, f ~ t^-alpha, i.e. m = c_band + 2.5 alpha log10(t), with the same alpha in
VT_R and VT_B (the colour of an afterglow changes little in an hour) and its own constant per band. A star
is constant. Fitting both models to all detections of a source, and counting non-detections as limits,
turns "MAG_VAR in one pair" into a single, graded number: the chi-square a power law gains over a constant.

Many optical afterglows rise before they decay (the onset peak, minutes after the burst): a power law from
the first sequence calls such a light curve erratic. A second decay model starts at the second sequence
index and lets the first be fainter than it (a rise, not a misfit); what it gains over the plain power law
is the evidence of a rise followed by a fade.

Non-detections enter through the completeness of the sequence: a sequence whose limit is MAGLIM misses a
source of magnitude m with probability 1 / (1 + exp((MAGLIM - m) / w)); a model that predicts a bright
source where nothing was seen pays -2 ln of that probability. Both models pay it, so a source seen early
and gone in a deep later sequence is strong evidence of a decay, while one near the limit is not.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from vtac.core.completeness import Completeness
from vtac.core.records import N_SEQ_PER_BAND

#: Smallest probability a non-detection is given, 1e-12: caps its chi-square penalty at ~55.
_MAX_Z = float(np.log(1e12))
_RIDGE = 1e-9


@dataclass(frozen=True)
class LightCurves:
    """Per source: the decay index, the chi-square gain of the power law, the scatter left, the fade."""

    #: alpha of f ~ t^-alpha (positive: fading); NaN where the data cannot constrain it.
    alpha: NDArray[np.float64]
    #: 1-sigma error of alpha from the detections' covariance, scaled by the reduced chi-square when it
    #: exceeds one; NaN where the detections alone do not determine alpha (a decay seen through limits only).
    alpha_err: NDArray[np.float64]
    #: chi2(constant) - chi2(power law), detections and limits together; >= 0.
    delta_chi2: NDArray[np.float64]
    #: chi-square per degree of freedom on the detections of the better decay (power law, or a rise then a
    #: power law where the data constrain it): high for sources no afterglow model fits.
    chi2_per_dof: NDArray[np.float64]
    #: Largest fade in one band (last minus first detection, plus how far below a later deep limit it went).
    amplitude: NDArray[np.float64]
    #: chi2(power law) - chi2(rise, then a power law from the second sequence index on); >= 0.
    onset_gain: NDArray[np.float64]


def fit_light_curves(
    mag: NDArray[np.float64],
    sigma: NDArray[np.float64],
    maglim: NDArray[np.float64],
    log_t: NDArray[np.float64],
    completeness: Completeness,
    *,
    unknown: NDArray[np.bool_] | None = None,
) -> LightCurves:
    """Fit every source (rows of the source x sequence matrices, sequences R0..R3, B0..B3).

    ``sigma`` is the total magnitude error of each detection, ``maglim`` the limit of each sequence (NaN
    where the sequence is absent or its limit unknown), ``log_t`` log10 of each sequence's mid-time after
    the trigger and ``completeness`` each sequence's measured detection curve. ``unknown`` marks the
    sequences where nothing is known of a source (not a detection, not a miss: a detector artefact lay
    on it).

    The decay is profiled over alpha with the limits included, so that a source seen at one epoch only
    gets the alpha its non-detections call for (and no more): the least squares of the detections alone
    has no alpha to give there. Where the detections do determine alpha, their least squares gives it.
    """
    detected = np.isfinite(mag)
    weight = np.where(detected, 1.0 / np.square(np.where(detected, sigma, 1.0)), 0.0)
    values = np.where(detected, mag, 0.0)
    undetected = ~detected & np.isfinite(maglim)[None, :]
    if unknown is not None:
        undetected &= ~unknown
    misses = (completeness, undetected)
    constant = _constant_model(values, weight)
    chi2_constant = _chi2(values, weight, constant) + _limit_penalty(constant, misses)
    chi2_power, chi2_power_total, alpha, alpha_err = _decay(values, weight, log_t, misses)
    n_det = detected.sum(axis=1)
    constrained = _power_law_constrained(detected, undetected)
    onset_constrained = constrained & _power_law_constrained(
        detected & _AFTER_ONSET, undetected & _AFTER_ONSET
    )
    chi2_onset, onset_penalty = _onset_chi2(values, weight, log_t, misses)
    # Erratic means that no afterglow model fits the detections: a rise then a decay is one of them.
    chi2_best = np.where(onset_constrained, np.minimum(chi2_power, chi2_onset), chi2_power)
    return LightCurves(
        alpha=np.where(constrained, alpha, np.nan),
        alpha_err=alpha_err,
        delta_chi2=np.where(constrained, np.maximum(chi2_constant - chi2_power_total, 0.0), 0.0),
        chi2_per_dof=np.where(n_det > 3, chi2_best / np.maximum(n_det - 3, 1), 0.0),
        amplitude=np.maximum(
            _band_amplitude(mag, undetected, maglim, 0), _band_amplitude(mag, undetected, maglim, 1)
        ),
        onset_gain=np.where(
            onset_constrained, np.maximum(chi2_power_total - (chi2_onset + onset_penalty), 0.0), 0.0
        ),
    )


def _decay(
    values: NDArray[np.float64],
    weight: NDArray[np.float64],
    log_t: NDArray[np.float64],
    misses: tuple[Completeness, NDArray[np.bool_]],
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """The power-law decay of every source: chi-square of the detections, chi-square with the limits,
    alpha and its error. Alpha is the detections' least squares where they determine it or it fits the
    limits at least as well as the profile over alpha; the profile's otherwise."""
    power_law, alpha_lsq, normal = _power_law_model(values, weight, log_t)
    chi2_power = _chi2(values, weight, power_law)
    chi2_lsq_total = chi2_power + _limit_penalty(power_law, misses)
    chi2_grid, alpha_grid = _profiled_decay(values, weight, log_t, misses)
    alpha_err = _alpha_error(normal, chi2_power, weight > 0)
    alpha = np.where(np.isfinite(alpha_err) | (chi2_lsq_total <= chi2_grid), alpha_lsq, alpha_grid)
    return chi2_power, np.minimum(chi2_lsq_total, chi2_grid), alpha, alpha_err


#: Median of the chi-square distribution with 1, 2 and 3 degrees of freedom (a band's 2 to 4 detections).
_CHI2_MEDIAN = np.array([np.nan, 0.4549, 1.3863, 2.3660])
#: Fewest sources seen at least twice in a band for its scatter to be measured.
_MIN_SCALE_SOURCES = 20


def field_error_scale(
    mag: NDArray[np.float64], magerr: NDArray[np.float64], floor: float
) -> NDArray[np.float64]:
    """Per sequence (R0..R3, B0..B3): the factor by which the field's stated errors are too small.

    Nearly every source of a field is steady, so the median of their chi-square about their own mean, in
    units of the chi-square distribution's median, is the square of that factor (SExtractor's errors
    ignore flat-field and crowding noise). It is measured on the sources whose stated errors dominate the
    zero-point ``floor``, in each band of each field, and never below one: an afterglow's fade must stand
    out of the scatter the field really has, not of the scatter the lists claim.
    """
    seen = np.isfinite(mag) & np.isfinite(magerr) & (magerr > 0)
    weight = np.where(seen, 1.0 / (np.square(np.where(seen, magerr, 1.0)) + floor**2), 0.0)
    values = np.where(seen, mag, 0.0)
    squared = weight * np.square(values - np.nan_to_num(_constant_model(values, weight)))
    noisy = ~seen | (np.nan_to_num(magerr) >= 2.0 * floor)
    scale = np.ones(mag.shape[1])
    for band in (0, 1):
        cols = slice(band * N_SEQ_PER_BAND, (band + 1) * N_SEQ_PER_BAND)
        dof = seen[:, cols].sum(axis=1) - 1
        usable = (dof >= 1) & noisy[:, cols].all(axis=1)
        if usable.sum() < _MIN_SCALE_SOURCES:
            continue
        chi2 = squared[usable][:, cols].sum(axis=1)
        ratio = float(np.median(chi2 / _CHI2_MEDIAN[dof[usable]]))
        scale[cols] = max(1.0, float(np.sqrt(ratio)))
    return scale


def _profiled_decay(
    values: NDArray[np.float64],
    weight: NDArray[np.float64],
    log_t: NDArray[np.float64],
    misses: tuple[Completeness, NDArray[np.bool_]],
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """The smallest chi-square over the alpha grid, and its alpha, of every source with a miss in a band
    it was seen in (inf and NaN for the others: only they can gain from an alpha the detections do not
    give)."""
    completeness, undetected = misses
    limited = np.flatnonzero(_missed_where_seen(weight > 0, undetected))
    chi2_grid, alpha_grid = np.full(len(values), np.inf), np.full(len(values), np.nan)
    if len(limited):
        profile = _alpha_profile(values[limited], weight[limited], log_t, (completeness, undetected[limited]))
        best = np.argmin(profile, axis=1)
        chi2_grid[limited], alpha_grid[limited] = profile[np.arange(len(limited)), best], _ALPHA_GRID[best]
    return chi2_grid, alpha_grid


#: Decay indices over which the likelihood with limits is profiled.
_ALPHA_GRID = np.round(np.arange(-1.5, 4.0001, 0.1), 2)


def _missed_where_seen(detected: NDArray[np.bool_], undetected: NDArray[np.bool_]) -> NDArray[np.bool_]:
    """Sources with a non-detection in a band in which they were detected."""
    shape = (len(detected), 2, N_SEQ_PER_BAND)
    seen_band = np.any(detected.reshape(shape), axis=2)
    missed_band = np.any(undetected.reshape(shape), axis=2)
    return np.asarray((seen_band & missed_band).any(axis=1), dtype=bool)


def _alpha_profile(
    values: NDArray[np.float64],
    weight: NDArray[np.float64],
    log_t: NDArray[np.float64],
    misses: tuple[Completeness, NDArray[np.bool_]],
) -> NDArray[np.float64]:
    """Chi-square (detections and non-detections) of every source for every alpha of the grid, the
    offset of each band fitted given alpha (source x alpha)."""
    shift = 2.5 * _ALPHA_GRID[:, None] * np.asarray(log_t, dtype=float)[None, :]
    model = np.full((len(values), len(_ALPHA_GRID), len(log_t)), np.nan)
    for band in (0, 1):
        cols = slice(band * N_SEQ_PER_BAND, (band + 1) * N_SEQ_PER_BAND)
        band_weight = weight[:, cols]
        total = band_weight.sum(axis=1)
        offset = np.einsum("nk,nak->na", band_weight, values[:, None, cols] - shift[None, :, cols])
        offset /= np.where(total > 0, total, 1.0)[:, None]
        seen = (total > 0)[:, None, None]
        model[:, :, cols] = np.where(seen, offset[:, :, None] + shift[None, :, cols], np.nan)
    residual = values[:, None, :] - np.nan_to_num(model)
    chi2: NDArray[np.float64] = np.einsum("nk,nak->na", weight, np.square(residual))
    return chi2 + _limit_penalty(model, misses)


#: Sequences from the second index of each band on: where the decay after an onset is fitted.
_AFTER_ONSET = np.tile(np.arange(N_SEQ_PER_BAND) >= 1, 2)


def _onset_chi2(
    values: NDArray[np.float64],
    weight: NDArray[np.float64],
    log_t: NDArray[np.float64],
    misses: tuple[Completeness, NDArray[np.bool_]],
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Chi-square of a rise then a power-law decay, on the detections and from the non-detections after
    the onset: the decay fitted from the second index on, the first index free to be fainter (a detection
    there only pays for being brighter than the decay)."""
    completeness, undetected = misses
    decay, _, _ = _power_law_model(values, weight * _AFTER_ONSET, log_t)
    residual = np.where(
        _AFTER_ONSET, values - np.nan_to_num(decay), np.minimum(values - np.nan_to_num(decay), 0)
    )
    chi2: NDArray[np.float64] = np.sum(weight * np.square(residual), axis=1)
    return chi2, _limit_penalty(decay, (completeness, undetected & _AFTER_ONSET))


def _constant_model(values: NDArray[np.float64], weight: NDArray[np.float64]) -> NDArray[np.float64]:
    """Weighted mean magnitude of each band, broadcast to its sequences (NaN for a band never seen)."""
    model = np.full(values.shape, np.nan)
    for band in (0, 1):
        cols = slice(band * N_SEQ_PER_BAND, (band + 1) * N_SEQ_PER_BAND)
        total = weight[:, cols].sum(axis=1)
        mean = (weight[:, cols] * values[:, cols]).sum(axis=1) / np.where(total > 0, total, 1.0)
        model[:, cols] = np.where(total > 0, mean, np.nan)[:, None]
    return model


def _power_law_model(
    values: NDArray[np.float64], weight: NDArray[np.float64], log_t: NDArray[np.float64]
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """The power law of every source at its sequences (NaN in a band never seen), its alpha and the
    normal matrices of the fit."""
    is_r = np.r_[np.ones(N_SEQ_PER_BAND), np.zeros(N_SEQ_PER_BAND)]
    theta, normal = solve_power_law(values, weight, is_r, log_t)
    model = theta @ _design(is_r, log_t).T
    seen_r = weight[:, :N_SEQ_PER_BAND].sum(axis=1) > 0
    seen_b = weight[:, N_SEQ_PER_BAND:].sum(axis=1) > 0
    model[:, :N_SEQ_PER_BAND] = np.where(seen_r[:, None], model[:, :N_SEQ_PER_BAND], np.nan)
    model[:, N_SEQ_PER_BAND:] = np.where(seen_b[:, None], model[:, N_SEQ_PER_BAND:], np.nan)
    return model, theta[:, 2], normal


def _alpha_error(
    normal: NDArray[np.float64], chi2: NDArray[np.float64], detected: NDArray[np.bool_]
) -> NDArray[np.float64]:
    """Error of alpha where the detections determine it: two epochs in one band, and no fewer detections
    than free parameters (one offset per band seen, plus alpha); errors scaled by sqrt(chi2 / dof) when the
    fit is worse than the measurement errors say. Sequence indices are distinct epochs."""
    per_band = detected.reshape(len(detected), 2, N_SEQ_PER_BAND).sum(axis=2)
    dof = per_band.sum(axis=1) - (per_band > 0).sum(axis=1) - 1
    determined = (per_band.max(axis=1, initial=0) >= 2) & (dof >= 0)
    variance = np.full(len(detected), np.nan)
    if determined.any():
        variance[determined] = np.linalg.inv(normal[determined])[:, 2, 2]
    scale = np.where(dof > 0, np.maximum(chi2 / np.maximum(dof, 1), 1.0), 1.0)
    error: NDArray[np.float64] = np.sqrt(np.maximum(variance, 0.0) * scale)
    return np.where(determined, error, np.nan)


def solve_power_law(
    values: NDArray[np.float64],
    weight: NDArray[np.float64],
    is_r: NDArray[np.float64],
    log_t: NDArray[np.float64],
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Weighted least squares of m = c_R [R] + c_B [B] + 2.5 alpha log10 t, for every row at once.

    Columns are measurements: ``is_r`` says which are VT_R, ``log_t`` gives log10 of their times; a
    weight of 0 leaves a measurement out. Returns (c_R, c_B, alpha) per row and the normal matrices,
    whose inverses are the parameters' covariances. A band without measurements gets c = 0.
    """
    design = _design(is_r, log_t)
    normal = np.einsum("nk,ki,kj->nij", weight, design, design) + _RIDGE * np.eye(3)
    rhs = np.einsum("nk,ki,nk->ni", weight, design, values)
    theta: NDArray[np.float64] = np.linalg.solve(normal, rhs[..., None])[..., 0]
    return theta, normal


def _design(is_r: NDArray[np.float64], log_t: NDArray[np.float64]) -> NDArray[np.float64]:
    return np.column_stack([is_r, 1.0 - is_r, 2.5 * np.asarray(log_t, dtype=float)])


def _power_law_constrained(detected: NDArray[np.bool_], undetected: NDArray[np.bool_]) -> NDArray[np.bool_]:
    """The decay is measurable where one band has two epochs, or one epoch and a limit at another."""
    n_epochs = np.zeros(len(detected), dtype=np.int64)
    for band in (0, 1):
        cols = slice(band * N_SEQ_PER_BAND, (band + 1) * N_SEQ_PER_BAND)
        seen = detected[:, cols]
        informative = np.asarray(seen.any(axis=1))[:, None] & (seen | undetected[:, cols])
        n_epochs = np.maximum(n_epochs, informative.sum(axis=1))
    return n_epochs >= 2


def _chi2(
    values: NDArray[np.float64], weight: NDArray[np.float64], model: NDArray[np.float64]
) -> NDArray[np.float64]:
    chi2: NDArray[np.float64] = np.sum(weight * np.square(values - np.nan_to_num(model)), axis=1)
    return chi2


def _limit_penalty(
    model: NDArray[np.float64], misses: tuple[Completeness, NDArray[np.bool_]]
) -> NDArray[np.float64]:
    """-2 ln P(not detected) summed over the sequences (last axis) where the source was not seen.

    ``model`` is source x sequence, or source x alpha x sequence; P(not detected) = (1 + f e^z) / (1 + e^z),
    z = (m50 - model) / width, f the miss floor, from each sequence's measured completeness curve: its log
    is softplus(z) - softplus(z + ln f), at most -ln f however bright the model.
    """
    completeness, undetected = misses
    missed = undetected if model.ndim == 2 else undetected[:, None, :]
    with np.errstate(invalid="ignore"):
        z = np.minimum((np.nan_to_num(completeness.m50, nan=0.0) - model) / completeness.width, _MAX_Z)
    # The costly part only where a miss is paid for: elsewhere the term is 0.
    paid = missed & np.isfinite(z)
    with np.errstate(divide="ignore"):
        log_floor = np.log(completeness.miss_floor)
    softplus = np.logaddexp(0.0, z, out=np.zeros(z.shape), where=paid)
    softplus -= np.logaddexp(0.0, z + log_floor, out=np.zeros(z.shape), where=paid)
    penalty: NDArray[np.float64] = 2.0 * softplus.sum(axis=-1)
    return penalty


def _band_amplitude(
    mag: NDArray[np.float64], undetected: NDArray[np.bool_], maglim: NDArray[np.float64], band: int
) -> NDArray[np.float64]:
    """Last minus first detection in one band, plus the depth below a later limit it must have reached."""
    cols = slice(band * N_SEQ_PER_BAND, (band + 1) * N_SEQ_PER_BAND)
    band_mag, band_lim, band_missed = mag[:, cols], maglim[cols], undetected[:, cols]
    seen = np.isfinite(band_mag)
    rows = np.arange(len(mag))
    first = np.argmax(seen, axis=1)
    last = N_SEQ_PER_BAND - 1 - np.argmax(seen[:, ::-1], axis=1)
    last_mag = band_mag[rows, last]
    change = np.where(seen.any(axis=1), last_mag - band_mag[rows, first], 0.0)
    later = np.arange(N_SEQ_PER_BAND)[None, :] > last[:, None]
    below = np.where(later & band_missed, band_lim[None, :] - last_mag[:, None], 0.0)
    amplitude: NDArray[np.float64] = np.nan_to_num(
        change + np.maximum(np.max(below, axis=1, initial=0.0), 0.0)
    )
    return amplitude
