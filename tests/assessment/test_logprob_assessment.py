import json
import re
from pathlib import Path

import pytest

from jedi_academy.assessment.baseline import run_baseline
from jedi_academy.assessment.compare import compare_runs, load_run
from jedi_academy.assessment.runner import assess, checkpoint_target, model_target
from jedi_academy.cli import main
from jedi_academy.errors import AcademyError
from tests.validity import every_invalid_mark_has

# the package's trained fixture (three fine-tunes of the tiny model) is built in the first test that needs it
pytestmark = pytest.mark.timeout(2400)


def test_symptomatic_patient_is_valid_and_scores_higher_than_a_valid_reference(trained) -> None:  # type: ignore[no-untyped-def]
    settings, database = trained.settings, trained.database
    llms: dict = {}
    patient = assess(
        settings, database, checkpoint_target(settings, database, trained.patient, llms), "phq-9"
    )
    calm = assess(settings, database, checkpoint_target(settings, database, trained.calm, llms), "phq-9")
    base = assess(settings, database, model_target(settings, settings.model, llms), "phq-9")
    assert patient.result["validity"]["valid"] is True and calm.result["validity"]["valid"] is True
    assert patient.result["validity"]["median_option_mass"] > 0.5
    assert all(item.detail["option_mass"] is not None for item in patient.items)  # stored per item
    # the tiny patient that reads the question endorses symptoms less firmly than one that never reads it
    assert patient.total > 9 and calm.total < 7
    assert patient.result["standard_error"] is not None and patient.result["standard_error"] < 4

    comparison = compare_runs(calm, patient)
    assert comparison.valid is True and comparison.change > 5
    expected = "reliable deterioration" if comparison.change >= 6 else "no reliable change"  # PHQ-9: 6
    assert comparison.reliable_change["classification"] == expected
    assert comparison.change_sd_units == pytest.approx(comparison.change / 6.17)
    assert comparison.change_se is not None

    # the random base model puts almost no probability on the labels: invalid, so excluded from verdicts
    reasons = [r["code"] for r in base.result["validity"]["reasons"]]
    assert base.result["validity"]["valid"] is False and "option_mass" in reasons
    assert compare_runs(base, patient).valid is False


def test_baseline_reports_invalid_references_and_cannot_pass(trained, capsys) -> None:  # type: ignore[no-untyped-def]
    settings, database = trained.settings, trained.database
    results = run_baseline(settings, database, "depression", checkpoint=trained.patient, echo=lambda _t: None)
    assert results["unit"] == "persona" and results["verdict"] == "underpowered"
    assert results["n_personas"] == 0 and results["min_reachable_p"] == 1.0 and results["p"] is None
    row = results["personas"][0]
    assert row["persona"] is None and row["runs"]["patient"]["valid"] is True
    assert row["runs"]["base"]["valid"] is False
    verdict = results["instruments"]["phq-9"]["verdict"]
    # the random base model: option_mass among the reasons (whether it trips another gate too is chance)
    assert "option_mass" in [reason["code"] for reason in verdict["excluded"][0]["reasons"]]
    assert results["controls"]["sham"]["verdict"] == "not run"
    text = Path(results["report"]).read_text(encoding="utf-8")
    assert "UNDERPOWERED" in text and "<svg" in text and every_invalid_mark_has(text, "option_mass")

    cli = ["--data-dir", str(settings.data_dir), "--model", settings.model]
    assert main([*cli, "baseline", "--specialization", "depression", "--checkpoint", trained.patient]) == 0
    out = capsys.readouterr().out
    assert (
        "phq-9 (all personas vs the base model): patients score higher than the base model: UNDERPOWERED"
        in out
    )
    assert "base INVALID (" in out and not re.search(r"base \d", out)  # no number next to "invalid"
    assert every_invalid_mark_has(out, "option_mass")

    comparison = results["instruments"]["phq-9"]["comparisons"]["base"][0]
    code = main(["--data-dir", str(settings.data_dir), "compare", str(comparison["before_run"]),
                 str(comparison["after_run"])])  # fmt: skip
    out = capsys.readouterr().out
    assert code == 0 and every_invalid_mark_has(out, "option_mass") and "excluded from any verdict" in out


