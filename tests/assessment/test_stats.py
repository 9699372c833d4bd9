import math

import pytest

from jedi_academy.assessment import stats


def test_exact_sign_flip_p_values() -> None:
    # 4 positive differences: only the all-positive and all-negative flips are as extreme -> 2 / 16
    assert stats.paired_permutation_p([1, 2, 3, 4]) == pytest.approx(2 / 16)
    assert stats.paired_permutation_p([1, -1]) == 1.0
    assert stats.paired_permutation_p([0, 0, 0]) == 1.0


def test_monte_carlo_p_is_never_zero_and_reproducible() -> None:
    diffs = [1.0] * 30
    p = stats.paired_permutation_p(diffs, seed=3, samples=999)
    assert p == pytest.approx(1 / 1000)
    assert stats.paired_permutation_p(diffs, seed=3, samples=999) == p
    mixed = [1.0, -1.0] * 15
    assert stats.paired_permutation_p(mixed, seed=3, samples=999) == pytest.approx(1.0)


def test_distribution_helpers() -> None:
    distribution = stats.normalise({0: math.log(1), 1: math.log(3)})
    assert distribution == pytest.approx({0: 0.25, 1: 0.75})
    assert stats.total_variation({0: 1.0}, {1: 1.0}) == 1.0
    assert stats.total_variation(distribution, distribution) == 0.0
    assert stats.entropy_bits({0: 0.5, 1: 0.5}) == pytest.approx(1.0)
    assert stats.average([{0: 1.0}, {1: 1.0}]) == {0: 0.5, 1: 0.5}
    assert stats.argmax({0: 0.2, 1: 0.8}) == 1
    assert stats.expected({0: 0.5, 2: 0.5}, lambda code: 3 - code) == pytest.approx(2.0)


def test_cohens_d() -> None:
    assert stats.cohens_d([1, 2, 3], [3, 4, 5]) == pytest.approx(2.0)
    assert stats.cohens_d([1, 1], [1, 1]) is None
