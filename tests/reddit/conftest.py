from __future__ import annotations

import pytest

from jedi_academy.reddit.bz2_parallel import indexed_bzip2_available, lbzip2_path


def bz2_decoders() -> list[object]:
    """Every bz2 decoder; the ones this machine lacks are skipped, not silently dropped."""
    return [
        "python",
        pytest.param(
            "indexed_bzip2", marks=pytest.mark.skipif(not indexed_bzip2_available(), reason="no indexed_bzip2")
        ),
        pytest.param("lbzip2", marks=pytest.mark.skipif(lbzip2_path() is None, reason="lbzip2 not installed")),
    ]
