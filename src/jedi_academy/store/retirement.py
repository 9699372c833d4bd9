"""Retired checkpoints: trained on data that was erased (`academy erase`). They stay in the lineage (their
ledger entries and the records that name them are history), but nothing opens a case on them, loads them or
serves them. Every place that does calls :func:`refuse_retired`, so the refusal reads the same everywhere."""

from __future__ import annotations

from jedi_academy.errors import AcademyError
from jedi_academy.store.models import Checkpoint


def is_retired(checkpoint: Checkpoint) -> bool:
    return checkpoint.retired_at is not None


def refuse_retired(checkpoint: Checkpoint) -> None:
    """Raise the one-line refusal when ``checkpoint`` is retired."""
    if checkpoint.retired_at is None:
        return
    raise AcademyError(
        f"checkpoint {checkpoint.id} is retired: it was trained on data erased by {checkpoint.retired_by}",
        "use a checkpoint trained without it (`academy checkpoints list` marks retired ones)",
    )
