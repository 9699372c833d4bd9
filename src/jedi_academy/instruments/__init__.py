"""Validated clinical questionnaires: definitions (YAML package data), scoring and change statistics.

Public API (imported lazily, so ``import jedi_academy.instruments`` stays cheap for the CLI)::

    load_instrument(id, data_dir=None) -> Instrument
    list_instruments(data_dir=None) -> list[Instrument]
    instrument_ids() -> tuple[str, ...]
    instruments_for_specialization(specialization) -> list[str]
    score(instrument, responses) -> ScoreResult
    reliable_change(instrument, before, after, *, sd=None, reliability=None, method="auto") -> ChangeResult
    parse_definition(text, source) / load_definition_file(path) -> InstrumentDefinition
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from jedi_academy.lazy import lazy_exports

if TYPE_CHECKING:
    from jedi_academy.instruments.api import (
        instruments_for_specialization,
        list_instruments,
        load_instrument,
        specialization_map,
    )
    from jedi_academy.instruments.change import (
        ChangeResult,
        change_criterion,
        reliable_change,
        reliable_change_index,
    )
    from jedi_academy.instruments.loading import instrument_ids, load_definition_file, parse_definition
    from jedi_academy.instruments.model import Instrument, Item, Option
    from jedi_academy.instruments.problems import DefinitionError, Problem
    from jedi_academy.instruments.schema import InstrumentDefinition
    from jedi_academy.instruments.scoring import ResponseError, ScoreResult, score

_EXPORTS = {
    "load_instrument": "api",
    "list_instruments": "api",
    "instruments_for_specialization": "api",
    "specialization_map": "api",
    "instrument_ids": "loading",
    "parse_definition": "loading",
    "load_definition_file": "loading",
    "Instrument": "model",
    "Item": "model",
    "Option": "model",
    "InstrumentDefinition": "schema",
    "score": "scoring",
    "ScoreResult": "scoring",
    "ResponseError": "scoring",
    "reliable_change": "change",
    "change_criterion": "change",
    "reliable_change_index": "change",
    "ChangeResult": "change",
    "DefinitionError": "problems",
    "Problem": "problems",
}

__all__ = [
    "ChangeResult",
    "DefinitionError",
    "Instrument",
    "InstrumentDefinition",
    "Item",
    "Option",
    "Problem",
    "ResponseError",
    "ScoreResult",
    "change_criterion",
    "instrument_ids",
    "instruments_for_specialization",
    "list_instruments",
    "load_definition_file",
    "load_instrument",
    "parse_definition",
    "reliable_change",
    "reliable_change_index",
    "score",
    "specialization_map",
]


__getattr__ = lazy_exports(__name__, _EXPORTS)
