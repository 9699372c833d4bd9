"""The right to be forgotten (`academy erase`): remove an author's or a comment's words and everything made
from them, retire the checkpoints trained on them, and leave a tombstone in the ledger (docs/ingestion.md,
Privacy). Exports load on first use: the CLI imports this package on every start."""

from __future__ import annotations

from typing import TYPE_CHECKING

from jedi_academy.lazy import lazy_exports

if TYPE_CHECKING:
    from jedi_academy.erasure.requests import ErasureRequest, read_removal_list
    from jedi_academy.erasure.service import ErasureResult, erase

_EXPORTS = {
    "ErasureRequest": "requests",
    "read_removal_list": "requests",
    "ErasureResult": "service",
    "erase": "service",
}

__all__ = ["ErasureRequest", "ErasureResult", "erase", "read_removal_list"]

__getattr__ = lazy_exports(__name__, _EXPORTS)
