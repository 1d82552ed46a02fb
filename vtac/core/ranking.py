"""Afterglow candidates, their score, ranking, colour and redshift hint.

A source is a *candidate* when it may be the afterglow: inside the X-ray circle (or no circle known), with
at least one clean detection (EFLAG 0), and showing afterglow evidence — new with respect to the
catalogues, brighter or fainter than its catalogue counterpart, or variable between sequences.

Its *score* is a logistic function of weighted evidence (:class:`vtac.core.config.ScoreWeights`), read as
"how likely this is the afterglow": uncatalogued or brighter than catalogued, fading, seen in both bands and
in several sequences, inside the circle, clean, well above the catalogue limit all raise it; flagged
detections and a lone detection at the VT limit lower it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from vtac.core.config import ScienceConfig, ScoreWeights
from vtac.core.flags import (
    VFLAG_BRIGHTENED,
    VFLAG_FADED,
    XFLAG_DMAG,
    XFLAG_MATCHED,
    XFLAG_NEW,
    Photometry,
)
from vtac.core.model import N_SEQ_PER_BAND

Z_LOW, Z_HIGH, Z_UNDETERMINED, Z_NO_DETECTION = "z<4", "high-z", "undetermined", "no detection"
_NEAR_LIMIT_MAG = 0.5
_WELL_ABOVE_CATALOG_MAG = 1.5


@dataclass(frozen=True)
class SourceEvidence:
    """Per-source inputs of the selection and the score (source x sequence, or per source)."""

    photometry: Photometry
    eflag: NDArray[np.int64]
    xflag: NDArray[np.int64]
    vflag: NDArray[np.int64]
    dmag: NDArray[np.float64]
    catalog_margin: NDArray[np.float64]
    in_mxt: NDArray[np.int64]

    @property
    def n_detections(self) -> NDArray[np.int64]:
        """Sequences in which each source was detected."""
        return self.photometry.detected.sum(axis=1)

    @property
    def flagged(self) -> NDArray[np.bool_]:
        """Detections VVPP flagged as possibly spurious (EFLAG > 0)."""
        return self.photometry.detected & (self.eflag > 0)

    @property
    def verified(self) -> NDArray[np.bool_]:
        """Some catalogue gave evidence on at least one detection (matched, or could have seen it)."""
        return np.asarray(np.isin(self.xflag, (XFLAG_MATCHED, XFLAG_NEW, XFLAG_DMAG)).any(axis=1), dtype=bool)


def is_candidate(evidence: SourceEvidence) -> NDArray[np.bool_]:
    """Sources that may be the afterglow and deserve a BA's look."""
    clean = (evidence.photometry.detected & (evidence.eflag == 0)).any(axis=1)
    differs = np.isin(evidence.xflag, (XFLAG_NEW, XFLAG_DMAG)).any(axis=1)
    varies = np.isin(evidence.vflag, (VFLAG_FADED, VFLAG_BRIGHTENED)).any(axis=1)
    return np.asarray((evidence.in_mxt != 0) & clean & (differs | varies), dtype=bool)


def afterglow_score(evidence: SourceEvidence, weights: ScoreWeights) -> NDArray[np.float64]:
    """Score in [0, 1]: the logistic of the weighted afterglow evidence of each source."""
    logit = np.full(len(evidence.in_mxt), weights.bias)
    for term in (_catalog_terms, _variability_terms, _detection_terms):
        logit += term(evidence, weights)
    return 1.0 / (1.0 + np.exp(-logit))


def _extra(count: NDArray, per_extra: float, cap: float) -> NDArray[np.float64]:
    """Reward for each occurrence beyond the first, capped."""
    return np.minimum(per_extra * np.maximum(count - 1, 0), cap)


def _catalog_terms(evidence: SourceEvidence, weights: ScoreWeights) -> NDArray[np.float64]:
    new = evidence.xflag == XFLAG_NEW
    differs = evidence.xflag == XFLAG_DMAG
    brighter, fainter = differs & (evidence.dmag < 0), differs & (evidence.dmag > 0)
    n_new, n_brighter = new.sum(axis=1), brighter.sum(axis=1)
    well_above = (new & (evidence.catalog_margin >= _WELL_ABOVE_CATALOG_MAG)).any(axis=1)
    return (
        weights.new_source * (n_new > 0)
        + _extra(n_new, weights.new_source_per_extra_sequence, weights.extra_sequence_cap)
        + weights.brighter_than_catalog * (n_brighter > 0)
        + _extra(n_brighter, weights.brighter_per_extra_sequence, weights.extra_sequence_cap)
        + weights.fainter_than_catalog * (fainter.any(axis=1) & (n_brighter == 0))
        + weights.well_above_catalog_limit * well_above
    )


