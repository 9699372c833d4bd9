"""Wiring for ``academy personas generate``: settings in, report out."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from jedi_academy.errors import AcademyError
from jedi_academy.personas.generate import PersonaOptions, PersonaReport, generate_personas

if TYPE_CHECKING:
    from jedi_academy.config import Settings


def generate_for_specialization(
    settings: Settings,
    specialization_id: str,
    options: PersonaOptions,
    *,
    backend: str | None = None,
    model: str | None = None,
    reddit_dir: Path | None = None,
    progress: Callable[[str], None] | None = None,
) -> PersonaReport:
    """Read the specialization's author bundles and generate personas with the configured LLM."""
    from jedi_academy.guard.contamination import guard_for_all_instruments
    from jedi_academy.llm import open_llm
    from jedi_academy.reddit import load_author_bundles
    from jedi_academy.specializations import get_specialization, sync_specializations
    from jedi_academy.store import open_database

    specialization = get_specialization(specialization_id, settings)
    bundles = load_author_bundles(
        settings, specialization.id, out_dir=reddit_dir, min_comments=options.selection.min_comments
    )
    if not bundles:
        raise AcademyError(
            f"no author in the ingested '{specialization.id}' data has "
            f"{options.selection.min_comments} or more comments",
            "ingest more data or lower --min-comments",
        )
    database = open_database(settings)
    sync_specializations(database, [specialization])
    guard = guard_for_all_instruments(settings.data_dir)
    llm = open_llm(settings, backend=backend, model=model)
    return generate_personas(database, llm, specialization, bundles, options, guard=guard, progress=progress)


def require_generated(report: PersonaReport, options: PersonaOptions) -> None:
    """A clear error when a run asked for personas and stored none."""
    if report.generated or options.n == 0:
        return
    rules = options.selection
    if report.eligible == 0:
        raise AcademyError(
            f"none of the {report.authors} authors has {rules.min_comments}+ comments "
            f"and {rules.min_words}+ words",
            "ingest more data, or lower --min-comments / --min-words",
        )
    if report.tried == 0:
        raise AcademyError(
            f"all {report.eligible} eligible authors of '{report.specialization}' already have a persona",
            "ingest more data to reach new authors",
        )
    reasons = ", ".join(f"{reason} {count}" for reason, count in sorted(report.rejected.items()))
    raise AcademyError(
        f"no persona was stored: {report.tried} author(s) tried, {report.replies} replies rejected "
        f"({reasons or 'none'}), {report.near_duplicates} near-duplicate(s)",
        "raise --max-tokens or --max-attempts, or use a more capable model",
    )
