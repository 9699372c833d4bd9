"""A turn has a length limit (nothing stored beyond it) and the patient's prompt fits its model's context:
the oldest turns are left out, and the turn record says how many."""

from __future__ import annotations

import time
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from jedi_academy.errors import AcademyError
from jedi_academy.limits import MAX_MESSAGE_CHARS
from jedi_academy.sessions import ModelPool, ModelSpec, SessionOptions, SessionRunner, session_json
from jedi_academy.sessions.context import context_positions, token_counter
from jedi_academy.sessions.prompts import fit_conversation, patient_conversation, preference_variants
from jedi_academy.store.ledger import session_content
from jedi_academy.store.models import SessionTurn, TherapySession
from tests.sessions.conftest import World, make_world


def count_words(messages: list[dict[str, str]]) -> int:
    return sum(len(m["content"].split()) for m in messages)


def test_the_oldest_turns_leave_first_and_the_new_message_always_stays() -> None:
    history = [(f"t{i} one two", f"p{i} one two") for i in range(5)]
    messages, dropped = fit_conversation("sys", history, "now", budget_tokens=20, count_tokens=count_words)
    assert count_words(messages) <= 20 and dropped > 0
    assert messages[0]["content"] == "sys" and messages[-1]["content"] == "now"
    assert messages[1]["content"] == f"t{dropped} one two"  # the kept turns are the latest, whole
    everything, none_dropped = fit_conversation(
        "sys", history, "now", budget_tokens=1000, count_tokens=count_words
    )
    assert none_dropped == 0 and len(everything) == 2 + 2 * len(history)
    with pytest.raises(AcademyError, match="leaves 1 for them"):
        fit_conversation("sys", history, "now", budget_tokens=1, count_tokens=count_words)


def test_a_cut_goes_to_half_the_budget_and_the_next_messages_keep_its_beginning() -> None:
    history = [(f"t{i} one two", f"p{i} one two") for i in range(12)]  # 6 words a turn
    fit = partial(fit_conversation, "sys", budget_tokens=40, count_tokens=count_words)
    messages, dropped = fit(history[:6], "now")  # 1 + 36 + 1 words: fits whole
    assert dropped == 0
    messages, dropped = fit(history[:7], "now")  # 44 words: the turns keep half their room (38), not all
    assert dropped == 4 and count_words(messages) == 20  # 1 + 3 turns (18) + 1
    beginning = messages[1]["content"]
    for turns in range(8, 10):  # the next messages fit without leaving out more: the prompt begins alike
        later, later_dropped = fit(history[:turns], "now", dropped_before=dropped)
        assert later_dropped == dropped and later[1]["content"] == beginning
    # a turn once left out stays out, even where it would fit again (a short message after a long one)
    assert fit(history[:2], "now", dropped_before=1) == (fit(history[1:2], "now")[0], 1)
    # a long message leaves the turns less room: 40 - 1 - 24 = 15 words, half of it (7) holds one turn
    long = " ".join(["word"] * 24)
    messages, dropped = fit(history[:7], long)
    assert dropped == 6 and count_words(messages) == 31 and messages[1]["content"] == "t6 one two"


def test_token_counts_are_exact_with_a_formatter_and_cautious_without(tiny_llm: Any) -> None:
    messages = [{"role": "user", "content": "How was your week? " * 20}]
    assert token_counter(tiny_llm)(messages) == len(tiny_llm.formatter.encode_prompt(messages))
    assert context_positions(tiny_llm) == tiny_llm.model.config.max_position_embeddings

    class Remote:  # a backend that knows neither its tokenizer nor its context
        pass

    estimate = token_counter(Remote())(messages)  # type: ignore[arg-type]
    assert estimate >= token_counter(tiny_llm)(messages)
    assert context_positions(Remote()) == 32_768  # type: ignore[arg-type]


def turn_rows(world: World, session_id: str) -> list[SessionTurn]:
    with world.database.session() as session:
        rows = list(session.query(SessionTurn).filter_by(session_id=session_id).order_by(SessionTurn.index))
        session.expunge_all()
        return rows


@pytest.fixture
def fresh(tmp_path: Path, tiny_dir: Path, tiny_llm: Any) -> tuple[World, Any]:
    """A world of its own (a case takes one unfinished session at a time) and a pool on the tiny model."""
    world = make_world(tmp_path, tiny_dir)
    pool = ModelPool(world.settings)
    pool.share(ModelSpec("transformers", world.settings.model, None), tiny_llm)
    return world, pool


