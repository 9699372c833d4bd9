"""Kept comments go to Parquet part files per specialization; at the end of a run the parts of each
specialization are merged into one file."""

from __future__ import annotations

import os
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from jedi_academy.reddit.layout import DATA_FILE, comments_dir
from jedi_academy.reddit.schema import COMMENT_SCHEMA

FLUSH_ROWS = 50_000
COLUMNS = tuple(COMMENT_SCHEMA.names)


class CommentWriter:
    """Buffers rows per specialization and writes them as numbered part files.

    ``parts`` lists the files written so far per specialization; a checkpoint records it, and on resume any
    file not listed (written after the last checkpoint) is deleted."""

    def __init__(self, out: Path, spec_ids: list[str], parts: dict[str, list[str]] | None = None) -> None:
        self.out = out
        self.parts: dict[str, list[str]] = {s: list((parts or {}).get(s, [])) for s in spec_ids}
        self._rows: dict[str, dict[str, list[object]]] = {s: _empty() for s in spec_ids}
        self._next = 1 + max(
            (_part_number(name) for names in self.parts.values() for name in names), default=0
        )
        for spec_id in spec_ids:
            folder = comments_dir(out, spec_id)
            folder.mkdir(parents=True, exist_ok=True)
            keep = set(self.parts[spec_id])
            for stale in folder.glob("*.parquet*"):
                if stale.name not in keep:
                    stale.unlink()

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
        name = f"part-{self._next:05d}.parquet"
        self._next += 1
        _write_atomically(table, comments_dir(self.out, spec_id) / name)
        self.parts[spec_id].append(name)
        self._rows[spec_id] = _empty()

    def merge(self) -> dict[str, int]:
        """Merge each specialization's parts into ``data.parquet`` (written even when empty); return the row
        count per specialization."""
        self.flush()
        rows: dict[str, int] = {}
        for spec_id, names in self.parts.items():
            folder = comments_dir(self.out, spec_id)
            rows[spec_id] = _concatenate([folder / name for name in names], folder / DATA_FILE)
            for name in names:
                if name != DATA_FILE:
                    (folder / name).unlink(missing_ok=True)
            self.parts[spec_id] = [DATA_FILE]
        return rows


def _concatenate(sources: list[Path], target: Path) -> int:
    """One file from many, one source in memory at a time."""
    tmp = target.with_name(target.name + ".tmp")
    total = 0
    with pq.ParquetWriter(tmp, COMMENT_SCHEMA, compression="zstd") as writer:
        for source in sources:
            table = pq.read_table(source, schema=COMMENT_SCHEMA)
            writer.write_table(table)
            total += table.num_rows
    os.replace(tmp, target)
    return total


def _empty() -> dict[str, list[object]]:
    return {name: [] for name in COLUMNS}


def _part_number(name: str) -> int:
    stem = name.removesuffix(".parquet")
    return int(stem[5:]) if stem.startswith("part-") and stem[5:].isdigit() else 0


def _write_atomically(table: pa.Table, path: Path) -> None:
    tmp = path.with_name(path.name + ".tmp")
    pq.write_table(table, tmp, compression="zstd")
    os.replace(tmp, path)
