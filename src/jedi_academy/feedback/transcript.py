"""Plain session transcripts: a list of turns, each a therapist utterance and the patient's reply.

Read from JSONL (one ``{"therapist": ..., "patient": ..., "turn_id": ...}`` object a line) or CSV (columns
``therapist``, ``patient``, optional ``turn_id``). Errors name the file, the line and the field.
"""

from __future__ import annotations

import csv
import hashlib
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from jedi_academy.errors import AcademyError


class FeedbackInputError(AcademyError):
    """A transcript or annotation file that cannot be used as it is."""


@dataclass(frozen=True)
class Turn:
    """One exchange: what the therapist said and what the patient answered (empty when the session ended)."""

    therapist: str
    patient: str = ""
    turn_id: str | None = None


def transcript_sha256(turns: Sequence[Turn]) -> str:
    """Content hash of a transcript, identical across processes."""
    canonical = json.dumps([asdict(turn) for turn in turns], sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def read_transcript(path: Path) -> list[Turn]:
    """Turns from a ``.jsonl`` or ``.csv`` file."""
    if not path.is_file():
        raise FeedbackInputError(f"{path}: no such file", "give a .jsonl or .csv transcript")
    suffix = path.suffix.lower()
    if suffix == ".jsonl":
        turns = _read_jsonl(path)
    elif suffix == ".csv":
        turns = _read_csv(path)
    else:
        raise FeedbackInputError(
            f"{path}: unknown transcript format {suffix or '(none)'!r}", "use .jsonl or .csv"
        )
    if not turns:
        raise FeedbackInputError(f"{path}: no turns", "a transcript needs at least one therapist turn")
    return turns


def _turn(path: Path, line: int, therapist: object, patient: object, turn_id: object) -> Turn:
    if not isinstance(therapist, str) or not therapist.strip():
        raise FeedbackInputError(f"{path}, line {line}: field 'therapist' must be non-empty text")
    if patient is None:
        patient = ""
    if not isinstance(patient, str):
        raise FeedbackInputError(f"{path}, line {line}: field 'patient' must be text")
    if turn_id is not None and not isinstance(turn_id, str | int):
        raise FeedbackInputError(f"{path}, line {line}: field 'turn_id' must be text or a whole number")
    return Turn(therapist.strip(), patient.strip(), None if turn_id in (None, "") else str(turn_id))


def _read_jsonl(path: Path) -> list[Turn]:
    turns = []
    with path.open(encoding="utf-8") as handle:
        for line, text in enumerate(handle, start=1):
            if not text.strip():
                continue
            try:
                record = json.loads(text)
            except json.JSONDecodeError as exc:
                raise FeedbackInputError(f"{path}, line {line}: not valid JSON ({exc.msg})") from exc
            if not isinstance(record, dict):
                raise FeedbackInputError(f"{path}, line {line}: expected a JSON object")
            unknown = set(record) - {"therapist", "patient", "turn_id"}
            if unknown:
                raise FeedbackInputError(
                    f"{path}, line {line}: unknown field {sorted(unknown)[0]!r}",
                    "a turn has 'therapist', 'patient' and optionally 'turn_id'",
                )
            turns.append(
                _turn(path, line, record.get("therapist"), record.get("patient"), record.get("turn_id"))
            )
    return turns


def _read_csv(path: Path) -> list[Turn]:
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        if reader.fieldnames is None or "therapist" not in reader.fieldnames:
            raise FeedbackInputError(
                f"{path}, line 1: no 'therapist' column", "columns: therapist, patient, turn_id"
            )
        turns = []
        start = reader.line_num + 1
        for row in reader:
            if None in row:
                raise FeedbackInputError(f"{path}, line {start}: more fields than the header has columns")
            turns.append(_turn(path, start, row.get("therapist"), row.get("patient"), row.get("turn_id")))
            start = reader.line_num + 1
    return turns
