"""The afterglow probability: light-curve fit, field normalisation with "none", reasons, redshift hint."""

from dataclasses import replace

import numpy as np
import pytest

from vtac.core.completeness import Completeness
from vtac.core.flags import Photometry
from vtac.core.lightcurve import field_error_scale, fit_light_curves
from vtac.core.moving import mover_tracks
from vtac.core.pipeline import NOMINAL_MID_TIMES_S, artefacts_of
from vtac.core.ranking import (
    FEATURES,
    IMPLAUSIBLE_LOG_BOUND,
    ReasonContext,
    SourceEvidence,
    chance_lookalikes,
    colour_and_redshift,
    feature_matrix,
    field_probabilities,
    joined_within,
    light_curves,
    load_model,
    lone_detection_log_bound,
    reasons,
)
from vtac.core.science_settings import ScienceConfig

CFG = ScienceConfig()
NAN = np.nan
NOMINAL = Completeness.nominal(np.full(8, 22.5), 0.25)
LOG_T = np.log10(np.tile(np.array(NOMINAL_MID_TIMES_S), 2))
# A power law with alpha = 1 sampled at the nominal mid-times, B - R = 0.5.
DECAY = 18.0 + 2.5 * (LOG_T - LOG_T[0]) + np.r_[np.zeros(4), np.full(4, 0.5)]


def evidence(rows, xflag, *, eflag=0, maglim=22.5, position_log_prior=None):
    mag = np.array(rows, dtype=float)
    detected = np.isfinite(mag)
    n = len(mag)
    photometry = Photometry(
        mag=mag,
        magerr=np.where(detected, 0.03, NAN),
        available=np.ones(8, bool),
        maglim=np.full(8, maglim),
    )
    completeness = Completeness.nominal(np.full(8, maglim), CFG.completeness_width)
    flags = np.where(detected, eflag, -99999)
    return SourceEvidence(
        photometry=photometry,
        eflag=flags,
        xflag=np.array(xflag),
        log_t=LOG_T,
        new_margin=np.zeros(n),
        brighter_sigma=np.zeros(n),
        position_log_prior=(
            np.full(n, -np.log(n)) if position_log_prior is None else np.asarray(position_log_prior, float)
        ),
        in_mxt=np.full(n, -1),
        completeness=completeness,
        artefacts=artefacts_of(photometry, flags, completeness, CFG),
    )


def probabilities(item):
    features = feature_matrix(item, light_curves(item, CFG))
    return field_probabilities(features, item.log_prior, load_model(), CFG.no_afterglow_prior)


def test_a_power_law_decay_is_recovered_and_beats_a_constant():
    sigma = np.full((2, 8), 0.03)
    mag = np.vstack([DECAY, np.full(8, 18.0)])
    curves = fit_light_curves(mag, sigma, np.full(8, 22.5), LOG_T, NOMINAL)
    assert curves.alpha[0] == pytest.approx(1.0, abs=1e-6)
    assert curves.delta_chi2[0] > 1000 and curves.delta_chi2[1] == pytest.approx(0.0, abs=1e-6)


def test_a_rise_before_the_decay_is_told_from_a_plain_decay_and_from_noise():
    plain = DECAY
    risen = DECAY.copy()
    risen[[0, 4]] += 1.0  # one magnitude fainter in the first sequence of both bands: the onset
    rng = np.random.default_rng(3)
    noise = 20.0 + rng.normal(0.0, 0.03, 8)
    sigma = np.full((3, 8), 0.03)
    curves = fit_light_curves(np.vstack([plain, risen, noise]), sigma, np.full(8, 22.5), LOG_T, NOMINAL)
    assert curves.onset_gain[1] > 100  # a single power law cannot follow the rise
    assert curves.onset_gain[0] < 1 and curves.onset_gain[2] < 10


