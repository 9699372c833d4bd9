"""User-supplied item text for instruments whose licence keeps the wording out of the package.

The user's file is checked against the definition (every item present, forced-choice items as a pair) and
stored, normalised, at ``<data_dir>/instruments/text/<id>.yaml``; loading merges it into the instrument.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from jedi_academy.errors import AcademyError
from jedi_academy.instruments.marked_yaml import YamlSyntaxError, load_marked
from jedi_academy.instruments.model import ImportedText
from jedi_academy.instruments.problems import DefinitionError, Problem, make_problem, pydantic_problems
from jedi_academy.instruments.schema import InstrumentDefinition, format_path

Text = Annotated[str, Field(min_length=1)]


def _id_key(value: object) -> object:
    if isinstance(value, dict):
        return {str(key) if isinstance(key, int) else key: inner for key, inner in value.items()}
    return value


class _TextFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    instrument: str | None = None
    source: str | None = None
    instructions: Text | None = None
    stem: Text | None = None
    items: Annotated[dict[str, Text | tuple[Text, Text]], BeforeValidator(_id_key)] = Field(min_length=1)


def text_path(data_dir: Path, instrument_id: str) -> Path:
    return data_dir / "instruments" / "text" / f"{instrument_id}.yaml"


def parse_text_file(text: str, source: str, definition: InstrumentDefinition) -> ImportedText:
    """Validate a user's item-text file against ``definition``; problems name the line they are on."""
    try:
        document = load_marked(text)
    except YamlSyntaxError as exc:
        raise DefinitionError([make_problem(source, exc.position, "", exc.message)]) from None
    try:
        parsed = _TextFile.model_validate(document.data)
    except ValidationError as exc:
        raise DefinitionError(pydantic_problems(source, document, exc.errors())) from None

    problems: list[Problem] = []

    def problem(path: tuple[str | int, ...], message: str) -> None:
        problems.append(make_problem(source, document.locate(path)[1], format_path(path), message))

    if parsed.instrument is not None and parsed.instrument != definition.id:
        problem(("instrument",), f"this file is for '{parsed.instrument}', not '{definition.id}'")
    known = {item.id: item for item in definition.items}
    forced = definition.format == "forced_choice"
    for item_id, value in parsed.items.items():
        path = ("items", item_id)
        if item_id not in known:
            problem(path, f"{definition.id} has no item '{item_id}' (items: {', '.join(known)})")
        elif forced and not isinstance(value, tuple):
            problem(path, f"item {item_id} is forced choice: give its two statements as a list")
        elif not forced and isinstance(value, tuple):
            problem(path, f"item {item_id} takes one text, not a pair")
    missing = [item.id for item in definition.items if not item.optional and item.id not in parsed.items]
    if missing:
        problem(("items",), f"no text for item(s) {', '.join(missing)}")
    if problems:
        raise DefinitionError(problems)
    return ImportedText(parsed.instructions, parsed.stem, dict(parsed.items), parsed.source)


def import_text(definition: InstrumentDefinition, file: Path, data_dir: Path) -> Path:
    """Check ``file`` and store it in the data directory; returns the stored path."""
    try:
        raw = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise AcademyError(f"cannot read {file}: {exc.strerror or exc}", "check the path") from None
    except UnicodeDecodeError as exc:
        raise AcademyError(f"{file}: not UTF-8 text ({exc.reason})", "give a YAML or JSON file") from None
    imported = parse_text_file(raw, str(file), definition)
    target = text_path(data_dir, definition.id)
    target.parent.mkdir(parents=True, exist_ok=True)
    stored = {
        "instrument": definition.id,
        "source": imported.source,
        "instructions": imported.instructions,
        "stem": imported.stem,
        "items": {
            key: list(value) if isinstance(value, tuple) else value for key, value in imported.items.items()
        },
    }
    stored = {key: value for key, value in stored.items() if value is not None}
    tmp = target.with_suffix(".yaml.tmp")
    tmp.write_text(yaml.safe_dump(stored, allow_unicode=True, sort_keys=False, width=110), encoding="utf-8")
    tmp.replace(target)
    return target


def load_imported_text(definition: InstrumentDefinition, data_dir: Path | None) -> ImportedText | None:
    """The stored user text for ``definition``, or None when none has been imported."""
    if data_dir is None:
        return None
    path = text_path(data_dir, definition.id)
    if not path.is_file():
        return None
    try:
        return parse_text_file(path.read_text(encoding="utf-8"), str(path), definition)
    except DefinitionError as exc:
        raise DefinitionError(
            exc.problems, f"re-import the text: academy instruments import {definition.id} --items FILE"
        ) from None
