"""p_accept comes from the patient model itself: fine-tuning the tiny patient on conversations in which it
refuses advice lowers it (through the finetune stage's public entry point), and the same seed keeps u."""

import json
import random
from pathlib import Path
from typing import Any

import pytest

from jedi_academy.sessions import ScriptTurn, SessionOptions, replay_session, set_case_checkpoint
from tests.sessions.conftest import World

ADVICE = [
    "Could you go for a short walk every morning",
    "I'd like you to keep a mood diary this week",
    "How about calling a friend before our next session",
    "Try going to bed at the same time each night",
    "Would you write down your worries for ten minutes a day",
    "Please try one small enjoyable activity each day",
    "Could you cut down on coffee after lunch",
    "Maybe join the group at the community centre",
]
ASKS = ["Will you do that?", "Can you try it?", "Would that work for you?", "Will you give it a go?"]
# Mostly the one-word reply the preference question asks for (p_accept scores whole replies), sometimes a
# sentence.
REFUSALS = [
    "No",
    "No",
    "No",
    "No",
    "No",
    "No, I can't see myself doing it.",
]
SCRIPT = [
    ScriptTurn("How was your week?"),
    ScriptTurn("Could you try a short walk after breakfast?", ("Take a short walk after breakfast",)),
    ScriptTurn("And keep a note of your sleep.", ("Keep a sleep diary",)),
]


def refusal_conversations(system: str, count: int, seed: int = 0) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    return [
        {
            "messages": [
                {"role": "system", "content": system},
                {"role": "user", "content": f"{rng.choice(ADVICE)}. {rng.choice(ASKS)}"},
                {"role": "assistant", "content": rng.choice(REFUSALS)},
            ]
        }
        for _ in range(count)
    ]


@pytest.mark.slow(reason="fine-tunes the tiny model on refusals: p_accept can only fall after real training")
def test_p_accept_falls_after_fine_tuning_on_refusals(world: World, pool: Any, tmp_path: Path) -> None:
    from jedi_academy.finetune.config import TrainingConfig
    from jedi_academy.finetune.service import FinetuneRequest, finetune
    from jedi_academy.personas import persona_system_prompt

    options = SessionOptions(max_tokens=8, extract=False)
    before = replay_session(world.database, pool, world.case_id, SCRIPT, seed=4, options=options)

    data = tmp_path / "refusals.jsonl"
    rows = refusal_conversations(persona_system_prompt(world.database, "p-robin"), 48)
    data.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    config = TrainingConfig(lora_rank=8, lora_alpha=16, learning_rate=5e-3, max_steps=6, batch_size=8)
    request = FinetuneRequest(dataset=str(data), specialization="depression", show_progress=False)
    refusing = finetune(world.settings, request, config, echo=lambda _text: None)

    case = set_case_checkpoint(world.database, world.case_id, refusing.id)
    assert case.checkpoint_id == refusing.id
    after = replay_session(world.database, pool, world.case_id, SCRIPT, seed=4, options=options)
    assert after.checkpoint_id == refusing.id and before.checkpoint_id != refusing.id

    p_before = [r.p_accept or 0.0 for r in before.recommendations]
    p_after = [r.p_accept or 0.0 for r in after.recommendations]
    assert all(a < b - 0.2 for a, b in zip(p_after, p_before, strict=True)), (p_before, p_after)
    # the draws depend on the seed and the recommendation's place only; the patient's preference moved
    assert [r.u for r in after.recommendations] == [r.u for r in before.recommendations]
    for rec in after.recommendations:
        assert all(p["p_yes"] < 0.5 for p in rec.phrasings)
        # six steps move the ratio, not the mass: the whole replies "Yes" and "No" still hold under 1e-5 of
        # the patient's probability (about 1e-9 before), so it still made no decision (a planted patient
        # that does: test_preference_validity.py)
        assert rec.decision == "invalid_preference" and rec.accepted is None
