"""The afterglow probability of every VT source, its reasons, the redshift hint.

**Model.** Within one field, exactly one of these is true: source 1 is the afterglow, ..., source N is, or
the afterglow is none of them (not detected, or no afterglow). Bayes with a Poisson field gives the odds of
"source i" against "none" as

    (1 - pi0) / pi0  x  L_i  x  rho(x_i) / lambda

where L_i is the likelihood ratio of the source's evidence (afterglow against field source), rho the prior
density of the afterglow's position (the X-ray circle's 2-D Gaussian, or uniform over the field without
one), lambda the surface density of field sources, and pi0 the prior probability that no afterglow is
detected. ``log L_i`` is a sum of small decision trees over features a GRB astronomer recognises
(:data:`FEATURES`: the light-curve fit, the catalogue verdicts, the height above the limit early and
late in each band), boosted by ``tools/fit_model.py`` under a conditional-logit loss, times the bounds
physics puts on an afterglow's misses (:attr:`SourceEvidence.log_prior`: a fixed offset, not learned); the
probabilities of the sources and of "none" then sum to one, so a BA can read P = 0.93 at face value. The
model is a JSON file of tree arrays (``vtac/data/afterglow_model.json``) evaluated with numpy
(:mod:`vtac.core.trees`).

**Reasons.** Each feature's contribution along the trees' paths, against the training average (Saabas
attribution), says what made a candidate; the strongest positive ones are written out in words.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache, cached_property
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from vtac.core.artefacts import ArtefactEvidence
from vtac.core.completeness import Completeness
from vtac.core.constants import EFLAG_DOUBT_BITS, EFLAG_SATURATED
from vtac.core.flags import XFLAG_DMAG, XFLAG_MATCHED, XFLAG_NEW, Photometry, seen_in_both_bands
from vtac.core.lightcurve import LightCurves, field_error_scale, fit_light_curves
from vtac.core.records import BANDS, N_SEQ_PER_BAND, SEQUENCES
from vtac.core.schema import REASON_SEPARATOR, REASONS_WIDTH
from vtac.core.science_settings import ScienceConfig
from vtac.core.trees import TreeEnsemble
from vtac.errors import ConfigurationError

Z_LOW, Z_HIGH, Z_UNDETERMINED, Z_NO_DETECTION = "z<4", "high-z", "undetermined", "no detection"
MODEL_FILE = ("data", "afterglow_model.json")

#: Below these, a feature is no reason worth writing out (a chi-square gain, sequences, mag above limit).
_NOTABLE_CHI2, _NOTABLE_DETECTIONS, _NOTABLE_HEADROOM_MAG = 9.0, 3, 1.0
#: Below this probability (ln) of being recorded as it was, a source is no afterglow: a detector artefact,
#: P = 0, saying why (a simulation's GRB that low is vetoed, and teaches the fit nothing).
IMPLAUSIBLE_LOG_BOUND = float(np.log(0.01))
#: A VT_R-only source that would need B - R above this to hide from VT_B: a dropout worth naming.
_NOTABLE_DROPOUT_COLOUR = 1.0
#: Look-alikes of a source seen at most this many times: the same number of detections, in the same bands,
#: within this many magnitudes of its height above the limit.
_LOOKALIKE_MAX_DETECTIONS, _LOOKALIKE_HEADROOM_MAG = 2, 0.5

#: The light curve in coarse form: how far above the limit the source is at its brightest in the first two
#: and in the last two sequences of each band (-1: not detected there). Finer (per sequence) learns the
#: training cases' light-curve shapes and fails on an unseen one (leave-one-case-out, README).
PHASE_HEADROOM = ("headroom_early_R", "headroom_late_R", "headroom_early_B", "headroom_late_B")
#: The features of log L, in the model file's order, with the text of each as a reason.
FEATURES: tuple[str, ...] = (
    "fading",
    "rising",
    "erratic",
    "fade_amplitude",
    "new_fraction",
    "differs_from_catalog",
    "catalogued_fraction",
    "both_bands",
    "n_detections",
    "flagged_fraction",
    "saturated_fraction",
    "headroom",
    "single_detection",
    "new_margin",
    "brighter_sigma",
    "rise_then_fade",
    *PHASE_HEADROOM,
    "blue_without_red",
    "false_saturation",
    "dropout_colour",
    "chance_lookalikes",
)


@dataclass(frozen=True)
class SourceEvidence:  # pylint: disable=too-many-instance-attributes  # one record of per-source inputs
    """What is known of every source (rows), as source x sequence matrices or per-source vectors."""

    photometry: Photometry
    eflag: NDArray[np.int64]
    xflag: NDArray[np.int64]
    #: log10 of each sequence's mid-time after the trigger (8 values, R0..R3, B0..B3).
    log_t: NDArray[np.float64]
    #: How much brighter than the deepest catalogue able to see it the source is, over its new detections.
    new_margin: NDArray[np.float64]
    #: Significance (sigma) of the largest "brighter than its catalogue counterpart".
    brighter_sigma: NDArray[np.float64]
    #: log(rho(x) / lambda): the position prior against the field density (see the module docstring).
    position_log_prior: NDArray[np.float64]
    in_mxt: NDArray[np.int64]
    #: Each sequence's detection curve, measured in the lists (:mod:`vtac.core.completeness`).
    completeness: Completeness
    #: Detections no astrophysical source makes (:mod:`vtac.core.artefacts`).
    artefacts: ArtefactEvidence

    @cached_property
    def simultaneity_log_bound(self) -> NDArray[np.float64]:
        """:meth:`~vtac.core.artefacts.ArtefactEvidence.simultaneity_log_bound` of every source, computed
        once for the offset and the reasons."""
        return self.artefacts.simultaneity_log_bound()

    @cached_property
    def lone_log_bound(self) -> NDArray[np.float64]:
        """:func:`lone_detection_log_bound` of every source."""
        return lone_detection_log_bound(self)

    @cached_property
    def physics_log_bound(self) -> NDArray[np.float64]:
        """ln of the most an afterglow's likelihood can be given where it was missed: a VT_B detection
        without VT_R (:attr:`simultaneity_log_bound`), a lone detection (:attr:`lone_log_bound`); 0 for a
        source physics has nothing against."""
        return self.simultaneity_log_bound + self.lone_log_bound

    @property
    def log_prior(self) -> NDArray[np.float64]:
        """The model's fixed offset: the position prior plus :attr:`physics_log_bound`. Offsets, not
        features: in the fit too, so the trees cannot unlearn them from a few examples, and they keep
        growing where the trees' leaves stop."""
        return self.position_log_prior + self.physics_log_bound

    @cached_property
    def artefact(self) -> NDArray[np.bool_]:
        """Sources made only of artefact detections, or recorded as no afterglow is once in a hundred
        (:attr:`physics_log_bound`): never the afterglow. Cached: the reasons ask it row by row."""
        implausible = self.physics_log_bound < IMPLAUSIBLE_LOG_BOUND
        return np.asarray(self.artefacts.artefact(self.photometry.detected) | implausible, dtype=bool)

    @property
    def n_detections(self) -> NDArray[np.int64]:
        """Sequences in which each source was detected."""
        count: NDArray[np.int64] = self.photometry.detected.sum(axis=1)
        return count

    @property
    def own_light(self) -> NDArray[np.bool_]:
        """Source x sequence: detections that can be the source's own light, every one but a cosmic ray's
        (:attr:`~vtac.core.artefacts.ArtefactEvidence.foreign_light`: its flux says nothing of the star or
        afterglow it fell on)."""
        return np.asarray(self.photometry.detected & ~self.artefacts.foreign_light, dtype=bool)

    @property
    def headroom(self) -> NDArray[np.float64]:
        """How far above its sequence's limit each source's most significant detection of its own light
        is (-inf: none)."""
        photometry = self.photometry
        margin = np.where(self.own_light, photometry.maglim[None, :] - photometry.mag, -np.inf)
        return np.asarray(np.max(margin, axis=1, initial=-np.inf), dtype=float)

    @property
    def verified(self) -> NDArray[np.bool_]:
        """Some catalogue gave evidence on at least one detection (matched, or could have seen it)."""
        return np.asarray(np.isin(self.xflag, (XFLAG_MATCHED, XFLAG_NEW, XFLAG_DMAG)).any(axis=1), dtype=bool)


