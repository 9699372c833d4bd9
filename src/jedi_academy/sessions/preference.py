"""Will the patient do what the therapist recommended? The patient model answers for itself.

logprob mode: for every phrasing and answer order, P(yes) / (P(yes) + P(no)) from the log-likelihoods of the
two whole one-word replies ("Yes" and the end of the reply, "No" and the end); ``p_accept`` is their mean.
sample mode (backends without log-probabilities): N constrained yes/no replies per phrasing at temperature 1,
seeded from the session seed. Then a seeded draw ``u`` decides: accepted iff ``u < p_accept``.

A decision the patient did not make is not a decision: the **mass** P(yes) + P(no) of each phrasing says how
much of the patient's probability went to answering at all (a random model puts almost none there, and its
p_yes is the ratio of two tiny numbers). When the median mass over the phrasings is below
``MIN_PREFERENCE_MASS``, the recommendation is decided ``invalid_preference``: neither accepted nor ignored.
"""

from __future__ import annotations

import json
import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from jedi_academy.errors import LogprobsUnavailableError
from jedi_academy.llm import LLM, Conversation, GenerationParams, LoglikelihoodRequest
from jedi_academy.sessions.prompts import preference_variants
from jedi_academy.sessions.seeds import acceptance_draw, derive_seed

if TYPE_CHECKING:
    from jedi_academy.sessions.views import RecommendationView

# Below this median P(yes) + P(no) the patient did not answer the question: it said something else.
MIN_PREFERENCE_MASS = 0.5

ACCEPTED = "accepted"
IGNORED = "ignored"
INVALID_PREFERENCE = "invalid_preference"
UNDECIDED = "undecided"


@dataclass
class Preference:
    mode: str  # logprob|sample
    p_accept: float | None  # None when no phrasing gave a usable answer (sample mode)
    phrasings: list[dict[str, Any]] = field(default_factory=list)

    @property
    def mass(self) -> float | None:
        """The median over the phrasings of the probability of answering Yes or No at all."""
        masses = [p["mass"] for p in self.phrasings if p.get("mass") is not None]
        return statistics.median(masses) if masses else None


@dataclass(frozen=True)
class Decision:
    p_accept: float | None
    u: float
    accepted: bool | None
    decision: str  # accepted|ignored|invalid_preference|undecided
    mass: float | None = None


def decide(session_seed: int, index: int, p_accept: float | None, mass: float | None = None) -> Decision:
    """Accepted iff ``u < p_accept``, unless the patient's answers held too little probability (``mass`` below
    ``MIN_PREFERENCE_MASS``): then ``invalid_preference``, neither accepted nor ignored. ``u`` is drawn
    either way, so a re-scored patient keeps its draws."""
    u = acceptance_draw(session_seed, index)
    if p_accept is None:
        return Decision(p_accept, u, None, UNDECIDED, mass)
    if mass is not None and mass < MIN_PREFERENCE_MASS:
        return Decision(p_accept, u, None, INVALID_PREFERENCE, mass)
    accepted = u < p_accept
    return Decision(p_accept, u, accepted, ACCEPTED if accepted else IGNORED, mass)


def decision_of(rec: dict[str, Any]) -> str:
    """A stored recommendation's decision; records written before the mass existed have no ``decision``."""
    stored = rec.get("decision")
    if stored:
        return str(stored)
    accepted = rec.get("accepted")
    return UNDECIDED if accepted is None else ACCEPTED if accepted else IGNORED


def _question_context(context: Conversation, question: str) -> Conversation:
    return [*context, {"role": "user", "content": question}]


def preferences_logprob(
    llm: LLM, context: Conversation, recommendations: Sequence[str], adapter: str | None
) -> list[Preference]:
    """One scoring pass for every recommendation, phrasing and answer order."""
    variants = [preference_variants(text) for text in recommendations]
    requests = [
        # complete: the whole reply, "Yes" then the end marker: "Yesterday" or "No, but" is not a Yes or a No
        LoglikelihoodRequest(_question_context(context, question), answer, adapter=adapter, complete=True)
        for per_rec in variants
        for question, _first, _second in per_rec
        for answer in ("Yes", "No")
    ]
    results = iter(llm.loglikelihood(requests))
    preferences = []
    for per_rec in variants:
        phrasings: list[dict[str, Any]] = []
        p_yeses: list[float] = []
        for question, first, _second in per_rec:
            yes, no = next(results).logprob, next(results).logprob
            top = max(yes, no)
            p_yes = math.exp(yes - top) / (math.exp(yes - top) + math.exp(no - top))
            p_yeses.append(p_yes)
            phrasings.append(
                {
                    "text": question,
                    "order": f"{first}/{_second}",
                    "p_yes": p_yes,
                    "logprob_yes": yes,
                    "logprob_no": no,
                    "mass": math.exp(yes) + math.exp(no),
                }
            )
        p_accept = sum(p_yeses) / len(p_yeses)
        preferences.append(Preference("logprob", p_accept, phrasings))
    return preferences


