"""Seeds derived from a session's seed, identical in every process (no Python ``hash``)."""

from __future__ import annotations

import hashlib

import numpy as np


def derive_seed(session_seed: int, purpose: str, *index: int) -> int:
    """A 31-bit seed for one purpose ("reply", "extract", ...) at one position of a session."""
    key = ":".join([str(session_seed), purpose, *(str(i) for i in index)])
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:4], "big") & 0x7FFFFFFF


def acceptance_draw(session_seed: int, recommendation_index: int) -> float:
    """u ~ U(0, 1) from a generator seeded by (session seed, recommendation index)."""
    generator = np.random.default_rng([session_seed & 0xFFFFFFFF, recommendation_index])
    return float(generator.random())
