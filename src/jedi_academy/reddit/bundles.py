"""Per-author bundles: each pseudonymous author's kept comments in one specialization, oldest first.

These are what persona generation reads: :func:`load_author_bundles` is the entry point.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from jedi_academy.errors import AcademyError
from jedi_academy.reddit.layout import DATA_FILE, bundles_file, comments_dir, default_output_dir
from jedi_academy.reddit.private import private_dir, seal

if TYPE_CHECKING:
    import pyarrow as pa

    from jedi_academy.config import Settings


@dataclass(frozen=True)
class BundleComment:
    id: str  # keyed pseudonym of the Reddit comment id
    created: datetime  # UTC
    body: str  # scrubbed
    score: int | None
    subreddit: str


@dataclass(frozen=True)
class AuthorBundle:
    author: str  # HMAC pseudonym
    specialization: str
    comments: tuple[BundleComment, ...]  # oldest first

    @property
    def n_comments(self) -> int:
        return len(self.comments)

    @property
    def comment_ids(self) -> list[str]:
        return [c.id for c in self.comments]


def build_bundles(out: Path, spec_id: str) -> int:
    """Write the bundles file of one specialization from its comments; return the number of authors."""
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    from jedi_academy.reddit.schema import BUNDLE_SCHEMA, COMMENT_SCHEMA

    table = pq.read_table(comments_dir(out, spec_id) / DATA_FILE, schema=COMMENT_SCHEMA)
    table = table.filter(pc.is_valid(table["author"]))
    table = table.sort_by([("author", "ascending"), ("created_utc", "ascending"), ("id", "ascending")])
    bundles = _group(table, BUNDLE_SCHEMA)
    target = bundles_file(out, spec_id)
    private_dir(target.parent.parent)
    private_dir(target.parent)
    tmp = target.with_name(target.name + ".tmp")
    pq.write_table(bundles, tmp, compression="zstd")
    seal(tmp, target)
    return bundles.num_rows


def _group(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """Rows sorted by author -> one row per author with a list of their comments (no Python loop)."""
    import numpy as np
    import pyarrow as pa

    authors = table["author"].combine_chunks()
    n = len(authors)
    if n:
        codes = authors.dictionary_encode().indices.to_numpy(zero_copy_only=False)
        starts = np.flatnonzero(np.concatenate(([True], codes[1:] != codes[:-1])))
    else:
        starts = np.array([], dtype=np.int64)
    offsets = pa.array(np.append(starts, n).astype(np.int32))
    comment_type = schema.field("comments").type.value_type
    structs = pa.StructArray.from_arrays(
        [table[name].combine_chunks() for name in comment_type.names], fields=list(comment_type)
    )
    created = table["created_utc"].combine_chunks()
    ends = np.append(starts[1:], n) - 1 if n else starts
    return pa.table(
        {
            "author": authors.take(pa.array(starts)),
            "n_comments": pa.array(np.diff(np.append(starts, n)).astype(np.int32)),
            "first_utc": created.take(pa.array(starts)),
            "last_utc": created.take(pa.array(ends)),
            "comments": pa.ListArray.from_arrays(offsets, structs),
        },
        schema=schema,
    )


def load_author_bundles(
    settings: Settings,
    specialization: str,
    *,
    out_dir: Path | None = None,
    min_comments: int = 1,
    limit: int | None = None,
) -> list[AuthorBundle]:
    """The author bundles of ``specialization`` from the latest ingest into ``out_dir`` (default
    ``<data_dir>/reddit``): authors with at least ``min_comments`` kept comments, the most prolific first
    (ties by pseudonym, so the order is stable), at most ``limit`` of them."""
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    path = bundles_file(out_dir or default_output_dir(settings), specialization)
    if not path.exists():
        raise AcademyError(
            f"no ingested Reddit data for specialization '{specialization}' (looked for {path})",
            f"run `academy ingest DUMP --specializations {specialization}` first",
        )
    table = pq.read_table(path)
    if min_comments > 1:
        table = table.filter(pc.greater_equal(table["n_comments"], min_comments))
    table = table.sort_by([("n_comments", "descending"), ("author", "ascending")])
    if limit is not None:
        table = table.slice(0, limit)
    return [
        AuthorBundle(
            author=row["author"],
            specialization=specialization,
            comments=tuple(
                BundleComment(
                    id=c["id"],
                    created=c["created_utc"].replace(tzinfo=UTC),
                    body=c["body"],
                    score=c["score"],
                    subreddit=c["subreddit"],
                )
                for c in row["comments"]
            ),
        )
        for row in table.to_pylist()
    ]
