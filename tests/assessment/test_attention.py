"""Attention (infrequency) items: drawn and placed from the seed, recorded, never scored, and the
``inattention`` gate on respondents who answer without reading (planted by setting weights)."""

import json
import re
import shutil

import pytest

from jedi_academy.assessment.attention import attention_set, interleave, plan_attention, threshold
from jedi_academy.assessment.prompts import PROMPT_VERSION, askable_items, item_prompt
from jedi_academy.assessment.runner import Target, assess
from jedi_academy.config import load_settings
from jedi_academy.instruments import load_instrument
from jedi_academy.store import open_database
from tests.assessment.planted import mostly_first_label_llm, uniform_label_llm


@pytest.fixture
def place(tmp_path, tiny_dir):  # type: ignore[no-untyped-def]
    settings = load_settings(data_dir=tmp_path / "data", model=str(tiny_dir), device="cpu")
    return settings, open_database(settings)


def _words(text: str) -> set[str]:
    return {word for word in re.findall(r"[a-z]+", text.lower()) if len(word) > 4}


def test_the_attention_set_is_versioned_and_resembles_no_instrument_item() -> None:
    items_set = attention_set()
    assert items_set.version == "attention-1" and items_set.per_run == 3
    assert set(items_set.families) == {"frequency", "agreement", "yes_no"}
    instrument_words = set()
    for instrument_id in ("phq-9", "gad-7", "pcl-5", "asrs-v1.1-a"):
        for item in load_instrument(instrument_id).items:
            instrument_words |= _words(item.text or "")
    for name, (honest, entries) in items_set.families.items():
        assert len(entries) >= 3 and honest, name
        for entry_id, text in entries:
            # a few plain words are fine; no other word of five letters or more of an item may appear
            shared = _words(text) & instrument_words - {"often", "whole", "without"}
            assert not shared, f"{name}/{entry_id} shares {shared} with an instrument item"


def test_the_plan_is_seeded_fits_the_scale_and_is_asked_without_the_stem() -> None:
    phq = load_instrument("phq-9")
    askable = askable_items(phq)
    plan = plan_attention(phq, askable, seed=7)
    assert plan is not None and plan.family == "frequency" and plan.honest_code == 0 and plan.chance == 0.25
    assert plan == plan_attention(phq, askable, seed=7)  # the same seed, the same items at the same places
    others = [plan_attention(phq, askable, seed=s) for s in range(8, 16)]
    assert any(other.as_dict()["items"] != plan.as_dict()["items"] for other in others)
    sequence = interleave(askable, plan)
    assert len(sequence) == len(askable) + 3
    assert [item.id for item in sequence if not item.id.startswith("attention:")] == [i.id for i in askable]
    for item in plan.items:
        assert sequence[item.position - 1] is item and not item.scored
        text = item_prompt(phq, item, "shift-1", None).messages[-1]["content"]
        assert item.text in text and f"{phq.stem} {item.text}" not in text  # a question of its own
        assert "1. Several days" in text  # the instrument's own scale, shifted like its items
    aq10 = load_instrument("aq-10")
    agreement = plan_attention(aq10, askable_items(aq10), seed=0)
    assert agreement is not None and agreement.family == "agreement" and agreement.honest_code == 3
    npi = load_instrument("npi-16")
    assert plan_attention(npi, askable_items(npi), seed=0) is None  # a choice between statements: none fits
    assert threshold(0.25) == 0.5 and threshold(0.5) == pytest.approx(2 / 3)
    assert PROMPT_VERSION == "assess-3"


