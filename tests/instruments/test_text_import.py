"""User-supplied item text for instruments whose licence keeps it out of the package.

The texts below are placeholders written for the tests, not the instruments' wording.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from jedi_academy.instruments import DefinitionError, load_instrument, score
from jedi_academy.instruments.loading import packaged_definition
from jedi_academy.instruments.text_import import import_text, text_path

NPI_IDS = ["4", "7", "9", "12", "13", "14", "20", "21", "23", "24", "30", "32", "34", "35", "39", "40"]


def aq10_file(tmp_path: Path, drop: str | None = None, extra: str = "") -> Path:
    lines = [
        "instrument: aq-10",
        "source: placeholder text for tests",
        "instructions: Placeholder instructions.",
        "items:",
    ]
    lines += [f'  "{n}": "Placeholder statement {n}"' for n in range(1, 11) if str(n) != drop]
    path = tmp_path / "aq10-text.yaml"
    path.write_text("\n".join(lines) + "\n" + extra, encoding="utf-8")
    return path


def line_of(path: Path, needle: str) -> int:
    return next(n for n, line in enumerate(path.read_text().splitlines(), 1) if needle in line)


def test_import_fills_the_text_and_leaves_the_key_alone(tmp_path):
    data_dir = tmp_path / "data"
    stored = import_text(packaged_definition("aq-10"), aq10_file(tmp_path), data_dir)
    assert stored == text_path(data_dir, "aq-10") and stored.is_file()
    with_text = load_instrument("aq-10", data_dir)
    assert with_text.text_source == "imported"
    assert with_text.item("7").text == "Placeholder statement 7"
    assert with_text.instructions == "Placeholder instructions."
    assert score(with_text, [2] * 10).total == score(load_instrument("aq-10"), [2] * 10).total == 6
    assert load_instrument("aq-10").text_source == "missing"  # no data dir, no imported text


def test_missing_item_text_is_named(tmp_path):
    path = aq10_file(tmp_path, drop="4")
    with pytest.raises(DefinitionError, match="no text for item\\(s\\) 4") as caught:
        import_text(packaged_definition("aq-10"), path, tmp_path / "data")
    assert caught.value.problems[0].line == line_of(path, "items:")
    assert not text_path(tmp_path / "data", "aq-10").exists()


def test_unknown_item_points_at_its_line(tmp_path):
    path = aq10_file(tmp_path, extra='  "11": "One too many"\n')
    with pytest.raises(DefinitionError) as caught:
        import_text(packaged_definition("aq-10"), path, tmp_path / "data")
    (problem,) = caught.value.problems
    assert problem.line == line_of(path, '"11"')
    assert "no item '11'" in problem.message


def test_file_for_another_instrument_is_refused(tmp_path):
    path = aq10_file(tmp_path)
    with pytest.raises(DefinitionError, match=r"this file is for 'aq-10', not 'asrs-v1\.1-a'"):
        import_text(packaged_definition("asrs-v1.1-a"), path, tmp_path / "data")


def npi_file(tmp_path: Path, single: str | None = None) -> Path:
    lines = ["items:"]
    for number in NPI_IDS:
        if number == single:
            lines.append(f'  {number}: "only one statement"')
        else:
            lines.append(f'  {number}: ["Placeholder A{number}", "Placeholder B{number}"]')
    path = tmp_path / "npi.yaml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_forced_choice_pairs_become_the_option_labels(tmp_path):
    data_dir = tmp_path / "data"
    import_text(packaged_definition("npi-16"), npi_file(tmp_path), data_dir)
    item = load_instrument("npi-16", data_dir).item("21")
    assert [(o.code, o.label, o.value) for o in item.options] == [
        (1, "Placeholder A21", 1.0),
        (2, "Placeholder B21", 0.0),
    ]


def test_forced_choice_item_needs_a_pair(tmp_path):
    path = npi_file(tmp_path, single="13")
    with pytest.raises(DefinitionError, match="item 13 is forced choice") as caught:
        import_text(packaged_definition("npi-16"), path, tmp_path / "data")
    assert caught.value.problems[0].line == line_of(path, "13:")


def test_rating_item_refuses_a_pair(tmp_path):
    path = tmp_path / "asrs.yaml"
    items = "\n".join(f"  {n}: Placeholder {n}" for n in range(1, 6))
    path.write_text(f"items:\n{items}\n  6: [one, two]\n", encoding="utf-8")
    with pytest.raises(DefinitionError, match="item 6 takes one text, not a pair"):
        import_text(packaged_definition("asrs-v1.1-a"), path, tmp_path / "data")


def test_a_damaged_stored_file_asks_for_a_new_import(tmp_path):
    data_dir = tmp_path / "data"
    stored = import_text(packaged_definition("aq-10"), aq10_file(tmp_path), data_dir)
    stored.write_text("items: {1: only one}\n", encoding="utf-8")
    with pytest.raises(DefinitionError) as caught:
        load_instrument("aq-10", data_dir)
    assert "academy instruments import aq-10" in (caught.value.hint or "")
