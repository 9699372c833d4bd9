"""Keep the ``specializations`` table in step with the definitions."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from jedi_academy.specializations.model import Specialization

if TYPE_CHECKING:
    from jedi_academy.store import Database


@dataclass
class SyncResult:
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)


def definition_sha256(spec: Specialization) -> str:
    canonical = json.dumps(spec.definition(), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def sync_specializations(database: Database, specs: Iterable[Specialization]) -> SyncResult:
    """Insert new definitions and update changed ones (rows are never deleted: personas refer to them)."""
    from jedi_academy.store.models import Specialization as SpecializationRow

    result = SyncResult()
    with database.session() as session:
        for spec in specs:
            digest = definition_sha256(spec)
            row = session.get(SpecializationRow, spec.id)
            if row is None:
                session.add(
                    SpecializationRow(
                        id=spec.id,
                        display_name=spec.display_name,
                        definition_sha256=digest,
                        definition=spec.definition(),
                    )
                )
                result.added.append(spec.id)
            elif row.definition_sha256 != digest:
                row.display_name = spec.display_name
                row.definition_sha256 = digest
                row.definition = spec.definition()
                result.updated.append(spec.id)
            else:
                result.unchanged.append(spec.id)
    return result
