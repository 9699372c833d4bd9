"""Building dataset versions from stored conversations.

A version's id is the SHA-256 of its canonical rows (conversation, persona, specialization, split) together
with each row's rendered fine-tuning record, so the same conversations, split and export template give the
same id, and a changed template (the system prompt a card renders to, the record layout) gives a new
version with a new export. The split is by source author: every conversation of every persona drawn from
one author is in train or in validation, never both (a persona without a recorded author is its own group).

Before anything is written, the contamination guard over every instrument that may be administered (shipped
and imported) is re-run on every stored turn: verbatim instrument wording blocks the build with the
conversation and turn named, whatever flags were stored (``drop_contaminated`` leaves such conversations out
instead, counted). Conversations stored with the contaminated flag are always left out and counted.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select

from jedi_academy.datasets.mistral_format import check_record, conversation_record
from jedi_academy.datasets.stats import dataset_stats
from jedi_academy.errors import AcademyError
from jedi_academy.guard.contamination import ContaminationGuard, guard_for_all_instruments
from jedi_academy.personas import read_card
from jedi_academy.store import ArtifactStore, Database
from jedi_academy.store.ledger import append_record
from jedi_academy.store.lookup import one_by_id_or_prefix
from jedi_academy.store.models import Conversation, DatasetMember, DatasetVersion, Persona

TRAIN_FILE = "train.jsonl"
VALIDATION_FILE = "validation.jsonl"


@dataclass(frozen=True)
class Row:
    conversation_id: str
    persona_id: str
    specialization: str
    split: str
    turns: tuple[tuple[str, str], ...]
    record: dict[str, Any]  # the rendered fine-tuning record


def group_split(groups: list[str], validation_fraction: float, seed: int) -> dict[str, str]:
    """Deterministic group -> split; at least one validation group once there are two groups."""
    ranked = sorted(set(groups), key=lambda g: hashlib.sha256(f"{seed}:{g}".encode()).hexdigest())
    wanted = round(len(ranked) * validation_fraction)
    if validation_fraction > 0 and len(ranked) >= 2:
        wanted = max(1, wanted)
    wanted = min(wanted, len(ranked) - 1) if ranked else 0
    return {group: ("validation" if index < wanted else "train") for index, group in enumerate(ranked)}


def persona_split(persona_ids: list[str], validation_fraction: float, seed: int) -> dict[str, str]:
    """Deterministic persona -> split (each persona its own group)."""
    return group_split(persona_ids, validation_fraction, seed)


def is_case_data(conversation: Conversation) -> bool:
    """A conversation the improvement loop made from a therapy case (the session's own turns, a follow-up):
    its provenance names the case."""
    return bool((conversation.provenance or {}).get("case_id"))


def row_split(conversation: Conversation, author_split: str) -> str:
    """A case's sessions always teach the case's patient: its data trains whatever its author's split, and
    so never enters the held-out (validation) evaluation, which keeps the author's other conversations."""
    return "train" if is_case_data(conversation) else author_split


def version_id(rows: list[Row]) -> str:
    canonical = json.dumps(
        [[r.conversation_id, r.persona_id, r.specialization, r.split, r.record] for r in rows],
        ensure_ascii=False,
        separators=(",", ":"),
        sort_keys=True,
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def contamination_problems(conversation: Conversation, guard: ContaminationGuard) -> list[str]:
    """Where a stored conversation reproduces instrument wording verbatim ("turn 2 answer: phq-9 item 9")."""
    found = []
    for turn in conversation.turns:
        for side, text in (("therapist", turn.question), ("answer", turn.answer)):
            for match in guard.matches(text):
                found.append(f"turn {turn.turn} {side}: {match.instrument_id} {match.where}")
    return found


def build_dataset(
    database: Database,
    store: ArtifactStore,
    specializations: list[str],
    *,
    parent: str | None = None,
    validation_fraction: float = 0.1,
    seed: int = 0,
    conversation_ids: list[str] | None = None,
    guard: ContaminationGuard | None = None,
    drop_contaminated: bool = False,
) -> tuple[DatasetVersion, bool]:
    """Create (or find) the version holding the specializations' usable conversations plus the parent's.

    Returns the version and whether it was new. ``conversation_ids`` restricts the selection to those
    conversations (a pipeline run's own). ``guard`` defaults to every instrument, with text imported under
    the store's data folder. Under the data directory's writer lock (the artifact store's parent folder)."""
    from jedi_academy.store import data_dir_lock

    with data_dir_lock(store.root.parent, "dataset build"):
        return _build_dataset(
            database, store, specializations, parent=parent, validation_fraction=validation_fraction,
            seed=seed, conversation_ids=conversation_ids, guard=guard, drop_contaminated=drop_contaminated,
        )  # fmt: skip


def _build_dataset(
    database: Database,
    store: ArtifactStore,
    specializations: list[str],
    *,
    parent: str | None = None,
    validation_fraction: float = 0.1,
    seed: int = 0,
    conversation_ids: list[str] | None = None,
    guard: ContaminationGuard | None = None,
    drop_contaminated: bool = False,
) -> tuple[DatasetVersion, bool]:
    guard = guard or guard_for_all_instruments(store.root.parent)
    excluded: Counter[str] = Counter()
    with database.session() as session:
        query = select(Conversation).where(Conversation.specialization_id.in_(specializations))
        if conversation_ids is not None:
            query = query.where(Conversation.id.in_(conversation_ids))
        else:  # the loop's neutral talk trains only its control child (loop/control.py), never a fresh build
            query = query.where(Conversation.origin != "control")
        conversations = {c.id: c for c in session.scalars(query)}
        parent_row = None
        if parent is not None:
            parent_row = resolve_version(session, parent)
            member_ids = session.scalars(
                select(DatasetMember.conversation_id).where(DatasetMember.dataset_id == parent_row.id)
            )
            for conversation in session.scalars(
                select(Conversation).where(Conversation.id.in_(list(member_ids)))
            ):
                conversations[conversation.id] = conversation
        usable = []
        blocked: list[str] = []
        for conversation in sorted(conversations.values(), key=lambda c: c.id):
            if not conversation.turns:
                excluded["no_turns"] += 1
                continue
            if conversation.provenance.get("contaminated"):
                excluded["flagged_contaminated"] += 1
                continue
            problems = contamination_problems(conversation, guard)
            if problems and drop_contaminated:
                excluded["instrument_wording"] += 1
                continue
            if problems:
                blocked.append(f"conversation {conversation.id}, {problems[0]}")
                continue
            usable.append(conversation)
        if blocked:
            more = f" (and {len(blocked) - 1} more)" if len(blocked) > 1 else ""
            raise AcademyError(
                f"instrument wording in stored training text: {blocked[0]}{more}",
                "regenerate those conversations, or build with --drop-contaminated to leave them out",
            )
        if not usable:
            raise AcademyError(
                f"no usable conversations for {', '.join(specializations) or 'the parent version'}",
                "generate conversations first (`academy conversations generate`)",
            )
        personas = {
            p.id: p
            for p in session.scalars(select(Persona).where(Persona.id.in_({c.persona_id for c in usable})))
        }
        author_of = {pid: p.source_author_hash or f"persona:{pid}" for pid, p in personas.items()}
        split = group_split([author_of[c.persona_id] for c in usable], validation_fraction, seed)
        cards = {pid: p.card for pid, p in personas.items()}
        rows = [
            Row(
                c.id,
                c.persona_id,
                c.specialization_id,
                row_split(c, split[author_of[c.persona_id]]),
                tuple((t.question, t.answer) for t in c.turns),
                conversation_record(cards[c.persona_id], [(t.question, t.answer) for t in c.turns]),
            )
            for c in usable
        ]
        new_id = version_id(rows)
        existing = session.get(DatasetVersion, new_id)
        if existing is not None:
            return existing, False
        read = {pid: read_card(card) for pid, card in cards.items()}
        extra = dataset_stats(usable, read, excluded, guard.disclosures)
        extra["authors"] = {
            name: len({author_of[r.persona_id] for r in rows if r.split == name})
            for name in ("train", "validation")
        }
        extra["guard"] = guard.fingerprint()

    staging = Path(tempfile.mkdtemp())
    try:
        stats = write_export(staging, rows)
        ref = store.put_dir(staging, "dataset-export")
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    with database.session() as session:
        store.register(session, ref)
        session.flush()
        version = DatasetVersion(
            id=new_id,
            parent_id=parent_row.id if parent_row else None,
            specializations=sorted({r.specialization for r in rows}),
            stats={
                **stats,
                **extra,
                "validation_fraction": validation_fraction,
                "seed": seed,
                "split_by": "source author",
                "case_data_split": "train",  # a therapy case's conversations train, whatever their author's
            },
            export_sha256=ref.sha256,
        )
        session.add(version)
        session.flush()
        session.add_all(
            DatasetMember(dataset_id=new_id, conversation_id=r.conversation_id, split=r.split) for r in rows
        )
        append_record(session, version)
    return version, True


def write_export(folder: Path, rows: list[Row]) -> dict[str, Any]:
    """Write train/validation JSONL (each record validated) and return token statistics."""
    tokens: dict[str, list[int]] = defaultdict(list)
    by_specialization: dict[str, dict[str, int]] = defaultdict(lambda: {"conversations": 0, "tokens": 0})
    handles = {
        name: (folder / f"{name}.jsonl").open("w", encoding="utf-8") for name in ("train", "validation")
    }
    try:
        for row in rows:
            record = row.record
            count = check_record(record, f"conversation {row.conversation_id}")
            handles[row.split].write(json.dumps(record, ensure_ascii=False) + "\n")
            tokens[row.split].append(count)
            by_specialization[row.specialization]["conversations"] += 1
            by_specialization[row.specialization]["tokens"] += count
    finally:
        for handle in handles.values():
            handle.close()
    personas = defaultdict(set)
    for row in rows:
        personas[row.split].add(row.persona_id)
    return {
        "splits": {
            name: {
                "conversations": len(tokens[name]),
                "personas": len(personas[name]),
                "tokens": sum(tokens[name]),
                "max_tokens": max(tokens[name], default=0),
            }
            for name in ("train", "validation")
        },
        "by_specialization": dict(by_specialization),
        "conversations": len(rows),
        "tokenizer": "mistral v3 (mistral-common)",
    }


def resolve_version(session: Any, wanted: str) -> DatasetVersion:
    return one_by_id_or_prefix(
        session, DatasetVersion, wanted, "dataset version", "see `academy dataset list`"
    )


def list_versions(database: Database) -> list[dict[str, Any]]:
    """Every dataset version, oldest first (``academy dataset list``)."""
    with database.session() as session:
        return [
            {
                "id": v.id,
                "parent": v.parent_id,
                "specializations": v.specializations,
                "conversations": v.stats.get("conversations", v.stats.get("train")),
                "created_at": v.created_at.isoformat(),
            }
            for v in session.scalars(select(DatasetVersion).order_by(DatasetVersion.created_at))
        ]
