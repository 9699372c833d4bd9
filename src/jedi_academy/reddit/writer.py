"""Kept comments go to Parquet part files per specialization; at the end of a run the parts of each
specialization are compacted into one file, ``data.parquet``.

Every file is written under a fresh name and then named in a checkpoint; nothing a committed checkpoint
names is changed or deleted until a later checkpoint no longer names it. The checkpoint records each file's
row count and SHA-256, so a resumed run verifies what it continues from.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from jedi_academy.errors import AcademyError
from jedi_academy.reddit import faults
from jedi_academy.reddit.checkpoint import file_sha256
from jedi_academy.reddit.layout import COMMENTS, DATA_FILE, comments_dir
from jedi_academy.reddit.private import private_dir, seal, sync_dir
from jedi_academy.reddit.schema import COMMENT_SCHEMA

FLUSH_ROWS = 50_000
COLUMNS = tuple(COMMENT_SCHEMA.names)
RESUME_HINT = "run without --resume to start over"


class CommentWriter:
    """Buffers rows per specialization and writes them as numbered part files.

    ``parts`` lists the files written so far per specialization as ``{"name", "rows", "sha256"}``; a
    checkpoint records it. On resume, every listed file is verified (a listed file that was renamed, as the
    last step of compaction does, is found again by its SHA-256) and every other file is deleted."""

    def __init__(
        self, out: Path, spec_ids: list[str], parts: dict[str, list[dict[str, Any]]] | None = None
    ) -> None:
        self.out = out
        self.parts: dict[str, list[dict[str, Any]]] = {
            s: [dict(entry) for entry in (parts or {}).get(s, [])] for s in spec_ids
        }
        self._rows: dict[str, dict[str, list[object]]] = {s: _empty() for s in spec_ids}
        private_dir(out / COMMENTS)
        for spec_id in spec_ids:
            self._adopt(spec_id)
        self._next = 1 + max(
            (_part_number(entry["name"]) for entries in self.parts.values() for entry in entries), default=0
        )

    def _adopt(self, spec_id: str) -> None:
        folder = private_dir(comments_dir(self.out, spec_id))
        present = {path.name: path for path in folder.iterdir() if path.is_file()}
        claimed: set[str] = set()
        for entry in self.parts[spec_id]:
            name = entry["name"]
            if name in present and file_sha256(present[name]) == entry["sha256"]:
                claimed.add(name)
                continue
            twin = next(
                (
                    other
                    for other, path in present.items()
                    if other not in claimed
                    and other != name
                    and other.endswith(".parquet")
                    and file_sha256(path) == entry["sha256"]
                ),
                None,
            )
            if twin is None:
                raise AcademyError(
                    f"{folder / name}, which the checkpoint lists, is missing or was changed", RESUME_HINT
                )
            entry["name"] = twin
            claimed.add(twin)
        for name, path in present.items():
            if name not in claimed:
                path.unlink()

    def add(self, spec_id: str, row: tuple[object, ...]) -> None:
        columns = self._rows[spec_id]
        for name, value in zip(COLUMNS, row, strict=True):
            columns[name].append(value)
        if len(columns["id"]) >= FLUSH_ROWS:
            self._flush(spec_id)

    def flush(self) -> None:
        """Write every buffered row (before a checkpoint)."""
        for spec_id in self._rows:
            self._flush(spec_id)

    def _flush(self, spec_id: str) -> None:
        columns = self._rows[spec_id]
        if not columns["id"]:
            return
        table = pa.table(columns, schema=COMMENT_SCHEMA)
        self.parts[spec_id].append(self._write([table], spec_id))
        self._rows[spec_id] = _empty()
        faults.step("writer.part-written")

    def _write(self, tables: list[Callable[[], pa.Table]] | list[pa.Table], spec_id: str) -> dict[str, Any]:
        """A new numbered part holding ``tables`` in order (each a table, or a function that reads one, so
        that compaction holds one source in memory at a time)."""
        name = f"part-{self._next:05d}.parquet"
        self._next += 1
        target = comments_dir(self.out, spec_id) / name
        tmp = target.with_name(name + ".tmp")
        rows = 0
        with pq.ParquetWriter(tmp, COMMENT_SCHEMA, compression="zstd") as writer:
            for source in tables:
                table = source() if callable(source) else source
                writer.write_table(table)
                rows += table.num_rows
        seal(tmp, target)
        return {"name": name, "rows": rows, "sha256": file_sha256(target)}

    def compact(self, commit: Callable[[], None]) -> dict[str, int]:
        """Turn each specialization's parts into one ``data.parquet`` (written even when empty); return the
        row count per specialization. ``commit`` saves a checkpoint; it runs after every step that changes
        which files hold the rows, before anything the previous checkpoint named is deleted."""
        self.flush()
        commit()
        rows: dict[str, int] = {}
        for spec_id in self.parts:
            folder = comments_dir(self.out, spec_id)
            entries = self.parts[spec_id]
            if len(entries) != 1:
                sources = [_reader(folder / entry["name"]) for entry in entries]
                merged = self._write(sources, spec_id)
                faults.step("writer.merged-written")
                self.parts[spec_id] = [merged]
                commit()
                for entry in entries:
                    (folder / entry["name"]).unlink(missing_ok=True)
                sync_dir(folder)
                faults.step("writer.parts-deleted")
            [entry] = self.parts[spec_id]
            if entry["name"] != DATA_FILE:
                (folder / entry["name"]).replace(folder / DATA_FILE)
                sync_dir(folder)
                faults.step("writer.renamed")
                entry["name"] = DATA_FILE
                commit()
            rows[spec_id] = entry["rows"]
        return rows


def _reader(path: Path) -> Callable[[], pa.Table]:
    return lambda: pq.read_table(path, schema=COMMENT_SCHEMA)


def _empty() -> dict[str, list[object]]:
    return {name: [] for name in COLUMNS}


def _part_number(name: str) -> int:
    stem = name.removesuffix(".parquet")
    return int(stem[5:]) if stem.startswith("part-") and stem[5:].isdigit() else 0
