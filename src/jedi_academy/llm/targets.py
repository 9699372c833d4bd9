"""From a checkpoint row to what serves it: the one mapping checkpoint -> (backend, model, adapter, base_url)
that sessions, assessment and `academy chat` share, with the adapter verified against its recorded hash.

Below the stages that load checkpoints (sessions, assessment) and the one that makes them (finetune, which
re-exports these names), so that none of them imports a stage above it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session

from jedi_academy.errors import AcademyError, ModelLoadError
from jedi_academy.store import ArtifactStore
from jedi_academy.store.lookup import id_or_prefix_matches
from jedi_academy.store.models import Artifact, Checkpoint
from jedi_academy.store.retirement import refuse_retired

if TYPE_CHECKING:
    from jedi_academy.config import Settings


def get_checkpoint(session: Session, wanted: str) -> Checkpoint:
    """By full id or unique prefix."""
    matches = id_or_prefix_matches(session, Checkpoint, wanted)
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise AcademyError(f"no checkpoint {wanted!r}", "see `academy checkpoints list`")
    raise AcademyError(f"checkpoint prefix {wanted!r} is ambiguous", "give more characters of the id")


def adapter_path(session: Session, store: ArtifactStore, checkpoint: Checkpoint) -> Path | None:
    """The checkpoint's adapter folder, verified against its recorded hash (every load and export). A retired
    checkpoint is refused: nothing loads or serves a model trained on erased data."""
    refuse_retired(checkpoint)
    if checkpoint.adapter_sha256 is None:
        return None
    artifact = session.get(Artifact, checkpoint.adapter_sha256)
    assert artifact is not None  # foreign key
    path = store.path(artifact)
    if not path.is_dir():
        raise ModelLoadError(f"the adapter of checkpoint {checkpoint.id} is missing from {path}")
    if not store.verify(artifact):
        raise ModelLoadError(
            f"the adapter of checkpoint {checkpoint.id} in {path} does not match its recorded hash "
            f"{artifact.sha256[:12]} (corrupted or edited); refusing to load it",
            "restore the folder from an export or a backup, or delete the checkpoint and train it again",
        )
    return path


@dataclass(frozen=True)
class CheckpointTarget:
    """What serves a checkpoint, for every face that loads one (sessions, assessment, `academy chat`): the
    backend and model to open, the ``adapter=`` argument (the adapter folder on the local backend, its served
    name on a server, None without an adapter) and the server URL."""

    checkpoint_id: str
    kind: str
    backend: str
    model: str
    adapter: str | None
    base_url: str | None
    adapter_sha256: str | None


def resolve_checkpoint(
    session: Session, settings: Settings, checkpoint: Checkpoint | str
) -> CheckpointTarget:
    """The one checkpoint -> (backend, model, adapter, base_url) mapping. A remote fine-tune runs on the
    mistral backend; a local one on the configured backend with its base model, its adapter verified against
    the recorded hash first (:func:`adapter_path`)."""
    from jedi_academy.llm.adapters import adapter_for_backend

    row = get_checkpoint(session, checkpoint) if isinstance(checkpoint, str) else checkpoint
    refuse_retired(row)
    if row.kind == "remote":
        model = row.remote_model_id or ""
        return CheckpointTarget(row.id, row.kind, "mistral", model, None, settings.base_url, None)
    folder = adapter_path(session, ArtifactStore(settings.data_dir), row)
    adapter = adapter_for_backend(settings.backend, row.id, folder)
    return CheckpointTarget(
        row.id, row.kind, settings.backend, row.base_model, adapter, settings.base_url, row.adapter_sha256
    )