def test_a_rise_then_a_decay_is_not_erratic_but_a_star_jumping_about_is():
    risen = DECAY.copy()
    risen[[0, 4]] += 1.0
    jumping = 20.0 + np.array([0.0, 0.8, -0.6, 0.7, 0.0, 0.8, -0.6, 0.7])
    sigma = np.full((2, 8), 0.03)
    curves = fit_light_curves(np.vstack([risen, jumping]), sigma, np.full(8, 22.5), LOG_T, NOMINAL)
    assert curves.chi2_per_dof[0] < 1  # the onset model fits it: no afterglow model is left wanting
    assert curves.chi2_per_dof[1] > 100


def _steady_field(true_noise_factor: float, rng) -> tuple[np.ndarray, np.ndarray]:
    """200 steady stars whose lists state an error of 0.08 mag while they scatter by ``factor`` x that."""
    magerr = np.full((200, 8), 0.08)
    mag = rng.uniform(19.0, 21.0, (200, 1)) + rng.normal(0.0, 0.08 * true_noise_factor, (200, 8))
    return mag, magerr


def test_the_field_error_scale_is_the_scatter_the_field_really_has():
    rng = np.random.default_rng(5)
    honest = field_error_scale(*_steady_field(1.0, rng), CFG.photometric_floor)
    understated = field_error_scale(*_steady_field(1.5, rng), CFG.photometric_floor)
    assert np.allclose(honest, 1.0, atol=0.1)
    assert np.allclose(understated, 1.5, atol=0.15)


def test_a_steady_star_in_a_field_with_understated_errors_is_not_fading():
    rng = np.random.default_rng(8)
    mag, magerr = _steady_field(1.8, rng)
    star = 20.0 + np.array([-0.25, 0.0, 0.1, 0.25, -0.2, 0.0, 0.1, 0.2])  # ~3 stated sigma, 1.7 real ones
    mag[0], magerr[0] = star, 0.08
    item = evidence(mag, [[2] * 8] * len(mag))
    item.photometry.magerr[:] = magerr
    naive = fit_light_curves(mag, np.hypot(magerr, CFG.photometric_floor), np.full(8, 22.5), LOG_T, NOMINAL)
    assert naive.delta_chi2[0] > 25  # taken at their word, the errors make it a decay
    assert light_curves(item, CFG).delta_chi2[0] < naive.delta_chi2[0] / 2


def test_vanishing_below_a_deep_limit_counts_as_fading_but_not_near_the_limit():
    bright_gone = [[18.0, 19.0, NAN, NAN] + [NAN] * 4]
    faint_gone = [[22.3, 22.4, NAN, NAN] + [NAN] * 4]
    sigma = np.full((1, 8), 0.05)
    deep = fit_light_curves(np.array(bright_gone), sigma, np.full(8, 22.5), LOG_T, NOMINAL)
    shallow = fit_light_curves(np.array(faint_gone), sigma, np.full(8, 22.5), LOG_T, NOMINAL)
    assert deep.amplitude[0] > 3 and deep.delta_chi2[0] > 100
    assert shallow.delta_chi2[0] < 10


def test_probabilities_of_a_field_and_none_sum_to_one():
    field = probabilities(evidence([DECAY, np.full(8, 17.0), np.full(8, 19.0)], [[3] * 8, [2] * 8, [2] * 8]))
    assert field.probability.sum() + field.none == pytest.approx(1.0)
    assert np.argmax(field.probability) == 0 and field.probability[0] > 0.9


def test_a_field_of_steady_catalogued_stars_is_most_likely_none():
    stars = [np.full(8, m) for m in (16.0, 17.5, 19.0, 20.5)]
    field = probabilities(evidence(stars, [[2] * 8] * 4))
    assert field.none > 0.9


def test_steadiness_counts_against_an_uncatalogued_source():
    steady_new = np.full(8, 19.0)
    field = probabilities(evidence([DECAY, steady_new], [[3] * 8, [3] * 8]))
    assert field.probability[0] > 5 * field.probability[1]


