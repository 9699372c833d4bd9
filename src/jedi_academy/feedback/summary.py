"""Session summary from utterance codes: MITI 4.2.1 indicators with their fair/good thresholds, and a few
concrete suggestions that quote the therapist's own turns."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from jedi_academy.feedback.codes import REFLECTIONS, miti_scheme

QUOTE_CHARS = 140


@dataclass(frozen=True)
class TurnCodes:
    """The codes of one therapist turn; ``codes`` is None when the coder's reply was unusable."""

    index: int
    therapist: str
    codes: tuple[str, ...] | None
    turn_id: str | None = None
    patient: str = ""

    @property
    def coded(self) -> bool:
        return self.codes is not None


@dataclass(frozen=True)
class Indicator:
    name: str
    value: float | None
    fair: float
    good: float
    level: str  # good | fair | below fair | not measured


@dataclass(frozen=True)
class Suggestion:
    turn_index: int
    quote: str
    text: str


@dataclass
class SessionSummary:
    turns: int
    coded_turns: int
    counts: dict[str, int]
    reflections: int
    questions: int
    reflection_to_question: float | None  # None: no questions asked
    percent_complex_reflections: float | None  # None: no reflections
    mi_adherent: int
    mi_non_adherent: int
    ratings: dict[str, int] | None
    technical_global: float | None
    relational_global: float | None
    indicators: list[Indicator]
    suggestions: list[Suggestion]
    limits: list[str] = field(default_factory=list)  # what these numbers cannot tell

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def quote(text: str, limit: int = QUOTE_CHARS) -> str:
    """The therapist's words, shortened at a word boundary when long."""
    flat = " ".join(text.split())
    if len(flat) <= limit:
        return flat
    cut = flat[:limit].rsplit(" ", 1)[0]
    return f"{cut}…"


def summarize(codes: Sequence[TurnCodes], ratings: Mapping[str, int] | None = None) -> SessionSummary:
    """Counts, ratios and suggestions from the turns' codes; ``ratings`` are the four global ratings (1-5)."""
    scheme = miti_scheme()
    coded = [turn for turn in codes if turn.codes is not None]
    counts = Counter({code_id: 0 for code_id in scheme.code_ids})
    for turn in coded:
        counts.update(set(turn.codes or ()))  # a code counts once per turn
    simple, complex_ = counts["simple_reflection"], counts["complex_reflection"]
    reflections, questions = simple + complex_, counts["question"]
    adherent = sum(counts[c.id] for c in scheme.codes if c.adherence == "mi_adherent")
    non_adherent = sum(counts[c.id] for c in scheme.codes if c.adherence == "mi_non_adherent")
    r_to_q = reflections / questions if questions else None
    pct_complex = 100.0 * complex_ / reflections if reflections else None
    technical = relational = None
    if ratings is not None:
        technical = _mean([ratings[g.id] for g in scheme.globals if g.group == "technical"])
        relational = _mean([ratings[g.id] for g in scheme.globals if g.group == "relational"])
    values = {
        "reflection_to_question": r_to_q,
        "percent_complex_reflections": pct_complex,
        "technical_global": technical,
        "relational_global": relational,
    }
    indicators = [
        Indicator(name, value, scheme.thresholds[name].fair, scheme.thresholds[name].good,
                  scheme.thresholds[name].level(value))
        for name, value in values.items()
    ]  # fmt: skip
    summary = SessionSummary(
        turns=len(codes),
        coded_turns=len(coded),
        counts=dict(counts),
        reflections=reflections,
        questions=questions,
        reflection_to_question=r_to_q,
        percent_complex_reflections=pct_complex,
        mi_adherent=adherent,
        mi_non_adherent=non_adherent,
        ratings=dict(ratings) if ratings is not None else None,
        technical_global=technical,
        relational_global=relational,
        indicators=indicators,
        suggestions=[],
        limits=_limits(len(codes), len(coded), ratings is not None),
    )
    summary.suggestions = suggestions_for(coded, summary)
    return summary


