"""The persona-level verdict on constructed runs (real AssessmentRun rows, never stored)."""

from dataclasses import replace

import pytest

from jedi_academy.assessment.compare import compare_runs, verdict
from jedi_academy.store.models import AssessmentRun

VALID = {"valid": True, "reasons": []}


def run(total: float | None, persona: str, *, instrument: str = "phq-9", valid: bool = True, se: float = 0.0):  # type: ignore[no-untyped-def]
    validity = VALID if valid else {"valid": False, "reasons": [{"code": "order_sensitivity", "detail": "x"}]}
    return AssessmentRun(
        id=hash((persona, total)) % 10_000,
        persona_id=persona,
        instrument_id=instrument,
        instrument_version="1",
        prompt_version="assess-2",
        mode="logprob",
        total=total,
        result={"validity": validity, "standard_error": se, "modal": {}},
        items=[],
    )


def comparisons(pairs: list[tuple[float, float]], instrument: str = "phq-9", **kwargs):  # type: ignore[no-untyped-def]
    return [
        compare_runs(
            run(before, f"p{i}", instrument=instrument, **kwargs), run(after, f"p{i}", instrument=instrument)
        )
        for i, (before, after) in enumerate(pairs)
    ]


def test_a_tiny_shift_with_two_personas_is_underpowered_not_a_pass() -> None:
    outcome = verdict(comparisons([(10.0, 10.18), (12.0, 12.18)]))
    assert outcome.verdict == "underpowered" and outcome.unit == "persona"
    assert outcome.min_reachable_p == pytest.approx(0.25) and outcome.p == pytest.approx(0.25)
    assert outcome.n_personas == 2
    assert any("smallest reachable p" in note for note in outcome.cannot_conclude)
    assert verdict(comparisons([(10.0, 10.18)])).verdict == "underpowered"


def test_five_personas_that_all_worsen_pass_with_a_one_sided_test() -> None:
    outcome = verdict(comparisons([(2.0 + i, 24.5 + i) for i in range(5)]))
    assert outcome.p == pytest.approx(1 / 32) and outcome.verdict == "pass"


def test_six_personas_with_large_reliable_change_pass_deterministic_ones_too() -> None:
    varied = verdict(
        comparisons([(1.0, 20.0), (3.0, 25.0), (0.0, 14.0), (2.0, 27.0), (5.0, 18.0), (4.0, 22.0)])
    )
    assert varied.verdict == "pass" and varied.d_z > 2
    assert varied.reliable_change.as_dict() == {
        "classifiable": 6,
        "reliably_higher": 6,
        "share": 1.0,
        "criterion": "fixed_threshold",
    }
    identical = verdict(comparisons([(0.0, 27.0)] * 6))
    assert identical.verdict == "pass" and identical.d_z is None  # no spread: d_z undefined, not a fail
    assert identical.mean_change_sd_units == pytest.approx(27 / 6.17)
    assert identical.p == pytest.approx(1 / 64)


def test_consistent_but_negligible_shifts_fail() -> None:
    outcome = verdict(comparisons([(10.0 + i, 10.18 + i) for i in range(6)]))
    assert outcome.verdict == "fail" and outcome.p == pytest.approx(1 / 64)
    met = {c.criterion: c.met for c in outcome.criteria}
    assert met["at least a small effect"] is False  # 0.03 population SD
    assert met["reliable change in most classifiable personas"] is False


def test_invalid_runs_are_excluded_and_listed() -> None:
    pairs = comparisons([(0.0, 27.0)] * 5) + comparisons([(0.0, 0.0)], valid=False)
    outcome = verdict(pairs)
    assert outcome.n_personas == 5 and outcome.n_excluded == 1
    assert outcome.excluded[0].reasons[0]["code"] == "order_sensitivity"
    assert outcome.verdict == "pass"


def test_instruments_without_a_change_criterion_are_not_classifiable_but_still_tested() -> None:
    outcome = verdict(comparisons([(2.0 + i % 2, 8.0 + i % 3) for i in range(6)], instrument="aq-10"))
    assert outcome.reliable_change.criterion == "not classifiable"
    assert outcome.reliable_change.classifiable == 0
    assert outcome.verdict == "pass" and outcome.d_z > 0.2 and outcome.p < 0.05
    single = comparisons([(2.0, 8.0)], instrument="aq-10")[0]
    assert single.reliable_change["classification"] == "not classifiable" and single.change == 6