def test_a_uniform_label_respondent_is_invalid_with_inattention_items_unscored(place, tiny_dir) -> None:  # type: ignore[no-untyped-def]
    settings, database = place
    target = Target("uniform", "transformers", "planted", None, None, uniform_label_llm(tiny_dir))
    run = assess(settings, database, target, "phq-9", seed=3)
    validity = run.result["validity"]
    assert validity["valid"] is False
    assert [reason["code"] for reason in validity["reasons"]] == ["inattention"]  # no other gate sees it
    assert validity["median_order_sensitivity"] < 0.01 and validity["median_option_mass"] > 0.99
    assert validity["attention_p_honest"] == pytest.approx(0.25, abs=1e-3)
    assert validity["attention_threshold"] == 0.5 and len(validity["attention_items"]) == 3
    # recorded with the run, apart from the questionnaire's items, and never in its total
    record = run.result["attention"]
    assert record["version"] == "attention-1" and record["honest_code"] == 0
    assert all(set(row["distribution"]) == {"0", "1", "2", "3"} for row in record["items"])
    assert all(row["text"].startswith("How often have you") for row in record["items"])
    assert [row["position"] for row in record["items"]] == sorted(row["position"] for row in record["items"])
    assert {item.item_id for item in run.items} == {str(n) for n in range(1, 11)}
    assert run.total == pytest.approx(13.5, abs=1e-3)  # nine items at 1.5: the attention items add nothing
    assert record["model_calls"] == 48 and run.result["model_calls"] == 160 + 48  # 30% more scoring requests
    again = assess(settings, database, target, "phq-9", seed=3)
    placed = [(row["id"], row["position"]) for row in record["items"]]
    assert [(row["id"], row["position"]) for row in again.result["attention"]["items"]] == placed


def test_a_sixty_percent_first_label_respondent_is_invalid_with_inattention_only(place, tiny_dir) -> None:  # type: ignore[no-untyped-def]
    settings, database = place
    target = Target("first-60", "transformers", "planted", None, None, mostly_first_label_llm(tiny_dir))
    validity = assess(settings, database, target, "gad-7").result["validity"]
    assert validity["median_order_sensitivity"] == pytest.approx(0.4667, abs=1e-3)  # passes that gate
    assert [reason["code"] for reason in validity["reasons"]] == ["inattention"]
    assert validity["attention_p_honest"] == pytest.approx(0.25, abs=1e-3)


def test_cli_assess_json_on_a_uniform_label_model_folder(tmp_path, tiny_dir, capsys) -> None:  # type: ignore[no-untyped-def]
    from jedi_academy.cli import main

    folder = tmp_path / "flat"
    shutil.copytree(tiny_dir, folder)
    uniform_label_llm(tiny_dir).model.save_pretrained(folder)  # the planted weights, the tiny tokenizer
    data = ["--data-dir", str(tmp_path / "data")]
    assert main([*data, "assess", "--model", str(folder), "--instrument", "phq-9", "--json"]) == 0
    row = json.loads(capsys.readouterr().out)
    assert list(row) == [  # the keys of `assess --json` (the typed result's as_dict)
        "run", "instrument", "target", "persona", "mode", "total", "standard_error", "standard_error_basis",
        "ci_low", "ci_high", "validity", "p_positive_screen", "reported", "modal", "missing_items",
        "mean_order_sensitivity", "attention", "items",
    ]  # fmt: skip
    assert row["validity"]["valid"] is False
    assert "inattention" in [reason["code"] for reason in row["validity"]["reasons"]]
    assert row["attention"]["family"] == "frequency" and len(row["attention"]["items"]) == 3
    assert not any(item["item"].startswith("attention:") for item in row["items"])
    assert main([*data, "assess", "--model", str(folder), "--instrument", "phq-9"]) == 0
    out = capsys.readouterr().out
    assert "INVALID (inattention): P(honest answer) on 3 attention items 0.25 < 0.5" in out
    assert "attention items: P(honest answer) 0.25 on 3 items (chance 0.25, needed 0.5)" in out
    assert "no band, screen or safety flag: the run is invalid" in out

    # listed as invalid, with no total next to it
    assert main([*data, "assess", "list", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert list(listed[0]) == [
        "run", "instrument", "target", "checkpoint", "model", "persona", "mode", "seed", "valid", "reasons",
        "total", "ci_low", "ci_high", "started_at",
    ]  # fmt: skip
    assert [(r["valid"], r["reasons"], r["total"]) for r in listed] == [(False, ["inattention"], None)] * 2
    assert main([*data, "assess", "list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "VALIDITY" in lines[0] and all("INVALID (inattention)" in line for line in lines[1:])
    assert not any("13.5" in line for line in lines)
