"""Reading annotated transcripts in the AnnoMI column layout (the user's file; the project ships none).

Required columns: ``transcript_id, utterance_id, interlocutor, utterance_text, main_therapist_behaviour``;
optional: ``reflection_subtype``, ``question_subtype``, ``annotator_id`` (other columns are ignored). Any
problem stops the read with one error naming the file, the line and the column.
"""

from __future__ import annotations

import csv
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from jedi_academy.feedback.codes import ANNOMI_CLASSES
from jedi_academy.feedback.transcript import FeedbackInputError

REQUIRED_COLUMNS = (
    "transcript_id",
    "utterance_id",
    "interlocutor",
    "utterance_text",
    "main_therapist_behaviour",
)
INTERLOCUTORS = ("therapist", "client")
EMPTY = ("", "n/a", "na", "nan", "none")
SUBTYPES = {"reflection_subtype": ("simple", "complex"), "question_subtype": ("open", "closed")}


@dataclass(frozen=True)
class AnnotatedUtterance:
    transcript_id: str
    utterance_id: int
    interlocutor: str  # therapist | client
    text: str
    behaviour: str | None  # one of ANNOMI_CLASSES for therapist rows, None for client rows
    reflection_subtype: str | None
    question_subtype: str | None
    annotator_id: str | None
    line: int


def read_annomi(path: Path) -> list[AnnotatedUtterance]:
    """All rows of the file, validated, in file order."""
    if not path.is_file():
        raise FeedbackInputError(f"{path}: no such file", "give a CSV in the AnnoMI column layout")
    try:
        with path.open(encoding="utf-8-sig", newline="") as handle:
            return _read(path, csv.DictReader(handle))
    except UnicodeDecodeError as exc:
        raise FeedbackInputError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from exc


def _read(path: Path, reader: csv.DictReader[str]) -> list[AnnotatedUtterance]:
    try:
        header = reader.fieldnames
    except csv.Error as exc:
        raise FeedbackInputError(f"{path}, line 1: not a readable CSV header ({exc})") from exc
    if not header:
        raise FeedbackInputError(f"{path}: empty file", "the first line must name the AnnoMI columns")
    for column in REQUIRED_COLUMNS:
        if column not in header:
            raise FeedbackInputError(
                f"{path}, line 1: missing column {column!r}",
                f"required columns: {', '.join(REQUIRED_COLUMNS)}",
            )
    rows = []
    start = reader.line_num + 1
    while True:
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            raise FeedbackInputError(f"{path}, line {start}: not valid CSV ({exc})") from exc
        rows.append(_utterance(path, start, row))
        start = reader.line_num + 1
    if not rows:
        raise FeedbackInputError(f"{path}: no utterances after the header")
    _check_unique(path, rows, annotated="annotator_id" in header)
    return rows


def _field(path: Path, line: int, row: dict[str | None, object], column: str) -> str:
    value = row.get(column)
    if value is None:
        raise FeedbackInputError(
            f"{path}, line {line}, column {column!r}: missing (the row has too few fields)"
        )
    assert isinstance(value, str)
    return value.strip()


def _utterance(path: Path, line: int, row: dict[str | None, object]) -> AnnotatedUtterance:
    if None in row:
        raise FeedbackInputError(f"{path}, line {line}: more fields than the header has columns")
    short = next((column for column, value in row.items() if value is None), None)
    if short is not None:
        raise FeedbackInputError(
            f"{path}, line {line}, column {short!r}: missing (the row has too few fields)"
        )
    where = f"{path}, line {line}, column"
    transcript_id = _field(path, line, row, "transcript_id")
    if not transcript_id:
        raise FeedbackInputError(f"{where} 'transcript_id': empty")
    raw_id = _field(path, line, row, "utterance_id")
    try:
        utterance_id = int(raw_id)
    except ValueError:
        raise FeedbackInputError(f"{where} 'utterance_id': {raw_id!r} is not a whole number") from None
    interlocutor = _field(path, line, row, "interlocutor").lower()
    if interlocutor not in INTERLOCUTORS:
        raise FeedbackInputError(f"{where} 'interlocutor': {interlocutor!r} is not therapist or client")
    text = _field(path, line, row, "utterance_text")
    behaviour_text = _field(path, line, row, "main_therapist_behaviour").lower()
    behaviour = None
    if interlocutor == "therapist":
        if behaviour_text not in ANNOMI_CLASSES:
            raise FeedbackInputError(
                f"{where} 'main_therapist_behaviour': {behaviour_text!r} is not one of "
                f"{', '.join(ANNOMI_CLASSES)}"
            )
        behaviour = behaviour_text
        if not text:
            raise FeedbackInputError(f"{where} 'utterance_text': empty for a therapist utterance")
    subtypes: dict[str, str | None] = {}
    for column, allowed in SUBTYPES.items():
        value = str(row.get(column) or "").strip().lower()
        if value in EMPTY:
            subtypes[column] = None
        elif value in allowed:
            subtypes[column] = value if interlocutor == "therapist" else None
        else:
            raise FeedbackInputError(
                f"{where} {column!r}: {value!r} is not one of {', '.join(allowed)} or n/a"
            )
    annotator = str(row.get("annotator_id") or "").strip() or None
    return AnnotatedUtterance(
        transcript_id,
        utterance_id,
        interlocutor,
        text,
        behaviour,
        subtypes["reflection_subtype"],
        subtypes["question_subtype"],
        annotator,
        line,
    )


def _check_unique(path: Path, rows: list[AnnotatedUtterance], *, annotated: bool) -> None:
    """One row per utterance, or per utterance and annotator when the file has an ``annotator_id`` column."""
    seen: dict[tuple[str, int, str | None], int] = {}
    for row in rows:
        key = (row.transcript_id, row.utterance_id, row.annotator_id if annotated else None)
        if key in seen:
            who = f" by annotator {row.annotator_id!r}" if annotated else ""
            raise FeedbackInputError(
                f"{path}, line {row.line}, column 'utterance_id': utterance {row.utterance_id} of transcript "
                f"{row.transcript_id!r}{who} already appears on line {seen[key]}"
            )
        seen[key] = row.line


def transcripts(rows: list[AnnotatedUtterance]) -> dict[str, list[AnnotatedUtterance]]:
    """Rows grouped by transcript, in utterance order (one row per utterance: the first annotator's)."""
    grouped: dict[str, dict[int, AnnotatedUtterance]] = defaultdict(dict)
    for row in rows:
        grouped[row.transcript_id].setdefault(row.utterance_id, row)
    return {tid: [by_id[key] for key in sorted(by_id)] for tid, by_id in grouped.items()}
