"""Generating responsive therapist/patient conversations from persona cards.

Both sides are generated turn by turn, in batches (one LLM call per side, turn and attempt for the whole
batch). Each conversation follows a therapist plan (see ``plans``): its approach, the technique of every
turn, and unhelpful moves at the configured share. The therapist model is shown the conversation so far
and the technique of its next turn, so its turn answers what the patient just said; the technique tag is
stored in provenance and never exported. When the patient discloses risk, the next therapist turns are the
risk-assessment moves.

A therapist turn is retried when it is empty or reproduces instrument wording. A patient answer is retried
with the next seed, up to ``max_attempts`` replies, when it is empty, truncated at the token limit with no
complete sentence to keep, reproduces instrument wording verbatim, copies a run of the author's own
comments, or (by the self-cure judge) claims a sudden recovery. Natural first-person disclosures that touch
instrument wording are kept and flagged. When a turn still fails, the conversation ends before it: it is
stored as incomplete if it already has ``min_turns`` turns, otherwise dropped and counted. A sampled share of
stored conversations goes to the consistency judge; its verdicts are reported. Nothing contaminated is ever
stored.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from jedi_academy.conversations.judges import (
    JUDGE_PROMPT_VERSION,
    judge_consistency,
    judge_self_cure,
    may_claim_recovery,
    risk_disclosed,
)
from jedi_academy.conversations.plans import (
    PlanLibrary,
    approach_for,
    build_plan,
    load_plans,
    unhelpful_counts,
)
from jedi_academy.conversations.prompt import (
    CONVERSATION_PROMPT_VERSION,
    THERAPIST_PROMPT_VERSION,
    patient_messages,
    therapist_messages,
)
from jedi_academy.conversations.questions import QuestionBank, plan_questions
from jedi_academy.conversations.replies import (
    STOP,
    clean_answer,
    generate_replies,
    trim_to_sentence,
)
from jedi_academy.guard.contamination import ContaminationGuard, fingerprint_key
from jedi_academy.guard.overlap import longest_common_run, words
from jedi_academy.llm import LLM, GenerationParams
from jedi_academy.personas.card import AnyCard, PersonaCard, patient_prompt_version
from jedi_academy.store.models import Conversation, Turn

if TYPE_CHECKING:
    from jedi_academy.store import Database

APPROACHES = ("intake", "cbt", "mi", "supportive", "psychoeducation")
THERAPIST_STOP = ("\nClient:", "\nCLIENT:", "\nPatient:")


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
    approaches: tuple[str, ...] = APPROACHES  # the mix of therapist approaches, rotated per conversation
    unhelpful_share: float = 0.15  # share of therapist turns (after the opening) that are unhelpful moves
    therapist_max_tokens: int = 96
    therapist_temperature: float = 0.7
    self_cure_judge: bool = True  # the teacher judges answers that may claim a sudden recovery
    consistency_sample: float = 0.2  # share of stored conversations the consistency judge reviews
    max_common_run: int = 7  # longest word run an answer may share with the author's own comments

    def __post_init__(self) -> None:
        unknown = [a for a in self.approaches if a not in APPROACHES]
        if unknown or not self.approaches:
            raise ValueError(f"approaches must be among {', '.join(APPROACHES)}")
        if not 0.0 <= self.unhelpful_share <= 1.0 or not 0.0 <= self.consistency_sample <= 1.0:
            raise ValueError("unhelpful_share and consistency_sample are shares between 0 and 1")

    def key(self) -> dict[str, Any]:
        """Everything that changes what a conversation is (its id hashes it)."""
        return {
            "turns": self.turns,
            "approaches": list(self.approaches),
            "unhelpful_share": self.unhelpful_share,
            "self_cure_judge": self.self_cure_judge,
            "max_common_run": self.max_common_run,
        }


@dataclass(frozen=True)
class PersonaInput:
    id: str
    card: AnyCard
    prompt_version: str
    sources: tuple[str, ...] = ()  # the author's comments, for the leak check (empty when not available)


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
    plans_version: str = ""
    specific_bank: bool = True
    techniques: Counter[str] = field(default_factory=Counter)  # therapist turns stored, by technique
    approaches: Counter[str] = field(default_factory=Counter)  # conversations stored, by approach
    unhelpful_turns: int = 0
    therapist_turns: int = 0
    therapist_rejected: Counter[str] = field(default_factory=Counter)
    risk_followups: int = 0  # disclosures followed by risk-assessment turns
    disclosures_flagged: int = 0  # answers kept with a natural disclosure touching instrument wording
    self_cure_judged: int = 0  # answers the self-cure judge was asked about
    leak_checked: int = 0  # answers checked against their author's comments
    consistency: Counter[str] = field(default_factory=Counter)  # verdicts of the consistency judge
    instruments_checked: list[str] = field(default_factory=list)
    instruments_unchecked: list[str] = field(default_factory=list)
    conversation_ids: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        for name in (
            "rejected",
            "ended_early",
            "dropped",
            "techniques",
            "approaches",
            "therapist_rejected",
            "consistency",
        ):
            data[name] = dict(sorted(getattr(self, name).items()))
        data["unhelpful_share"] = (
            round(self.unhelpful_turns / self.therapist_turns, 4) if self.therapist_turns else None
        )
        return data


@dataclass
class _Draft:
    id: str
    persona: PersonaInput
    index: int
    approach: str
    plan: list[str]  # technique per therapist turn; risk follow-ups are inserted as they become due
    topics: list[str]  # bank questions offered to the therapist as areas to explore
    turns: list[tuple[str, str]] = field(default_factory=list)
    details: list[dict[str, Any]] = field(default_factory=list)
    pending_question: str | None = None  # this turn's therapist utterance, awaiting the patient's answer
    therapist_detail: dict[str, Any] = field(default_factory=dict)
    consistency: dict[str, str] | None = None
    ended: str | None = None

    @property
    def active(self) -> bool:
        return self.ended is None and len(self.turns) < len(self.plan)


def conversation_key(
    persona_id: str,
    index: int,
    llm: LLM,
    options: ConversationOptions,
    *,
    bank: str = "",
    plans: str = "",
    guard: str = "",
) -> list[Any]:
    return [
        persona_id,
        index,
        llm.backend_name,
        llm.model_name,
        CONVERSATION_PROMPT_VERSION,
        THERAPIST_PROMPT_VERSION,
        JUDGE_PROMPT_VERSION,
        options.seed,
        options.key(),
        bank,
        plans,
        guard,
    ]


def conversation_id_for(
    persona_id: str, index: int, llm: LLM, options: ConversationOptions, **versions: str
) -> str:
    """Content-addressed: persona, index, model, prompt, plan, bank and guard versions, seed and settings."""
    key = conversation_key(persona_id, index, llm, options, **versions)
    return "c-" + hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]


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
        plans_version=load_plans().version,
        specific_bank=bank.specific,
        instruments_checked=guard.checked_instruments,
        instruments_unchecked=list(guard.unchecked_instruments),
    )
    contaminated = {q.id for q in bank.questions if guard.is_contaminated(q.text)}
    report.questions_excluded = len(contaminated)
    bank = bank.without(contaminated)
    library = load_plans()
    drafts = _new_drafts(database, llm, personas, bank, library, guard, options, report)
    for start in range(0, len(drafts), options.batch_size):
        batch = drafts[start : start + options.batch_size]
        note(f"generating conversations {start + 1}-{start + len(batch)} of {len(drafts)}")
        _run_batch(llm, batch, guard, guidance, library, options, report)
        _check_consistency(llm, batch, options, report)
        _store(database, specialization, batch, guard, bank, library, options, report)
    return report


def _new_drafts(
    database: Database,
    llm: LLM,
    personas: Sequence[PersonaInput],
    bank: QuestionBank,
    library: PlanLibrary,
    guard: ContaminationGuard,
    options: ConversationOptions,
    report: ConversationReport,
) -> list[_Draft]:
    slots = [(persona, index) for persona in personas for index in range(options.per_persona)]
    unhelpful = unhelpful_counts([options.turns] * len(slots), options.unhelpful_share)
    versions = {"bank": bank.version, "plans": library.version, "guard": fingerprint_key(guard)}
    drafts = []
    with database.session() as session:
        for position, ((persona, index), bad_turns) in enumerate(zip(slots, unhelpful, strict=True)):
            conversation_id = conversation_id_for(persona.id, index, llm, options, **versions)
            if session.get(Conversation, conversation_id) is not None:
                report.existing += 1
                continue
            rng = random.Random(f"{options.seed}:{persona.id}:{index}")
            approach = approach_for(options.approaches, position, options.seed)
            plan = build_plan(library, approach, options.turns, bad_turns, rng)
            topics = [q.text for q in plan_questions(bank, options.turns, rng, persona.card.name)]
            drafts.append(_Draft(conversation_id, persona, index, approach, plan, topics))
    return drafts


def _run_batch(
    llm: LLM,
    batch: list[_Draft],
    guard: ContaminationGuard,
    guidance: str,
    library: PlanLibrary,
    options: ConversationOptions,
    report: ConversationReport,
) -> None:
    for turn in range(options.turns):
        _therapist_turns(
            llm,
            [d for d in batch if d.active and len(d.turns) == turn],
            guard,
            library,
            options,
            report,
            turn,
        )
        _patient_turns(
            llm,
            [d for d in batch if d.active and len(d.turns) == turn],
            guard,
            guidance,
            options,
            report,
            turn,
        )


def therapist_seed(options: ConversationOptions, turn: int, attempt: int) -> int:
    return options.seed + 7919 + turn * options.max_attempts + attempt


def _therapist_turns(
    llm: LLM,
    pending: list[_Draft],
    guard: ContaminationGuard,
    library: PlanLibrary,
    options: ConversationOptions,
    report: ConversationReport,
    turn: int,
) -> None:
    last_reason: dict[str, str] = {}
    for attempt in range(options.max_attempts):
        if not pending:
            break
        seed = therapist_seed(options, turn, attempt)
        texts = next_therapist_turns(llm, pending, library, options, seed)
        still = []
        for draft, text in zip(pending, texts, strict=True):
            said = _clean_therapist(text)
            reason = "empty" if not said else "contaminated" if guard.is_contaminated(said) else None
            if reason is None:
                draft.pending_question = said
                technique = library.technique(draft.plan[turn])
                draft.therapist_detail = {
                    "technique": technique.name,
                    "helpful": technique.helpful,
                    "therapist_seed": seed,
                    "therapist_attempts": attempt + 1,
                }
            else:
                report.therapist_rejected[reason] += 1
                last_reason[draft.id] = f"therapist_{reason}"
                still.append(draft)
        pending = still
    for draft in pending:
        draft.ended = last_reason[draft.id]


def next_therapist_turns(
    llm: LLM, drafts: Sequence[_Draft], library: PlanLibrary, options: ConversationOptions, seed: int
) -> list[str]:
    """The therapist's next utterance in each draft, written after reading the whole conversation so far."""
    conversations = []
    for draft in drafts:
        turn = len(draft.turns)
        technique = library.technique(draft.plan[turn])
        topic = draft.topics[turn] if turn < len(draft.topics) and "question" in technique.name else None
        description = library.approaches[draft.approach].description
        conversations.append(
            therapist_messages(draft.persona.card, description, technique.instruction, draft.turns, topic)
        )
    params = GenerationParams(
        temperature=options.therapist_temperature,
        max_tokens=options.therapist_max_tokens,
        seed=seed,
        stop=THERAPIST_STOP,
    )
    return list(llm.generate(conversations, params))


