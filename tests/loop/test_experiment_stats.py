"""The experiment's statistics and planning as pure functions: Page's L against Page's (1963) table of
critical values and scipy's exact test, the exact signed-rank test, Holm's adjustment, the persona count the
design needs, the common random numbers and the training budget."""

from __future__ import annotations

import random
from fractions import Fraction
from itertools import combinations_with_replacement, permutations

import pytest
from scipy import stats

from jedi_academy.loop.experiment_analysis import (
    all_invalid_line,
    comparisons,
    ordering_result,
    persona_means,
)
from jedi_academy.loop.experiment_plan import (
    UnderpoweredError,
    choose_arms,
    crn_seed,
    needed_personas,
    order_personas,
    plan_units,
    power_note,
    training_budget,
)
from jedi_academy.loop.experiment_stats import (
    holm,
    minimum_personas,
    page_trend_test,
    signed_rank_test,
)


def _page_critical(k: int, n: int) -> int:
    """The smallest L whose exact p is at most 0.05, over every L that n blocks without ties can reach."""
    by_value = {sum((j + 1) * r for j, r in enumerate(a)): list(a) for a in permutations(range(1, k + 1))}
    reachable: dict[int, list[list[int]]] = {}
    for chosen in combinations_with_replacement(sorted(by_value), n):
        reachable.setdefault(sum(chosen), [by_value[v] for v in chosen])
    return min(total for total, blocks in reachable.items() if page_trend_test(blocks).p <= 0.05)


@pytest.mark.parametrize(
    ("k", "critical"),
    [(3, {2: 28, 3: 41, 4: 54, 5: 66, 6: 79, 7: 91, 8: 104}), (4, {2: 58, 3: 84, 4: 111, 5: 137, 6: 163})],
)
def test_page_matches_pages_table(k: int, critical: dict[int, int]) -> None:
    # Page (1963), table of critical L at alpha = 0.05
    for n, value in critical.items():
        assert _page_critical(k, n) == value, (k, n)


def test_page_exact_values() -> None:
    perfect = page_trend_test([[1, 2, 3], [1, 2, 3]])
    assert perfect.L == 28 and perfect.p == pytest.approx(1 / 36)
    assert perfect.smallest_reachable_p == perfect.p
    reversed_blocks = page_trend_test([[3, 2, 1]])
    assert reversed_blocks.L == 10 and reversed_blocks.p == 1.0
    # a tie: midranks (1.5, 1.5, 3); the six arrangements give L = 13.5 twice, 12.5 twice, 12 twice
    tied = page_trend_test([[1, 1, 2]])
    assert tied.L == 13.5 and tied.p == pytest.approx(2 / 6)


def test_page_and_signed_rank_agree_with_scipy_without_ties() -> None:
    rng = random.Random(7)
    for _ in range(15):
        k, n = rng.choice([3, 4]), rng.randint(2, 5)
        blocks = [[rng.random() for _ in range(k)] for _ in range(n)]
        ours, theirs = page_trend_test(blocks), stats.page_trend_test(blocks, method="exact")
        assert pytest.approx(theirs.statistic) == ours.L and ours.p == pytest.approx(theirs.pvalue)
        differences = [rng.gauss(0.5, 1) for _ in range(rng.randint(3, 9))]
        exact = stats.wilcoxon(differences, method="exact").pvalue
        assert signed_rank_test(differences).p == pytest.approx(exact)


def test_signed_rank_exact_values() -> None:
    six = signed_rank_test([1, 2, 3, 4, 5, 6])
    assert six.p == pytest.approx(2 / 64) and six.smallest_reachable_p == pytest.approx(2 / 64)
    assert signed_rank_test([0, 0]).p == 1.0 and signed_rank_test([0, 0]).n == 0
    # zeros dropped, tied |d| midranked: |1|,|2|,|-3|,|2| -> ranks 1, 2.5, 4, 2.5; W+ = 6, E = 5
    tied = signed_rank_test([1, 2, -3, 0, 2])
    assert tied.n == 4 and tied.w_plus == 6
    null = [sum(r for r, s in zip((2, 5, 8, 5), signs, strict=True) if s) for signs in _signs(4)]
    expected = Fraction(sum(1 for w in null if abs(2 * w - 20) >= abs(2 * 12 - 20)), 16)
    assert tied.p == pytest.approx(float(expected))


def _signs(n: int) -> list[tuple[bool, ...]]:
    return [tuple(bool(mask >> i & 1) for i in range(n)) for mask in range(2**n)]


def test_holm_known_adjustments() -> None:
    assert holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert holm([0.5, 0.6]) == pytest.approx([1.0, 1.0])
    assert holm([]) == []


def test_minimum_personas() -> None:
    assert minimum_personas(2, 0) == 6  # one exact two-sided paired test: 2/2^6 < 0.05 <= 2/2^5
    assert minimum_personas(4, 3) == 8  # six pairs: 6 * 2/2^8 < 0.05 <= 6 * 2/2^7
    assert needed_personas(choose_arms(None)) == 8
    assert needed_personas(["skilled", "loop-only"]) == 6