def test_a_saturated_afterglow_keeps_a_high_probability():
    clean = probabilities(evidence([DECAY, np.full(8, 18.0)], [[3] * 8, [2] * 8]))
    saturated = probabilities(evidence([DECAY, np.full(8, 18.0)], [[3] * 8, [2] * 8], eflag=4))
    assert saturated.probability[0] > 0.5 and np.argmax(saturated.probability) == 0
    assert clean.probability[0] >= saturated.probability[0] - 0.3


def test_the_x_ray_prior_moves_probability_between_equal_sources():
    near_far = probabilities(evidence([DECAY, DECAY], [[3] * 8] * 2, position_log_prior=[-1.0, -6.0]))
    assert near_far.probability[0] > 50 * near_far.probability[1]


def test_the_model_file_knows_every_feature():
    model = load_model()
    assert model.features == FEATURES and model.trees.n_trees > 0
    assert np.all(np.isfinite(model.trees.value)) and np.isfinite(model.none_utility)
    assert 0 < model.train_no_afterglow_fraction < 1


def test_redshift_hint_uses_simultaneous_pairs():
    r_only_fading = [[19.0, 19.6, 21.0, NAN] + [NAN] * 4]
    photometry = Photometry(
        mag=np.array(r_only_fading),
        magerr=np.full((1, 8), 0.05),
        available=np.ones(8, bool),
        maglim=np.full(8, 22.5),
    )
    _, hint = colour_and_redshift(photometry, CFG)
    assert hint[0] == "high-z"  # B undetected while its simultaneous limit was 3.5 mag deeper than R0
    blended = Photometry(
        mag=np.array([[19.0] * 4 + [21.0] * 4]),
        magerr=np.full((1, 8), 0.05),
        available=np.ones(8, bool),
        maglim=np.full(8, 22.5),
    )
    assert colour_and_redshift(blended, CFG, np.array([True]))[1][0] == "undetermined"
    assert colour_and_redshift(blended, CFG)[1][0] == "high-z"


def test_an_asteroid_seen_once_per_sequence_is_linked():
    hours = np.array(NOMINAL_MID_TIMES_S) / 3600.0
    speed_deg_h = 30.0 / 3600.0
    ra = 150.0 + speed_deg_h * hours
    mag = np.full((4, 8), NAN)
    for k in range(4):
        mag[k, k], mag[k, 4 + k] = 19.0, 19.5
    tracks = mover_tracks(
        (ra, np.full(4, 2.0)),
        mag,
        np.full(8, 22.5),
        np.ones(4, bool),
        hours,
        speed_range_arcsec_h=(3.0, 300.0),
        min_step_arcsec=2.0,
    )
    assert [set(track) for track in tracks] == [{0, 1, 2, 3}]
    still = mover_tracks(
        (np.full(4, 150.0) + np.arange(4) * 0.1, np.full(4, 2.0)),
        mag,
        np.full(8, 22.5),
        np.ones(4, bool),
        hours,
        speed_range_arcsec_h=(3.0, 300.0),
        min_step_arcsec=2.0,
    )
    assert not still


def test_the_decay_error_comes_from_the_detections_and_is_missing_for_limits_only():
    rng = np.random.default_rng(5)
    noisy = DECAY + rng.normal(0.0, 0.03, 8)
    seen_once_then_gone = [18.0, NAN, NAN, NAN] + [NAN] * 4
    sigma = np.full((2, 8), 0.03)
    curves = fit_light_curves(
        np.vstack([noisy, seen_once_then_gone]), sigma, np.full(8, 22.5), LOG_T, NOMINAL
    )
    assert curves.alpha[0] == pytest.approx(1.0, abs=3 * curves.alpha_err[0])
    assert 0.0 < curves.alpha_err[0] < 0.1
    assert curves.delta_chi2[1] > 10 and np.isnan(curves.alpha_err[1])


def test_a_bad_fit_widens_the_decay_error():
    scattered = DECAY + np.array([0.4, -0.4, 0.4, -0.4, -0.4, 0.4, -0.4, 0.4])
    sigma = np.full((2, 8), 0.03)
    curves = fit_light_curves(np.vstack([DECAY, scattered]), sigma, np.full(8, 22.5), LOG_T, NOMINAL)
    assert curves.alpha_err[1] > 5 * curves.alpha_err[0]


