"""The contamination guard lives in :mod:`jedi_academy.guard.contamination`; this name stays for callers."""

from jedi_academy.guard.contamination import (
    ContaminationGuard,
    GuardSettings,
    Match,
    Phrase,
    guard_for_all_instruments,
    guard_for_instruments,
    guard_for_specialization,
)

__all__ = [
    "ContaminationGuard",
    "GuardSettings",
    "Match",
    "Phrase",
    "guard_for_all_instruments",
    "guard_for_instruments",
    "guard_for_specialization",
]
