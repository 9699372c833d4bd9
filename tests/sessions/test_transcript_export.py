"""Session transcripts as Markdown, HTML and JSON Lines, from a session record."""

import json

import pytest

from jedi_academy.errors import AcademyError
from jedi_academy.sessions.transcript_export import export_transcript, render_html, render_markdown
from jedi_academy.sessions.views import RecommendationView, SessionView, TurnView

RECORD = SessionView(
    session_id="s-1", case_id="case-1", therapist="Ada", therapist_id="t-1", checkpoint_id="ck-1",
    persona_id="p-1", specialization="depression", number=2, branch="main", seed=7, mode="replay",
    status="ended", params={}, patient_model={}, teacher_model={},
    flags=[{"turn": 0, "speaker": "patient", "category": "self_harm", "label": "self-harm"}],
    extraction=None,
    turns=[
        TurnView(index=0, therapist="What brings you <here>?", patient="I feel flat & tired.", seed=1,
                 risk=[], context_dropped=0),
        TurnView(index=1, therapist="Could you walk daily?", patient=None, seed=2, risk=[],
                 context_dropped=0),
    ],
    recommendations=[
        RecommendationView(id=1, index=0, turn=1, source="therapist", kind="lifestyle", text="walk daily",
                           mode="logprob", p_accept=0.6, u=0.2, accepted=True, decision="accepted",
                           preference_mass=None, phrasings=[], advice=None),
        RecommendationView(id=2, index=1, turn=1, source="extracted", kind="homework", text="keep a diary",
                           mode=None, p_accept=None, u=None, accepted=None, decision="undecided",
                           preference_mass=None, phrasings=[], advice=None),
    ],
    started_at="2026-12-07T10:00:00+00:00", ended_at="2026-12-07T10:20:00+00:00",
)  # fmt: skip
CODES = {0: ("question",), 1: None}


def test_markdown_has_turns_codes_decisions_and_flags() -> None:
    text = render_markdown(RECORD, CODES)
    assert "**Therapist (0):** What brings you <here>?\n*MITI: question*" in text
    assert "*MITI: could not be coded*" in text and "**Patient:** (no reply)" in text
    assert "walk daily: accepted (p_accept 0.600, u 0.200)" in text
    assert "keep a diary: undecided (not yet put to the patient)" in text
    assert "- turn 0: from the patient (self-harm)" in text


def test_html_escapes_what_was_said() -> None:
    page = render_html(RECORD, CODES)
    assert "What brings you &lt;here&gt;?" in page and "flat &amp; tired" in page
    assert "<here>" not in page and page.startswith("<!doctype html>")


def test_jsonl_streams_typed_objects_and_files_are_private(tmp_path) -> None:  # type: ignore[no-untyped-def]
    out = export_transcript(RECORD, tmp_path / "t" / "s.jsonl", "jsonl", CODES)
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    types = ["session", "turn", "turn", "recommendation", "recommendation", "flag"]
    assert [line["type"] for line in lines] == types
    assert lines[1]["miti_codes"] == ["question"] and lines[2]["miti_codes"] is None
    assert lines[4]["decision"] == "undecided (not yet put to the patient)"
    assert oct(out.stat().st_mode & 0o777) == "0o600"
    uncoded = export_transcript(RECORD, tmp_path / "u.md", "md")
    assert "MITI" not in uncoded.read_text()
    with pytest.raises(AcademyError, match="is a folder"):
        export_transcript(RECORD, tmp_path, "md")