def _mean(values: list[int]) -> float:
    return sum(values) / len(values)


def _limits(turns: int, coded: int, rated: bool) -> list[str]:
    notes = [
        "codes and ratings come from a language model, not a trained human coder; judge them against "
        "human-human agreement (utterance-level kappa 0.31-0.64), see `academy feedback evaluate`",
        "MITI gives one code per utterance; here a turn may carry several codes, each counted once per turn",
    ]
    if coded < turns:
        notes.append(f"{turns - coded} of {turns} turn(s) could not be coded and are left out of every count")
    if coded < 10:
        notes.append(f"only {coded} coded turn(s): ratios from so few turns are unstable")
    if not rated:
        notes.append(
            "no global ratings: the rubric reply was unusable, so the global indicators are not measured"
        )
    return notes


def suggestions_for(coded: Sequence[TurnCodes], summary: SessionSummary, most: int = 3) -> list[Suggestion]:
    """Up to ``most`` suggestions, most important first, each anchored on a different one of the therapist's
    turns (the first turn carrying the behaviour in question)."""
    scheme = miti_scheme()
    found: list[Suggestion] = []

    def add(wanted: Sequence[str], text: str, without: Sequence[str] = ()) -> None:
        if len(found) >= most:
            return
        used = {s.turn_index for s in found}
        for turn in coded:
            present = set(turn.codes or ())
            if turn.index not in used and present & set(wanted) and not present & set(without):
                found.append(Suggestion(turn.index, quote(turn.therapist), text))
                return

    add(
        ["confront"],
        "This turn argues with or corrects the patient (confront). Reflect the position you disagree with "
        'instead, for example "You\'re not convinced this is a problem", and let the patient weigh it.',
    )
    add(
        ["persuade"],
        'This turn gives advice without asking first (persuade). Ask permission ("Would it help if I shared '
        'what has worked for others?") and leave the choice to the patient.',
    )
    ratio = summary.reflection_to_question
    if summary.questions and (ratio is None or ratio < scheme.thresholds["reflection_to_question"].fair):
        add(
            ["question"],
            f"You asked more questions than you reflected ({summary.reflections} reflection(s) to "
            f"{summary.questions} question(s)). Before a question like this one, reflect what the patient "
            "just said; aim for at least one reflection per question, two is good.",
            without=REFLECTIONS,
        )
    pct = summary.percent_complex_reflections
    if pct is not None and pct < scheme.thresholds["percent_complex_reflections"].fair:
        add(
            ["simple_reflection"],
            f"Only {pct:.0f}% of your reflections were complex. This one repeats the patient's words; add "
            "meaning: name the feeling underneath, or link it to something they said earlier.",
            without=["complex_reflection"],
        )
    if summary.coded_turns and summary.reflections == 0:
        add(
            scheme.code_ids,
            "No turn reflected what the patient said. Try answering a turn like this with a reflection first "
            '("It sounds like ...").',
        )
    if summary.counts.get("giving_information") and not (
        summary.counts.get("seeking_collaboration") or summary.counts.get("emphasizing_autonomy")
    ):
        add(
            ["giving_information"],
            "Here you gave information without asking what the patient already knows or thinks of it. Ask "
            "before and after you inform (elicit, provide, elicit).",
        )
    if summary.coded_turns and summary.mi_adherent == 0:
        add(
            scheme.code_ids,
            "No affirmations, collaboration or autonomy support in this session. After a turn like this one, "
            "name an effort or strength of the patient's, or ask what they would like to focus on.",
            without=["confront", "persuade"],
        )
    add(
        ["complex_reflection"],
        "Keep doing this: a complex reflection that adds meaning to what the patient said.",
    )
    add(
        ["affirm", "emphasizing_autonomy", "seeking_collaboration"],
        "Keep doing this: it affirms the patient or shares control of the session with them.",
    )
    return found
