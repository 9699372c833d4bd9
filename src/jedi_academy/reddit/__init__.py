"""Reddit ingestion: stream Pushshift dumps, keep the specializations' subreddits, pseudonymise, scrub.

Public API (imported lazily, so the CLI stays fast)::

    ingest(settings, options, *, progress=None, stop=None, warn=None) -> IngestResult
    IngestOptions, IngestResult, KeepRules
    load_author_bundles(settings, specialization, *, out_dir=None, min_comments=1, limit=None)
        -> list[AuthorBundle]
    AuthorBundle(author, specialization, comments), BundleComment(id, created, body, score, subreddit)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from jedi_academy.lazy import lazy_exports

if TYPE_CHECKING:
    from jedi_academy.reddit.bundles import AuthorBundle, BundleComment, load_author_bundles
    from jedi_academy.reddit.errors import DumpReadError, IngestInterrupted
    from jedi_academy.reddit.pipeline import IngestOptions, IngestResult, ingest
    from jedi_academy.reddit.rules import KeepRules

_EXPORTS = {
    "AuthorBundle": "bundles",
    "BundleComment": "bundles",
    "load_author_bundles": "bundles",
    "DumpReadError": "errors",
    "IngestInterrupted": "errors",
    "IngestOptions": "pipeline",
    "IngestResult": "pipeline",
    "ingest": "pipeline",
    "KeepRules": "rules",
}

__all__ = [
    "AuthorBundle",
    "BundleComment",
    "DumpReadError",
    "IngestInterrupted",
    "IngestOptions",
    "IngestResult",
    "KeepRules",
    "ingest",
    "load_author_bundles",
]


__getattr__ = lazy_exports(__name__, _EXPORTS)
