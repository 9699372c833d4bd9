"""The session summary on hand-coded turns: every expected figure below is worked out by hand."""

from __future__ import annotations

import pytest

from jedi_academy.feedback.render import render_summary
from jedi_academy.feedback.summary import TurnCodes, quote, summarize

HAND_CODED = [
    TurnCodes(0, "What would you like to talk about today?", ("question",)),
    TurnCodes(1, "Work has been wearing you down.", ("simple_reflection",)),
    TurnCodes(2, "Part of you wants to quit, and part of you is scared to. What scares you?",
              ("complex_reflection", "question")),
    TurnCodes(3, "You said your boss shouts at you.", ("simple_reflection",)),
    TurnCodes(4, "You really should look for another job.", ("persuade",)),
    TurnCodes(5, "You kept going through all of that, which took courage; you care a lot about doing things "
                 "well.", ("affirm", "complex_reflection")),
    TurnCodes(6, "Many people in your situation find a career coach useful. What do you make of that?",
              ("giving_information", "seeking_collaboration")),
    TurnCodes(7, "How did you sleep this week?", ("question", "question")),
    TurnCodes(8, "Mm.", None),  # the coder's reply was unusable
]  # fmt: skip
RATINGS = {"cultivating_change_talk": 3, "softening_sustain_talk": 4, "partnership": 4, "empathy": 5}


def test_ratios_counts_and_thresholds_on_a_hand_coded_session() -> None:
    summary = summarize(HAND_CODED, RATINGS)
    # 9 turns, turn 8 uncoded -> 8 coded.
    assert (summary.turns, summary.coded_turns) == (9, 8)
    # Questions: turns 0, 2, 7 (turn 7 lists "question" twice: it counts once) = 3.
    # Reflections: simple 1, 3; complex 2, 5 -> 4 in all, 2 complex.
    assert summary.counts["question"] == 3
    assert (summary.counts["simple_reflection"], summary.counts["complex_reflection"]) == (2, 2)
    assert (summary.reflections, summary.questions) == (4, 3)
    # R:Q = 4 / 3 = 1.333...: at or above fair (1), below good (2).
    assert summary.reflection_to_question == pytest.approx(4 / 3)
    # %CR = 2 / 4 = 50%: exactly the good threshold.
    assert summary.percent_complex_reflections == pytest.approx(50.0)
    # MI-adherent = affirm (turn 5) + seeking collaboration (turn 6) = 2;
    # non-adherent = persuade (turn 4) = 1.
    assert (summary.mi_adherent, summary.mi_non_adherent) == (2, 1)
    # Technical = (3 + 4) / 2 = 3.5 (fair 3, good 4); relational = (4 + 5) / 2 = 4.5 (fair 3.5, good 4).
    assert summary.technical_global == pytest.approx(3.5)
    assert summary.relational_global == pytest.approx(4.5)
    levels = {i.name: (i.level, i.fair, i.good) for i in summary.indicators}
    assert levels == {
        "reflection_to_question": ("fair", 1.0, 2.0),
        "percent_complex_reflections": ("good", 40.0, 50.0),
        "technical_global": ("fair", 3.0, 4.0),
        "relational_global": ("good", 3.5, 4.0),
    }
    assert any("1 of 9 turn(s) could not be coded" in note for note in summary.limits)


def test_suggestions_quote_the_therapists_own_turns_most_important_first() -> None:
    summary = summarize(HAND_CODED, RATINGS)
    # Persuade (turn 4) comes first; the ratios reach fair, so next come the two "keep doing" turns: the first
    # complex reflection (turn 2) and the first affirmation / collaboration turn (turn 5).
    assert [s.turn_index for s in summary.suggestions] == [4, 2, 5]
    assert summary.suggestions[0].quote == "You really should look for another job."
    for suggestion in summary.suggestions:
        assert suggestion.quote.removesuffix("…") in HAND_CODED[suggestion.turn_index].therapist


def test_a_question_heavy_session_gets_the_reflection_suggestion_quoting_a_plain_question() -> None:
    turns = [
        TurnCodes(0, "You drink to relax.", ("simple_reflection",)),
        TurnCodes(1, "How much do you drink?", ("question",)),
        TurnCodes(2, "When did it start?", ("question",)),
        TurnCodes(3, "Does your wife mind?", ("question",)),
    ]
    summary = summarize(turns)
    # 1 reflection to 3 questions: 0.33, below fair; %CR = 0 / 1 = 0%, below fair.
    assert summary.reflection_to_question == pytest.approx(1 / 3)
    assert summary.percent_complex_reflections == 0.0
    quotes = [s.quote for s in summary.suggestions]
    assert quotes[:2] == ["How much do you drink?", "You drink to relax."]
    assert "1 reflection(s) to 3 question(s)" in summary.suggestions[0].text
    # No ratings: the global indicators are not measured, and the summary says so.
    assert summary.technical_global is None
    assert {i.name: i.level for i in summary.indicators}["technical_global"] == "not measured"
    assert any("no global ratings" in note for note in summary.limits)


def test_no_questions_and_no_reflections_leave_the_ratios_undefined() -> None:
    summary = summarize([TurnCodes(0, "Smoking damages your lungs.", ("giving_information",))])
    assert summary.reflection_to_question is None
    assert summary.percent_complex_reflections is None
    assert "not measured" in "\n".join(render_summary(summary))


def test_long_turns_are_quoted_shortened_at_a_word() -> None:
    text = "word " * 100
    shortened = quote(text, limit=22)
    assert shortened == "word word word word…"
