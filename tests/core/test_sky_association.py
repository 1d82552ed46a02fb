"""Sky index and association of detections into VT sources."""

import numpy as np
import pytest
from astropy.coordinates import SkyCoord
from numpy.typing import NDArray

from vtac.core.association import associate
from vtac.core.sky import SkyIndex, pairs_within, separation_arcsec

ARCSEC = 1 / 3600


def _field(rng, n, ra0, dec0, half_width_deg):
    ra = (ra0 + rng.uniform(-half_width_deg, half_width_deg, n) / np.cos(np.radians(dec0))) % 360
    return ra, np.clip(dec0 + rng.uniform(-half_width_deg, half_width_deg, n), -90, 90)


@pytest.mark.parametrize(
    ("ra0", "dec0", "half_width", "radius"),
    [
        (215.0, 53.0, 0.05, 2.0),  # a VT field: flat cell grid
        (0.0, -20.0, 0.05, 2.0),  # straddling RA 0
        (120.0, 89.97, 0.02, 2.0),  # at the pole: 3-D tree
        (215.0, 53.0, 0.05, 40.0),  # radius larger than a cell: 3-D tree
        (10.0, 5.0, 20.0, 600.0),  # a set too large for a flat frame
    ],
)
def test_nearest_agrees_with_brute_force_everywhere(ra0, dec0, half_width, radius):
    rng = np.random.default_rng(1)
    cat_ra, cat_dec = _field(rng, 3000, ra0, dec0, half_width)
    ra, dec = _field(rng, 400, ra0, dec0, half_width)
    index, sep = SkyIndex(cat_ra, cat_dec).nearest(ra, dec, radius)
    brute = separation_arcsec(ra[:, None], dec[:, None], cat_ra[None, :], cat_dec[None, :])
    expected = np.where(brute.min(axis=1) <= radius, brute.argmin(axis=1), -1)
    assert (expected >= 0).sum() > 20
    np.testing.assert_array_equal(index, expected)
    np.testing.assert_allclose(sep[index >= 0], brute.min(axis=1)[index >= 0], atol=1e-6)
    assert np.isnan(sep[index < 0]).all()


@pytest.mark.parametrize(
    ("ra0", "dec0", "half_width", "radius"),
    [
        (215.0, 53.0, 0.05, 20.0),  # a VT field: flat cell grid
        (0.0, -20.0, 0.05, 20.0),  # straddling RA 0
        (120.0, 89.97, 0.02, 20.0),  # at the pole: 3-D tree
        (10.0, 5.0, 20.0, 3600.0),  # a set too large for a flat frame
    ],
)
def test_close_pairs_agree_with_brute_force_everywhere(ra0, dec0, half_width, radius):
    ra, dec = _field(np.random.default_rng(2), 600, ra0, dec0, half_width)
    brute = separation_arcsec(ra[:, None], dec[:, None], ra[None, :], dec[None, :])
    expected = np.argwhere(np.triu(brute <= radius, k=1))
    assert len(expected) > 20
    np.testing.assert_array_equal(pairs_within(ra, dec, radius), expected)


def test_close_pairs_of_one_position_or_of_coincident_ones():
    assert pairs_within([10.0], [10.0], 5.0).shape == (0, 2)
    assert pairs_within([10.0, 10.0, 11.0], [10.0, 10.0, 10.0], 0.0).tolist() == [[0, 1]]


def test_queries_far_from_the_indexed_field_are_answered_exactly():
    index = SkyIndex([100.0, 100.0001], [10.0, 10.0])
    found, _ = index.nearest([100.0, 100.0], [10.0 + 0.5 / 3600, 60.0], 1.0)
    assert found.tolist() == [0, -1]
    found_far, _ = index.nearest([100.0], [60.0], 1.0)  # only far queries: the exact 3-D path
    assert found_far.tolist() == [-1]


def test_separation_matches_astropy_across_the_ra_wrap():
    ra1, dec1 = np.array([359.9999, 10.0]), np.array([-30.0, 89.99])
    ra2, dec2 = np.array([0.0001, 190.0]), np.array([-30.0001, 89.99])
    ours = separation_arcsec(ra1, dec1, ra2, dec2)
    theirs = SkyCoord(ra1, dec1, unit="deg").separation(SkyCoord(ra2, dec2, unit="deg")).arcsec
    np.testing.assert_allclose(ours, theirs, rtol=1e-9)


def test_empty_index_matches_nothing():
    index, sep = SkyIndex([], []).nearest([10.0], [10.0], 1.0)
    assert index.tolist() == [-1] and np.isnan(sep).all()


def _detections(
    rows: list[tuple[str, float, float]],
) -> tuple[NDArray[np.str_], NDArray[np.float64], NDArray[np.float64]]:
    seq, ra, dec = zip(*rows, strict=True)
    return np.array(seq), np.array(ra, dtype=float), np.array(dec, dtype=float)


def test_detections_of_one_star_in_every_sequence_form_one_source():
    rows = [(s, 100.0 + 0.3 * ARCSEC * k, 20.0) for k, s in enumerate(["R0", "R1", "B0", "B3"])]
    assert associate(*_detections(rows), 1.0).tolist() == [0, 0, 0, 0]


@pytest.mark.parametrize(("offset_arcsec", "same"), [(0.9, True), (1.1, False)])
def test_association_radius_is_honoured(offset_arcsec, same):
    rows = [("R0", 100.0, 20.0), ("B0", 100.0, 20.0 + offset_arcsec * ARCSEC)]
    source = associate(*_detections(rows), 1.0)
    assert bool(source[0] == source[1]) is same


def test_two_detections_of_one_sequence_never_share_a_source():
    rows = [("R0", 50.0, 0.0), ("R1", 50.0, 0.2 * ARCSEC), ("R1", 50.0, -0.6 * ARCSEC)]
    source = associate(*_detections(rows), 1.0)
    assert source[1] == source[0]
    assert source[2] != source[0]


def test_association_works_across_ra_zero():
    rows = [("R0", 359.99999, 0.0), ("B0", 0.00001, 0.0)]
    assert associate(*_detections(rows), 1.0).tolist() == [0, 0]


def test_ids_of_earlier_sequences_stay_when_later_sequences_arrive():
    rng = np.random.default_rng(3)
    ra, dec = rng.uniform(10, 10.1, 50), rng.uniform(-5, -4.9, 50)
    first = associate(np.array(["R0"] * 50), ra, dec, 1.0)
    seq = np.array(["R0"] * 50 + ["B1"] * 50)
    later = associate(seq, np.concatenate([ra, ra + 0.2 * ARCSEC]), np.concatenate([dec, dec]), 1.0)
    np.testing.assert_array_equal(later[:50], first)
    np.testing.assert_array_equal(later[50:], first)
