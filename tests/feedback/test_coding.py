"""Coding a session with the tiny model: constrained output is valid, feedback is stored and verified."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
from sqlalchemy import update

from jedi_academy.cli import main
from jedi_academy.errors import AcademyError
from jedi_academy.feedback.codes import miti_scheme
from jedi_academy.feedback.coding import (
    CodingOptions,
    code_session,
    codes_schema,
    parse_codes,
    parse_ratings,
    ratings_schema,
)
from jedi_academy.feedback.render import render_feedback
from jedi_academy.feedback.storage import load_feedback, save_feedback
from jedi_academy.feedback.transcript import Turn
from jedi_academy.store import open_database
from jedi_academy.store.models import FeedbackRecord as FeedbackRow

TURNS = [
    Turn("What brings you here today?", "I can't sleep and I'm always on edge.", "t1"),
    Turn("You're exhausted and tense most of the time.", "Yes, and work makes it worse.", "t2"),
    Turn("You should cut down on coffee.", "I already tried that.", "t3"),
    Turn("It's up to you what we look at first.", "", "t4"),
]


@pytest.fixture(scope="module")
def coded(tiny_llm):  # type: ignore[no-untyped-def]
    return code_session(tiny_llm, TURNS, session_id="session-1")


def test_every_turn_gets_schema_valid_codes_from_the_tiny_model(coded) -> None:  # type: ignore[no-untyped-def]
    known = set(miti_scheme().code_ids)
    assert len(coded.turns) == len(TURNS)
    assert [t.turn_id for t in coded.turns] == ["t1", "t2", "t3", "t4"]
    for turn, reply in zip(coded.turns, coded.raw["codes"], strict=True):
        jsonschema.validate(json.loads(reply), codes_schema())
        assert turn.codes is not None and 1 <= len(turn.codes) <= 3
        assert set(turn.codes) <= known
    jsonschema.validate(json.loads(coded.raw["ratings"]), ratings_schema())
    assert set(coded.ratings) == {g.id for g in miti_scheme().globals}
    assert all(1 <= value <= 5 for value in coded.ratings.values())
    assert coded.summary.coded_turns == len(TURNS)
    assert coded.summary.ratings == coded.ratings


def test_greedy_coding_is_reproducible(tiny_llm, coded) -> None:  # type: ignore[no-untyped-def]
    again = code_session(tiny_llm, TURNS, session_id="session-1", options=CodingOptions(rate_globals=False))
    assert [t.codes for t in again.turns] == [t.codes for t in coded.turns]
    assert again.ratings is None
    assert again.transcript_sha256 == coded.transcript_sha256


def test_unusable_replies_are_reported_not_guessed() -> None:
    assert parse_codes('{"codes": ["question", "question", "affirm"]}') == ("question", "affirm")
    assert parse_codes('{"codes": []}') is None
    assert parse_codes('{"codes": ["hug"]}') is None
    assert parse_codes("question") is None
    assert parse_ratings('{"cultivating_change_talk": 3, "softening_sustain_talk": 6, "partnership": 3, '
                         '"empathy": 3}') is None  # fmt: skip
    assert parse_ratings('{"cultivating_change_talk": 3}') is None


def test_feedback_round_trips_through_the_database_and_is_verified(settings, coded) -> None:  # type: ignore[no-untyped-def]
    database = open_database(settings)
    assert load_feedback(database, "session-1") is None
    save_feedback(database, coded)
    loaded = load_feedback(database, "session-1")
    assert loaded is not None
    assert loaded.as_dict() == coded.as_dict()
    assert render_feedback(loaded) == render_feedback(coded)
    # Saving again replaces the row instead of failing or duplicating it.
    save_feedback(database, coded)
    with database.session() as session:
        assert session.query(FeedbackRow).count() == 1
        row = session.get(FeedbackRow, "session-1")
        tampered = dict(row.payload, ratings={"cultivating_change_talk": 5})
        session.execute(update(FeedbackRow).values(payload=tampered))
    with pytest.raises(AcademyError, match="does not match its stored hash"):
        load_feedback(database, "session-1")


def test_feedback_is_found_by_a_unique_session_id_prefix(settings, coded) -> None:  # type: ignore[no-untyped-def]
    from dataclasses import replace

    from jedi_academy.cli import main

    database = open_database(settings)
    save_feedback(database, replace(coded, session_id="s-abc123"))
    assert load_feedback(database, "s-abc").session_id == "s-abc123"
    assert main(["--data-dir", str(settings.data_dir), "feedback", "show", "s-ab", "--json"]) == 0
    save_feedback(database, replace(coded, session_id="s-abd999"))
    with pytest.raises(AcademyError, match="'s-ab' is ambiguous"):
        load_feedback(database, "s-ab")
    assert load_feedback(database, "s-abd").session_id == "s-abd999"
    assert load_feedback(database, "s-x") is None


def test_code_and_show_commands(tiny_dir, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    transcript = tmp_path / "session.jsonl"
    transcript.write_text(
        "".join(json.dumps({"therapist": t.therapist, "patient": t.patient}) + "\n" for t in TURNS),
        encoding="utf-8",
    )
    root = ["--data-dir", str(tmp_path / "data"), "--model", str(tiny_dir)]
    args = ["feedback", "code", "--transcript", str(transcript), "--session-id", "s-7", "--json"]
    assert main([*root, *args]) == 0
    coded = json.loads(capsys.readouterr().out)
    assert coded["session_id"] == "s-7" and len(coded["turns"]) == 4
    assert main([*root, "feedback", "show", "s-7", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == coded
    assert main([*root, "feedback", "show", "s-7"]) == 0
    text = capsys.readouterr().out
    assert "Reflection-to-question ratio" in text and "fair 1, good 2" in text
    assert main([*root, "feedback", "show", "s-unknown"]) == 1
    assert "no feedback stored for session 's-unknown'" in capsys.readouterr().err


def test_coding_through_an_openai_compatible_server_gives_the_same_codes(tiny_llm, coded) -> None:  # type: ignore[no-untyped-def]
    # The schema travels as `response_format` over the wire and the server constrains decoding with it.
    from jedi_academy.llm.openai_backend import OpenAICompatibleLLM
    from jedi_academy.llm.server import create_app
    from tests.conftest import ServerThread

    with ServerThread(create_app(tiny_llm, "tiny")) as server:
        remote = OpenAICompatibleLLM(server.url, "tiny")
        over_http = code_session(remote, TURNS, session_id="session-1")
    assert over_http.backend == "openai"
    assert [t.codes for t in over_http.turns] == [t.codes for t in coded.turns]
    assert over_http.ratings == coded.ratings
