"""The MITI 4.2.1 behaviour codes, global ratings and thresholds the feedback stage uses (package YAML)."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from importlib import resources
from typing import Literal

import yaml

Adherence = Literal["mi_adherent", "mi_non_adherent", "neutral"]
ANNOMI_CLASSES = ("reflection", "question", "therapist_input", "other")
REFLECTIONS = ("simple_reflection", "complex_reflection")


@dataclass(frozen=True)
class BehaviourCode:
    id: str
    label: str
    adherence: Adherence
    annomi: str
    description: str


@dataclass(frozen=True)
class GlobalScale:
    id: str
    label: str
    group: Literal["technical", "relational"]
    rubric: str


@dataclass(frozen=True)
class Threshold:
    fair: float
    good: float

    def level(self, value: float | None) -> str:
        """'good', 'fair', 'below fair', or 'not measured' when there is no value."""
        if value is None:
            return "not measured"
        if value >= self.good:
            return "good"
        return "fair" if value >= self.fair else "below fair"


@dataclass(frozen=True)
class MitiScheme:
    version: str
    codes: tuple[BehaviourCode, ...]
    globals: tuple[GlobalScale, ...]
    thresholds: dict[str, Threshold]

    @property
    def code_ids(self) -> tuple[str, ...]:
        return tuple(code.id for code in self.codes)

    def code(self, code_id: str) -> BehaviourCode:
        for code in self.codes:
            if code.id == code_id:
                return code
        raise KeyError(code_id)

    def annomi_class(self, code_id: str) -> str:
        return self.code(code_id).annomi


@functools.cache
def miti_scheme() -> MitiScheme:
    """The shipped scheme (validated once; a broken file is a packaging bug, hence plain assertions)."""
    text = resources.files("jedi_academy.feedback").joinpath("data/miti.yaml").read_text(encoding="utf-8")
    raw = yaml.safe_load(text)
    codes = tuple(
        BehaviourCode(c["id"], c["label"], c["adherence"], c["annomi"], c["description"])
        for c in raw["codes"]
    )
    scales = tuple(GlobalScale(g["id"], g["label"], g["group"], g["rubric"]) for g in raw["globals"])
    thresholds = {
        name: Threshold(float(t["fair"]), float(t["good"])) for name, t in raw["thresholds"].items()
    }
    assert all(c.annomi in ANNOMI_CLASSES for c in codes), "miti.yaml: unknown AnnoMI class"
    assert all(c.adherence in ("mi_adherent", "mi_non_adherent", "neutral") for c in codes)
    assert {
        "technical_global",
        "relational_global",
        "reflection_to_question",
        "percent_complex_reflections",
    } <= set(thresholds)
    return MitiScheme(str(raw["version"]), codes, scales, thresholds)
