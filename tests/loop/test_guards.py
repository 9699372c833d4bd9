"""Issue 26 point 6: the loop's guards run and say so. The leak check finds the author's comments wherever
`academy run` wrote them (``reddit/run-<id>/``), and a loop that cannot check says why; a session turn with
instrument wording is left out alone, named by turn and instrument item, in the loop's output and `session
show`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from jedi_academy.cli import main
from jedi_academy.store.models import Conversation, Persona
from tests.factories import add_persona
from tests.loop.conftest import ITEM_9, LoopWorld
from tests.reddit.dumps import comment, write_dump

OWN_WORDS = "Every morning I lie in bed counting the cracks in the ceiling until the alarm gives up on me."


def _guards(tmp_path: Path) -> Any:
    from jedi_academy.guard.contamination import guard_for_all_instruments
    from jedi_academy.loop.guards import LoopGuards
    from jedi_academy.personas.privacy import LeakLimits

    return LoopGuards(guard_for_all_instruments(tmp_path), [], LeakLimits(), False, leak_reason="none here")


def test_a_turn_with_instrument_wording_is_named_by_turn_and_item(tmp_path: Path) -> None:
    from jedi_academy.loop.expansion import turn_problems
    from jedi_academy.loop.text import left_out_text, removed_turn_line

    guards = _guards(tmp_path)
    found = turn_problems(guards, 2, ITEM_9, "No, not really.")
    assert found == [{"turn": 2, "speaker": "therapist", "reason": "contaminated", "items": ["phq-9 item 9"]}]
    assert removed_turn_line(found[0]) == (
        "session turn 2 left out of training: the therapist's words reproduce the wording of PHQ-9 item 9"
    )
    # a patient's own disclosure is what patients say: kept
    disclosure = "Sometimes I think I would be better off dead."
    assert turn_problems(guards, 3, "How was your week?", disclosure) == []
    text = left_out_text({"undecided": 2})
    assert text.startswith("left out 2 follow-up(s) not written") and "{" not in text
    assert left_out_text({}) == "nothing left out"


def _ingest_like_academy_run(settings: Any, tmp_path: Path) -> Path:
    """What `academy run`'s ingest stage does: the dump into ``<data_dir>/reddit/run-<id>/``."""
    from jedi_academy.reddit import IngestOptions, ingest

    out = settings.path("reddit", "run-0123456789ab")
    dump = write_dump(tmp_path, [comment(1, author="Robin", subreddit="depression", body=OWN_WORDS)])
    ingest(settings, IngestOptions(paths=[dump], specializations="depression", out_dir=out))
    return out


def test_the_leak_check_finds_the_comments_academy_run_wrote(settings: Any, tmp_path: Path) -> None:
    from jedi_academy.loop.guards import loop_guards
    from jedi_academy.reddit import load_author_bundles
    from jedi_academy.store import open_database

    database = open_database(settings)
    add_persona(database, "p-robin")
    add_persona(database, "p-sam", name="Sam", author="h-nobody")
    before = loop_guards(settings, database, "p-robin", "depression", None)
    assert not before.leak_checked
    assert "no ingested Reddit comments of specialization 'depression'" in str(before.leak_reason)

    out = _ingest_like_academy_run(settings, tmp_path)
    bundle = load_author_bundles(settings, "depression", out_dir=out)[0]
    with database.session() as session:
        persona = session.get(Persona, "p-robin")
        assert persona is not None
        persona.source_author_hash, persona.source_comment_ids = bundle.author, bundle.comment_ids
    guards = loop_guards(settings, database, "p-robin", "depression", None)
    assert guards.leak_checked and guards.leak_reason is None
    assert guards.leak_source == str(out.resolve())
    assert guards.problem("Honestly? " + OWN_WORDS) == "leak"
    assert guards.problem("I went for a walk and it was fine.") is None

    other = loop_guards(settings, database, "p-sam", "depression", None)
    assert not other.leak_checked
    assert "author is in none of the ingest outputs" in str(other.leak_reason)


def test_a_loop_leaves_out_only_the_offending_turn_and_says_why(
    looped: tuple[LoopWorld, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    """The shared loop iteration (tests/loop/conftest.py): its session's last turn reads out PHQ-9 item 9 and
    no ingest output is on the machine."""
    from jedi_academy.sessions import session_json

    world, run = looped
    record = session_json(world.database, world.session_id)
    assert record.turns[3].therapist == ITEM_9 and record.turns[3].patient
    result = run["result"]
    expansion = result.expansion
    assert expansion["removed_turns"] == [
        {"turn": 3, "speaker": "therapist", "reason": "contaminated", "items": ["phq-9 item 9"]}
    ]
    assert expansion["leak_checked"] is False
    assert "no ingested Reddit comments" in expansion["leak_not_checked"]
    assert "session_contaminated" not in expansion["left_out"]
    with world.database.session() as db:
        stored = db.get(Conversation, expansion["session_conversation"])
        assert stored is not None and stored.provenance["contaminated"] is False
        assert stored.id in result.conversation_ids  # the rest of the session is trained on
        assert stored.provenance["removed_turns"] == expansion["removed_turns"]
        assert ITEM_9 not in [t.question for t in stored.turns] and len(stored.turns) >= 1

    capsys.readouterr()
    assert main([*world.cli, "loop", "--session", world.session_id]) == 0  # a re-run prints the guard lines
    out = capsys.readouterr().out
    line = "session turn 3 left out of training: the therapist's words reproduce the wording of PHQ-9 item 9"
    assert line in out
    assert "leak check: NOT run: no ingested Reddit comments" in out
    assert "{" not in out

    assert main([*world.cli, "session", "show", world.session_id]) == 0
    shown = capsys.readouterr().out
    assert line in shown and "leak check: NOT run" in shown
    assert main([*world.cli, "session", "show", world.session_id, "--json"]) == 0
    guards = json.loads(capsys.readouterr().out)["training_guards"]
    assert guards["removed_turns"] == expansion["removed_turns"] and guards["leak_checked"] is False
