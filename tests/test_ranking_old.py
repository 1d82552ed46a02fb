"""Candidate selection, score, ranking, colour and redshift hint."""

import numpy as np
import pytest

from vtac.core.config import ScienceConfig
from vtac.core.flags import Photometry
from vtac.core.ranking import SourceEvidence, afterglow_score, colour_and_redshift, is_candidate, rank_order

CFG = ScienceConfig()
NAN = np.nan
FADING = [18.0, 18.5, 19.0, 19.5, 18.5, 19.0, 19.5, 20.0]


def evidence(
    mags, xflag, *, vflag=(0,) * 6, eflag=0, dmag=NAN, margin=2.0, in_mxt=1, maglim=22.5, available=None
):
    mag = np.array([mags], dtype=float)
    detected = np.isfinite(mag)
    return SourceEvidence(
        photometry=Photometry(
            mag=mag,
            magerr=np.where(detected, 0.05, NAN),
            available=np.ones(8, bool) if available is None else np.array(available, bool),
            maglim=np.full(8, maglim),
        ),
        eflag=np.where(detected, eflag, -99999),
        xflag=np.array([xflag]),
        vflag=np.array([vflag]),
        dmag=np.full((1, 8), dmag),
        catalog_margin=np.full((1, 8), margin),
        in_mxt=np.array([in_mxt]),
    )


AFTERGLOW = evidence(FADING, [3] * 8, vflag=[4] * 6)
FLARE = evidence([16.0] * 8, [4] + [2] * 3 + [4] + [2] * 3, vflag=[2] * 6, dmag=-1.0)
ARTEFACT = evidence([22.3] + [NAN] * 7, [3] + [1] * 7, eflag=4)
STAR = evidence([17.0] * 8, [2] * 8, vflag=[2] * 6)


def score(item):
    return float(afterglow_score(item, CFG.score_weights)[0])


def test_fading_uncatalogued_afterglow_scores_near_one():
    assert score(AFTERGLOW) > 0.95


def test_afterglow_outranks_a_flaring_star_which_outranks_an_artefact():
    assert score(AFTERGLOW) > score(FLARE) > score(ARTEFACT)
    assert score(ARTEFACT) < 0.1


def test_flagged_detections_lower_the_score():
    two_sequences = [20.0, 20.1] + [NAN] * 6
    clean = evidence(two_sequences, [3, 3] + [1] * 6, vflag=[2, 1, 1, 0, 0, 0])
    flagged = evidence(two_sequences, [3, 3] + [1] * 6, vflag=[2, 1, 1, 0, 0, 0], eflag=8)
    assert score(clean) >= CFG.best_score_threshold > score(flagged)
    assert score(evidence(FADING, [3] * 8, vflag=[4] * 6, eflag=8)) < score(AFTERGLOW)


def test_candidates_need_evidence_a_clean_detection_and_the_circle():
    assert is_candidate(AFTERGLOW).tolist() == [True]
    assert is_candidate(FLARE).tolist() == [True]
    assert is_candidate(STAR).tolist() == [False]
    assert is_candidate(ARTEFACT).tolist() == [False]
    outside = evidence(FADING, [3] * 8, vflag=[4] * 6, in_mxt=0)
    no_circle = evidence(FADING, [3] * 8, vflag=[4] * 6, in_mxt=-1)
    assert is_candidate(outside).tolist() == [False]
    assert is_candidate(no_circle).tolist() == [True]


def test_rank_order_breaks_ties_by_distance_to_the_mxt_centre_then_brightness():
    order = rank_order(
        np.array([0.5, 0.9, 0.9, 0.9]), np.array([0.1, 0.8, 0.2, 0.2]), np.array([18, 18, 19, 17.0])
    )
    assert order.tolist() == [3, 2, 1, 0]


@pytest.mark.parametrize(
    ("mags", "expected_colour", "hint"),
    [
        ([19.8, 20.0, NAN, NAN, 20.4, 20.5, NAN, NAN], 0.55, "z<4"),
        ([19.0, 19.2, NAN, NAN, 20.5, 20.7, NAN, NAN], 1.5, "high-z"),
        ([19.0, 19.2, NAN, NAN, NAN, NAN, NAN, NAN], NAN, "high-z"),
        ([22.0, NAN, NAN, NAN, NAN, NAN, NAN, NAN], NAN, "undetermined"),
        ([NAN] * 8, NAN, "no detection"),
    ],
)
def test_colour_and_redshift_hint(mags, expected_colour, hint):
    colour, z_hint = colour_and_redshift(evidence(mags, [1] * 8).photometry, CFG)
    np.testing.assert_allclose(colour, [expected_colour])
    assert z_hint.tolist() == [hint]


def test_r_only_source_is_undetermined_when_no_b_sequence_exists():
    item = evidence([19.0] + [NAN] * 7, [1] * 8, available=[1, 1, 1, 1, 0, 0, 0, 0])
    assert colour_and_redshift(item.photometry, CFG)[1].tolist() == ["undetermined"]
