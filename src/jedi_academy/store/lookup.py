"""Finding a row by its id or a unique prefix of it, as every ``show ID`` command accepts."""

from __future__ import annotations

from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from jedi_academy.errors import AcademyError

Row = TypeVar("Row")


def id_or_prefix_matches(session: Session, model: type[Row], wanted: str, key: str = "id") -> list[Row]:
    """The row with id ``wanted``, else at most two rows whose id starts with it (two mean ambiguous).

    ``key`` names the primary-key attribute when it is not ``id`` (the feedback table's ``session_id``)."""
    row = session.get(model, wanted)
    if row is not None:
        return [row]
    if not wanted:
        return []
    column: Any = getattr(model, key)
    return list(session.scalars(select(model).where(column.startswith(wanted)).limit(2)))


def one_by_id_or_prefix(
    session: Session, model: type[Row], wanted: str, noun: str, hint: str, key: str = "id"
) -> Row:
    matches = id_or_prefix_matches(session, model, wanted, key)
    if len(matches) == 1:
        return matches[0]
    problem = "is ambiguous" if matches else "does not exist"
    raise AcademyError(f"{noun} {wanted!r} {problem}", hint)
