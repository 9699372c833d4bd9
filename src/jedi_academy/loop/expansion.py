"""Loop step 1, expansion: the teacher writes the persona's life after a session.

For each decided recommendation of the session one follow-up conversation: after an accepted one the patient
reports trying it (a seeded outcome drawn from the row of ``loop.outcomes.OUTCOME_TABLE`` that the teacher's
judgement of the advice picks: harmful advice makes a setback likely, helpful advice progress; never a cure),
after an ignored one why it was not tried (from the card's resistances). A recommendation without a decision
(``invalid_preference``: the patient did not answer Yes or No; or undecided) gets no follow-up. The session's
own turns become a conversation of origin ``session``. Every answer passes the guards (instrument wording,
self-cure, the author's comments); an answer that fails is regenerated with the next seed, and a conversation
that still fails is left out and counted. Ids derive from the session, the recommendation and the teacher
settings, so a re-run finds what a killed run already stored and generates the rest identically.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING, Any

import yaml
from sqlalchemy import select

from jedi_academy.conversations.replies import STOP, clean_answer, generate_replies, trim_to_sentence
from jedi_academy.llm import GenerationParams
from jedi_academy.loop.guards import LoopGuards
from jedi_academy.loop.outcomes import FALLBACK_ROW, OUTCOME_TABLE, draw_outcome
from jedi_academy.personas.intake import card_resistances
from jedi_academy.results import Result
from jedi_academy.sessions.advice import UNJUDGED
from jedi_academy.sessions.preference import decision_of
from jedi_academy.sessions.seeds import derive_seed
from jedi_academy.store.models import Conversation, Persona, Turn

if TYPE_CHECKING:
    from jedi_academy.llm import LLM
    from jedi_academy.store import Database

SESSION_ORIGIN = "session"
EXPANSION_ORIGIN = "expansion"


@cache
def expansion_prompts() -> dict[str, Any]:
    text = resources.files("jedi_academy.loop").joinpath("data/expansion.yaml").read_text(encoding="utf-8")
    return yaml.safe_load(text)


@dataclass(frozen=True)
class ExpansionOptions:
    temperature: float = 0.8
    max_tokens: int = 160
    max_attempts: int = 3
    session_excerpt_chars: int = 1200


@dataclass
class ExpansionReport(Result):
    """What the expansion did (stored as the loop's ``expansion``): filled in as it goes, hence not frozen;
    ``as_dict()`` names the rejected answers ``rejected_answers`` and adds the prompt version."""

    conversation_ids: list[str] = field(default_factory=list)
    session_conversation: str | None = None
    existing: int = 0
    generated: int = 0
    left_out: Counter[str] = field(default_factory=Counter)  # conversations, by reason
    rejected: Counter[str] = field(default_factory=Counter)  # answers, by reason
    leak_checked: bool = False
    leak_not_checked: str | None = None  # why the leak check did not run, in plain words
    leak_source: str | None = None  # the ingest output the author's comments came from
    # session turns left out of the session conversation, each {"turn", "speaker", "reason", "items"}
    removed_turns: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "conversation_ids": self.conversation_ids,
            "session_conversation": self.session_conversation,
            "existing": self.existing,
            "generated": self.generated,
            "left_out": dict(self.left_out),
            "rejected_answers": dict(self.rejected),
            "leak_checked": self.leak_checked,
            "leak_not_checked": self.leak_not_checked,
            "leak_source": self.leak_source,
            "removed_turns": self.removed_turns,
            "prompt_version": expansion_prompts()["version"],
        }


def expansion_id(session_id: str, what: str, teacher: dict[str, Any], seed: int) -> str:
    key = [
        session_id,
        what,
        teacher.get("backend"),
        teacher.get("model"),
        expansion_prompts()["version"],
        seed,
    ]
    return "c-" + hashlib.sha256(json.dumps(key).encode()).hexdigest()[:16]


def _excerpt(turns: list[dict[str, Any]], limit: int) -> str:
    lines = []
    for turn in turns:
        lines.append(f"Therapist: {turn['therapist']}")
        if turn["patient"]:
            lines.append(f"You: {turn['patient']}")
    text = "\n".join(lines)
    return text if len(text) <= limit else "…" + text[-limit:]


def expand_session(
    database: Database,
    teacher: LLM,
    record: dict[str, Any],
    guards: LoopGuards,
    options: ExpansionOptions,
    *,
    persona_prompt: str,
) -> ExpansionReport:
    """Store the session conversation and one follow-up per decided recommendation; ``record`` is
    ``sessions.session_json``."""
    prompts = expansion_prompts()
    report = ExpansionReport(
        leak_checked=guards.leak_checked, leak_not_checked=guards.leak_reason, leak_source=guards.leak_source
    )
    teacher_info = {"backend": teacher.backend_name, "model": teacher.model_name}
    with database.session() as session:
        persona = session.get(Persona, record["persona_id"])
        assert persona is not None  # foreign key of the case
        card = dict(persona.card)
    name = str(card.get("name") or "")
    report.session_conversation = _store_session(database, record, guards, report)
    excerpt = _excerpt(record["turns"], options.session_excerpt_chars)
    resistances = "; ".join(card_resistances(card)) or prompts["ignored"]["no_resistances"]
    for rec in record["recommendations"]:
        if rec["accepted"] is None:
            # invalid_preference or undecided: no decision, so no follow-up
            report.left_out[decision_of(rec)] += 1
            continue
        base_seed = derive_seed(record["seed"], "expand", rec["index"])
        conversation_id = expansion_id(record["session_id"], f"rec-{rec['id']}", teacher_info, base_seed)
        if _exists(database, conversation_id):
            report.existing += 1
            report.conversation_ids.append(conversation_id)
            continue
        drawn: dict[str, Any] | None = None
        if rec["accepted"]:
            judgement, note = advice_judgement(rec)
            draw = draw_outcome(record["seed"], rec["index"], judgement)
            drawn = {**draw.as_dict(), "judgement_reason": note}
            outcome = draw.outcome
            situation, questions = prompts["accepted"]["outcomes"][outcome], prompts["accepted"]["questions"]
        else:
            outcome = "not tried"
            situation = prompts["ignored"]["situation"].format(resistances=resistances)
            questions = prompts["ignored"]["questions"]
        system = (
            persona_prompt
            + "\n\n"
            + prompts["instructions"].format(
                recommendation=rec["text"], situation=situation.strip(), session=excerpt or "(no turns)"
            )
        )
        turns: list[tuple[str, str]] = []
        details: list[dict[str, int]] = []
        failed: str | None = None
        for position, template in enumerate(questions):
            question = template.format(recommendation=rec["text"])
            messages = [{"role": "system", "content": system}]
            for asked, answered in turns:
                messages += [{"role": "user", "content": asked}, {"role": "assistant", "content": answered}]
            messages.append({"role": "user", "content": question})
            answer, reasons = _answer(teacher, messages, name, guards, options, base_seed, position)
            report.rejected.update(reasons)
            if answer is None:
                failed = reasons[-1]
                break
            turns.append((question, answer))
            details.append(
                {"seed": base_seed + position * options.max_attempts, "attempts": len(reasons) + 1}
            )
        if failed is not None and not turns:
            report.left_out[failed] += 1
            continue
        provenance = {
            "session_id": record["session_id"],
            "case_id": record["case_id"],
            "recommendation_id": rec["id"],
            "recommendation": rec["text"],
            "accepted": rec["accepted"],
            "outcome": outcome,
            # accepted advice: the judgement, the table row and the recorded draw u behind the outcome
            "outcome_draw": drawn,
            "teacher": teacher_info,
            "prompt_version": prompts["version"],
            "seed": base_seed,
            "generation": {"temperature": options.temperature, "max_tokens": options.max_tokens},
            "turns": details,
            "ended_early": failed,
            "contaminated": False,
            "guards": guards.describe(),
        }
        _store(database, conversation_id, record, EXPANSION_ORIGIN, turns, provenance)
        report.generated += 1
        report.conversation_ids.append(conversation_id)
    return report


def advice_judgement(rec: dict[str, Any]) -> tuple[str, str]:
    """The stored judgement of an accepted recommendation and its reason; ``unjudged`` (drawn from the
    neutral row, and said so) when the teacher's reply was not a label or nothing was judged."""
    advice = rec.get("advice") or {}
    judgement = advice.get("judgement")
    if judgement in OUTCOME_TABLE:
        return str(judgement), str(advice.get("reason") or "")
    why = advice.get("reason") or "the session ended before advice was judged"
    return UNJUDGED, f"unjudged ({why}): drawn from the {FALLBACK_ROW} row"


def _answer(
    teacher: LLM,
    messages: list[dict[str, str]],
    name: str,
    guards: LoopGuards,
    options: ExpansionOptions,
    base_seed: int,
    position: int,
) -> tuple[str | None, list[str]]:
    """The first answer that passes the guards, and the reasons the attempts before it were rejected."""
    reasons: list[str] = []
    for attempt in range(options.max_attempts):
        params = GenerationParams(
            temperature=options.temperature,
            max_tokens=options.max_tokens,
            seed=base_seed + position * options.max_attempts + attempt,
            stop=STOP,
        )
        reply = generate_replies(teacher, [messages], params)[0]
        answer = clean_answer(reply.text, name) if name else reply.text.strip()
        if reply.truncated:
            answer = trim_to_sentence(answer) or answer
        reason = guards.problem(answer, question=messages[-1]["content"])
        if reason is None:
            return answer, reasons
        reasons.append(reason)
    return None, reasons


def _exists(database: Database, conversation_id: str) -> bool:
    with database.session() as session:
        return session.get(Conversation, conversation_id) is not None


def turn_problems(guards: LoopGuards, turn: int, therapist: str, patient: str) -> list[dict[str, Any]]:
    """Why one session turn may not be trained on: each side that reproduces instrument wording (named by
    instrument and item) or, for the patient, repeats the persona's own Reddit comments."""
    found = []
    for speaker, text in (("therapist", therapist), ("patient", patient)):
        items = guards.wording(text)
        if items:
            found.append({"turn": turn, "speaker": speaker, "reason": "contaminated", "items": items})
        elif speaker == "patient" and guards.leaks(text):
            found.append({"turn": turn, "speaker": speaker, "reason": "leak", "items": []})
    return found


def _flagged(database: Database, conversation_id: str) -> bool:
    with database.session() as session:
        conversation = session.get(Conversation, conversation_id)
        return conversation is not None and bool(conversation.provenance.get("contaminated"))


def _store_session(
    database: Database, record: dict[str, Any], guards: LoopGuards, report: ExpansionReport
) -> str | None:
    """The session's own turns as a conversation (origin ``session``). A turn in which either side reproduces
    instrument wording (a therapist who read out PHQ-9 item 9) or the patient repeats the author's comments
    is left out, and named in the report; the other turns are kept."""
    turns = [(t["index"], t["therapist"], t["patient"]) for t in record["turns"] if t["patient"]]
    if not turns:
        report.left_out["empty_session"] += 1
        return None
    conversation_id = expansion_id(record["session_id"], "session", {}, record["seed"])
    removed = [p for index, q, a in turns for p in turn_problems(guards, index, q, a)]
    report.removed_turns = removed
    if _exists(database, conversation_id):
        if _flagged(database, conversation_id):  # stored whole and flagged by an earlier version
            report.left_out["session_contaminated"] += 1
            return conversation_id
        report.existing += 1
        report.conversation_ids.append(conversation_id)
        return conversation_id
    dropped = {p["turn"] for p in removed}
    kept = [(q, a) for index, q, a in turns if index not in dropped]
    if not kept:
        report.left_out["session_all_turns_removed"] += 1
        return None
    problems = sorted({p for q, a in kept if (p := guards.problem(a, question=q))})
    provenance = {
        "session_id": record["session_id"],
        "case_id": record["case_id"],
        "checkpoint_id": record["checkpoint_id"],
        "seed": record["seed"],
        "patient_model": record["patient_model"],
        "contaminated": False,
        "turns_kept": [index for index, _q, _a in turns if index not in dropped],
        "removed_turns": removed,
        "guard_problems": problems,
        "guards": guards.describe(),
    }
    _store(database, conversation_id, record, SESSION_ORIGIN, kept, provenance)
    report.generated += 1
    report.conversation_ids.append(conversation_id)
    return conversation_id


def _store(
    database: Database,
    conversation_id: str,
    record: dict[str, Any],
    origin: str,
    turns: list[tuple[str, str]],
    provenance: dict[str, Any],
) -> None:
    with database.session() as session:
        if session.scalars(select(Conversation.id).where(Conversation.id == conversation_id)).first():
            return
        conversation = Conversation(
            id=conversation_id,
            persona_id=record["persona_id"],
            specialization_id=record["specialization"],
            origin=origin,
            provenance=provenance,
        )
        conversation.turns = [Turn(turn=i, question=q, answer=a) for i, (q, a) in enumerate(turns)]
        session.add(conversation)
