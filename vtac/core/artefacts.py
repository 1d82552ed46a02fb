"""Detections no astrophysical source can make: the detector's own signatures, judged against physics.

VT_R and VT_B expose simultaneously behind one dichroic: sequence index n of both channels is the same
stretch of time. A source seen in one channel only must therefore have a colour that hides it in the other:

* **VT_B without VT_R.** B - R can be no bluer than ``bluest_colour`` (about -0.5 for the bluest
  afterglow or star), so a VT_B detection at m puts the source at R <= m + 0.5. Where that R is detected
  with high probability by the simultaneous VT_R stack (its *measured* completeness) and nothing was seen,
  no afterglow colour explains it: a cosmic ray or a hot pixel in the VT_B camera.
* **VT_B brighter than the simultaneous VT_R allows.** The same bound when VT_R did see the source: a
  VT_B detection more than ``-bluest_colour`` mag (plus the errors) brighter than its simultaneous VT_R
  one is not the source's light but something on top of it in the VT_B camera (a cosmic ray on a faint
  star: VT_B 19.6 over VT_R 21.8).
* **VT_R without VT_B** is the one physical direction: Lyman-alpha leaves VT_B at z > 4.3 (a dropout). It
  is never ruled out here; the model weighs how red it would have to be.
* **A saturation flag on a faint detection the other camera did not see.** A 45 cm telescope saturates on
  stars of about 12th magnitude in a 50 s frame; SExtractor's saturation bit on a 20th-magnitude detection
  says that a few pixels hit the ceiling: a cosmic ray, not a star. A cosmic ray never strikes both cameras
  at the same place, so a simultaneous detection in the other channel of a possible colour clears it
  (some simulations, the FSC's among them, set the bit on 18th-magnitude afterglows seen in both
  channels).

A source made only of such detections is an artefact: never a best candidate, and its reasons say why. A
cosmic ray on a real source (a false saturation, a VT_B excess) is left out of that source's light curve
and height (:attr:`ArtefactEvidence.foreign_light`): its flux is not the source's.
Below the veto, a VT_B detection without VT_R still bounds the afterglow's likelihood by the probability
that VT_R missed it (:meth:`ArtefactEvidence.simultaneity_log_bound`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from vtac.core.completeness import Completeness
from vtac.core.constants import EFLAG_SATURATED
from vtac.core.records import N_SEQ_PER_BAND

#: The simultaneous channel must have had at least this probability of seeing the bluest possible source.
_CERTAIN_DETECTION = 0.95
#: Floor of a VT_R miss's probability in the bound (caps its log at about -7).
_LEAST_MISS_PROBABILITY = 1e-3
#: Magnitude errors added to the colour bound (a detection may be this many sigma too bright).
_ERROR_SIGMAS = 2.0


@dataclass(frozen=True)
class ArtefactEvidence:
    """Per detection (source x sequence) the two signatures, and per source whether all it has is them."""

    #: A VT_B detection the simultaneous VT_R stack would have seen for any astrophysical colour.
    blue_impossible: NDArray[np.bool_]
    #: A detection with the saturation bit far fainter than the saturation level, alone in its channel (or
    #: beside a detection in the other one that no colour reconciles with it).
    false_saturation: NDArray[np.bool_]
    #: A VT_B detection brighter than its simultaneous VT_R detection allows for any astrophysical colour.
    blue_excess: NDArray[np.bool_]
    #: For a VT_B detection without a simultaneous VT_R one: the probability that VT_R would have seen
    #: the bluest possible source (0 elsewhere). Below the veto it is graded evidence, not proof.
    red_would_see: NDArray[np.float64]

    @property
    def suspect(self) -> NDArray[np.bool_]:
        """Detections carrying any signature."""
        return self.blue_impossible | self.false_saturation | self.blue_excess

    @property
    def foreign_light(self) -> NDArray[np.bool_]:
        """Detections whose flux is something else's on top of a source (a cosmic ray): they are neither
        points of its light curve nor misses."""
        return self.false_saturation | self.blue_excess

    def artefact(self, detected: NDArray[np.bool_]) -> NDArray[np.bool_]:
        """Sources whose every detection is suspect (none for a source never detected)."""
        return np.asarray(detected.any(axis=1) & ~(detected & ~self.suspect).any(axis=1), dtype=bool)

    def any_suspect(self, detected: NDArray[np.bool_]) -> NDArray[np.bool_]:
        """Sources with at least one suspect detection (an artefact, or a real source something hit)."""
        return np.asarray((detected & self.suspect).any(axis=1), dtype=bool)

    def simultaneity_log_bound(self) -> NDArray[np.float64]:
        """Per source: ln of the most an afterglow's likelihood can be given its VT_B detections without
        VT_R: each of those VT_R misses has a probability of at most 1 - ``red_would_see`` even at the
        bluest colour, while a one-camera hit misses VT_R always. Added to the model's offset, in the fit
        and in the ranking alike: the bound is physics, not something to learn from rare examples. A
        cosmic ray's detection (:attr:`foreign_light`) is not the source's and bounds nothing."""
        would_see = np.where(self.foreign_light, 0.0, self.red_would_see)
        miss = np.clip(1.0 - would_see, _LEAST_MISS_PROBABILITY, 1.0)
        return np.asarray(np.log(miss).sum(axis=1), dtype=float)

    def fraction(self, detected: NDArray[np.bool_], which: NDArray[np.bool_]) -> NDArray[np.float64]:
        """Share of each source's detections with the signature ``which``."""
        return np.asarray((which & detected).sum(axis=1) / np.maximum(detected.sum(axis=1), 1), dtype=float)


