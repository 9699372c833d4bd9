"""Generating therapist/patient conversations from persona cards.

Conversations advance turn by turn in batches (one LLM call per turn and attempt for the whole batch). A
patient answer is retried with the next seed, up to ``max_attempts`` replies, when it is empty, truncated at
the token limit with no complete sentence to keep, contaminated with instrument wording, or announces a sudden
recovery ("self-cure"). When a turn
still fails, the conversation ends before it: it is stored as incomplete if it already has ``min_turns``
turns, otherwise dropped and counted. Nothing contaminated is ever stored.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from jedi_academy.conversations.prompt import CONVERSATION_PROMPT_VERSION, patient_messages
from jedi_academy.conversations.questions import Question, QuestionBank, plan_questions
from jedi_academy.conversations.replies import (
    STOP,
    clean_answer,
    generate_replies,
    sounds_resolved,
    trim_to_sentence,
)
from jedi_academy.guard.contamination import ContaminationGuard
from jedi_academy.llm import LLM, GenerationParams
from jedi_academy.personas.card import PROMPT_VERSION, PersonaCard
from jedi_academy.store.models import Conversation, Turn

if TYPE_CHECKING:
    from jedi_academy.store import Database


@dataclass(frozen=True)
class ConversationOptions:
    per_persona: int = 2
    turns: int = 8
    seed: int = 0
    max_attempts: int = 3  # replies per turn before the conversation ends there
    min_turns: int = 2  # shorter conversations are dropped
    temperature: float = 0.8
    max_tokens: int = 256
    keep_truncated: bool = False  # keep an answer cut by the token limit when no full sentence is left
    batch_size: int = 64  # conversations generated (and stored) together


@dataclass(frozen=True)
class PersonaInput:
    id: str
    card: PersonaCard
    prompt_version: str


@dataclass
class ConversationReport:
    specialization: str
    backend: str
    model: str
    prompt_version: str
    seed: int
    personas: int = 0
    requested: int = 0
    existing: int = 0  # already stored from an earlier run with the same settings
    generated: int = 0
    complete: int = 0
    incomplete: int = 0
    turns: int = 0
    replies: int = 0
    rejected: Counter[str] = field(default_factory=Counter)  # replies, by reason
    trimmed: int = 0  # truncated answers cut back to their last full sentence
    kept_truncated: int = 0
    ended_early: Counter[str] = field(default_factory=Counter)  # conversations, by reason
    dropped: Counter[str] = field(default_factory=Counter)  # conversations, by reason
    questions_excluded: int = 0  # bank questions that matched instrument wording
    question_bank: str = ""
    specific_bank: bool = True
    instruments_checked: list[str] = field(default_factory=list)
    instruments_unchecked: list[str] = field(default_factory=list)
    conversation_ids: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        for name in ("rejected", "ended_early", "dropped"):
            data[name] = dict(sorted(getattr(self, name).items()))
        return data


@dataclass
class _Draft:
    id: str
    persona: PersonaInput
    index: int
    plan: list[Question]
    turns: list[tuple[str, str]] = field(default_factory=list)
    details: list[dict[str, Any]] = field(default_factory=list)
    ended: str | None = None

    @property
    def active(self) -> bool:
        return self.ended is None and len(self.turns) < len(self.plan)


def conversation_id_for(persona_id: str, index: int, llm: LLM, options: ConversationOptions) -> str:
    key = [persona_id, index, llm.backend_name, llm.model_name, CONVERSATION_PROMPT_VERSION, options.seed,
           options.turns]  # fmt: skip
    return "c-" + hashlib.sha256(json.dumps(key).encode()).hexdigest()[:16]


def generate_conversations(
    database: Database,
    llm: LLM,
    specialization: str,
    personas: Sequence[PersonaInput],
    bank: QuestionBank,
    guard: ContaminationGuard,
    guidance: str,
    options: ConversationOptions | None = None,
    *,
    progress: Callable[[str], None] | None = None,
) -> ConversationReport:
    options = options or ConversationOptions()
    note = progress or (lambda _message: None)
    report = ConversationReport(
        specialization=specialization,
        backend=llm.backend_name,
        model=llm.model_name,
        prompt_version=CONVERSATION_PROMPT_VERSION,
        seed=options.seed,
        personas=len(personas),
        requested=len(personas) * options.per_persona,
        question_bank=bank.version,
        specific_bank=bank.specific,
        instruments_checked=guard.checked_instruments,
        instruments_unchecked=list(guard.unchecked_instruments),
    )
    contaminated = {q.id for q in bank.questions if guard.is_contaminated(q.text)}
    report.questions_excluded = len(contaminated)
    bank = bank.without(contaminated)
    drafts = _new_drafts(database, llm, personas, bank, options, report)
    for start in range(0, len(drafts), options.batch_size):
        batch = drafts[start : start + options.batch_size]
        note(f"generating conversations {start + 1}-{start + len(batch)} of {len(drafts)}")
        _run_batch(llm, batch, guard, guidance, options, report)
        _store(database, specialization, batch, guard, bank, options, report)
    return report


def _new_drafts(
    database: Database,
    llm: LLM,
    personas: Sequence[PersonaInput],
    bank: QuestionBank,
    options: ConversationOptions,
    report: ConversationReport,
) -> list[_Draft]:
    drafts = []
    with database.session() as session:
        for persona in personas:
            for index in range(options.per_persona):
                conversation_id = conversation_id_for(persona.id, index, llm, options)
                if session.get(Conversation, conversation_id) is not None:
                    report.existing += 1
                    continue
                rng = random.Random(f"{options.seed}:{persona.id}:{index}")
                plan = plan_questions(bank, options.turns, rng, persona.card.name)
                drafts.append(_Draft(conversation_id, persona, index, plan))
    return drafts


def _run_batch(
    llm: LLM,
    batch: list[_Draft],
    guard: ContaminationGuard,
    guidance: str,
    options: ConversationOptions,
    report: ConversationReport,
) -> None:
    for turn in range(options.turns):
        pending = [d for d in batch if d.active and len(d.turns) == turn]
        last_reason: dict[str, str] = {}
        for attempt in range(options.max_attempts):
            if not pending:
                break
            seed = options.seed + turn * options.max_attempts + attempt
            params = GenerationParams(
                temperature=options.temperature, max_tokens=options.max_tokens, seed=seed, stop=STOP
            )
            conversations = [
                patient_messages(d.persona.card, guidance, d.turns, d.plan[turn].text, turn, len(d.plan))
                for d in pending
            ]
            replies = generate_replies(llm, conversations, params)
            report.replies += len(pending)
            still = []
            for draft, reply in zip(pending, replies, strict=True):
                answer, reason, how = _judge(
                    reply.text, reply.truncated, draft.persona.card.name, guard, options
                )
                if reason is None:
                    draft.turns.append((draft.plan[turn].text, answer))
                    draft.details.append(
                        {
                            "question": draft.plan[turn].id,
                            "seed": seed,
                            "attempts": attempt + 1,
                            "answer": how,
                        }
                    )
                    report.trimmed += how == "trimmed"
                    report.kept_truncated += how == "kept_truncated"
                else:
                    report.rejected[reason] += 1
                    last_reason[draft.id] = reason
                    still.append(draft)
            pending = still
        for draft in pending:
            draft.ended = last_reason[draft.id]


def _judge(
    text: str, truncated: bool, name: str, guard: ContaminationGuard, options: ConversationOptions
) -> tuple[str, str | None, str]:
    """(answer, rejection reason or None, how it was accepted: complete|trimmed|kept_truncated)."""
    answer = clean_answer(text, name)
    how = "complete"
    if not answer:
        return answer, "empty", how
    if truncated:
        trimmed = trim_to_sentence(answer)
        if trimmed is not None:
            answer, how = trimmed, "trimmed"
        elif options.keep_truncated:
            how = "kept_truncated"
        else:
            return answer, "truncated", how
    if guard.is_contaminated(answer):
        return answer, "contaminated", how
    if sounds_resolved(answer):
        return answer, "self_cure", how
    return answer, None, how


def _store(
    database: Database,
    specialization: str,
    batch: list[_Draft],
    guard: ContaminationGuard,
    bank: QuestionBank,
    options: ConversationOptions,
    report: ConversationReport,
) -> None:
    with database.session() as session:
        shortest = max(1, min(options.min_turns, options.turns))
        for draft in batch:
            if len(draft.turns) < shortest:
                report.dropped[draft.ended or "too_few_questions"] += 1
                continue
            complete = draft.ended is None and len(draft.turns) == options.turns
            conversation = Conversation(
                id=draft.id,
                persona_id=draft.persona.id,
                specialization_id=specialization,
                origin="generated",
                provenance={
                    "backend": report.backend,
                    "model": report.model,
                    "seed": options.seed,
                    "prompt_version": CONVERSATION_PROMPT_VERSION,
                    "patient_prompt_version": PROMPT_VERSION,
                    "persona_prompt_version": draft.persona.prompt_version,
                    "question_bank": bank.version,
                    "index": draft.index,
                    "turns_requested": options.turns,
                    "complete": complete,
                    "ended_early": draft.ended,
                    "contaminated": False,
                    "guard": {
                        **asdict(guard.settings),
                        "instruments": guard.checked_instruments,
                        "unchecked": list(guard.unchecked_instruments),
                    },
                    "generation": {"temperature": options.temperature, "max_tokens": options.max_tokens},
                    "turns": draft.details,
                },
            )
            conversation.turns = [Turn(turn=i, question=q, answer=a) for i, (q, a) in enumerate(draft.turns)]
            session.add(conversation)
            session.flush()
            report.generated += 1
            report.turns += len(draft.turns)
            report.conversation_ids.append(draft.id)
            if complete:
                report.complete += 1
            else:
                report.incomplete += 1
                report.ended_early[draft.ended or "too_few_questions"] += 1
