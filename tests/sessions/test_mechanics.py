"""Seeds, the draw, risk flags, duplicate detection, sample-mode preferences, streamed replies, the schema."""

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import inspect

from jedi_academy.llm import GenerationParams
from jedi_academy.sessions.preference import decide, parse_yes_no, preferences
from jedi_academy.sessions.recommendations import is_duplicate
from jedi_academy.sessions.risk import risk_lexicon
from jedi_academy.sessions.seeds import acceptance_draw, derive_seed
from tests.http_helpers import JSONHandler, LoopbackServer

SESSION_TABLES = {"therapists", "cases", "therapy_sessions", "session_turns", "recommendations"}


def test_seeds_are_the_same_in_another_process() -> None:
    code = (
        "from jedi_academy.sessions.seeds import acceptance_draw, derive_seed;"
        "print(derive_seed(7, 'reply', 3), repr(acceptance_draw(7, 2)))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.split()
    assert int(out[0]) == derive_seed(7, "reply", 3) and float(out[1]) == acceptance_draw(7, 2)
    draws = [acceptance_draw(7, index) for index in range(50)]
    assert len(set(draws)) == 50 and all(0 <= u < 1 for u in draws)
    assert [acceptance_draw(8, index) for index in range(50)] != draws
    assert 0.3 < sum(draws) / len(draws) < 0.7


@pytest.mark.parametrize("p", [0.0, 0.2, 0.5, 0.9, 1.0])
def test_accepted_iff_u_below_p(p: float) -> None:
    for index in range(20):
        decision = decide(3, index, p)
        assert decision.accepted == (decision.u < p) and decision.u == acceptance_draw(3, index)
    assert decide(3, 0, None).accepted is None


def test_risk_lexicon_flags_either_side() -> None:
    lexicon = risk_lexicon()
    assert lexicon.scan("Sometimes I think I'd be better off dead.") == ["suicide"]
    assert lexicon.scan("Have you had thoughts of suicide?") == ["suicide"]
    assert lexicon.scan("I've been cutting myself again") == ["self_harm"]
    assert lexicon.scan("I could kill him when he does that") == ["harm_to_others"]
    assert lexicon.scan("I went for a walk and slept better") == []
    assert lexicon.scan("That joke killed me") == []


def test_duplicates() -> None:
    assert is_duplicate("Call your sister on Sunday", "call your sister on sunday.")
    assert is_duplicate("Take a walk every morning", "Every morning, take a walk")
    assert is_duplicate("Keep a sleep diary", "Keep a sleep diary this week and bring it next time")
    assert not is_duplicate("Take a walk every morning", "Call your sister on Sunday")
    assert not is_duplicate("", "Call your sister")


def test_yes_no_parsing() -> None:
    assert parse_yes_no('{"answer": "Yes"}') is True and parse_yes_no("No.") is False
    assert parse_yes_no('{"answer": "maybe"}') is None and parse_yes_no("[1]") is None


def test_sample_mode_counts_constrained_answers(tiny_llm: Any) -> None:
    context = [{"role": "system", "content": "You are Robin."}, {"role": "user", "content": "Hello"},
               {"role": "assistant", "content": "Hi."}]  # fmt: skip
    recs = ["Take a walk every morning"]
    first = preferences(
        tiny_llm, context, recs, None, session_seed=5, first_index=0, samples=4, mode="sample"
    )
    again = preferences(
        tiny_llm, context, recs, None, session_seed=5, first_index=0, samples=4, mode="sample"
    )
    [preference] = first
    assert preference.mode == "sample" and len(preference.phrasings) == 6
    for phrasing in preference.phrasings:
        assert phrasing["yes"] + phrasing["no"] + phrasing["unusable"] == 4
        assert phrasing["unusable"] == 0  # constrained decoding: always Yes or No
    assert 0 <= preference.p_accept <= 1
    assert [p.phrasings for p in again] == [p.phrasings for p in first]


def test_streamed_reply_is_the_generated_reply(tiny_llm: Any) -> None:
    conversation = [
        {"role": "system", "content": "You are Robin."},
        {"role": "user", "content": "How are you?"},
    ]
    params = GenerationParams(temperature=0.7, top_p=0.95, max_tokens=24, seed=9)
    pieces: list[str] = []
    streamed = tiny_llm.stream_generate(conversation, params, pieces.append)
    assert len(pieces) > 1 and "".join(pieces) == streamed
    assert streamed == tiny_llm.generate([conversation], params)[0]
    stop = GenerationParams(temperature=0.7, max_tokens=24, seed=9, stop=(streamed[5:8],))
    pieces = []
    cut = tiny_llm.stream_generate(conversation, stop, pieces.append)
    assert "".join(pieces) == cut == tiny_llm.generate([conversation], stop)[0]


def test_migration_matches_the_models_and_downgrades(tmp_path: Path) -> None:
    from alembic import command
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    from jedi_academy.store.db import Database, alembic_config
    from jedi_academy.store.models import Base

    database = Database(f"sqlite:///{tmp_path / 'a.db'}")
    database.migrate()
    assert set(inspect(database.engine).get_table_names()) >= SESSION_TABLES
    with database.engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    mine = [d for d in differences if any(table in repr(d) for table in SESSION_TABLES)]
    assert mine == []
    command.downgrade(alembic_config(database.engine), "0001")
    assert not set(inspect(database.engine).get_table_names()) & SESSION_TABLES


class PatientAnswersNo(JSONHandler):
    """The Mistral chat endpoint: no log-probabilities; every reply says No; the payloads are kept."""

    payloads: list[dict[str, Any]] = []  # noqa: RUF012

    def do_POST(self) -> None:
        body = self.json_body()
        PatientAnswersNo.payloads.append(body)
        self.reply(
            200, {"choices": [{"index": 0, "message": {"role": "assistant", "content": '{"answer": "No"}'}}]}
        )


def test_backend_without_logprobs_falls_back_to_samples() -> None:
    from jedi_academy.llm.mistral_backend import MistralAPILLM

    context = [{"role": "system", "content": "You are Robin."}]
    with LoopbackServer(PatientAnswersNo) as server:
        llm = MistralAPILLM("ft:patient", api_key="test-key", base_url=server.url)
        [preference] = preferences(
            llm, context, ["Rest more"], None, session_seed=2, first_index=1, samples=3
        )
    assert preference.mode == "sample" and preference.p_accept == 0.0
    assert all(p["no"] == 3 for p in preference.phrasings)
    sent = PatientAnswersNo.payloads
    assert len(sent) == 18 and all(p["response_format"]["type"] == "json_schema" for p in sent)
    assert len({p["random_seed"] for p in sent}) == 18  # seeded per phrasing and sample, reproducibly