def detector_artefacts(
    mag: NDArray[np.float64],
    magerr: NDArray[np.float64],
    eflag: NDArray[np.int64],
    completeness: Completeness,
    *,
    bluest_colour: float,
    faintest_saturated_mag: float,
) -> ArtefactEvidence:
    """The signatures of every detection (``mag`` NaN where not detected; columns R0..R3, B0..B3)."""
    detected = np.isfinite(mag)
    mag_r, mag_b = mag[:, :N_SEQ_PER_BAND], mag[:, N_SEQ_PER_BAND:]
    error = np.nan_to_num(magerr, nan=0.0)
    error_r, error_b = error[:, :N_SEQ_PER_BAND], error[:, N_SEQ_PER_BAND:]
    faintest_r = mag_b + error_b * _ERROR_SIGMAS - bluest_colour
    r_curve = completeness.columns(slice(0, N_SEQ_PER_BAND))
    red_would_see = np.zeros(mag.shape)
    red_would_see[:, N_SEQ_PER_BAND:] = np.where(
        np.isfinite(mag_b) & ~np.isfinite(mag_r) & ~_seen_in_red_elsewhere(mag_r, faintest_r),
        np.nan_to_num(r_curve.detection_probability(faintest_r), nan=0.0),
        0.0,
    )
    blue = red_would_see >= _CERTAIN_DETECTION
    with np.errstate(invalid="ignore"):
        excess = mag_r - error_r * _ERROR_SIGMAS > faintest_r  # False where either is NaN
    blue_excess = np.zeros(mag.shape, dtype=bool)
    blue_excess[:, N_SEQ_PER_BAND:] = excess
    paired = np.tile(np.isfinite(mag_r) & np.isfinite(mag_b) & ~excess, 2)
    with np.errstate(invalid="ignore"):
        saturated = detected & (eflag > 0) & ((eflag & EFLAG_SATURATED) > 0) & (mag > faintest_saturated_mag)
    return ArtefactEvidence(
        blue_impossible=blue,
        false_saturation=np.asarray(saturated & ~paired, dtype=bool),
        blue_excess=blue_excess,
        red_would_see=red_would_see,
    )


def _seen_in_red_elsewhere(mag_r: NDArray[np.float64], faintest_r: NDArray[np.float64]) -> NDArray[np.bool_]:
    """VT_B detections whose source VT_R saw, in another sequence, at least as bright as any colour puts
    it: that light is the source's, and the VT_R miss beside it is a miss of the source (a list drops a
    bright source now and then), which its light curve weighs against the measured miss floor."""
    with np.errstate(invalid="ignore"):
        brightest = np.min(np.where(np.isfinite(mag_r), mag_r, np.inf), axis=1, keepdims=True)
        return np.asarray(faintest_r >= brightest, dtype=bool)  # False where the VT_B detection is NaN
