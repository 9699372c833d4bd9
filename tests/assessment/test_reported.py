"""Band, screen and safety flags come from the reported score, and an invalid run reports none of them."""

import pytest

from jedi_academy.assessment.administer import ItemOutcome
from jedi_academy.assessment.runner import SampleOptions, Target, assess
from jedi_academy.assessment.summary import NO_REPORT, reported_of, summarise
from jedi_academy.config import load_settings
from jedi_academy.instruments import load_instrument
from jedi_academy.store import open_database
from tests.assessment.planted import uniform_label_llm


def _outcome(item_id: str, distribution: dict[int, float]) -> ItemOutcome:
    expected = sum(code * p for code, p in distribution.items())
    best = max(sorted(distribution), key=lambda code: distribution[code])
    return ItemOutcome(item_id, int(item_id), distribution, {}, expected, best, None, None)


def test_band_screen_and_flags_follow_the_reported_total_not_the_most_likely_answers() -> None:
    phq = load_instrument("phq-9")
    # every item: "Not at all" 40%, each other answer 20%. Most likely answer 0 everywhere: a modal PHQ-9
    # of 0, "minimal", no flag; but the expected total is 9 x 1.2 = 10.8 and item 9 is non-zero 60% of
    # the time
    spread = {0: 0.4, 1: 0.2, 2: 0.2, 3: 0.2}
    outcomes = [_outcome(str(n), spread) for n in range(1, 11)]
    summary = summarise(phq, outcomes, seed=0)
    assert summary["modal"]["total"] == 0 and summary["modal"]["band"] == "minimal"
    assert summary["modal"]["safety_flags"] == []
    assert summary["total"] == pytest.approx(10.8)
    shown = summary["reported"]
    assert shown["band"] == "moderate" and shown["positive_screen"] is True
    assert shown["safety_flags"] == ["9"] and shown["safety_flag_probabilities"]["9"] == pytest.approx(0.6)
    assert sum(shown["band_probabilities"].values()) == pytest.approx(1.0)
    assert set(shown["band_probabilities"]) == {"minimal", "mild", "moderate", "moderately severe", "severe"}
    assert 0.2 < shown["band_probabilities"]["moderate"] < 0.8  # one administration may land elsewhere

    # below one half: no flag, and the probability is still given; a whole-number band edge rounds half up
    calm = {0: 0.6, 1: 0.4}
    lower = summarise(phq, [_outcome(str(n), calm) for n in range(1, 11)], seed=0)["reported"]
    assert lower["safety_flags"] == [] and lower["safety_flag_probabilities"]["9"] == pytest.approx(0.4)
    assert lower["band"] == "minimal"  # 9 x 0.4 = 3.6, rounded 4: minimal (0-4)
    edge = {0: 0.5, 1: 0.5}  # 9 x 0.5 = 4.5 lies between the bands 0-4 and 5-9: rounded half up, 5
    edge_run = summarise(phq, [_outcome(str(n), edge) for n in range(1, 11)], seed=0)
    assert edge_run["reported"]["band"] == "mild"


def test_an_invalid_run_reports_no_band_screen_or_flag(tmp_path, tiny_dir) -> None:  # type: ignore[no-untyped-def]
    """The uniform-label respondent in sample mode: its item 9 is non-zero three times in four, a flag raised
    by noise; it is invalid (inattention), so it shows none."""
    from jedi_academy.assessment.runner import AssessedRun

    settings = load_settings(data_dir=tmp_path / "data", model=str(tiny_dir), device="cpu")
    database = open_database(settings)
    target = Target("uniform", "transformers", "planted", None, None, uniform_label_llm(tiny_dir))
    options = SampleOptions(samples=4, probes=1)
    run = assess(settings, database, target, "phq-9", mode="sample", sample_options=options)
    assert run.result["validity"]["valid"] is False
    assert "inattention" in [reason["code"] for reason in run.result["validity"]["reasons"]]
    assert run.result["reported"] == NO_REPORT and reported_of(run.result) == NO_REPORT
    assert AssessedRun.of(run).reported["safety_flags"] == []
    # an older run without "reported" that is invalid shows nothing either
    older = {"validity": {"valid": False}, "modal": {"band": "severe", "safety_flags": ["9"]}}
    assert reported_of(older) == NO_REPORT
