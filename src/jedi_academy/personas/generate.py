"""Generating persona cards from author bundles: first-person filter, prompt, constrained generation, checks,
grounding judge, bounded retries, style balance, near-duplicate removal, storage with provenance.

Candidates are processed in waves of as many authors as personas are still wanted; authors who do not write
about themselves are skipped (``not_first_person``) before any card is written. Within a wave every
candidate gets up to ``max_attempts`` replies; a reply is rejected (and the candidate retried with the next
seed) for any of: empty, truncated, invalid JSON, schema, invalid evidence, source identifiers, copied
wording, instrument wording, ungrounded (the grounding judge left no valid card). A candidate still
rejected after the last attempt is skipped and counted under its last reason. Accepted cards get the
conversational style least used so far in the specialization; cards too similar to a stored or earlier
card are dropped and counted.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from itertools import islice
from typing import TYPE_CHECKING, Any

from jedi_academy.llm import LLM, GenerationParams
from jedi_academy.personas.card import PROMPT_VERSION, SCHEMA_VERSION, STYLES, PersonaCard
from jedi_academy.personas.dedupe import DEFAULT_THRESHOLD, NearDuplicateIndex
from jedi_academy.personas.judge import (
    FIRST_PERSON_KEPT,
    JUDGE_PROMPT_VERSION,
    GroundingResult,
    first_person_heuristic,
    judge_first_person,
    judge_grounding,
)
from jedi_academy.personas.parsing import parse_card
from jedi_academy.personas.privacy import LeakLimits, card_texts, identifier_problems, leak_report
from jedi_academy.personas.prompt import GENERATION_PROMPT_VERSION, persona_messages
from jedi_academy.personas.records import existing_cards, persona_id_for, style_counts, used_authors
from jedi_academy.personas.schema import CardLimits, card_json_schema
from jedi_academy.personas.selection import BundleLike, Candidate, SelectionRules, candidates, eligible
from jedi_academy.store.models import Persona

if TYPE_CHECKING:
    from jedi_academy.guard.contamination import ContaminationGuard
    from jedi_academy.specializations import Specialization
    from jedi_academy.store import Database

REJECTION_REASONS = (
    "empty",
    "truncated",
    "invalid_json",
    "schema",
    "invalid_evidence",
    "source_identifier",
    "copied_wording",
    "instrument_wording",
    "ungrounded",
)
FIRST_PERSON_MODES = ("judge", "heuristic", "off")


@dataclass(frozen=True)
class PersonaOptions:
    n: int = 10
    seed: int = 0
    max_attempts: int = 3  # replies per candidate before it is skipped
    max_candidates: int | None = None  # authors tried at most; default 3 * n
    temperature: float = 0.7
    max_tokens: int = 2048
    selection: SelectionRules = field(default_factory=SelectionRules)
    limits: CardLimits = field(default_factory=CardLimits)
    leak: LeakLimits = field(default_factory=LeakLimits)
    duplicate_threshold: float = DEFAULT_THRESHOLD
    grounding: bool = True  # the teacher judges whether each cited comment supports its trait
    first_person: str = "judge"  # judge (heuristic, then the teacher) | heuristic | off

    def __post_init__(self) -> None:
        if self.first_person not in FIRST_PERSON_MODES:
            raise ValueError(f"first_person must be one of {', '.join(FIRST_PERSON_MODES)}")

    def candidate_cap(self) -> int:
        return self.max_candidates if self.max_candidates is not None else 3 * self.n


@dataclass
class PersonaReport:
    specialization: str
    backend: str
    model: str
    prompt_version: str
    seed: int
    requested: int
    authors: int = 0  # bundles read
    eligible: int = 0  # with enough comments and words
    already_used: int = 0  # eligible authors who already have a persona here
    tried: int = 0  # candidates sent to the model
    replies: int = 0
    generated: int = 0
    persona_ids: list[str] = field(default_factory=list)
    rejected: Counter[str] = field(default_factory=Counter)  # replies, by reason
    skipped: Counter[str] = field(default_factory=Counter)  # candidates given up, by last reason
    near_duplicates: int = 0
    instruments_checked: list[str] = field(default_factory=list)  # by the instrument-wording check
    instruments_unchecked: list[str] = field(default_factory=list)  # no item text to check against
    not_first_person: int = 0  # authors skipped: they write about someone else
    grounding: dict[str, int] = field(default_factory=lambda: {"cards": 0, "checked": 0, "supported": 0,
                                                               "dropped": 0, "judge_failed": 0})  # fmt: skip
    styles: Counter[str] = field(default_factory=Counter)  # conversational styles assigned

    @property
    def grounding_rate(self) -> float | None:
        checked = self.grounding["checked"]
        return round(self.grounding["supported"] / checked, 4) if checked else None

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["rejected"] = dict(sorted(self.rejected.items()))
        data["skipped"] = dict(sorted(self.skipped.items()))
        data["styles"] = dict(sorted(self.styles.items()))
        data["grounding_rate"] = self.grounding_rate
        return data


@dataclass(frozen=True)
class _Accepted:
    candidate: Candidate
    card: PersonaCard
    seed: int
    attempts: int
    privacy: dict[str, Any]
    grounding: dict[str, Any] | None


@dataclass
class _Checks:
    """Everything a parsed card must pass besides the schema."""

    specialization: Specialization
    leak: LeakLimits
    guard: ContaminationGuard | None

    def reason_to_reject(self, card: PersonaCard, candidate: Candidate) -> tuple[str | None, dict[str, Any]]:
        if identifier_problems(
            card,
            author=candidate.author,
            comment_ids=candidate.labels.values(),
            subreddits=[*candidate.subreddits, *self.specialization.subreddits],
            sources=[c.text for c in candidate.comments],
        ):
            return "source_identifier", {}
        report = leak_report(card, (c.text for c in candidate.comments), self.leak)
        if report.violations(self.leak):
            return "copied_wording", report.as_dict()
        if self.guard is not None and any(self.guard.is_contaminated(t) for t in card_texts(card)):
            return "instrument_wording", report.as_dict()
        return None, report.as_dict()


def generate_personas(
    database: Database,
    llm: LLM,
    specialization: Specialization,
    bundles: Sequence[BundleLike],
    options: PersonaOptions | None = None,
    *,
    guard: ContaminationGuard | None = None,
    progress: Callable[[str], None] | None = None,
) -> PersonaReport:
    """Generate up to ``options.n`` new personas for ``specialization`` (whose row must exist)."""
    options = options or PersonaOptions()
    note = progress or (lambda _message: None)
    report = PersonaReport(
        specialization=specialization.id,
        backend=llm.backend_name,
        model=llm.model_name,
        prompt_version=GENERATION_PROMPT_VERSION,
        seed=options.seed,
        requested=options.n,
        authors=len(bundles),
        instruments_checked=guard.checked_instruments if guard else [],
        instruments_unchecked=list(guard.unchecked_instruments) if guard else [],
    )
    with database.session() as session:
        used = used_authors(session, specialization.id)
        index = NearDuplicateIndex(options.duplicate_threshold)
        for persona_id, card in existing_cards(session, specialization.id).items():
            index.add(persona_id, card)
        styles = Counter(style_counts(session, specialization.id))
    eligible_bundles = [b for b in bundles if eligible(b, options.selection)]
    report.eligible = len(eligible_bundles)
    report.already_used = sum(1 for b in eligible_bundles if b.author in used)
    queue = candidates(eligible_bundles, options.selection, exclude_authors=used, seed=options.seed)
    checks = _Checks(specialization, options.leak, guard)
    first_seed = options.seed
    while report.generated < options.n and report.tried < options.candidate_cap():
        size = min(options.n - report.generated, options.candidate_cap() - report.tried)
        wave = list(islice(queue, size))
        if not wave:
            break
        report.tried += len(wave)
        wave = _first_person(llm, wave, options, first_seed, report)
        if not wave:
            continue
        note(f"generating {len(wave)} persona card(s) ({report.generated}/{options.n} stored so far)")
        accepted = _generate_wave(llm, specialization, wave, options, checks, first_seed, report)
        first_seed += options.max_attempts
        _store(database, specialization.id, accepted, index, options, report, styles)
    return report


def _first_person(
    llm: LLM, wave: list[Candidate], options: PersonaOptions, seed: int, report: PersonaReport
) -> list[Candidate]:
    """The candidates who write about their own experience (counted when dropped)."""
    if options.first_person == "off":
        return wave
    kept = [c for c in wave if first_person_heuristic([comment.text for comment in c.comments])]
    if options.first_person == "judge" and kept:
        answers = judge_first_person(llm, kept, seed)
        kept = [
            c
            for c, answer in zip(kept, answers, strict=True)
            if answer is None or answer in FIRST_PERSON_KEPT
        ]
    report.not_first_person += len(wave) - len(kept)
    return kept


def next_style(counts: Counter[str], seed: int) -> str:
    """The conversational style least used so far; ties go by a seeded order of the six styles."""
    order = sorted(STYLES, key=lambda style: hash_order(seed, style))
    return min(order, key=lambda style: counts.get(style, 0))


def hash_order(seed: int, value: str) -> str:
    import hashlib

    return hashlib.sha256(f"{seed}:{value}".encode()).hexdigest()


def _generate_wave(
    llm: LLM,
    specialization: Specialization,
    wave: list[Candidate],
    options: PersonaOptions,
    checks: _Checks,
    first_seed: int,
    report: PersonaReport,
) -> list[_Accepted]:
    accepted: dict[int, _Accepted] = {}
    last_reason: dict[int, str] = {}
    pending = list(range(len(wave)))
    for attempt in range(options.max_attempts):
        if not pending:
            break
        seed = first_seed + attempt
        replies = _ask(llm, specialization, [wave[i] for i in pending], options, seed)
        report.replies += len(pending)
        still: list[int] = []
        passed: list[tuple[int, PersonaCard, dict[str, Any]]] = []
        for number, reply in zip(pending, replies, strict=True):
            candidate = wave[number]
            parsed = parse_card(reply, candidate.labels)
            privacy: dict[str, Any] = {}
            reason = parsed.reason
            if parsed.card is not None:
                reason, privacy = checks.reason_to_reject(parsed.card, candidate)
            if reason is None and parsed.card is not None:
                passed.append((number, parsed.card, privacy))
            else:
                report.rejected[reason or "schema"] += 1
                last_reason[number] = reason or "schema"
                still.append(number)
        verdicts = _ground(llm, [(card, wave[number]) for number, card, _ in passed], options, seed, report)
        for (number, card, privacy), verdict in zip(passed, verdicts, strict=True):
            kept = verdict.card if verdict is not None else card
            if kept is None:
                report.rejected["ungrounded"] += 1
                last_reason[number] = "ungrounded"
                still.append(number)
                continue
            grounding = verdict.as_dict() if verdict is not None else None
            accepted[number] = _Accepted(wave[number], kept, seed, attempt + 1, privacy, grounding)
        pending = sorted(still)
    for number in pending:
        report.skipped[last_reason[number]] += 1
    return [accepted[number] for number in sorted(accepted)]


def _ground(
    llm: LLM,
    items: list[tuple[PersonaCard, Candidate]],
    options: PersonaOptions,
    seed: int,
    report: PersonaReport,
) -> list[GroundingResult | None]:
    if not options.grounding or not items:
        return [None] * len(items)
    results = judge_grounding(llm, items, seed)
    for result in results:
        report.grounding["cards"] += 1
        report.grounding["checked"] += result.checked
        report.grounding["supported"] += result.supported
        report.grounding["dropped"] += len(result.dropped)
        report.grounding["judge_failed"] += result.judge_failed
    return list(results)


def _ask(
    llm: LLM, specialization: Specialization, batch: list[Candidate], options: PersonaOptions, seed: int
) -> list[str]:
    """One reply per candidate; candidates showing the same number of comments share a schema and a call."""
    groups: dict[int, list[int]] = defaultdict(list)
    for position, candidate in enumerate(batch):
        groups[len(candidate.comments)].append(position)
    replies: list[str] = [""] * len(batch)
    for positions in groups.values():
        labels = list(batch[positions[0]].labels)
        params = GenerationParams(
            temperature=options.temperature,
            max_tokens=options.max_tokens,
            seed=seed,
            json_schema=card_json_schema(labels, options.limits),
        )
        conversations = [
            persona_messages(
                specialization.display_name,
                specialization.description,
                specialization.persona_guidance,
                batch[p].comments,
            )
            for p in positions
        ]
        for position, text in zip(positions, llm.generate(conversations, params), strict=True):
            replies[position] = text
    return replies


def _store(
    database: Database,
    specialization: str,
    accepted: list[_Accepted],
    index: NearDuplicateIndex,
    options: PersonaOptions,
    report: PersonaReport,
    styles: Counter[str],
) -> None:
    with database.session() as session:
        for item in accepted:
            nearest = index.nearest(item.card)
            style = next_style(styles, item.seed)
            card = item.card.model_copy(update={"conversational_style": style})
            persona_id = persona_id_for(specialization, card)
            if index.is_duplicate(nearest) or session.get(Persona, persona_id) is not None:
                report.near_duplicates += 1
                continue
            session.add(
                Persona(
                    id=persona_id,
                    specialization_id=specialization,
                    card=card.model_dump(),
                    source_author_hash=item.candidate.author,
                    source_comment_ids=list(item.candidate.labels.values()),
                    backend=report.backend,
                    model=report.model,
                    prompt_version=GENERATION_PROMPT_VERSION,
                    seed=item.seed,
                    metrics={
                        "privacy": item.privacy,
                        "nearest_similarity": round(nearest[1], 4),
                        "attempts": item.attempts,
                        "comments_shown": len(item.candidate.comments),
                        "words_shown": sum(len(c.text.split()) for c in item.candidate.comments),
                        "patient_prompt_version": PROMPT_VERSION,
                        "card_schema": SCHEMA_VERSION,
                        "bases": card.bases(),
                        "grounding": item.grounding,
                        "judge_prompt_version": JUDGE_PROMPT_VERSION,
                        "options": {
                            "temperature": options.temperature,
                            "max_tokens": options.max_tokens,
                            "selection": asdict(options.selection),
                            "limits": asdict(options.limits),
                            "leak": asdict(options.leak),
                            "duplicate_threshold": options.duplicate_threshold,
                            "grounding": options.grounding,
                            "first_person": options.first_person,
                        },
                    },
                )
            )
            session.flush()
            index.add(persona_id, card)
            styles[style] += 1
            report.styles[style] += 1
            report.generated += 1
            report.persona_ids.append(persona_id)
