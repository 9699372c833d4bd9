"""Issue 26 point 4: outcomes that depend on the advice. The teacher's judgement of an accepted
recommendation (parsed strictly; anything else is unjudged) picks the row of the outcome table the
follow-up's outcome is drawn from, seeded and recorded."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from jedi_academy.loop.expansion import advice_judgement
from jedi_academy.loop.outcomes import (
    OUTCOME_TABLE,
    OUTCOMES,
    draw_outcome,
    outcome_table_markdown,
    pick_outcome,
)
from jedi_academy.sessions.advice import judge_advice, judgement_messages, parse_judgement
from tests.personas.helpers import ScriptedLLM

DOCS = Path(__file__).resolve().parents[2] / "docs" / "loop.md"
CARD = {"name": "Robin", "presenting_problems": ["Low mood for months"], "resistances": ["distrusts advice"]}


def test_every_row_is_a_distribution_and_the_advice_moves_it() -> None:
    for row in OUTCOME_TABLE.values():
        assert len(row) == len(OUTCOMES) and sum(row) == pytest.approx(1.0) and min(row) >= 0
    setback, progress = OUTCOMES.index("setback"), OUTCOMES.index("progress")
    assert OUTCOME_TABLE["harmful"][setback] >= 0.5 and OUTCOME_TABLE["harmful"][progress] == 0
    assert OUTCOME_TABLE["helpful"][progress] == max(OUTCOME_TABLE["helpful"])
    setbacks = [OUTCOME_TABLE[j][setback] for j in ("helpful", "neutral", "harmful")]
    assert setbacks == sorted(setbacks) and len(set(setbacks)) == 3


def test_draws_follow_the_row_and_are_seeded() -> None:
    """Over many seeded draws the outcome frequencies follow each row; the same seed gives the same draw."""
    for judgement, row in OUTCOME_TABLE.items():
        counts = Counter(draw_outcome(seed, 3, judgement).outcome for seed in range(4000))
        for outcome, p in zip(OUTCOMES, row, strict=True):
            assert counts[outcome] / 4000 == pytest.approx(p, abs=0.03), (judgement, outcome)
    first, again = draw_outcome(11, 2, "harmful"), draw_outcome(11, 2, "harmful")
    assert first == again and first.row == "harmful" and 0 <= first.u < 1
    assert pick_outcome("helpful", 0.0).outcome == "progress"
    assert pick_outcome("harmful", 0.999).outcome == "setback"
    unjudged = pick_outcome("unjudged", 0.05)
    assert unjudged.row == "neutral" and unjudged.judgement == "unjudged" and unjudged.outcome == "progress"
    with pytest.raises(ValueError):
        pick_outcome("neutral", 1.0)


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        ("harmful: alcohol worsens low mood and sleep.", ("harmful", "alcohol worsens low mood and sleep.")),
        ("  Helpful :  regular walks lift mood\n", ("helpful", "regular walks lift mood")),
        ("neutral: unlikely to matter either way", ("neutral", "unlikely to matter either way")),
    ],
)
def test_a_label_colon_reason_reply_is_read(reply: str, expected: tuple[str, str]) -> None:
    assert parse_judgement(reply) == expected


@pytest.mark.parametrize(
    "reply",
    [
        "",
        "Yes",
        "I think this is harmful: it is risky",  # prose before the label
        "harmful",  # no reason
        "harmful:",
        "very helpful: walks",
        "surpriseTag Sports福 RET harmful",  # the tiny model's kind of reply
    ],
)
def test_anything_else_is_unjudged(reply: str) -> None:
    assert parse_judgement(reply)[0] == "unjudged"


def test_the_teacher_judges_for_this_persona_and_gibberish_is_unjudged() -> None:
    """A scripted teacher (tests/personas/helpers.py): the prompt carries the persona's referral facts, never
    its name; a label reply is stored with its reason, a gibberish one as unjudged with the reply kept."""
    scripts = {"every evening": ["harmful: alcohol deepens low mood."], "a walk": ["walks are good"]}
    teacher = ScriptedLLM(scripts)
    info = {"backend": "scripted", "model": "script"}
    judged = judge_advice(teacher, CARD, "Have a drink every evening to relax", seed=5, teacher_info=info)
    assert judged == {
        "judgement": "harmful", "reason": "alcohol deepens low mood.", "seed": 5, "teacher": info,
        "version": "advice-1",
    }  # fmt: skip
    unjudged = judge_advice(teacher, CARD, "Take a walk", seed=6, teacher_info=info)
    assert unjudged["judgement"] == "unjudged" and unjudged["reply"] == "walks are good"
    assert teacher.calls[0].temperature == 0.0 and teacher.calls[0].seed == 5
    prompt = "\n".join(m["content"] for m in judgement_messages({"presenting_problem": "Low mood"}, "Rest"))
    assert "Low mood" in prompt and "Rest" in prompt and "Robin" not in prompt

    # the expansion reads the stored judgement; unjudged or missing advice takes the neutral row, and says so
    assert advice_judgement({"advice": judged}) == ("harmful", "alcohol deepens low mood.")
    label, note = advice_judgement({"advice": unjudged})
    assert label == "unjudged" and "drawn from the neutral row" in note
    assert advice_judgement({"advice": None})[1].startswith("unjudged (the session ended before advice")


def test_the_documented_table_is_the_code_table() -> None:
    assert outcome_table_markdown() in DOCS.read_text(encoding="utf-8")


def test_every_outcome_has_its_words_for_the_teacher() -> None:
    from jedi_academy.loop.expansion import expansion_prompts

    assert set(expansion_prompts()["accepted"]["outcomes"]) == set(OUTCOMES)
    assert expansion_prompts()["version"] == "expansion-2"