def _clean_therapist(text: str) -> str:
    for marker in THERAPIST_STOP:
        text = text.split(marker, 1)[0]
    text = text.strip()
    for label in ("Therapist:", "THERAPIST:", "Counsellor:", "Counselor:"):
        if text.startswith(label):
            text = text[len(label) :].strip()
    return text


def _patient_turns(
    llm: LLM,
    pending: list[_Draft],
    guard: ContaminationGuard,
    guidance: str,
    options: ConversationOptions,
    report: ConversationReport,
    turn: int,
) -> None:
    last_reason: dict[str, str] = {}
    for attempt in range(options.max_attempts):
        if not pending:
            break
        seed = options.seed + turn * options.max_attempts + attempt
        params = GenerationParams(
            temperature=options.temperature, max_tokens=options.max_tokens, seed=seed, stop=STOP
        )
        conversations = [
            patient_messages(d.persona.card, guidance, d.turns, d.pending_question or "", turn, len(d.plan))
            for d in pending
        ]
        replies = generate_replies(llm, conversations, params)
        report.replies += len(pending)
        judged: list[tuple[_Draft, str, str]] = []
        still = []
        for draft, reply in zip(pending, replies, strict=True):
            answer, reason, how = _check_answer(
                reply.text, reply.truncated, draft.persona, guard, options, report
            )
            if reason is None:
                judged.append((draft, answer, how))
            else:
                report.rejected[reason] += 1
                last_reason[draft.id] = reason
                still.append(draft)
        cured = _self_cure(llm, [(d.pending_question or "", a) for d, a, _ in judged], options, seed, report)
        for (draft, answer, how), claims_recovery in zip(judged, cured, strict=True):
            if claims_recovery:
                report.rejected["self_cure"] += 1
                last_reason[draft.id] = "self_cure"
                still.append(draft)
                continue
            _accept(draft, answer, how, seed, attempt, guard, options, report, turn)
        pending = still
    for draft in pending:
        draft.ended = last_reason[draft.id]


