"""The therapist experiment's analysis, as pure functions over its measurements (no database, no model).

The unit is the persona. A measurement is the improvement after session k of one arm and persona: the primary
instrument's score on the arm's checkpoint against the start checkpoint, both measured with session k's seed
(sign set by the instrument's direction, so positive is better). Only valid measurements count: a persona's
**mean** over its valid measurements is its outcome in that arm, and a persona lacking a valid outcome in an
arm leaves the tests that need that arm. The ordering is tested with Page's L (blocks: personas), every pair
of arms with the exact two-sided Wilcoxon signed-rank test on the persona outcomes, Holm-corrected over the
pairs.
"""

from __future__ import annotations

import statistics
from collections import Counter
from itertools import combinations
from typing import Any

from jedi_academy.loop.experiment_plan import ORDERING
from jedi_academy.loop.experiment_stats import ALPHA, holm, page_trend_test, signed_rank_test

PAGE_TEST = "Page's L, exact (ranks permuted within personas), one-sided: skilled > placebo > harmful"
PAIR_TEST = "Wilcoxon signed-rank on persona means, exact, two-sided; Holm-corrected over the pairs"


def persona_means(points: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """arm -> persona -> mean improvement over the valid measurements."""
    valid: dict[str, dict[str, list[float]]] = {}
    for point in points:
        if point["valid"] and point["improvement"] is not None:
            by_persona = valid.setdefault(point["arm"], {})
            by_persona.setdefault(point["persona_id"], []).append(point["improvement"])
    return {arm: {p: statistics.fmean(v) for p, v in sorted(by.items())} for arm, by in valid.items()}


def ordering_result(means: dict[str, dict[str, float]], arms: list[str]) -> dict[str, Any]:
    result: dict[str, Any] = {"test": PAGE_TEST, "hypothesis": list(ORDERING), "n_personas": 0, "L": None,
                              "p": None, "smallest_reachable_p": None}  # fmt: skip
    if not all(a in arms for a in ORDERING):
        return result | {"verdict": "not tested: the ordering needs the skilled, placebo and harmful arms"}
    blocks_of = sorted(set.intersection(*(set(means.get(a, {})) for a in ORDERING)))
    if not blocks_of:
        return result | {"verdict": "not testable: no persona has valid measurements in all three arms"}
    # Page's test wants the predicted ascending order: harmful (lowest) first
    blocks = [[means[a][p] for a in reversed(ORDERING)] for p in blocks_of]
    page = page_trend_test(blocks)
    result |= {"n_personas": len(blocks), "L": page.L, "p": page.p,
               "smallest_reachable_p": page.smallest_reachable_p}  # fmt: skip
    n = len(blocks)
    if page.smallest_reachable_p >= ALPHA:
        verdict = (
            f"underpowered: with {n} persona(s) Page's exact test cannot reach p < {ALPHA} (p = {page.p:.3g})"
        )
    elif page.p < ALPHA:
        verdict = f"supported: skilled > placebo > harmful (L = {page.L:g}, p = {page.p:.3g}, n = {n})"
    else:
        verdict = f"not supported: no ordered trend detected (L = {page.L:g}, p = {page.p:.3g}, n = {n})"
    return result | {"verdict": verdict}


def comparisons(means: dict[str, dict[str, float]], arms: list[str]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    tests = []
    for a, b in combinations(arms, 2):
        common = sorted(set(means.get(a, {})) & set(means.get(b, {})))
        differences = [means[a][p] - means[b][p] for p in common]  # a's improvement minus b's
        row: dict[str, Any] = {"a": a, "b": b, "test": PAIR_TEST, "n_personas": len(common),
                               "mean_difference": statistics.fmean(differences) if differences else None,
                               "p": None, "p_holm": None, "smallest_reachable_p": None}  # fmt: skip
        if common:
            tests.append((row, signed_rank_test(differences)))
        rows.append(row)
    adjusted = holm([test.p for _row, test in tests])
    family = len(tests)
    for (row, test), p_holm in zip(tests, adjusted, strict=True):
        row.update(p=test.p, p_holm=p_holm, smallest_reachable_p=min(1.0, family * test.smallest_reachable_p))
    for row in rows:
        row["verdict"] = _pair_verdict(row)
    return rows


def _pair_verdict(row: dict[str, Any]) -> str:
    n, a, b = row["n_personas"], row["a"], row["b"]
    if n == 0:
        return "not testable: no persona has valid measurements in both arms"
    shown = f"p = {row['p']:.3g}, p_holm = {row['p_holm']:.3g}, n = {n}"
    if row["smallest_reachable_p"] >= ALPHA:
        return f"underpowered: with {n} persona(s) p_holm < {ALPHA} is unreachable ({shown})"
    if row["p_holm"] < ALPHA:
        better, worse = (a, b) if row["mean_difference"] > 0 else (b, a)
        return f"{better} improved the personas more than {worse} ({shown})"
    return f"no detectable difference ({shown})"


def all_invalid_line(points: list[dict[str, Any]], instrument: str) -> str | None:
    """One plain line when no measurement of ``instrument`` is valid, saying why (each failed validity gate
    with the number of measurements it failed); None otherwise."""
    if not points or any(p["valid"] for p in points):
        return None
    reasons: Counter[str] = Counter()
    for point in points:
        reasons.update(set(point["problems"] or ["not measured"]))
    ranked = sorted(reasons.items(), key=lambda r: (-r[1], r[0]))
    shown = ", ".join(f"{reason}: {count}" for reason, count in ranked)
    return (
        f"no valid measurement: all {len(points)} {instrument} measurements failed the validity gates "
        f"({shown}), so nothing can be compared and no ordering tested"
    )
