from __future__ import annotations

from typing import Any

import pytest

from jedi_academy.reddit.bz2_parallel import indexed_bzip2_available, lbzip2_path


def bz2_decoders(prefix: str = "") -> list[Any]:
    """Every bz2 decoder as a test parameter; those this machine lacks are skipped, not silently dropped."""
    missing = {"python": False, "indexed_bzip2": not indexed_bzip2_available(), "lbzip2": not lbzip2_path()}
    return [
        pytest.param(prefix + name, marks=pytest.mark.skipif(bool(absent), reason=f"{name} is not installed"))
        for name, absent in missing.items()
    ]
