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


@pytest.fixture(autouse=True)
def no_fsync(monkeypatch: pytest.MonkeyPatch) -> None:
    """Kill-safety does not need fsync (the kernel keeps what a killed process wrote); power-cut safety
    does, and cannot be tested here. Without it the many tiny checkpoints of these tests wait on the disk."""
    monkeypatch.setenv("ACADEMY_INGEST_FSYNC", "0")
