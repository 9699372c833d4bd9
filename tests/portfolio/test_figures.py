"""The portfolio's arithmetic on hand-made records: per-case change, persona-level aggregates, validity."""

from __future__ import annotations

import math

import pytest

from jedi_academy.portfolio import figures


def run(run_id: int, persona: str, total: float | None, valid: bool = True) -> dict:  # type: ignore[type-arg]
    reasons = [] if valid else [{"code": "option_mass", "detail": "low"}]
    return {
        "kind": "assessment_run",
        "content": {
            "id": run_id, "checkpoint_id": "ck-1", "persona_id": persona, "instrument_id": "phq-9",
            "total": total, "ci_low": None if total is None else total - 2,
            "ci_high": None if total is None else total + 2,
            "result": {"validity": {"valid": valid, "reasons": reasons}, "valid_share": 1.0},
        },
    }  # fmt: skip


def case(name: str, persona: str, before: float, after: float, *, valid: bool = True) -> tuple:  # type: ignore[type-arg]
    base, later = 2 * ord(name), 2 * ord(name) + 1
    records = {
        f"assessment_run:{base}": run(base, persona, before),
        f"assessment_run:{later}": run(later, persona, after, valid),
        f"session:s-{name}": {
            "kind": "session",
            "content": {"recommendations": [
                {"index": 0, "p_accept": 0.8, "u": 0.3, "accepted": True},
                {"index": 1, "p_accept": 0.2, "u": 0.9, "accepted": False},
            ]},
        },
    }  # fmt: skip
    structure = {
        "case": name, "persona": persona, "instrument": "phq-9", "specialization": "depression",
        "baseline": f"assessment_run:{base}",
        "sessions": [{"number": 1, "session": f"session:s-{name}", "run": f"assessment_run:{later}"}],
    }  # fmt: skip
    return structure, records


def with_figures(*cases: tuple) -> list[dict]:  # type: ignore[type-arg]
    out = []
    for structure, records in cases:
        out.append({**structure, "figures": figures.case_figures(structure, records)})
    return out


def test_phq9_change_uses_the_fixed_service_threshold() -> None:
    improved, stable = with_figures(case("a", "p1", 18, 10), case("b", "p2", 12, 9))
    assert improved["figures"]["change"]["classification"] == "reliable improvement"  # a drop of 8 >= 6
    assert improved["figures"]["change"]["method"] == "fixed_threshold"
    assert stable["figures"]["change"]["classification"] == "no reliable change"  # a drop of 3 < 6
    assert improved["figures"]["recommendations"] == {
        "made": 2, "accepted": 1, "ignored": 1, "invalid_preference": 0, "undecided": 0,
    }  # fmt: skip


def test_aggregates_weigh_personas_not_cases() -> None:
    cases = with_figures(
        case("a", "p1", 18, 10),  # -8
        case("b", "p1", 18, 14),  # -4: p1's mean change is -6
        case("c", "p2", 12, 12),  # 0
        case("d", "p3", 15, 12),  # -3
    )
    [block] = figures.aggregate(cases)
    assert block["cases"] == 4 and block["personas"] == 3
    # one case of four improved, but per persona: p1 half its cases, p2 and p3 none, so 1/6, not 1/4
    assert block["reliable_improvement"] == 1 and block["share_reliable_improvement"] == pytest.approx(1 / 6)
    means = [-6.0, 0.0, -3.0]
    assert block["mean_change"] == pytest.approx(-3.0)
    sd = math.sqrt(sum((m + 3) ** 2 for m in means) / 2)
    half = 4.302652729911275 * sd / math.sqrt(3)  # t(0.975, 2)
    assert block["mean_change_ci95"] == pytest.approx([-3 - half, -3 + half])


def test_an_invalid_measurement_is_never_scored() -> None:
    cases = with_figures(case("a", "p1", 18, 10, valid=False), case("b", "p2", 12, 9))
    assert cases[0]["figures"]["change"]["classification"] == "invalid"
    assert "option_mass" in cases[0]["figures"]["change"]["reason"]
    [block] = figures.aggregate(cases)
    assert block["cases_with_valid_change"] == 1 and block["mean_change"] == pytest.approx(-3)
    assert block["personas"] == 2 and block["personas_with_valid_change"] == 1
    assert (
        block["mean_change_ci95"] is None and block["interval_note"] == "fewer than two personas: no interval"
    )


def test_a_decision_must_follow_from_its_draw() -> None:
    good = {"recommendations": [{"index": 0, "p_accept": 0.5, "u": 0.2, "accepted": True}]}
    bad = {"recommendations": [{"index": 0, "p_accept": 0.5, "u": 0.7, "accepted": True}]}
    assert figures.session_problems("s", good) == []
    assert figures.session_problems("s", bad) == [
        "s: recommendation 0 is recorded as accepted=True, but u=0.7 and p_accept=0.5 give False"
    ]


def test_an_invalid_preference_is_no_decision_and_follows_from_the_sealed_masses() -> None:
    """Issue 25 point 6: a median P(yes)+P(no) under 0.5 over the sealed phrasings is invalid_preference: no
    decision, counted apart; the verifier re-derives it from the phrasings."""
    low = [{"mass": m} for m in (1e-9, 2e-9, 0.9, 1e-9, 0.8, 3e-9)]
    high = [{"mass": m} for m in (0.99, 0.98, 0.2, 0.97, 0.99, 0.96)]
    invalid = {"index": 0, "p_accept": 0.5, "u": 0.2, "accepted": None, "decision": "invalid_preference",
               "phrasings": low}  # fmt: skip
    decided = {"index": 1, "p_accept": 0.5, "u": 0.7, "accepted": False, "decision": "ignored",
               "phrasings": high}  # fmt: skip
    session = {"recommendations": [invalid, decided]}
    assert figures.session_problems("s", session) == []
    assert figures.recommendation_counts(session) == {
        "made": 2, "accepted": 0, "ignored": 1, "invalid_preference": 1, "undecided": 0,
    }  # fmt: skip
    accepted_anyway = {**invalid, "accepted": True, "decision": "accepted"}
    assert figures.session_problems("s", {"recommendations": [accepted_anyway]}) == [
        "s: recommendation 0 is recorded as accepted, but its phrasings' median mass 2.5e-09 says "
        "invalid_preference"
    ]
    not_invalid = {**decided, "accepted": None, "decision": "invalid_preference"}
    assert figures.session_problems("s", {"recommendations": [not_invalid]})[0].endswith("says a decision")


def test_differences_name_the_path() -> None:
    stated = {"sessions": [{"score": {"total": 3.0}}], "n": 2}
    derived = {"sessions": [{"score": {"total": 4.0}}], "n": 2}
    assert figures.differences(stated, derived) == [
        "sessions[0].score.total: 3.0 stated, the records give 4.0"
    ]
