"""Issue 25 point 6: a decision the patient did not make is not a decision. The mass P(yes) + P(no) of the
whole one-word replies decides whether p_accept is a decision at all; below a median of 0.5 the recommendation
is invalid_preference, outside every rate and every follow-up. The random tiny model is that case
(test_replay.py); here a planted patient that does answer Yes or No, and the decision function itself."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from jedi_academy.sessions.preference import (
    MIN_PREFERENCE_MASS,
    Preference,
    decide,
    decision_line,
    decision_of,
)
from jedi_academy.sessions.seeds import acceptance_draw
from jedi_academy.sessions.views import RecommendationView
from tests.sessions.conftest import make_world
from tests.sessions.planted_patient import yes_no_patient


@pytest.mark.parametrize("mass", [0.0, 1e-9, 0.49])
def test_too_little_mass_is_no_decision(mass: float) -> None:
    for index in range(20):
        decision = decide(7, index, 0.9, mass)
        assert decision.decision == "invalid_preference" and decision.accepted is None
        assert decision.u == acceptance_draw(7, index)  # drawn anyway: a re-scored patient keeps its draws


@pytest.mark.parametrize("mass", [MIN_PREFERENCE_MASS, 0.51, 1.0, None])
def test_enough_mass_decides_by_the_draw(mass: float | None) -> None:
    """None: a record written before the mass existed decides as it always did."""
    outcomes = set()
    for index in range(40):
        decision = decide(7, index, 0.5, mass)
        assert decision.accepted == (decision.u < 0.5)
        assert decision.decision == ("accepted" if decision.accepted else "ignored")
        outcomes.add(decision.decision)
    assert outcomes == {"accepted", "ignored"}
    assert decide(7, 0, None, mass).decision == "undecided"


def test_the_mass_is_the_median_over_the_phrasings() -> None:
    phrasings = [{"mass": m} for m in (0.9, 0.1, 0.2, 0.95, 0.3, 0.8)]
    assert Preference("logprob", 0.5, phrasings).mass == pytest.approx(0.55)
    assert Preference("logprob", 0.5, phrasings[:5]).mass == pytest.approx(0.3)
    assert Preference("sample", None, [{"p_yes": None}]).mass is None
    # older records: no stored decision, derived from accepted
    assert decision_of({"accepted": True}) == "accepted" and decision_of({"accepted": None}) == "undecided"
    stored = RecommendationView(
        id=1, index=0, text="Walk", turn=0, kind=None, source="therapist", mode="logprob", p_accept=0.5,
        u=0.1, accepted=None, decision="invalid_preference", preference_mass=0.01, phrasings=[], advice=None,
    )  # fmt: skip
    line = decision_line(stored)
    assert "INVALID PREFERENCE" in line and "mass 0.01" in line and "ACCEPTED" not in line


def test_a_planted_patient_that_answers_yes_or_no_decides(
    tmp_path: Path, tiny_dir: Path, tiny_llm: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    """End to end (replay, stats, show, list): mass close to 1, p_accept close to the planted P(yes), and
    accepted exactly when u < p_accept; the planted teacher's judgement of accepted advice ("Yes") is not a
    label, so it is recorded unjudged."""
    from jedi_academy.cli import main
    from jedi_academy.sessions import (
        ModelPool,
        ModelSpec,
        ScriptTurn,
        SessionOptions,
        replay_session,
        session_stats,
    )

    world = make_world(tmp_path, tiny_dir)
    pool = ModelPool(world.settings)
    pool.share(ModelSpec("transformers", world.settings.model, None), yes_no_patient(tiny_dir, tiny_llm, 0.8))
    script = [
        ScriptTurn("Could you walk each morning?", ("Walk ten minutes each morning",)),
        ScriptTurn("And two more things.", ("Call your sister on Sunday", "Write one good moment a day")),
    ]
    options = SessionOptions(max_tokens=4, extract=False)
    record = replay_session(world.database, pool, world.case_id, script, seed=2, options=options)
    recs = record.recommendations
    assert len(recs) == 3
    for rec in recs:
        assert rec.preference_mass is not None and rec.p_accept is not None and rec.u is not None
        assert all(p["mass"] > 0.95 for p in rec.phrasings) and rec.preference_mass > 0.95
        assert rec.p_accept == pytest.approx(0.8, abs=0.02)
        assert rec.decision in ("accepted", "ignored") and rec.accepted == (rec.u < rec.p_accept)
        if rec.accepted:
            assert rec.advice is not None
            assert rec.advice["judgement"] == "unjudged" and rec.advice["reply"] in ("Yes", "No")
        else:
            assert rec.advice is None  # only accepted advice is judged
    accepted = sum(1 for r in recs if r.accepted)
    assert accepted > 0  # seed 2's draws: at least one accepted, so the judgement step ran

    stats = session_stats(world.database, case=world.case_id)
    assert stats.invalid_preference == 0 and stats.overall.n == 3
    assert stats.overall.accepted == accepted
    assert main([*world.cli, "session", "list", "--case", world.case_id]) == 0
    assert f"{accepted} accepted, {3 - accepted} ignored, 0 invalid_preference" in capsys.readouterr().out
    assert main([*world.cli, "session", "show", record.session_id]) == 0
    shown = capsys.readouterr().out
    assert "INVALID PREFERENCE" not in shown and shown.count("mass per phrasing") == 3
    assert "advice unjudged (the teacher's reply is not 'helpful|neutral|harmful: reason')" in shown