def test_an_overlong_message_is_refused_and_stored_nowhere(fresh: tuple[World, Any]) -> None:
    world, pool = fresh
    options = SessionOptions(max_tokens=4)
    runner = SessionRunner.start(world.database, pool, world.case_id, seed=3, options=options)
    with pytest.raises(AcademyError, match=f"at most {MAX_MESSAGE_CHARS:,}"):
        runner.say("x" * 20_000)
    assert turn_rows(world, runner.session_id) == []
    runner.say("y" * MAX_MESSAGE_CHARS)  # the limit itself is allowed
    assert len(turn_rows(world, runner.session_id)) == 1


def test_a_long_session_is_trimmed_to_the_context_and_says_so(fresh: tuple[World, Any]) -> None:
    world, pool = fresh
    options = SessionOptions(max_tokens=4, context_tokens=700)
    runner = SessionRunner.start(world.database, pool, world.case_id, seed=4, options=options)
    with pytest.raises(AcademyError, match="context leaves 696"):
        runner.say("Tell me everything. " * 150)  # does not fit even alone: refused before it is stored
    assert turn_rows(world, runner.session_id) == []
    for number in range(10):
        runner.say(f"Turn {number}: tell me more about how the week went, and what made it hard. " * 3)
    rows = turn_rows(world, runner.session_id)
    dropped = [row.context_dropped for row in rows]
    after_cut = [d for d in dropped if d > 0]
    assert len(after_cut) >= 3 and len(set(after_cut)) < len(after_cut)  # the next turns keep its beginning
    assert dropped[0] == 0 and dropped[-1] > 0 and dropped == sorted(dropped)
    record = session_json(world.database, runner.session_id)
    assert [t.context_dropped for t in record.turns] == dropped
    with world.database.session() as session:
        sealed = session_content(session.get(TherapySession, runner.session_id))
    assert [t.get("context_dropped", 0) for t in sealed["turns"]] == dropped
    assert "context_dropped" not in sealed["turns"][0]  # a turn that saw everything reads as before
    # preference scoring reads the same bounded context, never the whole transcript
    advice = "Try a short walk every morning before work, even on the days it feels pointless."
    context = runner.preference_context([advice])
    longest = max((q for q, _, _ in preference_variants(advice)), key=len)
    asked = [*context, {"role": "user", "content": longest}]
    assert token_counter(runner.patient.llm)(asked) <= 700 - 4  # the turn's budget: context less the reply
    assert context[-2]["content"] == rows[-1].therapist  # the latest turns stay, the oldest leave
    assert all(rows[0].therapist != message["content"] for message in context)


def test_context_tokens_must_leave_room_for_the_prompt() -> None:
    with pytest.raises(AcademyError, match="leaves no room"):
        SessionOptions(max_tokens=200, context_tokens=200)


def test_after_each_reply_the_next_prompt_is_prepared_and_the_message_prefills_only_its_words(
    tmp_path: Path, tiny_dir: Path, tiny_llm: Any
) -> None:
    from jedi_academy.llm.batching import BatchingLLM

    world = make_world(tmp_path, tiny_dir)
    batcher = BatchingLLM(tiny_llm)
    pool = ModelPool(world.settings)
    pool.share(ModelSpec("transformers", world.settings.model, None), batcher)
    runner = SessionRunner.start(
        world.database, pool, world.case_id, seed=5, options=SessionOptions(max_tokens=6)
    )
    pieces: list[str] = []
    runner.say("How was your week?", on_text=pieces.append)  # streamed: the web app's way, through the batch
    deadline = time.monotonic() + 60
    while batcher.prepared < 1 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert batcher.prepared == 1
    history = [(therapist, patient) for _, therapist, patient in runner.turns()]
    prepared = tiny_llm.formatter.encode_prompt(
        patient_conversation(runner.persona_prompt, history, pending="")
    )
    assert batcher.prefixes is not None and batcher.prefixes.reused_tokens == 0
    runner.say("What felt hardest?", on_text=pieces.append)
    # everything before the new words came from the preparation: only they (and [/INST]) were prefilled
    assert batcher.prefixes.hits == 1 and batcher.prefixes.reused_tokens == len(prepared) - 1
