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


def cohens_d(a: Sequence[float], b: Sequence[float]) -> float | None:
    """(mean b - mean a) / pooled SD; None when both samples are constant."""
    a_arr, b_arr = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    pooled = (
        math.sqrt((a_arr.var(ddof=1) + b_arr.var(ddof=1)) / 2) if len(a_arr) > 1 and len(b_arr) > 1 else 0.0
    )
    if pooled == 0:
        return None
    return float((b_arr.mean() - a_arr.mean()) / pooled)


def paired_permutation_p(differences: Sequence[float], *, seed: int = 0, samples: int = 20000) -> float:
    """Two-sided sign-flip permutation test of the mean paired difference: exact up to 16 pairs, else Monte
    Carlo with the (k + 1) / (n + 1) estimate, which never reports an impossible p = 0."""
    diffs = np.asarray(differences, dtype=float)
    if len(diffs) == 0 or np.allclose(diffs, 0):
        return 1.0
    observed = abs(diffs.sum())
    if len(diffs) <= 16:
        signs = np.array(list(itertools.product((1.0, -1.0), repeat=len(diffs))))
        return float((np.abs(signs @ diffs) >= observed - 1e-12).sum() / len(signs))
    signs = np.random.default_rng(seed).choice((1.0, -1.0), size=(samples, len(diffs)))
    extreme = int((np.abs(signs @ diffs) >= observed - 1e-12).sum())
    return (extreme + 1) / (samples + 1)
