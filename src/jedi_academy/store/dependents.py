"""What refers to a row before it is deleted: found from the schema's foreign keys, so tables added by later
stages (sessions, the loop) are counted without a change here."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from jedi_academy.errors import AcademyError
from jedi_academy.store.models import Base


def referencing_counts(session: Session, table: str, ids: Collection[Any]) -> dict[str, int]:
    """Rows of other tables whose foreign keys point at ``ids`` of ``table``: {table name: count}."""
    counts: dict[str, int] = {}
    if not ids:
        return counts
    for other in Base.metadata.sorted_tables:
        if other.name == table:
            continue  # self-references (a checkpoint's parent) are the caller's business
        for fk in other.foreign_keys:
            if fk.column.table.name != table:
                continue
            count = session.scalar(select(func.count()).select_from(other).where(fk.parent.in_(list(ids))))
            if count:
                counts[other.name] = counts.get(other.name, 0) + int(count)
    return counts


def _mapped_class(table_name: str) -> Any:
    for mapper in Base.registry.mappers:
        if getattr(mapper.local_table, "name", None) == table_name:
            return mapper.class_
    raise KeyError(table_name)


def delete_dependents(
    session: Session,
    table: str,
    ids: Collection[Any],
    *,
    noun: str,
    cascade: bool,
    cascadable: Sequence[str],
) -> dict[str, int]:
    """Refuse (with the counts) while rows refer to ``ids``; with ``cascade``, delete the rows of the
    ``cascadable`` tables (through the ORM, so their own children go too). Rows of any other table always
    refuse: they may be work nobody should lose by a flag. Returns what was deleted."""
    counts = referencing_counts(session, table, ids)
    if not counts:
        return {}
    described = ", ".join(f"{n} {name.replace('_', ' ')}" for name, n in sorted(counts.items()))
    kept = {name: n for name, n in counts.items() if name not in cascadable}
    if kept or not cascade:
        hint = (
            f"pass --cascade to delete the {', '.join(t.replace('_', ' ') for t in cascadable)} too"
            if not kept
            else "delete those rows first; --cascade only removes "
            + ", ".join(t.replace("_", " ") for t in cascadable)
        )
        raise AcademyError(f"{noun} is still referred to by {described}", hint)
    for name in counts:
        model = _mapped_class(name)
        columns = [
            fk.parent for fk in Base.metadata.tables[name].foreign_keys if fk.column.table.name == table
        ]
        for column in columns:
            for row in session.scalars(select(model).where(column.in_(list(ids)))):
                session.delete(row)
    session.flush()
    return counts
