"""Reading specialization definitions: the shipped YAML files plus any user folders."""

from __future__ import annotations

import functools
import os
from collections.abc import Iterable, Sequence
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml
from pydantic import ValidationError

from jedi_academy.errors import AcademyError
from jedi_academy.specializations.model import Specialization

if TYPE_CHECKING:
    from jedi_academy.config import Settings

PACKAGE_DATA = "jedi_academy.specializations"
DIRS_ENV = "ACADEMY_SPECIALIZATIONS_DIR"
DATA_DIR_FOLDER = "specializations"
YAML_SUFFIXES = (".yaml", ".yml")


class SpecializationError(AcademyError):
    """A specialization that is unknown or whose definition is invalid."""


def parse_specialization(text: str, source: str) -> Specialization:
    """Parse and validate one YAML definition; errors name ``source`` and the offending field."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise SpecializationError(f"{source}:{where} not valid YAML: {problem}", "fix the file") from exc
    if not isinstance(data, dict):
        raise SpecializationError(
            f"{source}: expected a mapping of fields, found {type(data).__name__}",
            "see docs/ingestion.md for the fields",
        )
    try:
        spec = Specialization.model_validate(data)
    except ValidationError as exc:
        raise SpecializationError(f"{source}: {_describe(exc)}", "fix the definition and try again") from exc
    spec._source = source
    return spec


def _describe(exc: ValidationError) -> str:
    problems = []
    for err in exc.errors():
        field = ".".join(str(part) for part in err["loc"]) or "definition"
        message = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            message = "unknown field"
        problems.append(f"{field}: {message}")
    return "; ".join(problems)


def load_specialization_file(path: Path) -> Specialization:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise SpecializationError(f"cannot read {path}: {exc}") from exc
    return parse_specialization(text, str(path))


@functools.cache
def packaged_specializations() -> dict[str, Specialization]:
    """The definitions shipped with the package (validated once, then cached)."""
    found: dict[str, Specialization] = {}
    for entry in sorted(resources.files(PACKAGE_DATA).joinpath("data").iterdir(), key=lambda e: e.name):
        if not entry.name.endswith(YAML_SUFFIXES):
            continue
        spec = parse_specialization(entry.read_text(encoding="utf-8"), f"package:{entry.name}")
        spec._source = "package"
        found[spec.id] = spec
    return found


def user_directories(settings: Settings | None = None, extra_dirs: Iterable[Path] = ()) -> list[Path]:
    """Folders of user definitions: ``<data_dir>/specializations`` if present,
    ``$ACADEMY_SPECIALIZATIONS_DIR`` (several joined by the path separator) and ``extra_dirs`` (the
    ``--specializations-dir`` and ``--dir`` flags)."""
    folders: list[Path] = []
    if settings is not None and settings.path(DATA_DIR_FOLDER).is_dir():
        folders.append(settings.path(DATA_DIR_FOLDER))
    named = [Path(p) for p in os.environ.get(DIRS_ENV, "").split(os.pathsep) if p]
    for folder in [*named, *extra_dirs]:
        if not folder.is_dir():
            raise SpecializationError(
                f"specializations folder {folder} does not exist",
                f"check --specializations-dir and ${DIRS_ENV}",
            )
        folders.append(folder)
    return folders


def load_specializations(
    settings: Settings | None = None, extra_dirs: Sequence[Path] = ()
) -> dict[str, Specialization]:
    """All definitions, by id (sorted). A user file with the id of a shipped one replaces it; the same id
    twice among user files is an error."""
    merged = dict(packaged_specializations())
    from_user: dict[str, str] = {}
    for folder in user_directories(settings, extra_dirs):
        for path in sorted(p for p in folder.iterdir() if p.suffix in YAML_SUFFIXES and p.is_file()):
            spec = load_specialization_file(path)
            if spec.id in from_user:
                raise SpecializationError(
                    f"specialization '{spec.id}' is defined twice: {from_user[spec.id]} and {path}",
                    "give each definition its own id",
                )
            from_user[spec.id] = str(path)
            merged[spec.id] = spec
    return dict(sorted(merged.items()))


def get_specialization(
    spec_id: str, settings: Settings | None = None, extra_dirs: Sequence[Path] = ()
) -> Specialization:
    available = load_specializations(settings, extra_dirs)
    try:
        return available[spec_id]
    except KeyError:
        raise _unknown(spec_id, available) from None


def select_specializations(
    selection: str | Sequence[str] | None, available: dict[str, Specialization]
) -> list[Specialization]:
    """``None``/``"all"`` -> every specialization; ``"a,b"`` or ``["a", "b"]`` -> those, in that order."""
    if selection is None or selection == "all" or selection == ["all"]:
        return list(available.values())
    wanted = selection.split(",") if isinstance(selection, str) else list(selection)
    chosen: list[Specialization] = []
    for spec_id in (w.strip() for w in wanted):
        if not spec_id:
            continue
        if spec_id not in available:
            raise _unknown(spec_id, available)
        if available[spec_id] not in chosen:
            chosen.append(available[spec_id])
    if not chosen:
        raise SpecializationError("no specialization selected", "pass --specializations all or a list: a,b")
    return chosen


def _unknown(spec_id: str, available: dict[str, Any]) -> SpecializationError:
    return SpecializationError(
        f"unknown specialization '{spec_id}'",
        f"choose from {', '.join(available)} (see `academy specializations list`)",
    )
