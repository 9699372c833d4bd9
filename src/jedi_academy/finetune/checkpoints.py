"""The checkpoint lineage: registering, listing, tree view, export and deletion.

A checkpoint is the base model plus either a LoRA adapter (a content-addressed artifact folder) or a remote
fine-tuned model id, with the dataset version, hyperparameters, seed, metrics and parent that produced it.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from jedi_academy.errors import AcademyError, ModelLoadError
from jedi_academy.llm.adapters import adapter_identity, write_canonical_adapter
from jedi_academy.llm.loading import model_identity
from jedi_academy.llm.targets import (
    adapter_path,
    get_checkpoint,
)
from jedi_academy.store import ArtifactStore, Database
from jedi_academy.store.artifacts import sha256_file
from jedi_academy.store.dependents import delete_dependents
from jedi_academy.store.ledger import append_record
from jedi_academy.store.models import Checkpoint

if TYPE_CHECKING:
    pass


@dataclass(frozen=True)
class CheckpointSpec:
    base_model: str
    kind: str  # "base" | "lora" | "remote"
    specialization_id: str | None
    dataset_id: str | None
    parent_id: str | None
    hyperparameters: dict[str, Any]
    seed: int
    metrics: dict[str, Any]
    adapter_dir: Path | None = None
    remote_model_id: str | None = None
    role: str = "patient"  # or "control" (the loop's no-therapist child)


def checkpoint_id(kind: str, base_identity: str, content: str) -> str:
    """The checkpoint's content hash: what it is (kind, base model by path-free name, and the adapter's
    canonical identity or the remote model id), not where or by which library versions it was made. The same
    training gives the same id in any process and on any machine."""
    key = json.dumps({"kind": kind, "base": base_identity, "content": content}, sort_keys=True)
    return "ck-" + hashlib.sha256(key.encode()).hexdigest()[:12]


def register_checkpoint(database: Database, store: ArtifactStore, spec: CheckpointSpec) -> Checkpoint:
    """Copy the adapter (in canonical form) into the artifact store and record the checkpoint, in one
    transaction."""
    base_identity = model_identity(spec.base_model)
    ref = None
    if spec.adapter_dir is not None:
        content = adapter_identity(spec.adapter_dir)
        with tempfile.TemporaryDirectory() as staging:
            canonical = write_canonical_adapter(spec.adapter_dir, Path(staging) / "adapter", base_identity)
            ref = store.put_dir(canonical, "adapter")
    else:
        content = spec.remote_model_id or ""
    new_id = checkpoint_id(spec.kind, base_identity, content)
    with database.session() as session:
        existing = session.get(Checkpoint, new_id)
        if existing is not None:
            return existing
        if spec.parent_id is not None and session.get(Checkpoint, spec.parent_id) is None:
            raise AcademyError(f"parent checkpoint {spec.parent_id} does not exist")
        if ref is not None:
            store.register(session, ref)
        row = Checkpoint(
            id=new_id,
            specialization_id=spec.specialization_id,
            kind=spec.kind,
            base_model=spec.base_model,
            adapter_sha256=ref.sha256 if ref else None,
            remote_model_id=spec.remote_model_id,
            dataset_id=spec.dataset_id,
            parent_id=spec.parent_id,
            hyperparameters=spec.hyperparameters,
            seed=spec.seed,
            metrics=spec.metrics,
            role=spec.role,
        )
        session.add(row)
        append_record(session, row)
        return row


def list_checkpoints(session: Session, specialization: str | None = None) -> list[Checkpoint]:
    query = select(Checkpoint).order_by(Checkpoint.created_at)
    if specialization:
        query = query.where(Checkpoint.specialization_id == specialization)
    return list(session.scalars(query))


def lineage_tree(checkpoints: list[Checkpoint]) -> str:
    """Text tree per specialization, children indented under their parent."""
    children: dict[str | None, list[Checkpoint]] = defaultdict(list)
    known = {c.id for c in checkpoints}
    for checkpoint in checkpoints:
        children[checkpoint.parent_id if checkpoint.parent_id in known else None].append(checkpoint)
    lines: list[str] = []

    def describe(c: Checkpoint) -> str:
        loss = c.metrics.get("validation_loss")
        loss_text = f" val_loss={loss:.4f}" if isinstance(loss, int | float) else ""
        dataset = f" dataset={c.dataset_id[:12]}" if c.dataset_id else ""
        retired = f" RETIRED ({c.retired_by})" if c.retired_by else ""
        return f"{c.id} [{c.kind}] base={c.base_model}{dataset}{loss_text}{retired}"

    def walk(node: Checkpoint, prefix: str, last: bool) -> None:
        lines.append(f"{prefix}{'└── ' if last else '├── '}{describe(node)}")
        kids = children.get(node.id, [])
        for index, child in enumerate(kids):
            walk(child, prefix + ("    " if last else "│   "), index == len(kids) - 1)

    roots_by_specialization: dict[str, list[Checkpoint]] = defaultdict(list)
    for root in children.get(None, []):
        roots_by_specialization[root.specialization_id or "(none)"].append(root)
    for specialization in sorted(roots_by_specialization):
        lines.append(specialization)
        roots = roots_by_specialization[specialization]
        for index, root in enumerate(roots):
            walk(root, "", index == len(roots) - 1)
    return "\n".join(lines)


def delete_checkpoint(
    database: Database, wanted: str, *, force: bool = False, cascade: bool = False
) -> list[str]:
    """Delete a checkpoint (and, with ``force``, its descendants); returns the deleted ids, children first.
    Refused while assessment runs refer to them, unless ``cascade`` (which deletes those runs too)."""
    with database.session() as session:
        root = get_checkpoint(session, wanted)
        descendants: list[Checkpoint] = []
        frontier = [root.id]
        while frontier:
            kids = list(session.scalars(select(Checkpoint).where(Checkpoint.parent_id.in_(frontier))))
            descendants.extend(kids)
            frontier = [k.id for k in kids]
        if descendants and not force:
            raise AcademyError(
                f"checkpoint {root.id} has {len(descendants)} descendant(s)",
                "delete them first or pass --force",
            )
        doomed = [*reversed(descendants), root]
        delete_dependents(
            session,
            Checkpoint.__tablename__,
            [c.id for c in doomed],
            noun=f"checkpoint {root.id}"
            + (f" (with {len(descendants)} descendant(s))" if descendants else ""),
            cascade=cascade,
            cascadable=("assessment_runs",),
        )
        deleted = []
        for checkpoint in doomed:
            session.delete(checkpoint)
            session.flush()
            deleted.append(checkpoint.id)
        return deleted


def export_checkpoint(session: Session, store: ArtifactStore, checkpoint: Checkpoint, out: Path) -> Path:
    """Write a self-describing folder: the PEFT adapter files (loadable by vLLM and transformers) plus
    ``checkpoint.json`` with the lineage metadata."""
    if out.exists() and any(out.iterdir()):
        raise AcademyError(f"{out} exists and is not empty", "choose a new folder")
    source = adapter_path(session, store, checkpoint)  # verified
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}-", dir=out.parent))
    try:
        if source is not None:
            for file in sorted(source.iterdir()):
                shutil.copy2(file, staging / file.name)
                if sha256_file(staging / file.name) != sha256_file(file):
                    raise ModelLoadError(f"copying {file} to {out} changed its bytes; nothing was exported")
        summary = checkpoint_summary(checkpoint)
        (staging / "checkpoint.json").write_text(json.dumps(summary, indent=2), encoding="utf-8")
        if out.exists():
            out.rmdir()  # empty, checked above
        os.replace(staging, out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return out


def checkpoint_summary(c: Checkpoint) -> dict[str, Any]:
    return {
        "id": c.id,
        "kind": c.kind,
        "specialization": c.specialization_id,
        "base_model": c.base_model,
        "adapter_sha256": c.adapter_sha256,
        "remote_model_id": c.remote_model_id,
        "dataset": c.dataset_id,
        "parent": c.parent_id,
        "hyperparameters": c.hyperparameters,
        "seed": c.seed,
        "metrics": c.metrics,
        "created_at": c.created_at.isoformat() if c.created_at else None,
        "retired": c.retired_by,  # the erasure that retired it (trained on erased data), else None
    }
