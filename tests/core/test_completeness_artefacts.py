"""Completeness measured in the lists, and the detector signatures no astrophysical source makes."""

import numpy as np
import pytest

from vtac.core.artefacts import detector_artefacts
from vtac.core.completeness import Completeness, measure_completeness

NAN = np.nan


def steady_field(m50, width, n=3000, seed=0, maglim=22.5):
    """Steady sources seen by eight sequences whose true curves are (m50, width), magnitudes 18-24."""
    rng = np.random.default_rng(seed)
    true = rng.uniform(18.0, 24.0, n)
    measured = true[:, None] + rng.normal(0.0, 0.05, (n, 8))
    detect = rng.random((n, 8)) < 1.0 / (1.0 + np.exp((measured - np.asarray(m50)) / np.asarray(width)))
    return np.where(detect, measured, NAN), np.full(8, maglim)


def test_the_completeness_curve_of_each_sequence_is_measured_from_its_field():
    m50 = np.array([22.2, 22.5, 22.8, 22.5, 22.0, 22.5, 22.5, 22.9])
    width = np.array([0.1, 0.25, 0.5, 0.25, 0.1, 0.25, 0.5, 0.25])
    mag, maglim = steady_field(m50, width)
    measured = measure_completeness(mag, maglim, nominal_width=0.25)
    assert measured.m50 == pytest.approx(m50, abs=0.12)
    assert np.all(np.abs(np.log(measured.width / width)) < np.log(1.6))
    assert np.all(measured.n_reference > 500)


@pytest.mark.parametrize("dropped", [0.0, 0.01, 0.03])
def test_the_share_of_bright_sources_a_list_misses_all_the_same_is_measured(dropped):
    """Lists that lose a share of bright sources at random (edges, bad columns, blends) level off below 1."""
    mag, maglim = steady_field(np.full(8, 22.5), np.full(8, 0.25), n=6000, seed=3)
    lost = np.random.default_rng(4).random(mag.shape) < dropped
    measured = measure_completeness(np.where(lost, NAN, mag), maglim, nominal_width=0.25)
    assert measured.miss_floor == pytest.approx(np.full(8, dropped), abs=0.004)
    assert measured.detection_probability(np.full((1, 8), 19.0))[0] == pytest.approx(
        1.0 - measured.miss_floor, abs=1e-3
    )


def test_a_sequence_without_reference_sources_keeps_the_nominal_curve():
    mag = np.full((5, 8), NAN)
    mag[:, 0] = 19.0  # seen in R0 only: nothing to compare R0 with, and no source for the others
    maglim = np.full(8, 22.5)
    maglim[7] = NAN
    measured = measure_completeness(mag, maglim, nominal_width=0.25)
    assert measured.m50[:7] == pytest.approx(np.full(7, 22.5))
    assert np.isnan(measured.m50[7])
    assert measured.width == pytest.approx(np.full(8, 0.25))
    assert not measured.n_reference.any()


def test_detection_probability_follows_the_curve():
    curve = Completeness(np.full(8, 22.0), np.full(8, 0.2), np.zeros(8, dtype=np.int64), np.zeros(8))
    probability = curve.detection_probability(np.array([[20.0] * 8, [22.0] * 8, [24.0] * 8]))
    assert probability[0] == pytest.approx(1.0, abs=1e-4)
    assert probability[1] == pytest.approx(0.5)
    assert probability[2] == pytest.approx(0.0, abs=1e-4)


NOMINAL = Completeness.nominal(np.full(8, 22.5), 0.25)


def signatures(rows, eflag=0, completeness=NOMINAL):
    mag = np.array(rows, dtype=float)
    return detector_artefacts(
        mag,
        np.where(np.isfinite(mag), 0.05, NAN),
        np.where(np.isfinite(mag), eflag, -99999),
        completeness,
        bluest_colour=-0.5,
        faintest_saturated_mag=16.0,
    )


def test_a_blue_detection_the_simultaneous_red_stack_would_have_seen_is_impossible():
    found = signatures(
        [
            [NAN] * 4 + [20.0, NAN, NAN, NAN],  # VT_B at 20, VT_R (to 22.5) saw nothing: impossible
            [NAN] * 4 + [22.3, NAN, NAN, NAN],  # VT_B near the limit: VT_R may well have missed it
            [20.0, NAN, NAN, NAN] + [NAN] * 4,  # VT_R only: a dropout is physical
            [20.0] * 8,  # both channels
        ]
    )
    assert found.blue_impossible.any(axis=1).tolist() == [True, False, False, False]
    assert found.artefact(np.isfinite(np.array([[NAN] * 4 + [20.0, NAN, NAN, NAN]] * 4))).tolist() == [
        True,
        False,
        False,
        False,
    ]


