"""Specializations: clinical focus areas mapped to subreddits and instruments (YAML package data).

Public API (imported lazily, so the CLI stays fast)::

    load_specializations(settings=None, extra_dirs=()) -> dict[str, Specialization]
    get_specialization(spec_id, settings=None, extra_dirs=()) -> Specialization
    select_specializations(selection, available) -> list[Specialization]
    parse_specialization(text, source) / load_specialization_file(path) -> Specialization
    sync_specializations(database, specs) -> SyncResult
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from jedi_academy.lazy import lazy_exports

if TYPE_CHECKING:
    from jedi_academy.specializations.loading import (
        SpecializationError,
        get_specialization,
        load_specialization_file,
        load_specializations,
        parse_specialization,
        select_specializations,
    )
    from jedi_academy.specializations.model import Specialization
    from jedi_academy.specializations.sync import SyncResult, sync_specializations

_EXPORTS = {
    "Specialization": "model",
    "SpecializationError": "loading",
    "get_specialization": "loading",
    "load_specialization_file": "loading",
    "load_specializations": "loading",
    "parse_specialization": "loading",
    "select_specializations": "loading",
    "SyncResult": "sync",
    "sync_specializations": "sync",
}

__all__ = [
    "Specialization",
    "SpecializationError",
    "SyncResult",
    "get_specialization",
    "load_specialization_file",
    "load_specializations",
    "parse_specialization",
    "select_specializations",
    "sync_specializations",
]


__getattr__ = lazy_exports(__name__, _EXPORTS)
