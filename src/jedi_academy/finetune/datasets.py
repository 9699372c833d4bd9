"""Finding the training data of a dataset version.

A dataset version's Mistral export is a folder artifact holding ``train.jsonl`` and ``validation.jsonl``
(the persona-disjoint split). ``--dataset`` also accepts a JSONL file, which is imported as a dataset version
of its own (content-addressed, so importing the same file twice gives the same version).
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from jedi_academy.datasets.versions import TRAIN_FILE, VALIDATION_FILE, resolve_version
from jedi_academy.errors import AcademyError
from jedi_academy.finetune.data import read_conversations
from jedi_academy.store import ArtifactStore, Database
from jedi_academy.store.ledger import append_record
from jedi_academy.store.models import Artifact, DatasetVersion


@dataclass(frozen=True)
class TrainingData:
    dataset_id: str
    specialization_id: str | None
    folder: Path
    train: list[list[dict]]
    validation: list[list[dict]]


def _read_folder(folder: Path) -> tuple[list[list[dict]], list[list[dict]]]:
    train = read_conversations(folder / TRAIN_FILE)
    validation_path = folder / VALIDATION_FILE
    has_validation = validation_path.is_file() and validation_path.stat().st_size > 0
    validation = read_conversations(validation_path) if has_validation else []
    return train, validation


def import_jsonl(
    database: Database,
    store: ArtifactStore,
    train_file: Path,
    validation_file: Path | None,
    specialization: str | None,
) -> str:
    """Register JSONL files as a dataset version; returns its id."""
    for path in (train_file, validation_file):
        if path is not None and not path.is_file():
            raise AcademyError(f"dataset file {path} does not exist")
    train = read_conversations(train_file)  # validated before anything is copied or registered
    validation = read_conversations(validation_file) if validation_file is not None else []
    staging = Path(tempfile.mkdtemp())
    try:
        shutil.copyfile(train_file, staging / TRAIN_FILE)
        if validation_file is not None:
            shutil.copyfile(validation_file, staging / VALIDATION_FILE)
        ref = store.put_dir(staging, "dataset-export")
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    with database.session() as session:
        if session.get(DatasetVersion, ref.sha256) is None:
            store.register(session, ref)
            session.flush()
            version = DatasetVersion(
                id=ref.sha256,
                specializations=[specialization] if specialization else [],
                stats={"source": str(train_file), "train": len(train), "validation": len(validation)},
                export_sha256=ref.sha256,
            )
            session.add(version)
            append_record(session, version)
    return ref.sha256


def load_training_data(
    database: Database,
    store: ArtifactStore,
    reference: str,
    *,
    validation_file: Path | None = None,
    specialization: str | None = None,
) -> TrainingData:
    path = Path(reference)
    if reference.endswith(".jsonl") or path.is_file():
        reference = import_jsonl(database, store, path, validation_file, specialization)
    with database.session() as session:
        version = resolve_version(session, reference)
        if version.export_sha256 is None:
            raise AcademyError(f"dataset version {version.id[:12]} has no training export", "rebuild it")
        artifact = session.get(Artifact, version.export_sha256)
        assert artifact is not None
        folder = store.path(artifact)
        specializations = list(version.specializations)
        dataset_id = version.id
    train, validation = _read_folder(folder)
    chosen = specialization or (specializations[0] if len(specializations) == 1 else None)
    return TrainingData(dataset_id, chosen, folder, train, validation)
