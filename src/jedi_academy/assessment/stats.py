"""Explicit statistics for assessment: distributions, simulated totals, effect sizes, permutation tests."""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Mapping, Sequence

import numpy as np


def normalise(logprobs: Mapping[int, float]) -> dict[int, float]:
    """Softmax over the options' log-likelihoods: the probability of each option among the options."""
    top = max(logprobs.values())
    weights = {code: math.exp(value - top) for code, value in logprobs.items()}
    total = sum(weights.values())
    return {code: weight / total for code, weight in weights.items()}


def average(distributions: Sequence[Mapping[int, float]]) -> dict[int, float]:
    codes = sorted({code for d in distributions for code in d})
    return {code: sum(d.get(code, 0.0) for d in distributions) / len(distributions) for code in codes}


def total_variation(a: Mapping[int, float], b: Mapping[int, float]) -> float:
    """Half the L1 distance: 0 for identical distributions, 1 for disjoint ones."""
    return 0.5 * sum(abs(a.get(code, 0.0) - b.get(code, 0.0)) for code in set(a) | set(b))


def entropy_bits(distribution: Mapping[int, float]) -> float:
    return -sum(p * math.log2(p) for p in distribution.values() if p > 0)


def expected(distribution: Mapping[int, float], value_of: Callable[[int], float]) -> float:
    return sum(p * value_of(code) for code, p in distribution.items())


def argmax(distribution: Mapping[int, float]) -> int:
    return max(sorted(distribution), key=lambda code: distribution[code])


def mean_pairwise_total_variation(distributions: Sequence[Mapping[int, float]]) -> float | None:
    """Mean total-variation distance over all pairs: 0 when every order gives the same answer distribution,
    1 when no two orders share any answer. For a respondent whose answer is a mixture of a content-driven part
    (the same in every order) and a position-driven part (a fixed label), it equals the position-driven
    share."""
    pairs = list(itertools.combinations(distributions, 2))
    if not pairs:
        return None
    return sum(total_variation(a, b) for a, b in pairs) / len(pairs)


def d_z(differences: Sequence[float]) -> float | None:
    """Effect size of paired changes: mean change / SD of the changes (ddof 1). None when it is undefined:
    fewer than two changes, or all changes equal (then the mean change itself says everything)."""
    values = np.asarray(differences, dtype=float)
    if len(values) < 2:
        return None
    spread = float(values.std(ddof=1))
    if spread <= 1e-12 * max(1.0, float(np.abs(values).max())):
        return None
    return float(values.mean() / spread)


EXACT_LIMIT = 16  # up to 2**16 sign patterns are enumerated; beyond that a seeded Monte Carlo estimate


def sign_flip_p(
    differences: Sequence[float], *, alternative: str = "greater", seed: int = 0, samples: int = 20000
) -> float:
    """Sign-flip permutation test of the mean paired difference.

    Under "no difference" every change is as likely to have the opposite sign. ``alternative="greater"`` (the
    hypothesised direction: patients score higher) gives the share of sign patterns whose sum is at least the
    observed one; ``"two-sided"`` compares absolute sums. Exact up to ``EXACT_LIMIT`` pairs, else Monte Carlo
    with the (k + 1) / (n + 1) estimate, which never reports an impossible p = 0."""
    if alternative not in ("greater", "two-sided"):
        raise ValueError(f"unknown alternative {alternative!r}")
    diffs = np.asarray(differences, dtype=float)
    if len(diffs) == 0 or np.allclose(diffs, 0):
        return 1.0
    observed = diffs.sum()
    tolerance = 1e-9 * max(1.0, float(np.abs(diffs).sum()))

    def extreme(sums: np.ndarray) -> np.ndarray:
        if alternative == "greater":
            return sums >= observed - tolerance
        return np.abs(sums) >= abs(observed) - tolerance

    if len(diffs) <= EXACT_LIMIT:
        signs = np.array(list(itertools.product((1.0, -1.0), repeat=len(diffs))))
        return float(extreme(signs @ diffs).sum() / len(signs))
    signs = np.random.default_rng(seed).choice((1.0, -1.0), size=(samples, len(diffs)))
    return (int(extreme(signs @ diffs).sum()) + 1) / (samples + 1)


def min_reachable_p(n: int, *, alternative: str = "greater", samples: int = 20000) -> float:
    """The smallest p the sign-flip test can give with ``n`` pairs: every change in the same direction."""
    if n <= 0:
        return 1.0
    if n > EXACT_LIMIT:
        return max(2.0**-n, 1 / (samples + 1))
    return (2.0 if alternative == "two-sided" else 1.0) / 2.0**n


def paired_permutation_p(differences: Sequence[float], *, seed: int = 0, samples: int = 20000) -> float:
    """Two-sided sign-flip test (kept for per-item change within one comparison)."""
    return sign_flip_p(differences, alternative="two-sided", seed=seed, samples=samples)
