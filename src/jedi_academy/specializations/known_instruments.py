"""Instrument ids a specialization may refer to: the instrument library's, and nothing else.

There is no fall-back list: a library that cannot be read is a broken installation, and hiding it behind a
fixed set of ids would let specializations name instruments that cannot be administered. Its error (naming the
file) reaches the user as it is; an empty library is refused here.
"""

from __future__ import annotations

import functools

from jedi_academy.errors import ConfigError


@functools.cache
def known_instrument_ids() -> frozenset[str]:
    """Ids from the instrument library (``jedi_academy.instruments``)."""
    from jedi_academy.instruments import instrument_ids

    ids = frozenset(instrument_ids())
    if not ids:
        raise ConfigError(
            "the instrument library is empty: no specialization can name an instrument",
            "the installation is incomplete; reinstall the package (make install)",
        )
    return ids