def _answer_schema() -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {"answer": {"type": "string", "enum": ["Yes", "No"]}},
        "required": ["answer"],
        "additionalProperties": False,
    }


def parse_yes_no(reply: str) -> bool | None:
    text = reply.strip()
    try:
        parsed: Any = json.loads(text)
    except json.JSONDecodeError:
        parsed = text
    if isinstance(parsed, dict):
        parsed = parsed.get("answer")
    if not isinstance(parsed, str):
        return None
    word = parsed.strip().strip(".!").lower()
    return True if word == "yes" else False if word == "no" else None


def preferences_sample(
    llm: LLM,
    context: Conversation,
    recommendations: Sequence[str],
    adapter: str | None,
    *,
    session_seed: int,
    first_index: int,
    samples: int,
) -> list[Preference]:
    preferences = []
    for offset, text in enumerate(recommendations):
        phrasings: list[dict[str, Any]] = []
        for number, (question, first, second) in enumerate(preference_variants(text)):
            params = GenerationParams(
                temperature=1.0,
                max_tokens=32,  # a random model may spell the answer out in byte tokens
                seed=derive_seed(session_seed, "preference", first_index + offset, number),
                json_schema=_answer_schema(),
            )
            replies = llm.generate([_question_context(context, question)] * samples, params, adapter=adapter)
            answers = [parse_yes_no(r) for r in replies]
            yes, no = answers.count(True), answers.count(False)
            phrasings.append(
                {
                    "text": question,
                    "order": f"{first}/{second}",
                    "p_yes": yes / (yes + no) if yes + no else None,
                    "yes": yes,
                    "no": no,
                    "unusable": len(answers) - yes - no,
                    # the share of replies that answered; constrained decoding makes it 1 by construction
                    "mass": (yes + no) / len(answers) if answers else None,
                }
            )
        usable = [p["p_yes"] for p in phrasings if p["p_yes"] is not None]
        preferences.append(Preference("sample", sum(usable) / len(usable) if usable else None, phrasings))
    return preferences


def preferences(
    llm: LLM,
    context: Conversation,
    recommendations: Sequence[str],
    adapter: str | None,
    *,
    session_seed: int,
    first_index: int,
    samples: int,
    mode: str = "auto",
) -> list[Preference]:
    """logprob mode where the backend has log-probabilities (``auto``), else sample mode."""
    if not recommendations:
        return []
    if mode in ("auto", "logprob"):
        try:
            return preferences_logprob(llm, context, recommendations, adapter)
        except LogprobsUnavailableError:
            if mode == "logprob":
                raise
    return preferences_sample(
        llm,
        context,
        recommendations,
        adapter,
        session_seed=session_seed,
        first_index=first_index,
        samples=samples,
    )


def decision_line(rec: RecommendationView) -> str:
    """One line for a stored recommendation's decision, as the terminal shows it."""
    if rec.mode is None:
        return "not yet put to the patient"
    if rec.p_accept is None:
        return "no usable answer"
    mass = rec.preference_mass
    mass_text = "" if mass is None else f", mass {mass:.2g}"
    head = f"p_accept {rec.p_accept:.3f}, u {rec.u or 0:.3f}{mass_text}: "
    if rec.decision == INVALID_PREFERENCE:
        return (
            head + f"INVALID PREFERENCE (the patient's answers held {mass or 0:.2g} of its probability, "
            f"under {MIN_PREFERENCE_MASS}: not a decision, neither accepted nor ignored)"
        )
    return head + ("ACCEPTED" if rec.decision == ACCEPTED else "ignored")


def masses_line(rec: RecommendationView) -> str | None:
    """The mass P(yes) + P(no) of every phrasing, or None for records that have none."""
    masses = [p.get("mass") for p in rec.phrasings]
    if not masses or any(m is None for m in masses):
        return None
    return "mass per phrasing (P(yes)+P(no)): " + " ".join(f"{m:.3g}" for m in masses)
