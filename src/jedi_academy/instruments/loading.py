"""Reading instrument definitions: from YAML text, from a file, or from the package's own data."""

from __future__ import annotations

import functools
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path

from pydantic import ValidationError

from jedi_academy.errors import AcademyError
from jedi_academy.instruments.checks import definition_problems
from jedi_academy.instruments.marked_yaml import YamlSyntaxError, load_marked
from jedi_academy.instruments.problems import DefinitionError, Problem, make_problem, pydantic_problems
from jedi_academy.instruments.schema import DEFER_CHECKS, InstrumentDefinition, format_path

PACKAGE_DATA = "data"


def parse_definition(text: str, source: str = "<text>") -> InstrumentDefinition:
    """Validate one YAML definition; raises :class:`DefinitionError` listing every problem with its line."""
    try:
        document = load_marked(text)
    except YamlSyntaxError as exc:
        raise DefinitionError([make_problem(source, exc.position, "", exc.message)]) from None
    problems: list[Problem] = [
        make_problem(source, document.positions.get(path), format_path(path), message)
        for path, message in document.duplicates
    ]
    if not isinstance(document.data, dict):
        problems.append(
            make_problem(
                source,
                document.positions.get(()),
                "",
                "an instrument definition is a YAML mapping (id: ..., name: ..., items: ...)",
            )
        )
        raise DefinitionError(problems)
    try:
        definition = InstrumentDefinition.model_validate(document.data, context={DEFER_CHECKS: True})
    except ValidationError as exc:
        problems.extend(pydantic_problems(source, document, exc.errors()))
        raise DefinitionError(problems) from None
    for path, message in definition_problems(definition):
        _, position = document.locate(path)
        problems.append(make_problem(source, position, format_path(path), message))
    if problems:
        raise DefinitionError(sorted(problems, key=lambda p: (p.line or 0, p.column or 0)))
    return definition


def load_definition_file(path: Path) -> InstrumentDefinition:
    """Validate a definition file (``academy instruments validate``)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise AcademyError(f"cannot read {path}: {exc.strerror or exc}", "check the path") from None
    except UnicodeDecodeError as exc:
        raise AcademyError(f"{path}: not UTF-8 text ({exc.reason})", "give a YAML definition file") from None
    return parse_definition(text, str(path))


def _data_files() -> dict[str, Traversable]:
    folder = resources.files("jedi_academy.instruments").joinpath(PACKAGE_DATA)
    return {
        entry.name.removesuffix(".yaml"): entry for entry in folder.iterdir() if entry.name.endswith(".yaml")
    }


@functools.cache
def instrument_ids() -> tuple[str, ...]:
    """Ids of the instruments shipped with the package, sorted."""
    return tuple(sorted(_data_files()))


@functools.cache
def packaged_definition(instrument_id: str) -> InstrumentDefinition:
    """The shipped definition of ``instrument_id`` (validated once, then cached)."""
    files = _data_files()
    entry = files.get(instrument_id)
    if entry is None:
        raise AcademyError(
            f"unknown instrument '{instrument_id}'",
            f"choose one of {', '.join(sorted(files))} (see `academy instruments list`)",
        )
    definition = parse_definition(entry.read_text(encoding="utf-8"), f"{PACKAGE_DATA}/{entry.name}")
    if definition.id != instrument_id:
        raise AcademyError(f"{entry.name} declares id '{definition.id}'", "the file name must match the id")
    return definition
