"""Scripted therapists for ``academy session replay``: JSONL turns or a CSV transcript (AnnoMI layout).

JSONL: one therapist turn per line, ``{"therapist": "...", "recommendations": ["..."]}``.
CSV: the columns ``transcript_id, utterance_id, interlocutor, utterance_text`` (others are ignored); the
therapist rows of one transcript are replayed in ``utterance_id`` order and client rows are dropped, because
the simulated patient answers for itself.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from pathlib import Path

from jedi_academy.errors import AcademyError

CSV_COLUMNS = ("transcript_id", "utterance_id", "interlocutor", "utterance_text")
THERAPIST_LABELS = {"therapist", "counselor", "counsellor", "t"}


class ScriptError(AcademyError):
    """A replay script that cannot be read; the message names the file and line or column."""


@dataclass(frozen=True)
class ScriptTurn:
    therapist: str
    recommendations: tuple[str, ...] = field(default_factory=tuple)


def load_script(path: Path, transcript: str | None = None) -> list[ScriptTurn]:
    """The therapist turns of a script file; JSONL by default, CSV for ``.csv`` files."""
    if not path.is_file():
        raise ScriptError(f"script {path} does not exist", "pass a .jsonl or .csv file to --script")
    if path.suffix.lower() == ".csv":
        turns = _csv_turns(path, transcript)
    else:
        if transcript is not None:
            raise ScriptError(f"{path}: --transcript only applies to CSV transcripts")
        turns = _jsonl_turns(path)
    if not turns:
        raise ScriptError(f"{path}: no therapist turns to replay")
    return turns


def _jsonl_turns(path: Path) -> list[ScriptTurn]:
    turns = []
    for number, line in enumerate(_read_text(path).splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{path}, line {number}"
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ScriptError(f"{where}: not valid JSON ({exc.msg})") from exc
        if not isinstance(row, dict):
            raise ScriptError(f"{where}: expected an object with a 'therapist' field")
        unknown = set(row) - {"therapist", "recommendations"}
        if unknown:
            raise ScriptError(f"{where}: unknown field(s) {', '.join(sorted(unknown))}")
        text = row.get("therapist")
        if not isinstance(text, str) or not text.strip():
            raise ScriptError(f"{where}: 'therapist' must be a non-empty string")
        recommendations = row.get("recommendations", [])
        if not isinstance(recommendations, list) or not all(
            isinstance(r, str) and r.strip() for r in recommendations
        ):
            raise ScriptError(f"{where}: 'recommendations' must be a list of non-empty strings")
        turns.append(ScriptTurn(text.strip(), tuple(r.strip() for r in recommendations)))
    return turns


def _csv_turns(path: Path, transcript: str | None) -> list[ScriptTurn]:
    text = _read_text(path)
    reader = csv.DictReader(io.StringIO(text, newline=""))
    header = [h.strip() for h in (reader.fieldnames or [])]
    missing = [c for c in CSV_COLUMNS if c not in header]
    if missing:
        raise ScriptError(
            f"{path}: missing column(s) {', '.join(missing)}", f"a transcript needs {', '.join(CSV_COLUMNS)}"
        )
    reader.fieldnames = header
    rows: list[tuple[float, int, str]] = []
    seen_transcripts: set[str] = set()
    for row in reader:
        number = reader.line_num
        transcript_id = (row.get("transcript_id") or "").strip()
        seen_transcripts.add(transcript_id)
        if transcript_id != transcript:
            continue
        try:
            order = float((row.get("utterance_id") or "").strip())
        except ValueError as exc:
            raise ScriptError(
                f"{path}, line {number}: utterance_id {row.get('utterance_id')!r} is not a number"
            ) from exc
        speaker = (row.get("interlocutor") or "").strip().lower()
        utterance = (row.get("utterance_text") or "").strip()
        if speaker in THERAPIST_LABELS and utterance:
            rows.append((order, number, utterance))
    known = ", ".join(sorted(seen_transcripts, key=_natural)[:10]) or "none"
    if transcript is None:
        raise ScriptError(
            f"{path}: a CSV transcript needs --transcript ID", f"transcripts in the file: {known}"
        )
    if transcript not in seen_transcripts:
        raise ScriptError(f"{path}: no transcript {transcript!r}", f"transcripts in the file: {known}")
    return [ScriptTurn(utterance) for _, _, utterance in sorted(rows)]


def _natural(value: str) -> tuple[int, str]:
    return (int(value), "") if value.isdigit() else (1 << 62, value)


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ScriptError(f"{path}: not UTF-8 text (byte {exc.start})") from exc
    except OSError as exc:
        raise ScriptError(f"{path}: cannot read ({exc.strerror})") from exc
