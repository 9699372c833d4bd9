"""Content-addressed artifacts on disk (Parquet, adapters, JSONL), referenced from the database by SHA-256.

Files land in a temporary name first and are renamed into place, so a crash leaves at worst an unreferenced
temporary, never a database row pointing at half a file. Register the artifact in the same transaction as the
row that refers to it (:meth:`ArtifactStore.register`).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.orm import Session

from jedi_academy.store.models import Artifact

CHUNK = 1 << 20


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def sha256_tree(root: Path, exclude: tuple[str, ...] = ()) -> str:
    """Hash of a folder: every file's relative path and content hash, in sorted order (``exclude``: top-level
    file names left out, e.g. the metadata written next to an exported adapter)."""
    digest = hashlib.sha256()
    files = (p for p in root.rglob("*") if p.is_file() and p.relative_to(root).as_posix() not in exclude)
    for path in sorted(files):
        digest.update(f"{path.relative_to(root).as_posix()}\0{sha256_file(path)}\n".encode())
    return digest.hexdigest()


@dataclass(frozen=True)
class ArtifactRef:
    sha256: str
    kind: str
    relpath: str
    size_bytes: int


class ArtifactStore:
    def __init__(self, data_dir: Path) -> None:
        self.root = data_dir / "artifacts"

    def path(self, ref: ArtifactRef | Artifact) -> Path:
        return self.root / ref.relpath

    def _staging(self) -> Path:
        staging = self.root / ".staging"
        staging.mkdir(parents=True, exist_ok=True)
        return staging

    def put_file(self, source: Path, kind: str) -> ArtifactRef:
        """Copy ``source`` into the store; identical content is stored once."""
        source = Path(source)
        if not source.is_file():
            raise FileNotFoundError(source)
        fd, tmp_name = tempfile.mkstemp(dir=self._staging())
        os.close(fd)
        tmp = Path(tmp_name)
        try:
            shutil.copyfile(source, tmp)
            digest = sha256_file(tmp)
            relpath = f"{kind}/{digest[:2]}/{digest}{''.join(source.suffixes)}"
            target = self.root / relpath
            target.parent.mkdir(parents=True, exist_ok=True)
            if target.exists():
                tmp.unlink()
            else:
                os.replace(tmp, target)
        finally:
            tmp.unlink(missing_ok=True)
        return ArtifactRef(digest, kind, relpath, target.stat().st_size)

    def put_dir(self, source: Path, kind: str) -> ArtifactRef:
        """Copy a folder (an adapter, a Parquet dataset) into the store under its tree hash."""
        source = Path(source)
        if not source.is_dir():
            raise NotADirectoryError(source)
        tmp = Path(tempfile.mkdtemp(dir=self._staging()))
        try:
            copy = tmp / "tree"
            shutil.copytree(source, copy)
            digest = sha256_tree(copy)
            relpath = f"{kind}/{digest}"
            target = self.root / relpath
            target.parent.mkdir(parents=True, exist_ok=True)
            if not target.exists():
                os.replace(copy, target)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        size = sum(p.stat().st_size for p in target.rglob("*") if p.is_file())
        return ArtifactRef(digest, kind, relpath, size)

    def register(self, session: Session, ref: ArtifactRef) -> Artifact:
        """Record the artifact in the caller's transaction (idempotent)."""
        existing = session.get(Artifact, ref.sha256)
        if existing is not None:
            return existing
        row = Artifact(sha256=ref.sha256, kind=ref.kind, relpath=ref.relpath, size_bytes=ref.size_bytes)
        session.add(row)
        return row

    def verify(self, artifact: Artifact) -> bool:
        """True when the bytes on disk still hash to the recorded value."""
        path = self.path(artifact)
        if path.is_dir():
            return sha256_tree(path) == artifact.sha256
        return path.is_file() and sha256_file(path) == artifact.sha256
