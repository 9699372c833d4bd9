"""Finding a row by its id or a unique prefix of it, as every ``show ID`` command accepts."""

from __future__ import annotations

from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from jedi_academy.errors import AcademyError

Row = TypeVar("Row")


def id_or_prefix_matches(session: Session, model: type[Row], wanted: str) -> list[Row]:
    """The row with id ``wanted``, else at most two rows whose id starts with it (two mean ambiguous)."""
    row = session.get(model, wanted)
    if row is not None:
        return [row]
    if not wanted:
        return []
    column: Any = model.id  # type: ignore[attr-defined]
    return list(session.scalars(select(model).where(column.startswith(wanted)).limit(2)))


def one_by_id_or_prefix(session: Session, model: type[Row], wanted: str, noun: str, hint: str) -> Row:
    matches = id_or_prefix_matches(session, model, wanted)
    if len(matches) == 1:
        return matches[0]
    problem = "is ambiguous" if matches else "does not exist"
    raise AcademyError(f"{noun} {wanted!r} {problem}", hint)