def test_power_is_said_or_refused() -> None:
    arms = choose_arms(None)
    assert power_note(arms, 8, allow_underpowered=False) is None
    with pytest.raises(UnderpoweredError, match="--allow-underpowered"):
        power_note(arms, 6, allow_underpowered=False)
    note = power_note(arms, 2, allow_underpowered=True)
    assert note is not None and note.startswith("underpowered: 2 persona(s)")


def test_arms_and_common_random_numbers() -> None:
    assert choose_arms(None) == ["skilled", "placebo", "harmful", "loop-only"]
    assert choose_arms(["loop-only", "skilled", "skilled"]) == ["skilled", "loop-only"]
    with pytest.raises(Exception, match="unknown arm"):
        choose_arms(["wizard"])
    units = plan_units(choose_arms(None), ["p-a", "p-b"], 2, seed=3)
    assert len(units) == 4 * 2 * 2
    by_cell: dict[tuple[str, int], set[int]] = {}
    for unit in units:
        by_cell.setdefault((unit.persona_id, unit.session), set()).add(unit.seed)
    assert all(len(seeds) == 1 for seeds in by_cell.values())  # every arm: the same seed
    assert len({next(iter(s)) for s in by_cell.values()}) == 4  # personas and sessions differ
    assert crn_seed(3, "p-a", 1) != crn_seed(4, "p-a", 1)


def test_budget_and_persona_order() -> None:
    budget = training_budget({"max_steps": 12, "batch_size": 4}, None)
    assert budget.as_dict() == {"steps": 3, "batch_size": 4}
    assert training_budget({"max_steps": 2}, None).steps == 1
    assert training_budget({"max_steps": 12, "batch_size": 4}, 5).steps == 5
    assert order_personas([("p-1", False), ("p-2", True), ("p-3", True)], 2) == ["p-2", "p-3"]
    assert order_personas([("p-1", False), ("p-2", True)], 2) == ["p-2", "p-1"]


def _points(table: dict[str, list[float | None]]) -> list[dict[str, object]]:
    invalid = ["inattention", "option_mass"]  # the validity gates' codes
    return [
        {"arm": arm, "persona_id": f"p-{i}", "session": 1, "improvement": value, "valid": value is not None,
         "problems": [] if value is not None else invalid}
        for arm, values in table.items()
        for i, value in enumerate(values)
    ]  # fmt: skip


def test_analysis_on_a_clear_ordering() -> None:
    arms = choose_arms(None)
    table = {
        "skilled": [3.0, 4.0, 2.5, 3.5, 5.0, 4.5, 3.0, 2.0],
        "placebo": [1.0, 1.5, 0.5, 1.0, 2.0, 1.0, 0.0, 1.0],
        "harmful": [-2.0, -1.0, -3.0, -1.5, -2.5, -2.0, -1.0, -0.5],
        "loop-only": [0.5, 1.0, 0.0, 0.5, 1.5, 0.5, -0.5, 0.0],
    }
    means = persona_means(_points(table))
    order = ordering_result(means, arms)
    assert order["n_personas"] == 8 and order["p"] == pytest.approx(1 / 6**8)
    assert order["verdict"].startswith("supported")
    rows = comparisons(means, arms)
    assert [(r["a"], r["b"]) for r in rows][:3] == [("skilled", "placebo"), ("skilled", "harmful"),
                                                   ("skilled", "loop-only")]  # fmt: skip
    skilled_placebo = rows[0]
    assert skilled_placebo["p"] == pytest.approx(2 / 256)
    assert skilled_placebo["p_holm"] == pytest.approx(holm([r["p"] for r in rows])[0])
    assert skilled_placebo["verdict"].startswith("skilled improved the personas more than placebo")


def test_analysis_uses_valid_measurements_only_and_says_when_none() -> None:
    arms = choose_arms(None)
    table: dict[str, list[float | None]] = {"skilled": [1.0, None], "placebo": [0.0, 2.0],
                                            "harmful": [-1.0, 1.0], "loop-only": [None, None]}  # fmt: skip
    means = persona_means(_points(table))
    assert means == {
        "skilled": {"p-0": 1.0},
        "placebo": {"p-0": 0.0, "p-1": 2.0},
        "harmful": {"p-0": -1.0, "p-1": 1.0},
    }
    order = ordering_result(means, arms)
    assert order["n_personas"] == 1 and order["verdict"].startswith("underpowered")
    rows = {(r["a"], r["b"]): r for r in comparisons(means, arms)}
    assert rows[("skilled", "placebo")]["n_personas"] == 1
    assert rows[("skilled", "loop-only")]["verdict"].startswith("not testable")
    assert all_invalid_line(_points(table), "phq-9") is None
    nothing = _points({"skilled": [None, None], "loop-only": [None, None]})
    line = all_invalid_line(nothing, "phq-9")
    assert line == (
        "no valid measurement: all 4 phq-9 measurements failed the validity gates "
        "(inattention: 4, option_mass: 4), so nothing can be compared and no ordering tested"
    )
    assert ordering_result(persona_means(nothing), arms)["verdict"].startswith("not testable")