@dataclass(frozen=True)
class AfterglowModel:
    """The fitted model: the trees of log L, the utility of "none" and the training mix it belongs to."""

    features: tuple[str, ...]
    trees: TreeEnsemble
    none_utility: float
    train_no_afterglow_fraction: float
    description: str

    def none_log_odds(self, no_afterglow_prior: float) -> float:
        """Utility of "none" for a chosen prior P(no detectable afterglow) instead of the training mix's."""
        return self.none_utility + _logit(no_afterglow_prior) - _logit(self.train_no_afterglow_fraction)


@cache
def load_model(path: str | None = None) -> AfterglowModel:
    """The packaged model, or the file given (``ScienceConfig.model_file``), read once."""
    try:
        if path is None:
            resource = resources.files("vtac")
            for part in MODEL_FILE:
                resource = resource.joinpath(part)
            document = json.loads(resource.read_text(encoding="utf-8"))
        else:
            document = json.loads(Path(path).read_text(encoding="utf-8"))
        return _model(document)
    except OSError as error:
        raise ConfigurationError(f"afterglow model file {path}: {error.strerror}") from error
    except (KeyError, TypeError, ValueError) as error:
        raise ConfigurationError(
            f"afterglow model file {path or 'packaged'}: bad layout ({error})"
        ) from error