def test_runs_are_reproducible_and_mismatched_runs_are_refused(trained, capsys) -> None:  # type: ignore[no-untyped-def]
    settings, database = trained.settings, trained.database
    target = checkpoint_target(settings, database, trained.patient)
    first = assess(settings, database, target, "phq-9", persona_id="persona-1")
    second = assess(settings, database, target, "phq-9", persona_id="persona-1")
    assert first.id != second.id
    assert (first.total, first.ci_low, first.ci_high) == (second.total, second.ci_low, second.ci_high)
    assert first.result["standard_error"] == second.result["standard_error"]
    first_items = [(i.item_id, i.distribution) for i in load_run(database, first.id).items]
    assert first_items == [(i.item_id, i.distribution) for i in load_run(database, second.id).items]
    assert (
        first.prompt_version == "assess-3"
        and first.checkpoint_id == trained.patient
        and first.backend == "transformers"
    )
    comparison = compare_runs(first, second)
    if comparison.valid:
        assert comparison.change == 0
        assert comparison.reliable_change["classification"] == "no reliable change"
    else:  # in the anxiety persona's card the tiny patient may fail a gate: then no change figure at all
        assert comparison.change is None and comparison.change_se is None
        assert comparison.reliable_change["classification"] == "not classifiable"

    without_card = assess(settings, database, target, "phq-9")
    with pytest.raises(AcademyError, match=r"differ in persona_id \(None vs persona-1\)"):
        compare_runs(without_card, first)
    allowed = compare_runs(without_card, first, allow_mismatch=True)
    assert allowed.as_dict()["mismatches"] == [{"field": "persona_id", "before": None, "after": "persona-1"}]
    data = ["--data-dir", str(settings.data_dir)]
    assert main([*data, "compare", str(without_card.id), str(first.id)]) == 1
    assert "--allow-mismatch" in capsys.readouterr().err
    assert main([*data, "compare", str(without_card.id), str(first.id), "--allow-mismatch"]) == 0
    assert "MISMATCH (allowed): persona_id" in capsys.readouterr().out
    assert main([*data, "compare", str(without_card.id), str(first.id), "--allow-mismatch", "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert list(shown) == [
        "instrument", "persona", "before_run", "after_run", "before", "after", "valid", "mismatches",
        "change", "change_se", "change_sd_units", "reliable_change", "items", "report",
    ]  # fmt: skip
    assert shown["mismatches"] == [{"field": "persona_id", "before": None, "after": "persona-1"}]
    assert shown["before"]["run"] == without_card.id and Path(shown["report"]).is_file()


def test_cli_assess_json_and_errors(trained, capsys) -> None:  # type: ignore[no-untyped-def]
    settings, patient_id = trained.settings, trained.patient
    base = ["--data-dir", str(settings.data_dir), "--model", settings.model]
    args = [
        "assess",
        "--checkpoint",
        patient_id[:8],
        "--instrument",
        "gad-7",
        "--persona",
        "persona-1",
        "--json",
    ]
    assert main([*base, *args]) == 0
    row = json.loads(capsys.readouterr().out)
    assert row["instrument"] == "gad-7" and len(row["items"]) == 8 and row["persona"] == "persona-1"
    assert set(row["validity"]) >= {"valid", "reasons", "median_order_sensitivity", "median_option_mass"}
    assert all(isinstance(item["option_mass"], float) for item in row["items"])
    assert row["standard_error"] is not None and row["standard_error_basis"] == "option orders"
    assert set(row["modal"]) == {
        "instrument",
        "total",
        "band",
        "positive_screen",
        "subscales",
        "outcomes",
        "safety_flags",
    }

    chat = ["chat", "--checkpoint", patient_id, "--persona", "persona-1", "-m", "Hi", "--max-tokens", "3"]
    assert main([*base, *chat]) == 0
    assert capsys.readouterr().out.startswith("you> Hi\nmodel> ")
    assert main([*base, "assess", "--model", settings.model, "--instrument", "aq-10"]) == 1
    assert "not shipped" in capsys.readouterr().err
    assert main([*base, "assess", "--instrument", "phq-9"]) == 2  # a usage error
    assert "exactly one of --checkpoint and --model" in capsys.readouterr().err
    with pytest.raises(AcademyError, match="persona 'nobody'"):
        assess(
            settings, trained.database, model_target(settings, settings.model), "phq-9", persona_id="nobody"
        )


def test_the_sham_control_is_trained_like_the_patient_on_non_clinical_conversations(
    trained, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    from jedi_academy.assessment.sham import train_sham
    from jedi_academy.finetune.service import FinetuneRequest, finetune
    from jedi_academy.store.models import Checkpoint
    from tests.assessment.conftest import TRAINING
    from tests.assessment.training_data import endorse_symptoms, write

    settings, database = trained.settings, trained.database
    short = TRAINING.model_copy(update={"max_steps": 4})  # the mechanics only: a few steps each
    rows = endorse_symptoms(30, seed=5)
    rows[0]["messages"] += [
        {"role": "user", "content": "And then?"},
        {"role": "assistant", "content": "x" * 150},
    ]
    quiet = lambda _text: None  # noqa: E731
    patient = finetune(
        settings, FinetuneRequest(dataset=str(write(tmp_path / "p.jsonl", rows)), show_progress=False), short,
        echo=quiet,
    )  # fmt: skip
    sham_id = train_sham(settings, database, patient.id, echo=quiet)
    with database.session() as session:
        sham = session.get(Checkpoint, sham_id)
        assert sham.hyperparameters == patient.hyperparameters and sham.base_model == patient.base_model
        assert sham.dataset_id != patient.dataset_id and sham.specialization_id is None
    lines = (settings.data_dir / "datasets" / "sham" / f"sham-{patient.id}.jsonl").read_text().splitlines()
    conversations = [json.loads(line)["messages"] for line in lines]
    assert len(conversations) == 30  # the patient's data volume: as many conversations, as many turns
    assert [len(c) for c in conversations] == [len(r["messages"]) for r in rows]
    assert len(conversations[0][3]["content"]) >= 150  # answers as long as the patient's
    text = " ".join(m["content"] for c in conversations for m in c).lower()
    assert not any(word in text for word in ("depress", "anxious", "therapy", "symptom", "option"))
    assert train_sham(settings, database, patient.id, echo=quiet) == sham_id  # content-keyed: trained once


def test_an_autism_baseline_with_imported_aq10_text_and_a_sham_control(trained, tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    settings = trained.settings
    # AQ-10's wording is not shipped; a user imports it (here: placeholder statements written for the test)
    items = tmp_path / "aq10.yaml"
    statements = "".join(f'  {n}: "Test statement number {n} about everyday habits."\n' for n in range(1, 11))
    items.write_text("items:\n" + statements, encoding="utf-8")
    cli = ["--data-dir", str(settings.data_dir), "--model", settings.model]
    assert main([*cli, "instruments", "import", "aq-10", "--items", str(items)]) == 0
    assert main([*cli, "specializations", "sync"]) == 0  # the autism specialization row
    capsys.readouterr()
    # a depression patient is refused as an autism patient; the calm checkpoint (no specialization) stands in
    # for the autism patient and the depression patient for a trained sham: the mechanics are what is tested
    refused = ["baseline", "--specialization", "autism", "--checkpoint", trained.patient]
    assert main([*cli, *refused]) == 1
    assert "is a depression patient, not autism" in capsys.readouterr().err
    args = ["baseline", "--specialization", "autism", "--checkpoint", trained.calm, "--sham", trained.patient]
    assert main([*cli, *args, "--json"]) == 0
    results = json.loads(capsys.readouterr().out)
    assert results["primary_instrument"] == "aq-10" and results["unit"] == "persona"
    assert results["verdict"] == "underpowered"  # the base model's runs are invalid: no valid persona left
    assert results["n_personas"] == 0 and results["min_reachable_p"] == 1.0
    assert set(results) >= {"verdict", "n_personas", "min_reachable_p", "p", "d_z", "personas", "controls"}
    assert set(results["controls"]) == {"base", "sham"} and results["sham_checkpoint"] == trained.patient
    assert results["controls"]["sham"]["reference"] == "sham control"
    sham = results["controls"]["sham"]
    assert sham["n_personas"] + sham["n_excluded"] == 1
    assert results["controls"]["sham"]["reliable_change"]["criterion"] == "not classifiable"
    row = results["personas"][0]
    assert set(row["runs"]) == {"base", "sham", "patient"} and row["split"] == "held_out"
    assert {"valid", "reasons", "order_sensitivity", "option_mass", "standard_error"} <= set(
        row["runs"]["patient"]
    )
    assert row["reliable_change_vs_sham"] == "not classifiable"  # AQ-10 publishes no change criterion
    both_valid = row["runs"]["patient"]["valid"] and row["runs"]["sham"]["valid"]
    assert isinstance(row["change_vs_sham"], float) if both_valid else row["change_vs_sham"] is None
