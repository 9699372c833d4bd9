"""Writing a dataset version out: Mistral fine-tuning JSONL, or a Hugging Face ``datasets`` folder."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from sqlalchemy import select

from jedi_academy.datasets.versions import TRAIN_FILE, VALIDATION_FILE, resolve_version
from jedi_academy.errors import AcademyError
from jedi_academy.store import ArtifactStore, Database
from jedi_academy.store.models import Artifact, Erasure


def export_folder(database: Database, store: ArtifactStore, wanted: str) -> tuple[str, Path, dict[str, Any]]:
    with database.session() as session:
        version = resolve_version(session, wanted)
        if version.export_sha256 is None:
            raise AcademyError(f"dataset version {version.id[:12]} has no export")
        artifact = session.get(Artifact, version.export_sha256)
        assert artifact is not None
        folder = store.path(artifact)
        if not folder.exists():
            erasure = _erased_by(session, version.id)
            if erasure is not None:
                raise AcademyError(
                    f"dataset version {version.id[:12]} held erased conversations: "
                    f"{erasure} deleted its export",
                    "export the version built without them (`academy dataset list`)",
                )
        return version.id, folder, dict(version.stats)


def _erased_by(session: Any, version_id: str) -> str | None:
    """The erasure (`academy erase`) that emptied this version of erased conversations, if any."""
    for erasure in session.scalars(select(Erasure).order_by(Erasure.created_at)):
        if version_id in erasure.summary.get("dataset_versions", []):
            return erasure.id
    return None


def export_mistral(folder: Path, out: Path) -> list[Path]:
    """``out`` gets the training split; a validation split goes beside it as ``<name>.validation.jsonl``."""
    if out.suffix != ".jsonl":
        raise AcademyError(f"{out}: the Mistral export must be a .jsonl file")
    out.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(folder / TRAIN_FILE, out)
    written = [out]
    validation = folder / VALIDATION_FILE
    if validation.is_file() and validation.stat().st_size > 0:
        target = out.with_name(out.stem + ".validation.jsonl")
        shutil.copyfile(validation, target)
        written.append(target)
    return written


def export_hf(folder: Path, out: Path) -> list[Path]:
    """Parquet files under ``data/`` named by split: ``datasets.load_dataset(out)`` reads a DatasetDict."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    if out.exists() and any(out.iterdir()):
        raise AcademyError(f"{out} exists and is not empty", "choose a new folder")
    (out / "data").mkdir(parents=True, exist_ok=True)
    written = []
    for split, name in (("train", TRAIN_FILE), ("validation", VALIDATION_FILE)):
        path = folder / name
        records = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
        if not records:
            continue
        table = pa.table({"messages": [r["messages"] for r in records]})
        target = out / "data" / f"{split}-00000-of-00001.parquet"
        pq.write_table(table, target)
        written.append(target)
    return written
