import json
from pathlib import Path

import pytest

from jedi_academy.assessment.baseline import run_baseline
from jedi_academy.assessment.compare import compare_runs, load_run
from jedi_academy.assessment.runner import assess, checkpoint_target, model_target
from jedi_academy.cli import main
from jedi_academy.errors import AcademyError


def test_option_order_averaging_cancels_a_planted_position_bias(trained) -> None:  # type: ignore[no-untyped-def]
    settings, database, biased_id, _ = trained
    llms: dict = {}
    run = assess(settings, database, checkpoint_target(settings, database, biased_id, llms), "phq-9")
    base = assess(settings, database, model_target(settings, settings.model, llms), "phq-9")
    single_order_total = 0.0
    for item in run.items:
        as_printed = {int(c): p for c, p in item.detail["by_order"]["as_printed"].items()}
        reversed_order = {int(c): p for c, p in item.detail["by_order"]["reversed"].items()}
        # the planted bias: whatever is listed first wins, in both orders
        assert max(as_printed, key=as_printed.get) == 0 and as_printed[0] > 0.8
        assert max(reversed_order, key=reversed_order.get) == 3 and reversed_order[3] > 0.8
        assert item.order_sensitivity > 0.8
        assert item.expected_value == pytest.approx(1.5, abs=0.1)  # averaged: the bias cancels
        if item.item_id != "10":
            single_order_total += sum(code * p for code, p in as_printed.items())
    assert single_order_total < 3  # one order alone would report a near-zero PHQ-9
    assert run.total == pytest.approx(13.5, abs=1.0)
    assert run.result["mean_order_sensitivity"] > max(0.9, base.result["mean_order_sensitivity"])


def test_symptomatic_patient_scores_higher_with_reliable_change(trained, capsys) -> None:  # type: ignore[no-untyped-def]
    settings, database, _, patient_id = trained
    results = run_baseline(settings, database, "depression", checkpoint=patient_id, echo=lambda _t: None)
    block = results["instruments"]["phq-9"]
    verdict = block["verdict"]
    assert verdict["patients_score_higher"] is True and verdict["mean_change"] > 6
    comparison = block["comparisons"][0]
    assert comparison["persona"] is None
    assert comparison["reliable_change"]["classification"] == "reliable deterioration"  # more symptomatic
    assert comparison["after"]["total"] > comparison["before"]["ci"][1]
    report = results["report"]
    text = Path(report).read_text(encoding="utf-8")
    assert "PASS" in text and "<svg" in text

    cli = ["--data-dir", str(settings.data_dir), "--model", settings.model]
    assert main([*cli, "baseline", "--specialization", "depression", "--checkpoint", patient_id]) == 0
    assert "phq-9: patients score higher than the base model: PASS" in capsys.readouterr().out

    code = main(
        [
            "--data-dir",
            str(settings.data_dir),
            "compare",
            str(comparison["before_run"]),
            str(comparison["after_run"]),
        ]
    )
    out = capsys.readouterr().out
    assert code == 0 and "reliable deterioration" in out and "report:" in out


def test_runs_are_reproducible(trained) -> None:  # type: ignore[no-untyped-def]
    settings, database, _, patient_id = trained
    target = checkpoint_target(settings, database, patient_id)
    first = assess(settings, database, target, "phq-9", persona_id="persona-1")
    second = assess(settings, database, target, "phq-9", persona_id="persona-1")
    assert first.id != second.id
    assert (first.total, first.ci_low, first.ci_high) == (second.total, second.ci_low, second.ci_high)
    first_items = [(i.item_id, i.distribution) for i in load_run(database, first.id).items]
    assert first_items == [(i.item_id, i.distribution) for i in load_run(database, second.id).items]
    assert (
        first.prompt_version == "assess-1"
        and first.checkpoint_id == patient_id
        and first.backend == "transformers"
    )
    comparison = compare_runs(first, second)
    assert (
        comparison["change"] == 0 and comparison["reliable_change"]["classification"] == "no reliable change"
    )


def test_cli_assess_json_and_errors(trained, capsys) -> None:  # type: ignore[no-untyped-def]
    settings, _, _, patient_id = trained
    base = ["--data-dir", str(settings.data_dir), "--model", settings.model]
    assert (
        main(
            [
                *base,
                "assess",
                "--checkpoint",
                patient_id[:8],
                "--instrument",
                "gad-7",
                "--persona",
                "persona-1",
                "--json",
            ]
        )
        == 0
    )
    row = json.loads(capsys.readouterr().out)
    assert row["instrument"] == "gad-7" and len(row["items"]) == 8 and row["persona"] == "persona-1"
    assert set(row["modal"]) == {
        "instrument",
        "total",
        "band",
        "positive_screen",
        "subscales",
        "outcomes",
        "safety_flags",
    }

    assert (
        main(
            [
                *base,
                "chat",
                "--checkpoint",
                patient_id,
                "--persona",
                "persona-1",
                "-m",
                "Hi",
                "--max-tokens",
                "3",
            ]
        )
        == 0
    )
    assert capsys.readouterr().out.startswith("you> Hi\nmodel> ")
    assert main([*base, "assess", "--model", settings.model, "--instrument", "aq-10"]) == 1
    assert "not shipped" in capsys.readouterr().err
    assert main([*base, "assess", "--instrument", "phq-9"]) == 1
    assert "exactly one of --checkpoint and --model" in capsys.readouterr().err
    with pytest.raises(AcademyError, match="persona 'nobody'"):
        assess(settings, trained[1], model_target(settings, settings.model), "phq-9", persona_id="nobody")
