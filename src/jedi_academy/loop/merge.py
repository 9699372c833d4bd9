"""Loop step 2, merge: a new content-addressed dataset version holding the parent checkpoint's dataset
(replayed) plus the session's new conversations, with that dataset as its parent.

The session's conversations train the child whatever their persona's split (a case's sessions always teach
the case's patient); a merge that adds no training conversation is refused, since the child would only
repeat its parent's training."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from jedi_academy.datasets.versions import build_dataset
from jedi_academy.errors import AcademyError
from jedi_academy.store.models import DatasetMember, DatasetVersion

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from jedi_academy.store import ArtifactStore, Database


def _train_ids(session: Session, dataset_id: str) -> set[str]:
    return set(
        session.scalars(
            select(DatasetMember.conversation_id).where(
                DatasetMember.dataset_id == dataset_id, DatasetMember.split == "train"
            )
        )
    )


def train_conversations_added(child_train: set[str], parent_train: set[str]) -> int:
    """How many conversations the child trains on that its parent did not: the loop refines only when this
    is above zero."""
    return len(child_train - parent_train)


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
        added = train_conversations_added(
            _train_ids(session, version.id), _train_ids(session, parent_dataset) if parent_dataset else set()
        )
    if added == 0:
        raise AcademyError(
            f"nothing new to refine on: dataset {version.id[:12]} has no training conversation that its "
            f"parent {str(parent_dataset)[:12]} lacks, so a child would only repeat the parent's training"
        )
    return {
        "dataset_id": version.id,
        "parent_dataset_id": version.parent_id,
        "new": new,
        "conversations": version.stats.get("conversations"),
        "added": len(conversation_ids),
        "train_conversations_added": added,
        # the split the session's conversations took: always train (datasets.versions.row_split)
        "persona_split": sorted(splits),
        "persona_id": persona_id,
    }
