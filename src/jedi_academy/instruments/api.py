"""Finding instruments: by id, all of them, or the ones that fit a specialization."""

from __future__ import annotations

from pathlib import Path

from jedi_academy.instruments.loading import instrument_ids, packaged_definition
from jedi_academy.instruments.model import Instrument, build_instrument
from jedi_academy.instruments.text_import import load_imported_text


def load_instrument(instrument_id: str, data_dir: Path | None = None) -> Instrument:
    """A shipped instrument; with ``data_dir``, text imported there (``instruments import``) is merged in."""
    definition = packaged_definition(instrument_id)
    return build_instrument(definition, load_imported_text(definition, data_dir))


def list_instruments(data_dir: Path | None = None) -> list[Instrument]:
    return [load_instrument(instrument_id, data_dir) for instrument_id in instrument_ids()]


def instruments_for_specialization(specialization: str) -> list[str]:
    """Ids of the shipped instruments mapped to ``specialization`` (e.g. 'ptsd' -> ['pcl-5'])."""
    return [i for i in instrument_ids() if specialization in packaged_definition(i).specializations]


def specialization_map() -> dict[str, list[str]]:
    """specialization -> instrument ids, from the ``specializations`` field of each definition."""
    mapping: dict[str, list[str]] = {}
    for instrument_id in instrument_ids():
        for specialization in packaged_definition(instrument_id).specializations:
            mapping.setdefault(specialization, []).append(instrument_id)
    return mapping
