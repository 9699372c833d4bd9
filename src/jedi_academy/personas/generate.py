"""Generating persona cards from author bundles: prompt, constrained generation, checks, bounded retries,
near-duplicate removal, storage with provenance.

Candidates are processed in waves of as many authors as personas are still wanted. Within a wave every
candidate gets up to ``max_attempts`` replies; a reply is rejected (and the candidate retried with the next
seed) for any of: empty, truncated, invalid JSON, schema, invalid evidence, source identifiers, copied
wording, instrument wording. A candidate still rejected after the last attempt is skipped and counted under
its last reason. Accepted cards too similar to a stored or earlier card are dropped and counted.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from itertools import islice
from typing import TYPE_CHECKING, Any

from jedi_academy.llm import LLM, GenerationParams
from jedi_academy.personas.card import PROMPT_VERSION, PersonaCard
from jedi_academy.personas.dedupe import DEFAULT_THRESHOLD, NearDuplicateIndex
from jedi_academy.personas.parsing import parse_card
from jedi_academy.personas.privacy import LeakLimits, card_texts, identifier_problems, leak_report
from jedi_academy.personas.prompt import GENERATION_PROMPT_VERSION, persona_messages
from jedi_academy.personas.records import existing_cards, persona_id_for, used_authors
from jedi_academy.personas.schema import CardLimits, card_json_schema
from jedi_academy.personas.selection import BundleLike, Candidate, SelectionRules, candidates, eligible
from jedi_academy.store.models import Persona

if TYPE_CHECKING:
    from jedi_academy.conversations.contamination import ContaminationGuard
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
)


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

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["rejected"] = dict(sorted(self.rejected.items()))
        data["skipped"] = dict(sorted(self.skipped.items()))
        return data


@dataclass(frozen=True)
class _Accepted:
    candidate: Candidate
    card: PersonaCard
    seed: int
    attempts: int
    privacy: dict[str, Any]


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
        note(f"generating {len(wave)} persona card(s) ({report.generated}/{options.n} stored so far)")
        accepted = _generate_wave(llm, specialization, wave, options, checks, first_seed, report)
        first_seed += options.max_attempts
        _store(database, specialization.id, accepted, index, options, report)
    return report


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
        for number, reply in zip(pending, replies, strict=True):
            candidate = wave[number]
            parsed = parse_card(reply, candidate.labels)
            reason, privacy = parsed.reason, {}
            if parsed.card is not None:
                reason, privacy = checks.reason_to_reject(parsed.card, candidate)
            if reason is None and parsed.card is not None:
                accepted[number] = _Accepted(candidate, parsed.card, seed, attempt + 1, privacy)
            else:
                report.rejected[reason or "schema"] += 1
                last_reason[number] = reason or "schema"
                still.append(number)
        pending = still
    for number in pending:
        report.skipped[last_reason[number]] += 1
    return [accepted[number] for number in sorted(accepted)]


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
) -> None:
    with database.session() as session:
        for item in accepted:
            nearest = index.nearest(item.card)
            persona_id = persona_id_for(specialization, item.card)
            if index.is_duplicate(nearest) or session.get(Persona, persona_id) is not None:
                report.near_duplicates += 1
                continue
            session.add(
                Persona(
                    id=persona_id,
                    specialization_id=specialization,
                    card=item.card.model_dump(),
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
                        "options": {
                            "temperature": options.temperature,
                            "max_tokens": options.max_tokens,
                            "selection": asdict(options.selection),
                            "limits": asdict(options.limits),
                            "leak": asdict(options.leak),
                            "duplicate_threshold": options.duplicate_threshold,
                        },
                    },
                )
            )
            session.flush()
            index.add(persona_id, item.card)
            report.generated += 1
            report.persona_ids.append(persona_id)
