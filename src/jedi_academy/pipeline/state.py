"""Which stages are done: a JSON file per pipeline, written atomically after every stage.

A stage is skipped when the hash of its inputs (settings plus upstream outputs) equals the recorded one and
its recorded output still exists; so a re-run after a crash, or after changing one setting, redoes only what
changed.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any


def input_hash(inputs: Any) -> str:
    return hashlib.sha256(json.dumps(inputs, sort_keys=True, default=str).encode()).hexdigest()


@dataclass
class Stage:
    key: str
    inputs: dict[str, Any]
    run: Callable[[], dict[str, Any]]
    exists: Callable[[dict[str, Any]], bool]


class PipelineState:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.stages: dict[str, dict[str, Any]] = {}
        if path.is_file():
            self.stages = json.loads(path.read_text(encoding="utf-8")).get("stages", {})

    def is_current(self, stage: Stage) -> bool:
        record = self.stages.get(stage.key)
        return bool(record and record["input"] == input_hash(stage.inputs) and stage.exists(record["output"]))

    def output(self, key: str) -> dict[str, Any]:
        return self.stages[key]["output"]

    def record(self, stage: Stage, output: dict[str, Any], seconds: float) -> None:
        self.stages[stage.key] = {
            "input": input_hash(stage.inputs),
            "output": output,
            "seconds": round(seconds, 3),
            "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        self.path.parent.mkdir(parents=True, exist_ok=True)
        staging = self.path.with_suffix(".saving")
        staging.write_text(json.dumps({"stages": self.stages}, indent=1, default=str), encoding="utf-8")
        os.replace(staging, self.path)
