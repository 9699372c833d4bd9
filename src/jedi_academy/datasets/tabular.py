"""A dataset version in the design's own shape: one row per therapist question and patient answer.

The design names the dataset "(persona_id, specialization, question, answer)". These exports carry exactly
those four columns (``with_ids`` adds ``conversation_id`` and ``turn_index``), one row per stored turn, the
conversations in the version's canonical order (by id) and each conversation's turns in the order they were
spoken. CSV, JSON Lines and Parquet are written so that ``datasets.load_dataset("csv"|"json"|"parquet",
data_files=FILE)`` reads them without options.

Unlike the Mistral export these rows are read from the database (the Mistral records carry no persona id),
so they follow the version's membership table: the same conversations, the same split.
"""

from __future__ import annotations

import csv
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import select

from jedi_academy.datasets.versions import resolve_version
from jedi_academy.errors import AcademyError
from jedi_academy.store import Database
from jedi_academy.store.models import Conversation, DatasetMember

TableFormat = Literal["csv", "jsonl", "parquet"]
TABLE_FORMATS: tuple[TableFormat, ...] = ("csv", "jsonl", "parquet")
SPLITS = ("all", "train", "validation")
COLUMNS = ("persona_id", "specialization", "question", "answer")
ID_COLUMNS = ("conversation_id", "turn_index")


def columns(with_ids: bool) -> tuple[str, ...]:
    return COLUMNS + ID_COLUMNS if with_ids else COLUMNS


def version_rows(
    database: Database, wanted: str, *, split: str = "all", with_ids: bool = False
) -> tuple[str, list[dict[str, Any]]]:
    """The version's id and its rows (dicts keyed by ``columns(with_ids)``), in conversation order."""
    if split not in SPLITS:
        raise AcademyError(f"unknown split {split!r}", f"use one of {', '.join(SPLITS)}")
    with database.session() as session:
        version = resolve_version(session, wanted)
        query = select(DatasetMember.conversation_id).where(DatasetMember.dataset_id == version.id)
        if split != "all":
            query = query.where(DatasetMember.split == split)
        member_ids = list(session.scalars(query))
        conversations = session.scalars(
            select(Conversation).where(Conversation.id.in_(member_ids)).order_by(Conversation.id)
        )
        rows: list[dict[str, Any]] = []
        for conversation in conversations:
            for turn in conversation.turns:  # the relationship orders turns by their index
                row: dict[str, Any] = {
                    "persona_id": conversation.persona_id,
                    "specialization": conversation.specialization_id,
                    "question": turn.question,
                    "answer": turn.answer,
                }
                if with_ids:
                    row["conversation_id"] = conversation.id
                    row["turn_index"] = turn.turn
                rows.append(row)
        return version.id, rows


def export_table(
    database: Database,
    wanted: str,
    out: Path,
    table_format: TableFormat,
    *,
    split: str = "all",
    with_ids: bool = False,
) -> tuple[str, int]:
    """Write the rows to ``out`` atomically (a crash leaves the old file or none); returns (version, rows)."""
    if table_format not in TABLE_FORMATS:
        raise AcademyError(f"unknown table format {table_format!r}", f"use one of {', '.join(TABLE_FORMATS)}")
    if out.is_dir():
        example = out / f"dataset.{table_format}"
        raise AcademyError(f"{out} is a folder", f"give a file name such as {example}")
    version_id, rows = version_rows(database, wanted, split=split, with_ids=with_ids)
    if not rows:
        raise AcademyError(f"dataset version {version_id[:12]} has no {split} rows", "choose another --split")
    out.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{out.name}.", dir=out.parent)
    os.close(handle)
    try:
        _WRITERS[table_format](Path(temporary), rows, columns(with_ids))
        os.replace(temporary, out)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return version_id, len(rows)


def _write_csv(path: Path, rows: list[dict[str, Any]], names: tuple[str, ...]) -> None:
    # newline="" so that line breaks inside answers stay inside their quoted field (RFC 4180)
    with path.open("w", encoding="utf-8", newline="") as stream:
        writer = csv.DictWriter(stream, fieldnames=names, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)


def _write_jsonl(path: Path, rows: list[dict[str, Any]], names: tuple[str, ...]) -> None:
    with path.open("w", encoding="utf-8") as stream:
        for row in rows:
            stream.write(json.dumps({name: row[name] for name in names}, ensure_ascii=False) + "\n")


def _write_parquet(path: Path, rows: list[dict[str, Any]], names: tuple[str, ...]) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    types = {"turn_index": pa.int64()}
    schema = pa.schema([(name, types.get(name, pa.string())) for name in names])
    table = pa.table({name: [row[name] for row in rows] for name in names}, schema=schema)
    pq.write_table(table, path)


_WRITERS = {"csv": _write_csv, "jsonl": _write_jsonl, "parquet": _write_parquet}

