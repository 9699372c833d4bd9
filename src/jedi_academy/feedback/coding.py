"""Utterance coding and global ratings by the teacher model, with JSON-schema constrained output.

Every therapist turn is one generation request: the MITI code definitions, the two exchanges before it as
context, and the turn to code; the reply is ``{"codes": [...]}`` (one to three codes, main behaviour first).
The four global ratings come from one rubric request over the whole transcript. A reply that does not parse
(possible with backends that cannot constrain output) leaves the turn uncoded: it is reported, never guessed.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from jedi_academy.errors import AcademyError
from jedi_academy.feedback.codes import miti_scheme
from jedi_academy.feedback.summary import SessionSummary, TurnCodes, summarize
from jedi_academy.feedback.transcript import Turn, transcript_sha256
from jedi_academy.llm.base import Conversation, GenerationParams

if TYPE_CHECKING:
    from jedi_academy.llm import LLM

PROMPT_VERSION = "feedback-1"
MAX_CODES_PER_TURN = 3
CONTEXT_TURNS = 2


@dataclass(frozen=True)
class CodingOptions:
    temperature: float = 0.0  # greedy: the same transcript gets the same codes
    seed: int = 0
    max_tokens: int = 96
    rate_globals: bool = True


@dataclass
class SessionFeedback:
    """Everything the feedback stage says about one session."""

    session_id: str | None
    transcript_sha256: str
    backend: str
    model: str
    prompt_version: str
    scheme_version: str
    options: dict[str, Any]
    turns: list[TurnCodes]
    ratings: dict[str, int] | None
    summary: SessionSummary
    raw: dict[str, Any] = field(default_factory=dict)  # the coder's replies, for audit

    def as_dict(self) -> dict[str, Any]:
        return {
            "session_id": self.session_id,
            "transcript_sha256": self.transcript_sha256,
            "backend": self.backend,
            "model": self.model,
            "prompt_version": self.prompt_version,
            "scheme_version": self.scheme_version,
            "options": self.options,
            "turns": [
                {**asdict(turn), "codes": list(turn.codes) if turn.codes is not None else None}
                for turn in self.turns
            ],
            "ratings": self.ratings,
            "summary": self.summary.as_dict(),
            "raw": self.raw,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SessionFeedback:
        """Rebuild from ``as_dict``; the summary is recomputed from the stored codes and ratings."""
        turns = [
            TurnCodes(
                index=t["index"],
                therapist=t["therapist"],
                codes=tuple(t["codes"]) if t["codes"] is not None else None,
                turn_id=t.get("turn_id"),
                patient=t.get("patient", ""),
            )
            for t in data["turns"]
        ]
        return cls(
            session_id=data["session_id"],
            transcript_sha256=data["transcript_sha256"],
            backend=data["backend"],
            model=data["model"],
            prompt_version=data["prompt_version"],
            scheme_version=data["scheme_version"],
            options=data["options"],
            turns=turns,
            ratings=data["ratings"],
            summary=summarize(turns, data["ratings"]),
            raw=data.get("raw", {}),
        )


def codes_schema() -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {
            "codes": {
                "type": "array",
                "items": {"type": "string", "enum": list(miti_scheme().code_ids)},
                "minItems": 1,
                "maxItems": MAX_CODES_PER_TURN,
            }
        },
        "required": ["codes"],
        "additionalProperties": False,
    }


def ratings_schema() -> dict[str, Any]:
    scales = miti_scheme().globals
    return {
        "type": "object",
        "properties": {scale.id: {"type": "integer", "enum": [1, 2, 3, 4, 5]} for scale in scales},
        "required": [scale.id for scale in scales],
        "additionalProperties": False,
    }


def _code_list() -> str:
    return "\n".join(f"- {c.id}: {c.description}" for c in miti_scheme().codes)


def coding_messages(context: Sequence[tuple[str, str]], utterance: str) -> Conversation:
    """The request that codes one therapist utterance; ``context``: (speaker, text) lines just before it."""
    system = (
        "You code therapist utterances from counselling sessions with the behaviour codes of the "
        "Motivational Interviewing Treatment Integrity code (MITI 4.2.1). Give every code that applies to "
        f"the utterance, the main behaviour first, at most {MAX_CODES_PER_TURN}. Codes:\n{_code_list()}\n"
        'Reply with JSON only: {"codes": [...]}.'
    )
    lines = "\n".join(f"{speaker}: {text}" for speaker, text in context) or "(start of the session)"
    user = f"Conversation so far:\n{lines}\n\nTherapist utterance to code:\n{utterance}"
    return [{"role": "system", "content": system}, {"role": "user", "content": user}]


def transcript_lines(turns: Sequence[Turn]) -> list[tuple[str, str]]:
    """The turns as (speaker, text) lines, the patient called "Client" as in the MITI manual."""
    lines = []
    for turn in turns:
        lines.append(("Therapist", turn.therapist))
        if turn.patient:
            lines.append(("Client", turn.patient))
    return lines


def rating_messages(turns: Sequence[Turn]) -> Conversation:
    scales = "\n".join(f"- {s.id} ({s.label}): {s.rubric}" for s in miti_scheme().globals)
    system = (
        "You rate a counselling session on the four global scales of the Motivational Interviewing Treatment "
        f"Integrity code (MITI 4.2.1), each from 1 to 5:\n{scales}\nRate the therapist only. Reply with JSON "
        "only, one integer per scale."
    )
    text = "\n".join(f"{speaker}: {line}" for speaker, line in transcript_lines(turns))
    return [{"role": "system", "content": system}, {"role": "user", "content": text}]


def parse_codes(reply: str) -> tuple[str, ...] | None:
    """The codes in a reply, duplicates dropped, main first; None when the reply is not a valid coding."""
    try:
        data = json.loads(reply)
    except json.JSONDecodeError:
        return None
    if not isinstance(data, dict) or not isinstance(data.get("codes"), list):
        return None
    known = set(miti_scheme().code_ids)
    codes = data["codes"]
    if not codes or not all(isinstance(c, str) and c in known for c in codes):
        return None
    return tuple(dict.fromkeys(codes))[:MAX_CODES_PER_TURN]


def parse_ratings(reply: str) -> dict[str, int] | None:
    try:
        data = json.loads(reply)
    except json.JSONDecodeError:
        return None
    if not isinstance(data, dict):
        return None
    ratings = {}
    for scale in miti_scheme().globals:
        value = data.get(scale.id)
        if type(value) is not int or not 1 <= value <= 5:
            return None
        ratings[scale.id] = value
    return ratings


def code_utterances(
    llm: LLM, requests: Sequence[Conversation], options: CodingOptions
) -> tuple[list[tuple[str, ...] | None], list[str]]:
    """Codes for each coding request (one batched generate call) and the raw replies."""
    if not requests:
        return [], []
    params = GenerationParams(
        temperature=options.temperature,
        max_tokens=options.max_tokens,
        seed=options.seed,
        json_schema=codes_schema(),
    )
    replies = llm.generate(list(requests), params)
    return [parse_codes(reply) for reply in replies], replies


def code_session(
    llm: LLM,
    turns: Sequence[Turn],
    *,
    session_id: str | None = None,
    options: CodingOptions | None = None,
) -> SessionFeedback:
    """Code every therapist turn, rate the session globally and summarise it."""
    options = options or CodingOptions()
    if not turns:
        raise AcademyError("a session with no turns cannot be coded")
    requests = [
        coding_messages(transcript_lines(turns[max(0, index - CONTEXT_TURNS) : index]), turn.therapist)
        for index, turn in enumerate(turns)
    ]
    codes, replies = code_utterances(llm, requests, options)
    coded = [
        TurnCodes(index, turn.therapist, turn_codes, turn.turn_id, turn.patient)
        for index, (turn, turn_codes) in enumerate(zip(turns, codes, strict=True))
    ]
    ratings = None
    rating_reply = None
    if options.rate_globals:
        params = GenerationParams(
            temperature=options.temperature,
            max_tokens=options.max_tokens,
            seed=options.seed,
            json_schema=ratings_schema(),
        )
        rating_reply = llm.generate([rating_messages(turns)], params)[0]
        ratings = parse_ratings(rating_reply)
    return SessionFeedback(
        session_id=session_id,
        transcript_sha256=transcript_sha256(turns),
        backend=llm.backend_name,
        model=llm.model_name,
        prompt_version=PROMPT_VERSION,
        scheme_version=miti_scheme().version,
        options=asdict(options),
        turns=coded,
        ratings=ratings,
        summary=summarize(coded, ratings),
        raw={"codes": replies, "ratings": rating_reply},
    )