def test_a_steady_star_near_the_limit_seen_once_is_no_dramatic_fade():
    """60 % complete at its magnitude, a steady star is seen in one sequence of four, as chance has it: the
    decay that would explain the misses is not measured, and the gain is what a 40 % miss costs."""
    seen_once = [[22.4, NAN, NAN, NAN, 22.9, NAN, NAN, NAN]]
    curve = Completeness.nominal(np.full(8, 22.5), 0.35)
    curves = fit_light_curves(np.array(seen_once), np.full((1, 8), 0.2), np.full(8, 22.5), LOG_T, curve)
    assert np.isnan(curves.alpha_err[0])
    assert curves.delta_chi2[0] < 9.0  # below what a reason calls notable
    assert curves.alpha[0] <= 4.0  # the profiled alpha stays on its physical grid


def test_a_single_epoch_gets_no_decay_from_the_least_squares_alone():
    """One epoch in both bands: the detections say nothing of alpha (the minimum-norm solution once said
    3.1); a bright source gone below deep later limits still earns its fade from those limits."""
    bright_once = [[18.0, NAN, NAN, NAN, 18.5, NAN, NAN, NAN]]
    curves = fit_light_curves(np.array(bright_once), np.full((1, 8), 0.03), np.full(8, 22.5), LOG_T, NOMINAL)
    assert np.isnan(curves.alpha_err[0])
    # six misses of the miss floor's 1 in 200 at most: chi2 > 40 below a constant (p < 1e-9), not the
    # thousands a hard limit would charge
    assert 40 < curves.delta_chi2[0] < 70 and curves.alpha[0] > 2.0


# --- how common a lone detection is in its own field ------------------------------------------------------

LONE_R0 = [21.9, NAN, NAN, NAN, NAN, NAN, NAN, NAN]


def blips(n, rng, mag=(21.7, 22.1), first_sequence=0):
    """Lone VT_R detections near the limit, each in one sequence: what noise and flicker leave in a field."""
    rows = np.full((n, 8), NAN)
    rows[np.arange(n), rng.integers(first_sequence, 4, n)] = rng.uniform(*mag, n)
    return list(rows)


def stars(n, rng):
    return [np.full(8, m) for m in rng.uniform(16.0, 20.0, n)]


def with_circle(item, inside):
    """The field with an X-ray circle holding the sources marked inside (the rest far outside it)."""
    inside = np.asarray(inside, bool)
    return replace(item, in_mxt=inside.astype(int), position_log_prior=np.where(inside, 0.0, -30.0))


def test_chance_lookalikes_counts_sources_like_it_in_the_field_scaled_to_the_circle():
    rng = np.random.default_rng(1)
    rows = [LONE_R0, *blips(40, rng), *stars(38, rng), [NAN] * 4 + [21.9] + [NAN] * 3]
    inside = np.zeros(len(rows), bool)
    inside[:20] = True  # a quarter of the field's sources in the circle
    item = with_circle(evidence(rows, [[3] * 8] * len(rows)), inside)
    expected = chance_lookalikes(item)
    assert expected[0] == pytest.approx(40 / 4)  # the 40 other lone VT_R blips at its height, a quarter
    assert np.all(expected[41:79] == 0)  # seen in every sequence: the light curve speaks
    assert expected[-1] == 0  # a lone VT_B detection is no look-alike of VT_R ones


def test_look_alikes_must_be_as_high_above_the_limit():
    rng = np.random.default_rng(2)
    rows = [[19.5, *[NAN] * 7], *blips(30, rng)]
    assert chance_lookalikes(evidence(rows, [[3] * 8] * len(rows)))[0] == 0