def _variability_terms(evidence: SourceEvidence, weights: ScoreWeights) -> NDArray[np.float64]:
    faded_pairs = evidence.vflag == VFLAG_FADED
    half = faded_pairs.shape[1] // 2  # pairs are R1..R3 then B1..B3
    faded_r, faded_b = faded_pairs[:, :half].any(axis=1), faded_pairs[:, half:].any(axis=1)
    faded = faded_r | faded_b
    brightened = (evidence.vflag == VFLAG_BRIGHTENED).any(axis=1)
    return (
        weights.faded * faded
        + weights.faded_in_both_bands * (faded_r & faded_b)
        + weights.brightened_between_sequences * (brightened & ~faded)
    )


def _detection_terms(evidence: SourceEvidence, weights: ScoreWeights) -> NDArray[np.float64]:
    detected = evidence.photometry.detected
    n_det = evidence.n_detections
    both_bands = detected[:, :N_SEQ_PER_BAND].any(axis=1) & detected[:, N_SEQ_PER_BAND:].any(axis=1)
    flagged_fraction = evidence.flagged.sum(axis=1) / np.maximum(n_det, 1)
    headroom = evidence.photometry.maglim[None, :] - evidence.photometry.mag
    near_limit = (n_det == 1) & (detected & (headroom < _NEAR_LIMIT_MAG)).any(axis=1)
    return (
        weights.both_bands * both_bands
        + _extra(n_det, weights.per_extra_detection, weights.extra_detection_cap)
        + weights.inside_mxt * (evidence.in_mxt == 1)
        + weights.flagged_fraction * flagged_fraction
        + weights.single_detection_near_limit * near_limit
    )


def rank_order(score: NDArray, mxt_distance: NDArray, brightest_mag: NDArray) -> NDArray[np.int64]:
    """Indices by decreasing score; ties go to the source nearer the MXT centre, then the brighter."""
    return np.lexsort(
        (np.nan_to_num(brightest_mag, nan=99.0), np.nan_to_num(mxt_distance, nan=np.inf), -score)
    )


def colour_and_redshift(
    photometry: Photometry, cfg: ScienceConfig
) -> tuple[NDArray[np.float64], NDArray[np.str_]]:
    """Mean VT_B - VT_R over sequences seen in both bands, and the redshift hint it supports.

    Lyman-alpha leaves VT_B (650 nm) at z ~ 4.3 and VT_R (1000 nm) at z ~ 7.2: a source seen in VT_B is at
    z <~ 4 unless very red; a source seen only in VT_R while VT_B was deep enough is a high-z candidate.
    """
    mag_r, mag_b = photometry.mag[:, :N_SEQ_PER_BAND], photometry.mag[:, N_SEQ_PER_BAND:]
    colour = mag_b - mag_r
    paired = np.isfinite(colour)
    b_minus_r = np.where(
        paired.any(axis=1),
        np.nansum(np.where(paired, colour, 0.0), axis=1) / np.maximum(paired.sum(1), 1),
        np.nan,
    )
    seen_r, seen_b = np.isfinite(mag_r).any(axis=1), np.isfinite(mag_b).any(axis=1)
    deepest_b = np.max(
        np.where(photometry.available[N_SEQ_PER_BAND:], photometry.maglim[N_SEQ_PER_BAND:], -np.inf)
    )
    faintest_r = np.nanmax(np.where(np.isfinite(mag_r), mag_r, -np.inf), axis=1)
    red_dropout = seen_r & ~seen_b & (deepest_b - faintest_r > cfg.high_z_colour)
    hint = np.select(
        [np.isfinite(b_minus_r) & (b_minus_r > cfg.high_z_colour), red_dropout, seen_b, ~seen_r],
        [Z_HIGH, Z_HIGH, Z_LOW, Z_NO_DETECTION],
        default=Z_UNDETERMINED,
    )
    return b_minus_r, hint.astype("U12")