def _model(document: dict[str, Any]) -> AfterglowModel:
    if tuple(document["features"]) != FEATURES:
        raise ValueError(f"features {document['features']} are not {list(FEATURES)} (refit the model)")
    return AfterglowModel(
        features=FEATURES,
        trees=TreeEnsemble.from_document(document["trees"], len(FEATURES)),
        none_utility=float(document["none_utility"]),
        train_no_afterglow_fraction=float(document["train_no_afterglow_fraction"]),
        description=str(document.get("description", "")),
    )


def _logit(p: float) -> float:
    p = min(max(p, 1e-6), 1 - 1e-6)
    return float(np.log(p / (1.0 - p)))


def light_curves(evidence: SourceEvidence, cfg: ScienceConfig) -> LightCurves:
    """The joint power-law / constant fit of every source (see :mod:`vtac.core.lightcurve`), on its own
    light: a cosmic ray's detection is neither a point of its curve nor a miss."""
    photometry = evidence.photometry
    magerr = np.nan_to_num(photometry.magerr, nan=0.1)
    magerr = magerr * field_error_scale(photometry.mag, magerr, cfg.photometric_floor)[None, :]
    sigma = np.sqrt(np.square(magerr) + cfg.photometric_floor**2)
    maglim = np.where(photometry.available, photometry.maglim, np.nan)
    own = evidence.own_light
    return fit_light_curves(
        np.where(own, photometry.mag, np.nan),
        sigma,
        maglim,
        evidence.log_t,
        evidence.completeness,
        unknown=photometry.detected & ~own,
    )


