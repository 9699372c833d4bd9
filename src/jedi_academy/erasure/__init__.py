"""The right to be forgotten (`academy erase`): remove an author's or a comment's words and everything made
from them, retire the checkpoints trained on them, and leave a tombstone in the ledger (docs/ingestion.md,
Privacy)."""

from jedi_academy.erasure.requests import ErasureRequest, read_removal_list
from jedi_academy.erasure.service import ErasureResult, erase

__all__ = ["ErasureRequest", "ErasureResult", "erase", "read_removal_list"]
