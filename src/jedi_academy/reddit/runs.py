"""The ``ingest_runs`` rows: one per run, updated when it stops, resumed, or completes."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from jedi_academy.store import Database

HEAD_BYTES = 1 << 20


def describe_input(path: Path, fmt: str) -> dict[str, Any]:
    """Identity of an input: path, size, and SHA-256 of its first MiB (hashing 5 GB would take a minute)."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        digest.update(handle.read(HEAD_BYTES))
    return {
        "path": str(path.resolve()),
        "name": path.name,
        "size": path.stat().st_size,
        "head_sha256": digest.hexdigest(),
        "format": fmt,
    }


def start_run(
    database: Database,
    inputs: list[dict[str, Any]],
    specializations: list[str],
    rules: dict[str, Any],
    output_dir: Path,
) -> int:
    from jedi_academy.store.models import IngestRun

    with database.session() as session:
        row = IngestRun(
            status="running",
            inputs=inputs,
            specializations=specializations,
            rules=rules,
            counts={},
            output_dir=str(output_dir.resolve()),
        )
        session.add(row)
        session.flush()
        return row.id


def reopen_run(database: Database, run_id: int | None, **fresh: Any) -> int:
    """Mark a stopped run as running again; start a new row if it is gone (another database, say)."""
    from jedi_academy.store.models import IngestRun

    with database.session() as session:
        row = session.get(IngestRun, run_id) if run_id is not None else None
        if row is not None:
            row.status = "running"
            row.error = None
            row.finished_at = None
            row.inputs = fresh["inputs"]  # a re-downloaded file has the same first MiB but a new size
            return row.id
    return start_run(database, **fresh)


def finish_run(
    database: Database,
    run_id: int,
    *,
    status: str,
    counts: dict[str, Any],
    duration_s: float,
    error: str | None = None,
) -> None:
    from jedi_academy.store.models import IngestRun

    with database.session() as session:
        row = session.get(IngestRun, run_id)
        if row is None:
            return
        row.status = status
        row.counts = counts
        row.error = error
        row.duration_s = round(duration_s, 3)
        row.finished_at = datetime.now(UTC)
