"""On-disk cache of raw E-utilities responses, keyed by endpoint and query (not by who asked)."""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

IDENTITY_PARAMS = frozenset({"tool", "email", "api_key"})


class ResponseCache:
    def __init__(self, root: Path) -> None:
        self.root = root

    def _paths(self, endpoint: str, params: dict[str, str]) -> tuple[Path, Path]:
        kept = {key: str(value) for key, value in sorted(params.items()) if key not in IDENTITY_PARAMS}
        digest = hashlib.sha256(json.dumps([endpoint, kept]).encode()).hexdigest()[:32]
        folder = self.root / endpoint
        return folder / f"{digest}.xml", folder / f"{digest}.json"

    def get(self, endpoint: str, params: dict[str, str]) -> bytes | None:
        body, _ = self._paths(endpoint, params)
        return body.read_bytes() if body.is_file() else None

    def put(self, endpoint: str, params: dict[str, str], content: bytes) -> None:
        body, meta = self._paths(endpoint, params)
        body.parent.mkdir(parents=True, exist_ok=True)
        tmp = body.with_suffix(".xml.tmp")
        tmp.write_bytes(content)
        tmp.replace(body)
        kept = {key: value for key, value in params.items() if key not in IDENTITY_PARAMS}
        meta.write_text(
            json.dumps({"endpoint": endpoint, "params": kept, "fetched_at": time.time()}, indent=1)
        )