def test_how_surely_the_red_stack_would_have_seen_a_blue_detection_is_graded_below_the_veto():
    found = signatures(
        [
            [NAN] * 4 + [20.0, NAN, NAN, NAN],
            [NAN] * 4 + [21.3, NAN, NAN, NAN],  # VT_R at the bluest colour: 21.9, 0.6 mag above its m50
            [NAN] * 4 + [22.3, NAN, NAN, NAN],
            [20.0] * 8,
        ]
    )
    would_see = found.red_would_see.max(axis=1)
    assert would_see[0] > 0.95 and 0.5 < would_see[1] < 0.95 and would_see[2] < 0.2
    assert would_see[3] == 0.0  # seen by VT_R at the same time: nothing to explain
    assert found.blue_impossible.any(axis=1).tolist() == [True, False, False, False]
    bound = found.simultaneity_log_bound()  # ln of the most likely VT_R miss, summed over such detections
    assert bound[0] < bound[1] < bound[2] < 0 and bound[3] == 0.0
    assert np.exp(bound[1]) == pytest.approx(1.0 - would_see[1])


def test_a_blue_detection_is_not_judged_where_the_red_sequence_is_missing():
    curve = Completeness.nominal(np.array([NAN] * 4 + [22.5] * 4), 0.25)
    found = signatures([[NAN] * 4 + [20.0, NAN, NAN, NAN]], completeness=curve)
    assert not found.blue_impossible.any()


def test_a_saturation_flag_on_a_faint_detection_alone_in_its_channel_is_a_cosmic_ray():
    rows = [
        [20.0, NAN, NAN, NAN] + [NAN] * 4,  # one camera, 20th magnitude, saturated: a cosmic ray
        [20.0, NAN, NAN, NAN, 20.5, NAN, NAN, NAN],  # both cameras at once: a real source
        [11.0, 11.2, 11.5, 11.7] + [NAN] * 4,  # really saturated
    ]
    found = signatures(rows, eflag=4)
    assert found.false_saturation.any(axis=1).tolist() == [True, False, False]
    detected = np.isfinite(np.array(rows))
    assert found.artefact(detected).tolist() == [True, False, False]
    assert found.fraction(detected, found.false_saturation).tolist() == [1.0, 0.0, 0.0]


def test_a_blue_detection_brighter_than_its_simultaneous_red_one_allows_is_foreign_light():
    rows = [
        [21.8, NAN, NAN, NAN, 19.6, NAN, NAN, NAN],  # B - R = -2.2: something on top of it in VT_B
        [20.0, NAN, NAN, NAN, 20.3, NAN, NAN, NAN],  # an ordinary colour
        [20.4, NAN, NAN, NAN, 20.0, NAN, NAN, NAN],  # blue, but within the bluest colour
    ]
    found = signatures(rows)
    assert found.blue_excess.tolist() == [[False] * 4 + [True] + [False] * 3] + [[False] * 8] * 2
    assert found.foreign_light.any(axis=1).tolist() == [True, False, False]
    assert not found.artefact(np.isfinite(np.array(rows))).any()  # its VT_R light is its own
    saturated = signatures(rows, eflag=4)  # a pair of impossible colour clears no bit
    assert saturated.false_saturation[:, 4].tolist() == [True, False, False]


def test_a_source_with_one_suspect_detection_among_real_ones_is_not_an_artefact():
    rows = [[20.0, 20.1, NAN, NAN, NAN, 20.6, NAN, NAN]]  # R0 alone in its index; R1 and B1 together
    found = signatures(rows, eflag=4)
    assert found.false_saturation[0, 0] and not found.artefact(np.isfinite(np.array(rows)))[0]
    assert found.any_suspect(np.isfinite(np.array(rows)))[0]


def test_a_blue_detection_is_the_sources_light_where_red_saw_it_as_bright_in_another_sequence():
    found = signatures(
        [
            [19.0, 19.2, NAN, 19.6, 19.5, 19.7, 19.9, 20.1],  # VT_R dropped R2: the source's own light
            [22.0, NAN, NAN, NAN, NAN, NAN, 19.8, NAN],  # VT_B 2 mag brighter than VT_R ever saw: a hit
        ]
    )
    assert found.blue_impossible.any(axis=1).tolist() == [False, True]
    assert found.red_would_see[0].max() == 0.0
