"""Validity gates on models whose answers are planted by setting weights directly."""

import pytest

from jedi_academy.assessment.runner import Target, assess
from jedi_academy.config import load_settings
from jedi_academy.store import open_database
from tests.assessment.planted import first_label_llm, off_label_llm


@pytest.fixture
def place(tmp_path, tiny_dir):  # type: ignore[no-untyped-def]
    settings = load_settings(data_dir=tmp_path / "data", model=str(tiny_dir), device="cpu")
    return settings, open_database(settings)


def test_a_content_blind_model_is_invalid_with_order_sensitivity(place, tiny_dir) -> None:  # type: ignore[no-untyped-def]
    settings, database = place
    target = Target("first-label", "transformers", "planted", None, None, first_label_llm(tiny_dir))
    run = assess(settings, database, target, "phq-9")
    first_listed_total = 0.0
    for item in run.items:
        shifts = item.detail["by_order"]
        assert sorted(shifts) == ["shift-0", "shift-1", "shift-2", "shift-3"]
        for shift, distribution in shifts.items():
            chosen = max(distribution, key=distribution.get)
            assert int(chosen) == int(shift.removeprefix("shift-"))  # shift k lists code k first
        assert item.order_sensitivity == pytest.approx(1.0, abs=1e-6)
        assert item.expected_value == pytest.approx(1.5, abs=1e-6)  # every shift once: the bias cancels
        if item.item_id != "10":
            first_listed_total += sum(int(code) * p for code, p in shifts["shift-0"].items())
    assert first_listed_total < 0.01  # the order as printed alone would report a PHQ-9 of 0
    validity = run.result["validity"]
    assert validity["valid"] is False
    assert [reason["code"] for reason in validity["reasons"]] == ["order_sensitivity", "inattention"]
    assert validity["median_order_sensitivity"] == pytest.approx(1.0, abs=1e-6)
    assert validity["median_option_mass"] > 0.99  # it answers with a label, just not by content
    # the midpoint it produces would read as "moderate" depression; its estimate is flagged as unstable too
    assert run.total == pytest.approx(13.5, abs=1e-3)
    assert run.result["standard_error"] > 4


def test_a_model_that_answers_off_the_labels_is_invalid_with_option_mass(place, tiny_dir) -> None:  # type: ignore[no-untyped-def]
    settings, database = place
    target = Target("off-label", "transformers", "planted", None, None, off_label_llm(tiny_dir))
    run = assess(settings, database, target, "gad-7")
    validity = run.result["validity"]
    assert "option_mass" in [reason["code"] for reason in validity["reasons"]]
    assert validity["valid"] is False and validity["median_option_mass"] < 1e-6
    masses = [item.detail["option_mass"] for item in run.items]
    assert len(masses) == 8 and all(mass < 1e-6 for mass in masses)  # stored per item
    assert all(
        set(item.detail["mass_by_order"]) == {"shift-0", "shift-1", "shift-2", "shift-3"}
        for item in run.items
    )


def test_assess_prints_why_a_run_is_invalid(place, tiny_dir, capsys) -> None:  # type: ignore[no-untyped-def]
    from jedi_academy.cli import main

    settings, _ = place
    args = ["--data-dir", str(settings.data_dir), "assess", "--model", str(tiny_dir), "--instrument", "gad-7"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "INVALID (option_mass): median option mass" in out  # the random base model does not answer
    assert "± " in out and "one administration [" in out and "median order sensitivity" in out
