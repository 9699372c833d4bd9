"""Validation problems with file positions, and the error that carries them to the user."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from jedi_academy.errors import AcademyError
from jedi_academy.instruments.marked_yaml import MarkedDocument, Position


@dataclass(frozen=True)
class Problem:
    source: str
    line: int | None
    column: int | None
    path: str
    message: str

    def __str__(self) -> str:
        where = self.source if self.line is None else f"{self.source}:{self.line}:{self.column}"
        return f"{where}: {self.path}: {self.message}" if self.path else f"{where}: {self.message}"


class DefinitionError(AcademyError):
    """A definition (or imported text) file that does not validate; ``problems`` lists every finding."""

    def __init__(self, problems: list[Problem], hint: str | None = None) -> None:
        first = str(problems[0])
        more = f" (and {len(problems) - 1} more problem{'s' if len(problems) > 2 else ''})"
        super().__init__(first + (more if len(problems) > 1 else ""), hint)
        self.problems = problems


def make_problem(source: str, position: Position | None, path: str, message: str) -> Problem:
    return Problem(
        source, position.line if position else None, position.column if position else None, path, message
    )


def pydantic_problems(
    source: str, document: MarkedDocument, errors: Sequence[Mapping[str, Any]]
) -> list[Problem]:
    """Turn pydantic's error list into problems located in the YAML document."""
    from jedi_academy.instruments.schema import format_path

    problems = []
    for error in errors:
        loc = tuple(error["loc"])
        path, position = document.locate(loc)
        message = _message(error)
        if error["type"] == "missing":
            message = f"missing required field '{loc[-1]}'"
        elif error["type"] == "extra_forbidden":
            message = f"unknown field '{loc[-1]}'"
            path = loc if loc in document.positions else path
        problems.append(make_problem(source, position, format_path(path), message))
    return sorted(problems, key=lambda p: (p.line or 0, p.column or 0))


def _message(error: Mapping[str, Any]) -> str:
    message = str(error["msg"])
    # pydantic prefixes validator messages with "Value error, "; the rest is ours and reads fine alone.
    return message.removeprefix("Value error, ")
