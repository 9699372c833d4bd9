"""Run every benchmark module in this folder (each ``benchmarks/<name>.py`` with a ``main()``)."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path


def discover() -> list[str]:
    here = Path(__file__).parent
    return sorted(p.stem for p in here.glob("*.py") if not p.stem.startswith("_"))


def main(argv: list[str] | None = None) -> int:
    wanted = set(argv if argv is not None else sys.argv[1:])
    status = 0
    for name in discover():
        if wanted and name not in wanted:
            continue
        module = importlib.import_module(f"benchmarks.{name}")
        entry = getattr(module, "main", None)
        if not callable(entry):
            continue
        print(f"=== benchmarks.{name}", flush=True)
        status = max(status, int(entry([]) or 0))
    return status


if __name__ == "__main__":
    sys.exit(main())
