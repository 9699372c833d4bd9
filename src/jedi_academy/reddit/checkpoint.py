"""Resume state of an unfinished run, saved in ``<out>/.checkpoint``.

One checkpoint is one atomic commit: ``state.json`` is replaced in a single rename, and everything else it
relies on is written first under a name no earlier state uses, and is only deleted once no committed state
refers to it. The state holds the position reached (file, byte offset of the last complete line, line
number), the counts, the part files written (with their row counts and SHA-256), and the names of the
digest files used to drop duplicate bodies, written for this generation. A crash or kill at any moment
therefore leaves either the previous state or the new one, each with exactly the files it names.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from jedi_academy.reddit import faults
from jedi_academy.reddit.layout import CHECKPOINT
from jedi_academy.reddit.private import private_dir, sync_dir, write_atomically

STATE_FILE = "state.json"
STATE_VERSION = 2
DIGEST_SIZE = 16
_DIGEST_FILE = re.compile(r"seen-(?P<spec>.+)-(?P<generation>\d+)\.bin")


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
    # Per specialization: [{"name", "rows", "sha256"}], the files that hold its kept rows, in order.
    parts: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    generation: int = 0  # bumped by every save
    # Per specialization: the digest file of this state and how many digests it holds.
    seen_files: dict[str, dict[str, Any]] = field(default_factory=dict)
    version: int = STATE_VERSION


def checkpoint_dir(out: Path) -> Path:
    return out / CHECKPOINT


def exists(out: Path) -> bool:
    return (checkpoint_dir(out) / STATE_FILE).is_file()


def save(out: Path, state: Checkpoint, seen: dict[str, set[bytes]]) -> None:
    """Commit ``state`` with the digests in ``seen``. Digest files are never overwritten: a set that grew
    goes to a new file of this generation; the state names the files it uses and is written last."""
    folder = private_dir(checkpoint_dir(out))
    generation = state.generation + 1
    seen_files: dict[str, dict[str, Any]] = {}
    for spec_id, digests in seen.items():
        previous = state.seen_files.get(spec_id)
        if previous is not None and previous["count"] == len(digests):
            seen_files[spec_id] = previous  # sets only grow: same size, same contents
            continue
        name = f"seen-{spec_id}-{generation:08d}.bin"
        write_atomically(folder / name, b"".join(sorted(digests)))
        faults.step("checkpoint.digests-written")
        seen_files[spec_id] = {"name": name, "count": len(digests)}
    data = {**asdict(state), "generation": generation, "seen_files": seen_files}
    write_atomically(folder / STATE_FILE, json.dumps(data, indent=1).encode("utf-8"))
    state.generation, state.seen_files = generation, seen_files
    faults.step("checkpoint.committed")
    _remove_unreferenced(folder, {entry["name"] for entry in seen_files.values()})
    faults.step("checkpoint.cleaned")


def load(out: Path) -> tuple[Checkpoint, dict[str, set[bytes]]]:
    """The committed state and its digests; files of a save that did not commit are deleted."""
    folder = checkpoint_dir(out)
    data = json.loads((folder / STATE_FILE).read_text(encoding="utf-8"))
    if data.get("version") != STATE_VERSION:
        raise ValueError(f"checkpoint version {data.get('version')} is not {STATE_VERSION}")
    state = Checkpoint(**data)
    seen: dict[str, set[bytes]] = {}
    for spec_id in state.specializations:
        entry = state.seen_files.get(spec_id)
        if entry is None:
            seen[spec_id] = set()
            continue
        raw = (folder / entry["name"]).read_bytes()
        if len(raw) != entry["count"] * DIGEST_SIZE:
            raise ValueError(f"{entry['name']} holds {len(raw)} bytes, not {entry['count']} digests")
        seen[spec_id] = {raw[i : i + DIGEST_SIZE] for i in range(0, len(raw), DIGEST_SIZE)}
    _remove_unreferenced(folder, {entry["name"] for entry in state.seen_files.values()})
    return state, seen


def remove(out: Path) -> None:
    """Drop the checkpoint in one rename (a half-deleted folder would not load), then delete it."""
    folder = checkpoint_dir(out)
    if not folder.exists():
        return
    doomed = out / f"{CHECKPOINT}.removed"
    shutil.rmtree(doomed, ignore_errors=True)
    os.replace(folder, doomed)
    sync_dir(out)
    faults.step("checkpoint.removed")
    shutil.rmtree(doomed, ignore_errors=True)


def remove_leftovers(out: Path) -> None:
    """A removal interrupted after its rename leaves ``.checkpoint.removed``: nothing refers to it."""
    shutil.rmtree(out / f"{CHECKPOINT}.removed", ignore_errors=True)


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def _remove_unreferenced(folder: Path, keep: set[str]) -> None:
    for path in folder.iterdir():
        stale_digests = _DIGEST_FILE.fullmatch(path.name) is not None and path.name not in keep
        if stale_digests or path.name.endswith(".tmp"):
            path.unlink(missing_ok=True)
