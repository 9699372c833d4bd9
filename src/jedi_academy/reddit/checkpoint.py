"""Resume state of an unfinished run, saved in ``<out>/.checkpoint``.

Saved every minute and when a run stops early (Ctrl-C, a truncated file): the position reached (file, byte
offset of the last complete line, line number), the counts, the part files written, and the digests used to
drop duplicate bodies. Part files not listed in the state were written after it and are deleted on resume.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from jedi_academy.reddit.layout import CHECKPOINT

STATE_FILE = "state.json"
STATE_VERSION = 1
DIGEST_SIZE = 16


@dataclass
class Checkpoint:
    run_id: int | None
    inputs: list[dict[str, Any]]
    specializations: list[str]
    rules: dict[str, Any]
    key_fingerprint: str
    file_index: int = 0
    offset: int = 0  # decompressed bytes of file ``file_index`` already processed (ends after a newline)
    line: int = 0  # lines of that file already processed
    elapsed_s: float = 0.0
    counts: dict[str, Any] = field(default_factory=dict)
    parts: dict[str, list[str]] = field(default_factory=dict)
    version: int = STATE_VERSION


def checkpoint_dir(out: Path) -> Path:
    return out / CHECKPOINT


def exists(out: Path) -> bool:
    return (checkpoint_dir(out) / STATE_FILE).is_file()


def save(out: Path, state: Checkpoint, seen: dict[str, set[bytes]]) -> None:
    """Digests first, the state file last (atomically): a crash mid-save leaves the previous state valid."""
    folder = checkpoint_dir(out)
    folder.mkdir(parents=True, exist_ok=True)
    for spec_id, digests in seen.items():
        _replace(folder / f"seen-{spec_id}.bin", b"".join(digests))
    _replace(folder / STATE_FILE, json.dumps(asdict(state), indent=1).encode("utf-8"))


def load(out: Path) -> tuple[Checkpoint, dict[str, set[bytes]]]:
    folder = checkpoint_dir(out)
    data = json.loads((folder / STATE_FILE).read_text(encoding="utf-8"))
    if data.get("version") != STATE_VERSION:
        raise ValueError(f"checkpoint version {data.get('version')} is not {STATE_VERSION}")
    state = Checkpoint(**data)
    seen: dict[str, set[bytes]] = {}
    for spec_id in state.specializations:
        path = folder / f"seen-{spec_id}.bin"
        raw = path.read_bytes() if path.exists() else b""
        seen[spec_id] = {raw[i : i + DIGEST_SIZE] for i in range(0, len(raw), DIGEST_SIZE)}
    return state, seen


def remove(out: Path) -> None:
    shutil.rmtree(checkpoint_dir(out), ignore_errors=True)


def _replace(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)
