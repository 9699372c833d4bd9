"""``academy dataset export --format csv|parquet|jsonl``: the design's (persona_id, specialization, question,
answer) rows, read back with the Hugging Face ``datasets`` library."""

import csv
import json

import pytest
from datasets import load_dataset

from jedi_academy.cli import main
from jedi_academy.datasets.versions import build_dataset
from jedi_academy.store import ArtifactStore, open_database
from tests.factories import add_conversation, add_persona

TURNS = [
    ("What brings you here?", 'I feel flat, "empty", all the time.'),
    ("How is sleep?", "I wake at four,\nand lie there."),
    ("And your days?", "Long."),
]


@pytest.fixture
def version(settings):  # type: ignore[no-untyped-def]
    database = open_database(settings)
    for p in range(4):
        add_persona(database, f"p{p}", name=f"Person{p}")
        add_conversation(database, f"conv-{p}", f"p{p}", TURNS)
    add_persona(database, "a0", name="Anx", specialization="anxiety")
    add_conversation(database, "anx-0", "a0", TURNS[:1], specialization="anxiety")
    built, _ = build_dataset(
        database, ArtifactStore(settings.data_dir), ["depression", "anxiety"], validation_fraction=0.25
    )
    return settings, built


def _export(settings, version_id: str, out, *extra: str) -> int:  # type: ignore[no-untyped-def]
    args = ["--data-dir", str(settings.data_dir), "dataset", "export", version_id, "--out", str(out)]
    return main([*args, *extra])


def test_csv_has_exactly_the_design_columns_and_one_row_per_turn(version, tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    settings, built = version
    out = tmp_path / "out" / "dataset.csv"
    assert _export(settings, built.id[:10], out, "--format", "csv") == 0
    assert "13 rows" in capsys.readouterr().out
    assert out.read_text(encoding="utf-8").splitlines()[0] == "persona_id,specialization,question,answer"
    with out.open(encoding="utf-8", newline="") as stream:
        rows = list(csv.DictReader(stream))
    assert len(rows) == 4 * len(TURNS) + 1  # every turn of every member conversation, both splits
    # conversations in id order ("anx-0" < "conv-0"), each conversation's turns in spoken order
    assert [(r["persona_id"], r["specialization"]) for r in rows[:2]] == [
        ("a0", "anxiety"),
        ("p0", "depression"),
    ]
    assert [r["question"] for r in rows[1:4]] == [q for q, _ in TURNS]
    assert rows[2]["answer"] == "I wake at four,\nand lie there."  # a line break survives quoting
    assert rows[1]["answer"] == TURNS[0][1]


def test_with_ids_adds_conversation_and_turn_index(version, tmp_path) -> None:  # type: ignore[no-untyped-def]
    settings, built = version
    out = tmp_path / "rows.jsonl"
    assert _export(settings, built.id, out, "--format", "jsonl", "--with-ids") == 0
    records = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert list(records[0]) == [
        "persona_id",
        "specialization",
        "question",
        "answer",
        "conversation_id",
        "turn_index",
    ]
    assert [(r["conversation_id"], r["turn_index"]) for r in records[1:4]] == [
        ("conv-0", 0),
        ("conv-0", 1),
        ("conv-0", 2),
    ]


@pytest.mark.parametrize(
    ("table_format", "builder"), [("parquet", "parquet"), ("jsonl", "json"), ("csv", "csv")]
)
def test_datasets_load_dataset_reads_the_export(version, tmp_path, table_format, builder) -> None:  # type: ignore[no-untyped-def]
    settings, built = version
    out = tmp_path / f"depression.{table_format}"
    assert _export(settings, built.id, out, "--format", table_format) == 0
    loaded = load_dataset(builder, data_files=str(out), split="train", cache_dir=str(tmp_path / "hf-cache"))
    assert loaded.column_names == ["persona_id", "specialization", "question", "answer"]
    assert loaded.num_rows == 13
    assert loaded[2]["answer"] == "I wake at four,\nand lie there."


def test_split_selects_rows_and_ids_are_refused_for_mistral(version, tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    settings, built = version
    train, validation = tmp_path / "train.parquet", tmp_path / "validation.parquet"
    assert _export(settings, built.id, train, "--format", "parquet", "--split", "train") == 0
    assert _export(settings, built.id, validation, "--format", "parquet", "--split", "validation") == 0
    import pyarrow.parquet as pq

    train_rows, validation_rows = pq.read_table(train).num_rows, pq.read_table(validation).num_rows
    assert validation_rows > 0 and train_rows + validation_rows == 13
    capsys.readouterr()
    assert _export(settings, built.id, tmp_path / "x.jsonl", "--with-ids") == 2
    err = capsys.readouterr().err
    assert "Usage:" in err and "--with-ids" in err and "not mistral" in err
    assert not (tmp_path / "x.jsonl").exists()


def test_a_folder_as_out_is_a_one_line_error(version, tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    settings, built = version
    assert _export(settings, built.id, tmp_path, "--format", "csv") == 1
    err = capsys.readouterr().err
    assert f"error: {tmp_path} is a folder" in err and "Traceback" not in err
