"""The ingested comments (Parquet, docs/ingestion.md#output): finding an erasure's comments in every ingest
output folder, and rewriting the files without them (the per-author bundles are rebuilt from the result)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from jedi_academy.reddit.layout import COMMENTS, DATA_FILE


@dataclass
class CommentMatches:
    ids: set[str] = field(default_factory=set)  # pseudonyms of the comments to remove
    by_file: dict[Path, int] = field(default_factory=dict)  # data.parquet -> how many it holds


def comment_files(folders: list[Path]) -> list[Path]:
    """Every ``comments/specialization=*/data.parquet`` under the ingest output folders."""
    found: list[Path] = []
    for folder in folders:
        found += sorted((folder / COMMENTS).glob(f"specialization=*/{DATA_FILE}"))
    return found


def _removed_mask(table, authors: set[str], comments: set[str]):
    import pyarrow as pa
    import pyarrow.compute as pc

    by_author = pc.is_in(table["author"], value_set=pa.array(sorted(authors), pa.string()))
    by_id = pc.is_in(table["id"], value_set=pa.array(sorted(comments), pa.string()))
    return pc.or_(pc.fill_null(by_author, False), by_id)


def find_comments(folders: list[Path], authors: set[str], comments: set[str]) -> CommentMatches:
    """The comments written by ``authors`` or named in ``comments`` (pseudonyms), per file."""
    import pyarrow.parquet as pq

    matches = CommentMatches()
    for path in comment_files(folders):
        table = pq.read_table(path, columns=["id", "author"])
        chosen = table.filter(_removed_mask(table, authors, comments))
        if chosen.num_rows:
            matches.by_file[path] = chosen.num_rows
            matches.ids.update(chosen["id"].to_pylist())
    return matches


def rewrite_without(path: Path, comment_ids: set[str]) -> int:
    """Rewrite one comments file without ``comment_ids`` (atomically, 0600) and rebuild the bundles of its
    specialization; returns how many rows went. A file already without them is left alone (a re-run)."""
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    from jedi_academy.reddit.bundles import build_bundles
    from jedi_academy.reddit.private import seal
    from jedi_academy.reddit.schema import COMMENT_SCHEMA

    table = pq.read_table(path, schema=COMMENT_SCHEMA)
    removed = _removed_mask(table, set(), comment_ids)
    count = int(pc.sum(removed).as_py() or 0)
    if not count:
        return 0
    kept = table.filter(pc.invert(removed))
    tmp = path.with_name(path.name + ".erasing")
    pq.write_table(kept, tmp)
    seal(tmp, path)
    out = path.parent.parent.parent  # <out>/comments/specialization=<id>/data.parquet
    build_bundles(out, path.parent.name.split("=", 1)[1])
    return count
