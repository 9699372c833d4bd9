"""Loop step 2, merge: a new content-addressed dataset version holding the parent checkpoint's dataset
(replayed) plus the session's new conversations, with that dataset as its parent."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from jedi_academy.datasets.versions import build_dataset
from jedi_academy.store.models import DatasetMember, DatasetVersion

if TYPE_CHECKING:
    from jedi_academy.store import ArtifactStore, Database


def merge_conversations(
    database: Database,
    store: ArtifactStore,
    specialization: str,
    parent_dataset: str | None,
    conversation_ids: list[str],
    persona_id: str,
) -> dict[str, Any]:
    validation_fraction, seed = 0.1, 0
    if parent_dataset is not None:
        with database.session() as session:
            parent = session.get(DatasetVersion, parent_dataset)
            if parent is not None:  # keep the lineage's split settings, so earlier personas stay put
                validation_fraction = float(parent.stats.get("validation_fraction", validation_fraction))
                seed = int(parent.stats.get("seed", seed))
    version, new = build_dataset(
        database,
        store,
        [specialization],
        parent=parent_dataset,
        validation_fraction=validation_fraction,
        seed=seed,
        conversation_ids=conversation_ids,
    )
    with database.session() as session:
        splits = set(
            session.scalars(
                select(DatasetMember.split).where(
                    DatasetMember.dataset_id == version.id,
                    DatasetMember.conversation_id.in_(conversation_ids),
                )
            )
        )
    return {
        "dataset_id": version.id,
        "parent_dataset_id": version.parent_id,
        "new": new,
        "conversations": version.stats.get("conversations"),
        "added": len(conversation_ids),
        # a persona the lineage holds out for validation validates the child instead of training it
        "persona_split": sorted(splits),
        "persona_id": persona_id,
    }