def test_change_standard_error_is_carried_into_the_comparison() -> None:
    comparison = compare_runs(run(10.0, "p", se=0.3), run(14.0, "p", se=0.4))
    assert comparison.change_se == pytest.approx(0.5)


def test_held_out_personas_carry_the_headline_and_training_ones_are_reported_apart() -> None:
    from jedi_academy.assessment.baseline import split_verdicts

    pairs = comparisons([(0.0, 27.0)] * 6 + [(5.0, 5.5)] * 5)
    for index, comparison in enumerate(pairs):
        pairs[index] = replace(comparison, split="training" if index < 6 else "held_out")
    overall = verdict(pairs)
    headline, basis, by_split = split_verdicts(pairs, overall)
    assert basis == "held-out personas vs the base model" and headline is by_split["held_out"]
    assert by_split["training"].verdict == "pass" and headline.verdict == "fail"
    assert headline.n_personas == 5 and by_split["training"].n_personas == 6
    only_training = pairs[:6]
    _, basis, _ = split_verdicts(only_training, verdict(only_training))
    assert "every one was in the training data" in basis


def test_personas_are_split_by_the_checkpoints_training_data(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from jedi_academy.assessment.baseline import persona_splits
    from jedi_academy.config import load_settings
    from jedi_academy.store import open_database
    from jedi_academy.store.models import Checkpoint, DatasetMember, DatasetVersion
    from tests.factories import add_conversation, add_persona

    database = open_database(load_settings(data_dir=tmp_path / "data"))
    for persona in ("a", "b", "c"):
        add_persona(database, persona)
        add_conversation(database, f"conv-{persona}", persona, [("How are you?", "Tired.")])
    with database.session() as session:
        session.add(DatasetVersion(id="d" * 64, specializations=["depression"]))
        session.flush()
        session.add_all([
            DatasetMember(dataset_id="d" * 64, conversation_id="conv-a", split="train"),
            DatasetMember(dataset_id="d" * 64, conversation_id="conv-b", split="validation"),
        ])  # fmt: skip
        session.add(Checkpoint(id="ck-1", specialization_id="depression", kind="lora", base_model="tiny",
                               dataset_id="d" * 64))  # fmt: skip
    splits = persona_splits(database, "ck-1", ["a", "b", "c", None])
    assert splits == {"a": "training", "b": "held_out", "c": "held_out", None: "held_out"}


def test_zero_changes_carry_no_sign() -> None:
    # five personas: four rise, one does not move. Counted as five, the smallest p would be 1/32 and this
    # would pass; the unchanged persona carries no sign, so only four are tested: 1/16, underpowered
    outcome = verdict(comparisons([(2.0, 24.5), (3.0, 25.5), (4.0, 26.5), (5.0, 27.0), (8.0, 8.0)]))
    assert outcome.n_personas == 5 and outcome.n_changed == 4 and outcome.n_unchanged == 1
    assert outcome.min_reachable_p == pytest.approx(1 / 16) and outcome.p == pytest.approx(1 / 16)
    assert outcome.verdict == "underpowered"
    detail = outcome.criteria[0].detail
    assert "over the 4 non-zero change(s); 1 zero change(s) carry no sign" in detail
    assert any("With 4 non-zero change(s) the smallest reachable p" in n for n in outcome.cannot_conclude)
    assert "non-zero" in outcome.test and "carries no sign" in outcome.rule
    # six rising and one unchanged: tested over six, p = 1/64, a pass
    six = verdict(comparisons([(float(i), 20.0 + 2 * i) for i in range(6)] + [(8.0, 8.0)]))
    assert six.p == pytest.approx(1 / 64) and six.verdict == "pass" and six.n_unchanged == 1


def test_when_no_persona_changed_the_verdict_is_underpowered_never_fail() -> None:
    outcome = verdict(comparisons([(5.0, 5.0)] * 8))
    assert outcome.verdict == "underpowered" and outcome.p is None and outcome.n_changed == 0
    assert outcome.min_reachable_p == 1.0
    assert outcome.criteria[0].detail == "no persona changed (8 zero change(s)): nothing to test"
    assert any(note.startswith("No persona changed") for note in outcome.cannot_conclude)


def test_the_verdict_line_and_report_say_that_zero_changes_were_left_out() -> None:
    from jedi_academy.assessment.report import verdict_line, verdict_section

    outcome = verdict(comparisons([(2.0, 24.5), (3.0, 25.5), (8.0, 8.0)]))
    assert "1 unchanged (no sign, left out of the test)" in verdict_line("phq-9", outcome)
    assert "(2 changed, 1 unchanged)" in verdict_section(outcome)
