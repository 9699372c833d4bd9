"""Risk content in what either side says: flags a session so that the therapist follows the risk protocol.

The lexicon is package data (``data/risk.yaml``); a match is a reason to look, not a clinical finding.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from importlib import resources

import yaml


@dataclass(frozen=True)
class RiskCategory:
    id: str
    label: str
    patterns: tuple[re.Pattern[str], ...]


@dataclass(frozen=True)
class RiskLexicon:
    version: str
    categories: tuple[RiskCategory, ...]

    def scan(self, text: str) -> list[str]:
        """The ids of the categories whose patterns occur in ``text``, in lexicon order."""
        return [c.id for c in self.categories if any(p.search(text) for p in c.patterns)]

    def label(self, category: str) -> str:
        return next((c.label for c in self.categories if c.id == category), category)


@functools.cache
def risk_lexicon() -> RiskLexicon:
    raw = yaml.safe_load(
        resources.files("jedi_academy.sessions").joinpath("data/risk.yaml").read_text("utf-8")
    )
    categories = tuple(
        RiskCategory(
            id=name,
            label=spec["label"],
            patterns=tuple(re.compile(rf"\b(?:{p})\b", re.IGNORECASE) for p in spec["patterns"]),
        )
        for name, spec in raw["categories"].items()
    )
    return RiskLexicon(str(raw["version"]), categories)
