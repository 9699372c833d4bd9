"""Exact statistics of the therapist experiment, as pure functions (no database, no model).

* :func:`page_trend_test`: Page's L for a predicted ordering of k treatments over n blocks (the personas),
  with its exact null distribution: ranks are permuted within each block (midranks for ties, so the
  distribution is exact conditional on the observed ties), and the blocks are independent, so the distribution
  of L is the convolution of the per-block distributions (no enumeration of (k!)^n arrangements).
* :func:`signed_rank_test`: the exact two-sided Wilcoxon signed-rank test on paired differences (zeros
  dropped, midranks for tied absolute values), its null distribution by convolution over the 2^n sign
  assignments.
* :func:`holm`: Holm's (1979) step-down adjustment.
* :func:`minimum_personas`: the fewest blocks with which every test of the design can reach ``alpha``.

Ranks are doubled internally so midranks stay integers and the distributions are exact (fractions, not floats,
until the p-value is returned).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from itertools import permutations
from math import comb

ALPHA = 0.05


def doubled_midranks(values: Sequence[float]) -> list[int]:
    """Twice the ascending midranks (1-based) of ``values``: ties share the mean of their ranks."""
    order = sorted(range(len(values)), key=lambda i: values[i])
    ranks = [0] * len(values)
    start = 0
    while start < len(order):
        end = start
        while end + 1 < len(order) and values[order[end + 1]] == values[order[start]]:
            end += 1
        shared = (start + 1) + (end + 1)  # 2 x the mean of ranks start+1 .. end+1
        for position in range(start, end + 1):
            ranks[order[position]] = shared
        start = end + 1
    return ranks


def _convolve(left: dict[int, Fraction], right: dict[int, Fraction]) -> dict[int, Fraction]:
    out: dict[int, Fraction] = {}
    for a, pa in left.items():
        for b, pb in right.items():
            out[a + b] = out.get(a + b, Fraction(0)) + pa * pb
    return out


@dataclass(frozen=True)
class PageResult:
    L: float
    p: float  # one-sided: P(L >= observed) under the null
    n_blocks: int
    k: int
    smallest_reachable_p: float  # P(L >= its largest possible value) with these blocks' ties


def page_trend_test(blocks: Sequence[Sequence[float]]) -> PageResult:
    """Page's L test that the treatments, given in each block in their predicted ascending order (lowest
    predicted first), rise in that order. L = sum over blocks of sum_j j * rank_j (ranks ascending within the
    block); large L supports the ordering. Exact one-sided p."""
    if not blocks:
        raise ValueError("Page's test needs at least one block")
    k = len(blocks[0])
    if k < 2 or any(len(block) != k for block in blocks):
        raise ValueError("every block needs the same number (at least 2) of treatments")
    weights = range(1, k + 1)
    null: dict[int, Fraction] = {0: Fraction(1)}
    observed = 0
    for block in blocks:
        ranks = doubled_midranks(block)
        observed += sum(w * r for w, r in zip(weights, ranks, strict=True))
        arrangements = list(permutations(ranks))
        step = Fraction(1, len(arrangements))
        here: dict[int, Fraction] = {}
        for arrangement in arrangements:
            value = sum(w * r for w, r in zip(weights, arrangement, strict=True))
            here[value] = here.get(value, Fraction(0)) + step
        null = _convolve(null, here)
    p = sum((q for value, q in null.items() if value >= observed), Fraction(0))
    return PageResult(
        L=observed / 2, p=float(p), n_blocks=len(blocks), k=k, smallest_reachable_p=float(null[max(null)])
    )


@dataclass(frozen=True)
class SignedRankResult:
    n: int  # non-zero differences
    w_plus: float  # the sum of the ranks of the positive differences
    p: float  # exact, two-sided
    smallest_reachable_p: float


def signed_rank_test(differences: Sequence[float]) -> SignedRankResult:
    """Exact two-sided Wilcoxon signed-rank test of paired ``differences`` (zeros dropped, as Wilcoxon did).
    The two-sided p is P(|W+ - E| >= |observed - E|) under the 2^n equally likely sign assignments."""
    nonzero = [d for d in differences if d != 0]
    n = len(nonzero)
    if n == 0:
        return SignedRankResult(n=0, w_plus=0.0, p=1.0, smallest_reachable_p=1.0)
    ranks = doubled_midranks([abs(d) for d in nonzero])
    observed = sum(r for r, d in zip(ranks, nonzero, strict=True) if d > 0)
    null: dict[int, Fraction] = {0: Fraction(1)}
    half = Fraction(1, 2)
    for rank in ranks:
        null = _convolve(null, {0: half, rank: half})
    centre2 = sum(ranks)  # 2 x E(W+) in doubled units: E = sum(ranks) / 2
    distance = abs(2 * observed - centre2)
    p = sum((q for value, q in null.items() if abs(2 * value - centre2) >= distance), Fraction(0))
    smallest = float(min(Fraction(1), 2 * half**n))
    return SignedRankResult(n=n, w_plus=observed / 2, p=float(p), smallest_reachable_p=smallest)


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm's step-down adjusted p-values, in the input's order: the i-th smallest p times (m - i + 1),
    made monotone, capped at 1."""
    m = len(p_values)
    order = sorted(range(m), key=lambda i: p_values[i])
    adjusted = [0.0] * m
    running = 0.0
    for position, index in enumerate(order):
        running = max(running, min(1.0, (m - position) * p_values[index]))
        adjusted[index] = running
    return adjusted


def page_smallest_p(k: int, n: int) -> float:
    """Without ties, the smallest exact p of Page's test: every block in the predicted order, (1/k!)^n."""
    factorial = 1
    for i in range(2, k + 1):
        factorial *= i
    return float(Fraction(1, factorial) ** n)


def holm_smallest_p(pairs: int, n: int) -> float:
    """The smallest Holm-adjusted p a family of ``pairs`` exact two-sided signed-rank tests on n personas can
    give: the first step multiplies the smallest raw p, 2 / 2^n, by the family's size."""
    return min(1.0, pairs * 2.0 / 2**n)


def minimum_personas(arms: int, ordered: int, alpha: float = ALPHA) -> int:
    """The fewest personas with which both the ordering test (over ``ordered`` arms; 0 when not tested) and
    the Holm-corrected comparison of every pair of ``arms`` can reach p < ``alpha``."""
    pairs = comb(arms, 2)
    n = 1
    def reachable(n: int) -> bool:
        pairs_ok = not pairs or holm_smallest_p(pairs, n) < alpha
        return pairs_ok and (ordered < 2 or page_smallest_p(ordered, n) < alpha)

    while not reachable(n):
        n += 1
    return n