def test_a_lone_near_limit_detection_is_no_best_candidate_in_a_field_full_of_them():
    """The same first-sequence detection near the X-ray centre: in a clean field it may be a seen-once
    afterglow; where the field holds dozens of such blips (here in later sequences, which no seen-once
    afterglow is), chance puts several in the circle and it is not best."""
    rng = np.random.default_rng(3)
    field = stars(60, rng)
    clean = with_circle(evidence([LONE_R0, *field], [[3] + [1] * 7] + [[2] * 8] * 60), [True] + [False] * 60)
    rows = [LONE_R0, *field, *blips(80, rng, first_sequence=1)]
    inside = np.r_[True, np.zeros(60, bool), np.arange(80) < 20]
    noisy = with_circle(evidence(rows, [[3] + [1] * 7] + [[2] * 8] * 60 + [[3] * 8] * 80), inside)
    alone, among_many = probabilities(clean).probability[0], probabilities(noisy).probability[0]
    assert among_many < CFG.best_probability_threshold
    assert among_many < alone / 2


def test_a_lone_detection_is_bounded_by_how_surely_an_afterglow_would_have_been_seen_again():
    """Seen once in VT_R at 20.0, 21.0, 22.2 (limit 22.5); then VT_R and VT_B at once; then VT_R twice."""
    rows = [[mag] + [NAN] * 7 for mag in (20.0, 21.0, 22.2)]
    rows += [[20.0, NAN, NAN, NAN, 20.5, NAN, NAN, NAN], [20.0, 20.6] + [NAN] * 6]
    bound = lone_detection_log_bound(evidence(rows, [[3] * 8] * 5))
    # 2.5 mag above the limit: a Lyman-alpha dropout *and* a decay steeper than t^-3 between R0 and R1
    assert np.exp(bound[0]) < 0.01
    assert bound[0] < bound[1] < bound[2] < 0  # the nearer the limit, the likelier every miss
    assert np.exp(bound[2]) > 0.1  # a seen-once afterglow at the limit is ordinary
    assert bound[3:].tolist() == [0.0, 0.0]  # seen more than once: its light curve speaks for it


def test_a_lone_detection_no_afterglow_makes_is_an_artefact_and_a_plausible_one_is_bounded():
    item = evidence([[20.0] + [NAN] * 7, [22.2] + [NAN] * 7, DECAY], [[3] * 8] * 3)
    bound = lone_detection_log_bound(item)
    assert item.log_prior == pytest.approx(item.position_log_prior + bound)  # in the fit and the ranking
    assert item.artefact.tolist() == [True, False, False]  # P = 0 in the product (the pipeline's tests)


def test_a_lone_blue_detection_ruled_out_by_both_bounds_together_says_so():
    """VT_B1 1.1 mag above the limit, alone: the simultaneous VT_R, and VT_B before and after, might each
    have missed an afterglow, but not all of them (p < 0.01)."""
    item = evidence([[NAN] * 5 + [21.4, NAN, NAN]], [[3] * 8])
    assert item.artefacts.simultaneity_log_bound()[0] > IMPLAUSIBLE_LOG_BOUND
    assert item.lone_log_bound[0] > IMPLAUSIBLE_LOG_BOUND and item.artefact[0]
    context = ReasonContext.of(
        item,
        light_curves(item, CFG),
        catalogues=(np.array([""]), np.array([NAN]), np.array([""])),
        mxt_distance=np.array([NAN]),
    )
    text = reasons(0, np.zeros((1, len(FEATURES))), context)[0]
    assert text.startswith("likely artefact: VT_B alone, seen once, as an afterglow would be with p = ")


def test_reasons_are_kept_whole_within_the_column_in_their_order():
    texts = [
        "fading " + "a" * 93,
        "new " + "b" * 96,
        "2.1 mag above " + "c" * 86,
        "0.5 R90 from the X-ray centre",
    ]
    joined = joined_within(texts, 320)
    assert joined == "; ".join(texts[:3])  # the fourth would cross 320: dropped, not cut
    assert joined_within(texts, 99) == ""
    assert joined_within(texts[3:], 320, " and ") == texts[3]