def feature_matrix(evidence: SourceEvidence, curves: LightCurves) -> NDArray[np.float64]:
    """Source x feature matrix in the order of :data:`FEATURES`."""
    photometry = evidence.photometry
    detected = photometry.detected
    n_det = detected.sum(axis=1)
    per_det = np.maximum(n_det, 1)
    gain = np.log1p(np.sqrt(curves.delta_chi2))
    alpha = np.nan_to_num(curves.alpha)
    headroom = evidence.headroom
    flagged = detected & ((evidence.eflag & EFLAG_DOUBT_BITS) > 0) & (evidence.eflag > 0)
    saturated = detected & ((evidence.eflag & EFLAG_SATURATED) > 0) & (evidence.eflag > 0)
    columns = {
        "fading": np.where(alpha > 0, gain, 0.0),
        "rising": np.where(alpha < 0, gain, 0.0),
        "erratic": np.log1p(curves.chi2_per_dof),
        "fade_amplitude": np.clip(curves.amplitude, -3.0, 5.0),
        "new_fraction": (evidence.xflag == XFLAG_NEW).sum(axis=1) / per_det,
        "differs_from_catalog": (evidence.xflag == XFLAG_DMAG).any(axis=1).astype(float),
        "catalogued_fraction": (evidence.xflag == XFLAG_MATCHED).sum(axis=1) / per_det,
        "both_bands": seen_in_both_bands(detected),
        "n_detections": n_det.astype(float),
        "flagged_fraction": flagged.sum(axis=1) / per_det,
        "saturated_fraction": saturated.sum(axis=1) / per_det,
        "headroom": np.clip(np.nan_to_num(headroom, nan=0.0, neginf=0.0), -2.0, 5.0),
        "single_detection": (n_det == 1).astype(float),
        "new_margin": np.clip(np.nan_to_num(evidence.new_margin), 0.0, 4.0),
        "brighter_sigma": np.log1p(np.clip(np.nan_to_num(evidence.brighter_sigma), 0.0, None)),
        "rise_then_fade": np.log1p(np.sqrt(curves.onset_gain)),
        # how surely the simultaneous VT_R would have seen its bluest VT_B-only detection: graded evidence
        # below the veto (a VT_B hit 1 mag above the VT_R roll-off is not yet impossible, nor likely)
        "blue_without_red": evidence.artefacts.red_would_see.max(axis=1, initial=0.0),
        "false_saturation": evidence.artefacts.fraction(detected, evidence.artefacts.false_saturation),
        "dropout_colour": _dropout_colour(evidence),
        "chance_lookalikes": np.log1p(chance_lookalikes(evidence)),
    }
    above_limit = np.clip(
        np.nan_to_num(
            np.where(evidence.own_light, photometry.maglim[None, :] - photometry.mag, -1.0), nan=-1.0
        ),
        -5.0,
        10.0,
    )
    phases = above_limit.reshape(len(above_limit), 2 * len(BANDS), N_SEQ_PER_BAND // 2).max(axis=2)
    columns |= dict(zip(PHASE_HEADROOM, phases.T, strict=True))
    return np.column_stack([np.asarray(columns[name], dtype=float) for name in FEATURES])


def _dropout_colour(evidence: SourceEvidence) -> NDArray[np.float64]:
    """For a source seen in VT_R and never in VT_B: the B - R it needs to hide from the simultaneous VT_B
    stacks (their 50 % completeness minus its R), at the most; 0 for a source seen in VT_B."""
    mag = evidence.photometry.mag
    mag_r, seen_b = mag[:, :N_SEQ_PER_BAND], np.isfinite(mag[:, N_SEQ_PER_BAND:]).any(axis=1)
    hidden = evidence.completeness.m50[N_SEQ_PER_BAND:][None, :] - mag_r
    with np.errstate(invalid="ignore"):
        needed = np.max(np.where(np.isfinite(hidden), hidden, -np.inf), axis=1, initial=-np.inf)
    return np.where(seen_b | ~np.isfinite(needed), 0.0, np.clip(needed, -2.0, 5.0))


#: What afterglows do around a lone detection: decay indices after it (weighted around the alpha ~ 1 of
#: early optical afterglows, from slow rises to steep early decays); before it, the same or the onset's
#: rise (seen in a large share of early light curves); B - R colours below Lyman-alpha; and the share of
#: afterglows VT_B cannot see (z > 4.3, a tenth at most of those with a redshift).
_LONE_ALPHAS = np.array([-3.0, -2.0, -1.0, -0.5, 0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0])
_DECAY_WEIGHTS = np.array([0.0, 0.0, 0.02, 0.04, 0.06, 0.18, 0.3, 0.2, 0.1, 0.06, 0.04])
_ONSET_SHARE = 0.4
_BEFORE_WEIGHTS = (1.0 - _ONSET_SHARE) * _DECAY_WEIGHTS + _ONSET_SHARE * (_LONE_ALPHAS <= -1.0) / 3.0
_LONE_COLOURS = np.array([0.0, 0.4, 0.8, 1.2, np.inf])  # inf: a dropout, unseen in VT_B
_COLOUR_WEIGHTS = np.array([0.2, 0.4, 0.3, 0.1, 0.0])
_DROPOUT_SHARE = 0.1
#: Floor of the bound (ln): below this, any source is as unlikely an afterglow.
_LEAST_LONE_LOG_PROBABILITY = -12.0


def lone_detection_log_bound(evidence: SourceEvidence) -> NDArray[np.float64]:
    """Per source seen once: ln of the probability that an afterglow seen there was missed everywhere
    else, over the light curves (a rise or a decay before it, a decay after it) and colours afterglows have;
    0 for a source seen more often.

    Each rarity alone is common enough: a steep early decay hides a seen-once afterglow from the next
    sequence, a Lyman-alpha dropout hides it from VT_B. A lone VT_R hit 2.5 mag above the limit needs both
    at once, which an afterglow almost never has and a cosmic ray always does; trees fitted on examples
    add up separate rarities and stop growing past the last example, the product does neither.
    """
    own = evidence.own_light
    lone = np.flatnonzero(own.sum(axis=1) == 1)
    bound = np.zeros(len(own))
    if not lone.size:
        return bound
    photometry, log_t = evidence.photometry, evidence.log_t
    where = np.argmax(own[lone], axis=1)
    red = where < N_SEQ_PER_BAND
    sequence = np.arange(len(log_t))[None, :]
    other_band = (sequence < N_SEQ_PER_BAND) != red[:, None]
    dt = log_t[None, :] - log_t[where][:, None]
    # the source's magnitude in every sequence (last axis) for each decay index and colour
    colour = np.where(
        other_band[:, None, :], np.where(red, 1.0, -1.0)[:, None, None] * _LONE_COLOURS[:, None], 0
    )
    mag = photometry.mag[lone, where][:, None, None, None] + (
        2.5 * _LONE_ALPHAS[None, :, None, None] * dt[:, None, None, :] + colour[:, None, :, :]
    )
    # every other sequence judges, but a sequence a cosmic ray hit (no miss) and, for VT_B, the simultaneous
    # VT_R, which the simultaneity bound already judges at the bluest colour
    simultaneous = sequence == np.where(red, where + N_SEQ_PER_BAND, where - N_SEQ_PER_BAND)[:, None]
    others = photometry.available[None, :] & ~photometry.detected[lone] & ~(simultaneous & ~red[:, None])
    before = _all_missed(evidence, mag, (others & (dt < 0))[:, None, None, :])
    after = _all_missed(evidence, mag, (others & (dt >= 0))[:, None, None, :])
    missed = (_BEFORE_WEIGHTS @ before) * (_DECAY_WEIGHTS @ after)  # over light curves: (source, colour)
    dropout = np.where(red, _DROPOUT_SHARE, 0.0)[:, None]
    weights = (1.0 - dropout) * _COLOUR_WEIGHTS + dropout * np.isinf(_LONE_COLOURS)
    with np.errstate(divide="ignore"):
        bound[lone] = np.maximum(np.log((missed * weights).sum(axis=1)), _LEAST_LONE_LOG_PROBABILITY)
    return bound


def _all_missed(
    evidence: SourceEvidence, mag: NDArray[np.float64], counted: NDArray[np.bool_]
) -> NDArray[np.float64]:
    """The probability that every ``counted`` sequence missed a source of these magnitudes (last axis: the
    sequences), by their measured completeness."""
    detected = np.nan_to_num(evidence.completeness.detection_probability(mag), nan=0.0)
    missed: NDArray[np.float64] = np.prod(np.where(counted, 1.0 - detected, 1.0), axis=-1)
    return missed


def chance_lookalikes(evidence: SourceEvidence) -> NDArray[np.float64]:
    """For a source seen once or twice: how many field sources like it chance puts in the X-ray circle.

    A lone detection near the limit is what a seen-once afterglow and a field star flickering at its
    completeness, a blend in a crowded field or a noise peak all look like; which is likelier depends on how
    common such sources are *in this field*, which a model fitted on other fields cannot know. Counted in the
    field itself (same number of detections, same bands, a similar height above the limit; the source
    excluded), times the share of the field's sources inside the circle (the whole field without one).
    0 for sources seen more often: their light curve speaks for them.
    """
    detected = evidence.photometry.detected
    n_det = detected.sum(axis=1)
    bands = detected[:, :N_SEQ_PER_BAND].any(axis=1) + 2 * detected[:, N_SEQ_PER_BAND:].any(axis=1)
    headroom = np.nan_to_num(evidence.headroom, neginf=0.0)
    inside = evidence.in_mxt
    share = float(np.mean(inside == 1)) if len(inside) and (inside >= 0).any() else 1.0
    expected = np.zeros(len(n_det))
    for count in range(1, _LOOKALIKE_MAX_DETECTIONS + 1):
        for band_set in (1, 2, 3):
            members = np.flatnonzero((n_det == count) & (bands == band_set))
            ordered = np.sort(headroom[members])
            within = np.searchsorted(ordered, headroom[members] + _LOOKALIKE_HEADROOM_MAG, side="right")
            within -= np.searchsorted(ordered, headroom[members] - _LOOKALIKE_HEADROOM_MAG, side="left")
            expected[members] = (within - 1) * share
    return expected


@dataclass(frozen=True)
class FieldProbabilities:
    """P(source i is the afterglow) for every source, P(none of them), and each feature's contribution."""

    probability: NDArray[np.float64]
    none: float
    contributions: NDArray[np.float64]


def field_probabilities(
    features: NDArray[np.float64],
    log_prior: NDArray[np.float64],
    model: AfterglowModel,
    no_afterglow_prior: float,
    *,
    eligible: NDArray[np.bool_] | None = None,
    explain_above: float = 0.0,
) -> FieldProbabilities:
    """Probabilities of the sources and of "none", summing to one over the field.

    ``eligible`` removes sources that cannot be the afterglow (a linked moving object): their probability
    is 0 and the rest is renormalised. Contributions (the reasons) are computed for the sources with a
    probability of at least ``explain_above`` only, zero for the rest: most of a field is never listed.
    """
    utility = model.trees.output(features) + log_prior
    if eligible is not None:
        utility = np.where(eligible, utility, -np.inf)
    none = model.none_log_odds(no_afterglow_prior)
    top = max(float(np.max(utility, initial=-np.inf)), none)
    with np.errstate(under="ignore"):
        weights = np.exp(utility - top)
        none_weight = float(np.exp(none - top))
    total = weights.sum() + none_weight
    probability = weights / total
    explained = probability >= explain_above
    contributions = np.zeros(features.shape)
    contributions[explained] = model.trees.contributions(features[explained])
    return FieldProbabilities(probability, none_weight / total, contributions)


def rank_order(
    probability: NDArray[np.float64], mxt_distance: NDArray[np.float64], brightest_mag: NDArray[np.float64]
) -> NDArray[np.int64]:
    """Indices by decreasing probability; ties go to the source nearer the MXT centre, then the brighter."""
    return np.lexsort(
        (np.nan_to_num(brightest_mag, nan=99.0), np.nan_to_num(mxt_distance, nan=np.inf), -probability)
    )


@dataclass(frozen=True)
class ReasonContext:  # pylint: disable=too-many-instance-attributes  # per-source facts, one array each
    """Per-source facts the reasons quote (arrays over sources); each reason is printed only when its fact
    holds for that source, whatever the trees' contributions say."""

    curves: LightCurves
    both_bands: NDArray[np.bool_]
    n_detections: NDArray[np.int64]
    n_new: NDArray[np.int64]
    #: "PS1DR1 to 21.8": the catalogue that could have seen each new source and its depth ('' if none).
    new_against: NDArray[np.str_]
    differs: NDArray[np.bool_]
    brighter_mag: NDArray[np.float64]
    brighter_against: NDArray[np.str_]
    headroom: NDArray[np.float64]
    mxt_distance: NDArray[np.float64]
    #: Per source: its suspect detections and why, in words ('' for none).
    artefact_text: NDArray[np.str_]
    dropout_colour: NDArray[np.float64]

    @classmethod
    def of(
        cls,
        evidence: SourceEvidence,
        curves: LightCurves,
        *,
        catalogues: tuple[NDArray[np.str_], NDArray[np.float64], NDArray[np.str_]],
        mxt_distance: NDArray[np.float64],
    ) -> ReasonContext:
        """The facts of every source; ``catalogues`` is (new_against, brighter_mag, brighter_against)."""
        new_against, brighter_mag, brighter_against = catalogues
        return cls(
            curves=curves,
            both_bands=seen_in_both_bands(evidence.photometry.detected),
            n_detections=evidence.n_detections,
            n_new=(evidence.xflag == XFLAG_NEW).sum(axis=1),
            new_against=new_against,
            differs=np.asarray((evidence.xflag == XFLAG_DMAG).any(axis=1), dtype=bool),
            brighter_mag=brighter_mag,
            brighter_against=brighter_against,
            headroom=evidence.headroom,
            mxt_distance=mxt_distance,
            artefact_text=_artefact_texts(evidence),
            dropout_colour=_dropout_colour(evidence),
        )


_BLUE_WITHOUT_RED = "without the simultaneous VT_R, which sees any astrophysical colour"


def _artefact_texts(evidence: SourceEvidence) -> NDArray[np.str_]:
    """For each source with suspect detections: which, and why ('likely artefact' when that is all it
    has, 'suspect detection' beside real ones)."""
    detected = evidence.photometry.detected
    artefacts = evidence.artefacts
    texts = np.full(len(detected), "", dtype=f"U{REASONS_WIDTH}")
    simultaneity, lone = evidence.simultaneity_log_bound, evidence.lone_log_bound
    for row in np.flatnonzero(artefacts.any_suspect(detected) | evidence.artefact):
        parts = []
        blue = [SEQUENCES[k] for k in np.flatnonzero(artefacts.blue_impossible[row] & detected[row])]
        if blue:
            parts.append(
                f"{','.join(blue)} without the simultaneous VT_R, which sees any astrophysical colour"
            )
        elif simultaneity[row] < IMPLAUSIBLE_LOG_BOUND:
            chance = np.exp(simultaneity[row])
            parts.append(f"VT_B without the simultaneous VT_R, which would see it (p = {chance:.1g})")
        if lone[row] < IMPLAUSIBLE_LOG_BOUND:
            parts.append(f"seen once, where an afterglow would be seen again (p = {np.exp(lone[row]):.1g})")
        mag = evidence.photometry.mag[row]
        for k in np.flatnonzero(artefacts.false_saturation[row] & detected[row]):
            parts.append(f"saturation flag at {mag[k]:.1f} mag in {SEQUENCES[k]} alone")
        for k in np.flatnonzero(artefacts.blue_excess[row] & detected[row]):
            colour = mag[k] - mag[k - N_SEQ_PER_BAND]
            parts.append(f"{SEQUENCES[k]} at B - R = {colour:.1f}, bluer than any astrophysical source")
        if not parts:  # neither bound alone rules it out, both together do: a lone VT_B detection
            chance = np.exp(simultaneity[row] + lone[row])
            parts.append(f"VT_B alone, seen once, as an afterglow would be with p = {chance:.1g}")
        label = "likely artefact" if evidence.artefact[row] else "suspect detection"
        # One reason: its parts must not use the reasons' separator, or the JSON would split them.
        texts[row] = f"{label}: " + joined_within(parts, REASONS_WIDTH - len(label) - 2, " and ")
    return texts


def joined_within(texts: list[str], width: int, separator: str = REASON_SEPARATOR) -> str:
    """As many of the texts as fit whole in ``width`` characters, in order, joined: a Burst Advocate
    reads a reason entire or not at all (a cut "p = 0.0" would say the opposite of "p = 0.03")."""
    kept: list[str] = []
    for text in texts:
        if len(separator.join([*kept, text])) > width:
            break
        kept.append(text)
    return separator.join(kept)


def reasons(
    row: int, contributions: NDArray[np.float64], context: ReasonContext, max_reasons: int = 3
) -> list[str]:
    """The strongest positive contributions of one source, in words (strongest first, one per idea).

    A detector artefact says so first: "likely artefact: ...". The catalogue verdicts behind an FSC flag
    (new, differs from its counterpart) are always given. Each text is printed only when the test behind
    it holds for this source (:func:`_reason_text`).
    """
    texts: list[str] = []
    if context.artefact_text[row]:
        texts.append(str(context.artefact_text[row]))
    for k in np.argsort(-contributions[row]):
        if contributions[row, k] <= 0.05 or len(texts) >= max_reasons:
            break
        text = _reason_text(FEATURES[k], row, context)
        if text and text not in texts:
            texts.append(text)
    for flag_fact in (_new_text, _catalog_text):  # why a flagged source is listed, whatever its weight
        text = flag_fact(row, context)
        if text and text not in texts:
            texts.append(text)
    distance = context.mxt_distance[row]
    if np.isfinite(distance) and distance <= 1.0 and len(texts) < max_reasons:
        texts.append(f"{distance:.2f} R90 from the X-ray centre")
    return texts


def _reason_text(name: str, row: int, ctx: ReasonContext) -> str:
    """One reason in words, empty unless the fact behind it holds for this source (one text per idea)."""
    for names, text in _REASONS:
        if name in names:
            return str(text(row, ctx))
    if name in PHASE_HEADROOM:
        return _headroom_text(row, ctx)
    return ""


def _decay_text(row: int, ctx: ReasonContext) -> str:
    """A fade or a rise measured by the detections (not from limits alone), with alpha and its error."""
    curves = ctx.curves
    alpha, error, gain = curves.alpha[row], curves.alpha_err[row], curves.delta_chi2[row]
    if not np.isfinite(error) or gain < _NOTABLE_CHI2:
        return ""
    bands = " in both bands" if ctx.both_bands[row] else ""
    trend = "fading" if alpha > 0 else "rising"
    return f"{trend}, alpha = {alpha:.2f} +/- {error:.2f}{bands} (chi2 {gain:.0f} below a constant)"


def _onset_text(row: int, ctx: ReasonContext) -> str:
    gain = ctx.curves.onset_gain[row]
    if gain < _NOTABLE_CHI2 or not np.isfinite(ctx.curves.alpha_err[row]):
        return ""
    return f"rising, then fading (chi2 {gain:.0f} below a single power law)"


def _new_text(row: int, ctx: ReasonContext) -> str:
    if ctx.n_new[row] <= 0:
        return ""
    against = f" in {ctx.new_against[row]}" if ctx.new_against[row] else ""
    count = int(ctx.n_new[row])
    return f"uncatalogued{against}, {count} sequence{'s' if count > 1 else ''}"


def _catalog_text(row: int, ctx: ReasonContext) -> str:
    if not ctx.differs[row]:
        return ""
    if np.isfinite(ctx.brighter_mag[row]):
        return f"{ctx.brighter_mag[row]:.1f} mag brighter than its {ctx.brighter_against[row]} counterpart"
    return "magnitude differs from its catalogue counterpart"


def _headroom_text(row: int, ctx: ReasonContext) -> str:
    headroom = ctx.headroom[row]
    return f"{headroom:.1f} mag above the VT limit" if headroom >= _NOTABLE_HEADROOM_MAG else ""


def _dropout_text(row: int, ctx: ReasonContext) -> str:
    colour = ctx.dropout_colour[row]
    if colour < _NOTABLE_DROPOUT_COLOUR:
        return ""
    return f"VT_R only: B - R > {colour:.1f} (a Lyman-alpha dropout, z > 4)"


_REASONS: tuple[tuple[tuple[str, ...], Any], ...] = (
    (("fading", "rising", "fade_amplitude"), _decay_text),
    (("rise_then_fade",), _onset_text),
    (("new_fraction", "new_margin"), _new_text),
    (("differs_from_catalog", "brighter_sigma"), _catalog_text),
    (("both_bands",), lambda row, ctx: "detected in both VT_R and VT_B" if ctx.both_bands[row] else ""),
    (
        ("n_detections",),
        lambda row, ctx: (
            f"detected in {ctx.n_detections[row]} sequences"
            if ctx.n_detections[row] >= _NOTABLE_DETECTIONS
            else ""
        ),
    ),
    (("headroom", "saturated_fraction"), _headroom_text),
    (("dropout_colour",), _dropout_text),
)


def colour_and_redshift(
    photometry: Photometry, cfg: ScienceConfig, catalogued: NDArray[np.bool_] | None = None
) -> tuple[NDArray[np.float64], NDArray[np.str_]]:
    """Mean VT_B - VT_R over simultaneous pairs, and the redshift hint it supports.

    Lyman-alpha leaves VT_B (650 nm) at z ~ 4.3 and VT_R (1000 nm) at z ~ 7.2. Each sequence index is one
    simultaneous exposure in both channels, so the hint compares R and B of the same index: a colour over
    ``high_z_colour`` there, or an R detection whose simultaneous B limit is deeper than R by that much
    with no B detection at all, points to z >~ 4; a B detection with a modest colour to z <~ 4. The colour of
    a source blended with a catalogued star (``catalogued``) is the star's, not the transient's:
    undetermined.
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
    b_limit = np.where(photometry.available[N_SEQ_PER_BAND:], photometry.maglim[N_SEQ_PER_BAND:], np.nan)
    dropout_depth = np.where(np.isfinite(mag_r), b_limit[None, :] - mag_r, -np.inf)
    red_dropout = (
        seen_r & ~seen_b & (np.max(np.nan_to_num(dropout_depth, nan=-np.inf), axis=1) > cfg.high_z_colour)
    )
    blended = np.zeros(len(mag_r), dtype=bool) if catalogued is None else catalogued
    hint = np.select(
        [
            ~seen_r & ~seen_b,
            blended,
            np.isfinite(b_minus_r) & (b_minus_r > cfg.high_z_colour),
            red_dropout,
            seen_b,
        ],
        [Z_NO_DETECTION, Z_UNDETERMINED, Z_HIGH, Z_HIGH, Z_LOW],
        default=Z_UNDETERMINED,
    )
    return b_minus_r, hint.astype("U12")
