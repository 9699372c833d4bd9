"""Tiny dumps in the 2015 schema, written in every format ingest reads."""

from __future__ import annotations

import bz2
import gzip
import io
import json
import lzma
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import zstandard

LONG_BODY = "I have been struggling with this for weeks and finally wanted to share it here."


def comment(n: int = 0, **overrides: Any) -> dict[str, Any]:
    """A comment with all 21 fields of RC_2015-01 (created_utc quoted, as in 2015)."""
    cid = f"cn{n:05d}"
    base: dict[str, Any] = {
        "score_hidden": False,
        "name": f"t1_{cid}",
        "link_id": "t3_2qyr1a",
        "body": f"{LONG_BODY} ({n})",
        "downs": 0,
        "created_utc": str(1420070400 + n * 60),
        "score": 3,
        "author": f"user{n}",
        "distinguished": None,
        "id": cid,
        "archived": False,
        "parent_id": "t3_2qyr1a",
        "subreddit": "ADHD",
        "author_flair_css_class": "flair-css",
        "author_flair_text": "Diagnosed 2012",
        "gilded": 0,
        "retrieved_on": 1425124282,
        "ups": 3,
        "controversiality": 0,
        "subreddit_id": "t5_2qnwb",
        "edited": False,
    }
    base.update(overrides)
    return base


def ndjson(comments: Iterable[dict[str, Any] | str | bytes]) -> bytes:
    """Compact JSON lines; str/bytes items are written verbatim (for malformed lines)."""
    out = io.BytesIO()
    for item in comments:
        if isinstance(item, dict):
            out.write(json.dumps(item, separators=(",", ":")).encode())
        else:
            out.write(item.encode() if isinstance(item, str) else item)
        out.write(b"\n")
    return out.getvalue()


def compress(data: bytes, fmt: str) -> bytes:
    if fmt == "plain":
        return data
    if fmt == "bz2":
        return bz2.compress(data)
    if fmt == "bz2-multi":  # as pbzip2 writes: independent streams back to back
        half = data.rfind(b"\n", 0, len(data) // 2) + 1
        return bz2.compress(data[:half]) + bz2.compress(data[half:])
    if fmt == "gz":
        half = len(data) // 2
        return gzip.compress(data[:half]) + gzip.compress(data[half:])  # two members
    if fmt == "xz":
        return lzma.compress(data, format=lzma.FORMAT_XZ, preset=0)
    if fmt == "zst":
        # Like the Pushshift/Arctic Shift dumps: a 2 GiB window, which default decoders refuse.
        params = zstandard.ZstdCompressionParameters.from_level(3, window_log=31, enable_ldm=True)
        buf = io.BytesIO()
        with zstandard.ZstdCompressor(compression_params=params).stream_writer(buf, closefd=False) as writer:
            writer.write(data)
        return buf.getvalue()
    raise ValueError(fmt)


SUFFIX = {"plain": ".ndjson", "bz2": ".bz2", "bz2-multi": ".bz2", "gz": ".gz", "xz": ".xz", "zst": ".zst"}


def write_dump(
    folder: Path,
    comments: Iterable[dict[str, Any] | str | bytes],
    fmt: str = "plain",
    name: str = "RC_2015-01",
) -> Path:
    path = folder / f"{name}{SUFFIX[fmt]}"
    path.write_bytes(compress(ndjson(comments), fmt))
    return path