def _accept(
    draft: _Draft,
    answer: str,
    how: str,
    seed: int,
    attempt: int,
    guard: ContaminationGuard,
    options: ConversationOptions,
    report: ConversationReport,
    turn: int,
) -> None:
    library = load_plans()
    draft.turns.append((draft.pending_question or "", answer))
    flags = [m.as_dict() for m in guard.disclosures(answer)]
    report.disclosures_flagged += bool(flags)
    risk = risk_disclosed(answer) or any(f["kind"] == "disclosure" for f in flags)
    followup = list(library.risk_followup)
    already = draft.plan[turn + 1 : turn + 1 + len(followup)] == followup
    if risk and not already and draft.plan[turn] not in followup:
        # the rest of the plan moves back; the conversation keeps its length
        draft.plan[turn + 1 :] = (followup + draft.plan[turn + 1 :])[: len(draft.plan) - turn - 1]
        report.risk_followups += 1
    draft.details.append(
        {
            **draft.therapist_detail,
            "seed": seed,
            "attempts": attempt + 1,
            "answer": how,
            "flags": flags,
            "risk_disclosed": risk,
        }
    )
    draft.pending_question = None
    report.trimmed += how == "trimmed"
    report.kept_truncated += how == "kept_truncated"


def _check_answer(
    text: str,
    truncated: bool,
    persona: PersonaInput,
    guard: ContaminationGuard,
    options: ConversationOptions,
    report: ConversationReport,
) -> tuple[str, str | None, str]:
    """(answer, rejection reason or None, how it was accepted: complete|trimmed|kept_truncated)."""
    answer = clean_answer(text, persona.card.name)
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
    if persona.sources:
        report.leak_checked += 1
        run = longest_common_run([words(answer)], [words(source) for source in persona.sources])
        if run > options.max_common_run:
            return answer, "copied_wording", how
    return answer, None, how


