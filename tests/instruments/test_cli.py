"""``academy instruments ...`` through the real entry point."""

from __future__ import annotations

import json
import subprocess
import sys
from importlib import resources

import pytest

SCORE_KEYS = ["instrument", "total", "band", "positive_screen", "subscales", "outcomes", "safety_flags"]


def test_list_json(academy):
    result = academy("instruments", "list", "--json")
    assert result.code == 0
    rows = {row["id"]: row for row in json.loads(result.out)}
    assert sorted(rows) == ["aq-10", "asrs-v1.1-a", "gad-7", "npi-16", "pcl-5", "phq-9"]
    assert (rows["pcl-5"]["text"], rows["aq-10"]["text"]) == ("shipped", "missing")
    assert rows["phq-9"]["citations"][0]["pmid"] == "11556941"
    assert rows["asrs-v1.1-a"]["range"] == [0, 6]


def test_list_table(academy):
    result = academy("instruments", "list")
    assert result.code == 0
    assert "not shipped (import it)" in result.out and "public domain" in result.out


def test_show_prints_text_key_and_citation(academy):
    result = academy("instruments", "show", "phq-9")
    assert result.code == 0
    assert "9. Thoughts that you would be better off dead" in result.out
    assert "PMID 11556941" in result.out
    assert "10-14 moderate" in result.out


def test_show_without_text_explains_how_to_import(academy):
    result = academy("instruments", "show", "aq-10")
    assert "academy instruments import aq-10 --items FILE" in result.out
    assert "keyed: 2, 3" in result.out


def test_show_json_has_labelled_options_with_values(academy):
    data = json.loads(academy("instruments", "show", "asrs-v1.1-a", "--json").out)
    item4 = data["items"][3]
    assert [(o["label"], o["value"]) for o in item4["options"]] == [
        ("Never", 0.0),
        ("Rarely", 0.0),
        ("Sometimes", 0.0),
        ("Often", 1.0),
        ("Very often", 1.0),
    ]
    assert data["licence"]["text_shippable"] is False


def test_unknown_instrument(academy):
    result = academy("instruments", "show", "bdi-ii")
    assert result.code == 1
    assert "unknown instrument 'bdi-ii'" in result.err and "phq-9" in result.err


def test_score_json_has_exactly_the_agreed_keys(academy):
    answers = ",".join(["2"] * 16 + ["1", "0", "0", "0"])
    result = academy("instruments", "score", "pcl-5", "--responses", answers, "--json")
    assert result.code == 0
    data = json.loads(result.out)
    assert list(data) == SCORE_KEYS
    assert data == {
        "instrument": "pcl-5",
        "total": 33,
        "band": None,
        "positive_screen": True,
        "subscales": {"B": 10, "C": 4, "D": 14, "E": 5},
        "outcomes": {"provisional_diagnosis": True},
        "safety_flags": [],
    }


def test_score_json_phq9_with_a_missing_answer(academy):
    data = json.loads(
        academy("instruments", "score", "phq-9", "--responses", "3,3,3,3,3,3,3,,1", "--json").out
    )
    assert (data["total"], data["band"], data["positive_screen"], data["safety_flags"]) == (
        25,
        "severe",
        True,
        ["9"],
    )


def test_score_text(academy):
    result = academy("instruments", "score", "phq-9", "--responses", "0,0,0,0,0,0,0,0,2")
    assert "total 2" in result.out and "SAFETY: follow up item(s) 9" in result.out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["phq-9", "--responses", "0,0,0,0,0,0,0,0,4"], "phq-9 item 9: answer 4 is out of range"),
        (["pcl-5", "--responses", "0,0,0"], "item 4 has no answer"),
        (["gad-7", "--responses", "0,0,x,0,0,0,0"], "answer 3 ('x') is not a whole number"),
        (["npi-16", "--responses", ",".join(["1"] * 17)], "got 17"),
    ],
)
def test_score_errors_are_one_clear_line(academy, args, message):
    result = academy("instruments", "score", *args)
    assert result.code == 1
    assert message in result.err
    assert "Traceback" not in result.err


def test_change_command(academy):
    data = json.loads(
        academy("instruments", "change", "phq-9", "--before", "18", "--after", "8", "--json").out
    )
    assert (data["classification"], data["method"], data["clinically_significant"]) == (
        "reliable improvement",
        "fixed_threshold",
        True,
    )
    result = academy("instruments", "change", "npi-16", "--before", "10", "--after", "5")
    assert result.code == 1 and "pass sd= and reliability=" in result.err


def test_validate_every_shipped_file(academy):
    folder = resources.files("jedi_academy.instruments") / "data"
    for entry in folder.iterdir():
        if entry.name.endswith(".yaml"):
            result = academy("instruments", "validate", str(entry))
            assert result.code == 0, result.err
            assert ": ok (" in result.out


def test_validate_reports_each_problem_with_its_line(academy, tmp_path):
    source = (resources.files("jedi_academy.instruments") / "data" / "gad-7.yaml").read_text(encoding="utf-8")
    lines = source.splitlines()
    target = next(i for i, line in enumerate(lines) if "{label: severe, min: 15, max: 21}" in line)
    lines[target] = lines[target].replace("min: 15", "min: 16")
    bad = tmp_path / "bad-gad7.yaml"
    bad.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = academy("instruments", "validate", str(bad))
    assert result.code == 1
    assert f"{bad}:{target + 1}:" in result.err
    assert "bands[3].min" in result.err and "1 problem(s)" in result.err


def test_import_then_show(academy, tmp_path):
    text = tmp_path / "asrs.yaml"
    text.write_text(
        "items:\n" + "".join(f"  {n}: Placeholder item {n}\n" for n in range(1, 7)), encoding="utf-8"
    )
    result = academy("instruments", "import", "asrs-v1.1-a", "--items", str(text))
    assert result.code == 0, result.err
    assert (academy.data_dir / "instruments" / "text" / "asrs-v1.1-a.yaml").is_file()
    assert "3. Placeholder item 3" in academy("instruments", "show", "asrs-v1.1-a").out
    rows = {row["id"]: row for row in json.loads(academy("instruments", "list", "--json").out)}
    assert rows["asrs-v1.1-a"]["text"] == "imported"


def test_cli_module_imports_stay_light():
    code = (
        "import sys, jedi_academy.instruments.cli\n"
        "print(sorted({'pydantic', 'yaml', 'httpx'} & set(sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
