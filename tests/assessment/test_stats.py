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


def test_one_sided_sign_flip_and_the_smallest_reachable_p() -> None:
    assert stats.sign_flip_p([1, 2, 3, 4, 5]) == pytest.approx(1 / 32)  # two-sided could not go below 2/32
    assert stats.sign_flip_p([-1, -2, -3]) == pytest.approx(1.0)  # the wrong direction is no evidence
    assert stats.sign_flip_p([3, -1]) == pytest.approx(0.5)
    assert [stats.min_reachable_p(n) for n in (0, 1, 4, 5)] == [1.0, 0.5, 1 / 16, 1 / 32]
    assert stats.min_reachable_p(40, samples=999) == pytest.approx(1 / 1000)


def test_d_z_and_shift_distance() -> None:
    assert stats.d_z([1.0, 2.0, 3.0]) == pytest.approx(2.0)
    assert stats.d_z([27.0, 27.0, 27.0]) is None and stats.d_z([1.0]) is None
    assert stats.mean_pairwise_total_variation([{0: 1.0}, {1: 1.0}, {2: 1.0}]) == 1.0
    mixed = [{0: 0.7, 1: 0.3}, {0: 0.7, 2: 0.3}]  # 70% content (code 0), 30% a fixed label
    assert stats.mean_pairwise_total_variation(mixed) == pytest.approx(0.3)
    assert stats.mean_pairwise_total_variation([{0: 1.0}]) is None