def _self_cure(
    llm: LLM,
    items: list[tuple[str, str]],
    options: ConversationOptions,
    seed: int,
    report: ConversationReport,
) -> list[bool]:
    """Whether each answer claims a sudden recovery (asked only of answers that may)."""
    verdicts = [False] * len(items)
    if not options.self_cure_judge:
        return verdicts
    asked = [n for n, (_, answer) in enumerate(items) if may_claim_recovery(answer)]
    report.self_cure_judged += len(asked)
    for n, verdict in zip(asked, judge_self_cure(llm, [items[n] for n in asked], seed), strict=True):
        verdicts[n] = bool(verdict)
    return verdicts


def _check_consistency(
    llm: LLM, batch: list[_Draft], options: ConversationOptions, report: ConversationReport
) -> None:
    """The consistency judge on a seeded sample of the conversations about to be stored."""
    shortest = max(1, min(options.min_turns, options.turns))
    sampled = [
        d
        for d in batch
        if len(d.turns) >= shortest and _sample_value(options.seed, d.id) < options.consistency_sample
    ]
    verdicts = judge_consistency(
        llm, [(d.persona.card, [a for _, a in d.turns]) for d in sampled], options.seed
    )
    for draft, verdict in zip(sampled, verdicts, strict=True):
        draft.consistency = verdict
        if verdict is None:
            report.consistency["unreadable"] += 1
        else:
            report.consistency[f"consistent_{verdict['consistent']}"] += 1
            report.consistency[f"in_style_{verdict['in_style']}"] += 1


def _sample_value(seed: int, conversation_id: str) -> float:
    digest = hashlib.sha256(f"{seed}:{conversation_id}".encode()).hexdigest()
    return int(digest[:8], 16) / 0xFFFFFFFF


def _store(
    database: Database,
    specialization: str,
    batch: list[_Draft],
    guard: ContaminationGuard,
    bank: QuestionBank,
    library: PlanLibrary,
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
                    "therapist_prompt_version": THERAPIST_PROMPT_VERSION,
                    "judge_prompt_version": JUDGE_PROMPT_VERSION,
                    "patient_prompt_version": patient_prompt_version(draft.persona.card),
                    "persona_prompt_version": draft.persona.prompt_version,
                    "card_schema": 2 if isinstance(draft.persona.card, PersonaCard) else 1,
                    "style": getattr(draft.persona.card, "conversational_style", None),
                    "question_bank": bank.version,
                    "plans": library.version,
                    "approach": draft.approach,
                    "options": options.key(),
                    "consistency": draft.consistency,
                    "index": draft.index,
                    "turns_requested": options.turns,
                    "complete": complete,
                    "ended_early": draft.ended,
                    "contaminated": False,
                    "guard": guard.fingerprint(),
                    "generation": {
                        "temperature": options.temperature,
                        "max_tokens": options.max_tokens,
                        "therapist_temperature": options.therapist_temperature,
                        "therapist_max_tokens": options.therapist_max_tokens,
                    },
                    "turns": draft.details,
                },
            )
            conversation.turns = [Turn(turn=i, question=q, answer=a) for i, (q, a) in enumerate(draft.turns)]
            session.add(conversation)
            session.flush()
            report.generated += 1
            report.turns += len(draft.turns)
            report.approaches[draft.approach] += 1
            for detail in draft.details:
                report.techniques[detail["technique"]] += 1
                report.therapist_turns += 1
                report.unhelpful_turns += not detail["helpful"]
            report.conversation_ids.append(draft.id)
            if complete:
                report.complete += 1
            else:
                report.incomplete += 1
                report.ended_early[draft.ended or "too_few_questions"] += 1
