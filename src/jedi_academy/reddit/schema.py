"""Parquet schemas of the ingestion output."""

from __future__ import annotations

import pyarrow as pa

COMMENT_SCHEMA = pa.schema(
    [
        pa.field("id", pa.string(), nullable=False),
        pa.field("author", pa.string()),  # HMAC pseudonym; null for deleted accounts
        pa.field("subreddit", pa.string(), nullable=False),
        pa.field("created_utc", pa.timestamp("s", tz="UTC"), nullable=False),
        pa.field("score", pa.int64()),
        pa.field("body", pa.string(), nullable=False),  # scrubbed
    ]
)

BUNDLE_COMMENT = pa.struct(
    [
        pa.field("id", pa.string(), nullable=False),
        pa.field("created_utc", pa.timestamp("s", tz="UTC"), nullable=False),
        pa.field("body", pa.string(), nullable=False),
        pa.field("score", pa.int64()),
        pa.field("subreddit", pa.string(), nullable=False),
    ]
)

BUNDLE_SCHEMA = pa.schema(
    [
        pa.field("author", pa.string(), nullable=False),
        pa.field("n_comments", pa.int32(), nullable=False),
        pa.field("first_utc", pa.timestamp("s", tz="UTC"), nullable=False),
        pa.field("last_utc", pa.timestamp("s", tz="UTC"), nullable=False),
        pa.field("comments", pa.list_(pa.field("comment", BUNDLE_COMMENT, nullable=False)), nullable=False),
    ]
)
