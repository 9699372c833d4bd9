"""Will the patient do what the therapist recommended? The patient model answers for itself.

logprob mode: for every phrasing and answer order, P(yes) / (P(yes) + P(no)) from the log-likelihoods of the
two one-word replies; ``p_accept`` is their mean. sample mode (backends without log-probabilities): N
constrained yes/no replies per phrasing at temperature 1, seeded from the session seed. Then a seeded draw
``u`` decides: accepted iff ``u < p_accept``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from jedi_academy.errors import LogprobsUnavailableError
from jedi_academy.llm import LLM, Conversation, GenerationParams, LoglikelihoodRequest
from jedi_academy.sessions.prompts import preference_variants
from jedi_academy.sessions.seeds import acceptance_draw, derive_seed


@dataclass
class Preference:
    mode: str  # logprob|sample
    p_accept: float | None  # None when no phrasing gave a usable answer (sample mode)
    phrasings: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class Decision:
    p_accept: float | None
    u: float
    accepted: bool | None


def decide(session_seed: int, index: int, p_accept: float | None) -> Decision:
    u = acceptance_draw(session_seed, index)
    return Decision(p_accept, u, None if p_accept is None else u < p_accept)


def _question_context(context: Conversation, question: str) -> Conversation:
    return [*context, {"role": "user", "content": question}]


def preferences_logprob(
    llm: LLM, context: Conversation, recommendations: Sequence[str], adapter: str | None
) -> list[Preference]:
    """One scoring pass for every recommendation, phrasing and answer order."""
    variants = [preference_variants(text) for text in recommendations]
    requests = [
        LoglikelihoodRequest(_question_context(context, question), answer, adapter=adapter)
        for per_rec in variants
        for question, _first, _second in per_rec
        for answer in ("Yes", "No")
    ]
    results = iter(llm.loglikelihood(requests))
    preferences = []
    for per_rec in variants:
        phrasings = []
        for question, first, _second in per_rec:
            yes, no = next(results).logprob, next(results).logprob
            top = max(yes, no)
            p_yes = math.exp(yes - top) / (math.exp(yes - top) + math.exp(no - top))
            phrasings.append(
                {
                    "text": question,
                    "order": f"{first}/{_second}",
                    "p_yes": p_yes,
                    "logprob_yes": yes,
                    "logprob_no": no,
                }
            )
        p_accept = sum(p["p_yes"] for p in phrasings) / len(phrasings)
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
        phrasings = []
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
