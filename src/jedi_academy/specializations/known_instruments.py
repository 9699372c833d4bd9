"""Instrument ids a specialization may refer to."""

from __future__ import annotations

import functools

# The library shipped with the first release; used when the instruments package cannot be read.
FALLBACK_INSTRUMENT_IDS = frozenset({"phq-9", "gad-7", "pcl-5", "aq-10", "npi-16", "asrs-v1.1-a"})


@functools.cache
def known_instrument_ids() -> frozenset[str]:
    """Ids from the instrument library, or the fixed first-release set if that library is unavailable."""
    try:
        from jedi_academy.instruments import instrument_ids

        ids = frozenset(instrument_ids())
    except Exception:  # a broken or missing instrument library must not stop specializations loading
        return FALLBACK_INSTRUMENT_IDS
    return ids or FALLBACK_INSTRUMENT_IDS
