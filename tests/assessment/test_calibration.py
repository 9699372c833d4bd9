"""Calibration of the validity gates on planted respondents (weights set directly) and trained fixtures: each
position- or content-blind respondent is invalid with the right code, every valid fixture stays valid, and the
table in docs/assessment.md is the one these runs produce."""

import pytest

from jedi_academy.assessment.runner import Target, assess, checkpoint_target
from tests.assessment.calibration import check_document, render, row
from tests.assessment.planted import (
    first_label_llm,
    high_labels_llm,
    mostly_first_label_llm,
    uniform_label_llm,
)

# the package's trained fixture (three fine-tunes of the tiny model) is built in the first test that needs it
pytestmark = pytest.mark.timeout(2400)

PLANTED = [
    ("uniform label (\"1\"-\"4\" at 25% each)", "invalid: `inattention`", uniform_label_llm, {"inattention"}),
    ("first label 60%, others 13%", "invalid: `inattention`", mostly_first_label_llm, {"inattention"}),
    ("always the first label", "invalid (any code)", first_label_llm, {"order_sensitivity", "inattention"}),
    ("\"4\" 70%, \"3\" 30%", "invalid", high_labels_llm, {"order_sensitivity", "inattention"}),
]


def test_planted_and_trained_respondents_are_judged_as_calibrated(trained, tiny_dir) -> None:  # type: ignore[no-untyped-def]
    settings, database = trained.settings, trained.database
    rows = []
    for name, expected, build, codes in PLANTED:
        run = assess(settings, database, Target(name, "transformers", "planted", None, None, build(tiny_dir)),
                     "phq-9")  # fmt: skip
        assert set(r["code"] for r in run.result["validity"]["reasons"]) == codes, name
        rows.append(row(name, expected, run))
    llms: dict = {}
    fixtures = [
        ("most severe option text, question unread (trained)", "invalid: `inattention`", trained.severe),
        ("symptomatic patient who reads the question (trained)", "valid", trained.patient),
        ("symptom-free patient (trained)", "valid", trained.calm),
    ]
    for name, expected, checkpoint in fixtures:
        run = assess(settings, database, checkpoint_target(settings, database, checkpoint, llms), "phq-9")
        rows.append(row(name, expected, run))
    check_document(render(rows))  # first: the table shows what the runs gave, even when a check below fails
    severe, patient, calm = rows[-3:]
    assert "inattention" in severe["codes"] and severe["honest"] < 0.25 and severe["total"] > 20, severe
    assert patient["valid"] and patient["honest"] > 0.5 and patient["total"] > calm["total"] + 5, patient
    assert calm["valid"] and calm["honest"] > 0.5 and calm["total"] < 7, calm
