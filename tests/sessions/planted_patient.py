"""A patient that decides: a planted tiny model (weights set directly, tests/assessment/planted.py) that
answers every question with the whole reply "Yes" (probability ``p_yes``) or "No" and then ends, so its
preference mass P(yes) + P(no) is close to 1 and its p_accept close to ``p_yes``, whatever the phrasing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.assessment.planted import planted_llm, reply_tokens


def yes_no_patient(model_dir: Path, probe: Any, p_yes: float = 0.8) -> Any:
    """``probe``: any loaded model of ``model_dir`` (for its chat format, to find the reply tokens)."""
    start, yes, end = reply_tokens(probe, "Yes")
    start_no, no, end_no = reply_tokens(probe, "No")
    assert (start, end) == (start_no, end_no)  # one token each: [/INST] -> word -> </s>
    return planted_llm(model_dir, {start: {yes: p_yes, no: 1.0 - p_yes}, yes: end, no: end})
