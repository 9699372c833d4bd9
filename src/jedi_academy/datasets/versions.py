"""Building dataset versions from stored conversations.

A version's id is the SHA-256 of its canonical rows (conversation, persona, specialization, split, turns), so
the same conversations and split always give the same id. The split is by persona: a persona's conversations
are all in train or all in validation.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select

from jedi_academy.datasets.mistral_format import check_record, conversation_record
from jedi_academy.errors import AcademyError
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


def persona_split(persona_ids: list[str], validation_fraction: float, seed: int) -> dict[str, str]:
    """Deterministic persona -> split; at least one validation persona once there are two personas."""
    ranked = sorted(set(persona_ids), key=lambda p: hashlib.sha256(f"{seed}:{p}".encode()).hexdigest())
    wanted = round(len(ranked) * validation_fraction)
    if validation_fraction > 0 and len(ranked) >= 2:
        wanted = max(1, wanted)
    wanted = min(wanted, len(ranked) - 1) if ranked else 0
    return {persona: ("validation" if index < wanted else "train") for index, persona in enumerate(ranked)}


def version_id(rows: list[Row]) -> str:
    canonical = json.dumps(
        [
            [r.conversation_id, r.persona_id, r.specialization, r.split, [list(t) for t in r.turns]]
            for r in rows
        ],
        ensure_ascii=False,
        separators=(",", ":"),
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def build_dataset(
    database: Database,
    store: ArtifactStore,
    specializations: list[str],
    *,
    parent: str | None = None,
    validation_fraction: float = 0.1,
    seed: int = 0,
    conversation_ids: list[str] | None = None,
) -> tuple[DatasetVersion, bool]:
    """Create (or find) the version holding the specializations' usable conversations plus the parent's.

    Returns the version and whether it was new. Conversations flagged as contaminated are never included;
    ``conversation_ids`` restricts the selection to those conversations (a pipeline run's own).
    """
    with database.session() as session:
        query = select(Conversation).where(Conversation.specialization_id.in_(specializations))
        if conversation_ids is not None:
            query = query.where(Conversation.id.in_(conversation_ids))
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
        usable = [c for c in conversations.values() if c.turns and not c.provenance.get("contaminated")]
        if not usable:
            raise AcademyError(
                f"no usable conversations for {', '.join(specializations) or 'the parent version'}",
                "generate conversations first (`academy conversations generate`)",
            )
        split = persona_split([c.persona_id for c in usable], validation_fraction, seed)
        rows = sorted(
            (
                Row(
                    c.id,
                    c.persona_id,
                    c.specialization_id,
                    split[c.persona_id],
                    tuple((t.question, t.answer) for t in c.turns),
                )
                for c in usable
            ),
            key=lambda r: r.conversation_id,
        )
        new_id = version_id(rows)
        existing = session.get(DatasetVersion, new_id)
        if existing is not None:
            return existing, False
        cards = {p.id: p.card for p in session.scalars(select(Persona).where(Persona.id.in_(list(split))))}

    staging = Path(tempfile.mkdtemp())
    try:
        stats = write_export(staging, rows, cards)
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
            stats={**stats, "validation_fraction": validation_fraction, "seed": seed},
            export_sha256=ref.sha256,
        )
        session.add(version)
        session.flush()
        session.add_all(
            DatasetMember(dataset_id=new_id, conversation_id=r.conversation_id, split=r.split) for r in rows
        )
        append_record(session, version)
    return version, True


def write_export(folder: Path, rows: list[Row], cards: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Write train/validation JSONL (each record validated) and return token statistics."""
    tokens: dict[str, list[int]] = defaultdict(list)
    by_specialization: dict[str, dict[str, int]] = defaultdict(lambda: {"conversations": 0, "tokens": 0})
    handles = {
        name: (folder / f"{name}.jsonl").open("w", encoding="utf-8") for name in ("train", "validation")
    }
    try:
        for row in rows:
            record = conversation_record(cards[row.persona_id], row.turns)
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
