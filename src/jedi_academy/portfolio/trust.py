"""The verifier's trust store: public keys of academy instances this user has decided to trust, by name.

A signature only proves "the holder of this key signed it". Which key belongs to which academy is learned out
of band (the academy's published page), kept here (``<data-dir>/keys/trusted.json``, 0600), and never taken
from the portfolio being checked.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from jedi_academy.errors import AcademyError
from jedi_academy.portfolio.keys import fingerprint, parse_public_key, public_key_text
from jedi_academy.results import Result

TRUST_FILE = "trusted.json"


@dataclass(frozen=True)
class TrustedKey(Result):
    """One entry of the trust store (``academy keys trust --json``)."""

    name: str
    public_key: str
    fingerprint: str


def trust_path(data_dir: Path) -> Path:
    return Path(data_dir) / "keys" / TRUST_FILE


def trusted_keys(data_dir: Path) -> dict[str, str]:
    """public key text -> the name it was trusted under."""
    path = trust_path(data_dir)
    if not path.exists():
        return {}
    try:
        entries = json.loads(path.read_text(encoding="utf-8"))["keys"]
        return {public_key_text(parse_public_key(e["public_key"])): str(e["name"]) for e in entries}
    except (ValueError, KeyError, TypeError) as exc:
        raise AcademyError(f"{path}: not a trust store ({exc})", "fix or remove the file") from exc


def trust_key(data_dir: Path, key: str, name: str) -> TrustedKey:
    """Add (or rename) a trusted key; returns its entry."""
    if not name.strip():
        raise AcademyError("--name must not be empty")
    public = public_key_text(parse_public_key(key))
    known = trusted_keys(data_dir)
    known[public] = name.strip()
    entries = [TrustedKey(n, k, fingerprint(k)).as_dict() for k, n in sorted(known.items())]
    path = trust_path(data_dir)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".trusted-")  # 0600
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump({"keys": entries}, handle, indent=1, sort_keys=True)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return TrustedKey(name.strip(), public, fingerprint(public))
