"""The uncertainty `make evaluate` prints beside each rate."""

import numpy as np
import pytest

from vtac.evaluation.datasets import rate_interval


def test_the_interval_covers_the_true_rate_about_95_times_in_100():
    rng = np.random.default_rng(17)
    for true_rate, n in ((0.02, 110), (0.75, 40), (0.97, 420)):
        draws = rng.binomial(n, true_rate, 4000) / n
        covered = np.mean([lo <= true_rate <= hi for lo, hi in (rate_interval(r, n) for r in draws)])
        assert 0.92 <= covered <= 0.985, (true_rate, n, covered)


def test_no_false_best_in_110_fields_does_not_prove_a_rate_below_one_percent():
    low, high = rate_interval(0.0, 110)
    assert low == 0.0
    assert high > 0.01
    assert rate_interval(0.0, 1100)[1] < 0.01


@pytest.mark.parametrize("n", [0, -1])
def test_a_rate_measured_on_no_field_says_nothing(n):
    assert rate_interval(0.5, n) == (0.0, 1.0)
