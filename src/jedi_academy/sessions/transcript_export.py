"""A session as a transcript file: Markdown, HTML or JSON Lines.

Each holds the session's header (case, therapist, checkpoint, seed, status), every turn (therapist, patient,
and the MITI codes of the therapist's words when the session was coded), the recommendations with their
decision (accepted, ignored, or undecided with why), and the risk flags. The codes come from the feedback
stage, which this stage cannot import: the caller passes them in (``codes``: turn index -> code names).

JSON Lines is one object per line, each with a ``type``: ``session`` first, then ``turn``, then
``recommendation``, then ``flag``, so a reader can stream it.
"""

from __future__ import annotations

import html
import json
import os
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from jedi_academy.errors import AcademyError

if TYPE_CHECKING:
    from jedi_academy.sessions.views import RecommendationView, SessionView

ExportFormat = Literal["md", "html", "jsonl"]
FORMATS: tuple[ExportFormat, ...] = ("md", "html", "jsonl")
HEADER_FIELDS = (
    "session_id", "case_id", "therapist", "specialization", "number", "branch", "checkpoint_id", "seed",
    "mode", "status", "started_at", "ended_at",
)  # fmt: skip

Codes = Mapping[int, Sequence[str] | None]


def decision(rec: RecommendationView) -> str:
    """What became of a recommendation, in words."""
    if rec.mode is None:
        return "undecided (not yet put to the patient)"
    if rec.p_accept is None:
        return "undecided (no usable answer from the patient)"
    if rec.decision == "invalid_preference":
        return (
            f"invalid_preference (the patient did not answer Yes or No: mass {rec.preference_mass or 0:.3f}; "
            f"p_accept {rec.p_accept:.3f} is not a decision)"
        )
    verdict = "accepted" if rec.accepted else "ignored"
    return f"{verdict} (p_accept {rec.p_accept:.3f}, u {rec.u or 0:.3f})"


def _codes_text(codes: Codes | None, index: int) -> str | None:
    if codes is None or index not in codes:
        return None
    found = codes[index]
    return ", ".join(found) if found else "could not be coded"


def _flag_label(flag: Mapping[str, Any]) -> str:
    return str(flag.get("label") or flag.get("category", "risk"))


def _header(record: SessionView) -> dict[str, Any]:
    return {name: getattr(record, name) for name in HEADER_FIELDS}


def render_markdown(record: SessionView, codes: Codes | None = None) -> str:
    lines = [f"# Session {record.number} of case {record.case_id}", ""]
    lines += [f"- **{name.replace('_', ' ')}**: {value}" for name, value in _header(record).items()]
    lines += ["", "## Transcript", ""]
    for turn in record.turns:
        lines.append(f"**Therapist ({turn.index}):** {turn.therapist}")
        coded = _codes_text(codes, turn.index)
        if coded is not None:
            lines.append(f"*MITI: {coded}*")
        lines += ["", f"**Patient:** {turn.patient if turn.patient is not None else '(no reply)'}", ""]
    lines += ["## Recommendations", ""]
    if not record.recommendations:
        lines.append("none")
    for rec in record.recommendations:
        lines.append(f"- turn {rec.turn} [{rec.source}, {rec.kind}] {rec.text}: {decision(rec)}")
    if record.flags:
        lines += ["", "## Risk flags", ""]
        lines += [f"- turn {f['turn']}: from the {f['speaker']} ({_flag_label(f)})" for f in record.flags]
    return "\n".join(lines) + "\n"


def render_html(record: SessionView, codes: Codes | None = None) -> str:
    e = html.escape
    title = f"Session {record.number} of case {record.case_id}"
    rows = "".join(
        f"<tr><th>{e(name.replace('_', ' '))}</th><td>{e(str(value))}</td></tr>"
        for name, value in _header(record).items()
    )
    turns = []
    for turn in record.turns:
        coded = _codes_text(codes, turn.index)
        miti = f'<p class="miti">MITI: {e(coded)}</p>' if coded is not None else ""
        patient = turn.patient if turn.patient is not None else "(no reply)"
        turns.append(
            f'<div class="turn"><p><b>Therapist ({turn.index}):</b> {e(turn.therapist)}</p>{miti}'
            f"<p><b>Patient:</b> {e(patient)}</p></div>"
        )
    recs = "".join(
        f"<li>turn {rec.turn} [{e(rec.source)}, {e(str(rec.kind))}] {e(rec.text)}: "
        f"{e(decision(rec))}</li>"
        for rec in record.recommendations
    ) or "<li>none</li>"
    flags = "".join(
        f"<li>turn {f['turn']}: from the {e(f['speaker'])} ({e(_flag_label(f))})</li>"
        for f in record.flags
    )
    flag_block = f"<h2>Risk flags</h2><ul>{flags}</ul>" if flags else ""
    return (
        f'<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><title>{e(title)}</title></head><body>'
        f"<h1>{e(title)}</h1><table>{rows}</table><h2>Transcript</h2>{''.join(turns)}"
        f"<h2>Recommendations</h2><ul>{recs}</ul>{flag_block}</body></html>\n"
    )


def render_jsonl(record: SessionView, codes: Codes | None = None) -> str:
    objects: list[dict[str, Any]] = [{"type": "session", **_header(record)}]
    for turn in record.turns:
        found = codes.get(turn.index) if codes is not None else None
        objects.append(
            {
                "type": "turn",
                "index": turn.index,
                "therapist": turn.therapist,
                "patient": turn.patient,
                "miti_codes": list(found) if found is not None else None,
            }
        )
    for rec in record.recommendations:
        objects.append({"type": "recommendation", **rec.as_dict(), "decision": decision(rec)})
    objects += [{"type": "flag", **dict(flag)} for flag in record.flags]
    return "".join(json.dumps(item, ensure_ascii=False) + "\n" for item in objects)


_RENDERERS = {"md": render_markdown, "html": render_html, "jsonl": render_jsonl}
MEDIA_TYPES = {"md": "text/markdown", "html": "text/html", "jsonl": "application/x-ndjson"}


def render_transcript(record: SessionView, export_format: str, codes: Codes | None = None) -> str:
    """The transcript as text (the web app's download); ``export_transcript`` writes it to a file."""
    if export_format not in FORMATS:
        raise AcademyError(f"unknown transcript format {export_format!r}", f"use {', '.join(FORMATS)}")
    return _RENDERERS[export_format](record, codes)


def export_transcript(
    record: SessionView, out: Path, export_format: ExportFormat, codes: Codes | None = None
) -> Path:
    """Write the transcript to ``out`` atomically, private to its owner (it holds what was said)."""
    if export_format not in FORMATS:
        raise AcademyError(f"unknown transcript format {export_format!r}", f"use {', '.join(FORMATS)}")
    if out.is_dir():
        example = out / f"session.{export_format}"
        raise AcademyError(f"{out} is a folder", f"give a file name such as {example}")
    text = render_transcript(record, export_format, codes)
    out.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{out.name}.", dir=out.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write(text)
        os.replace(temporary, out)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return out
