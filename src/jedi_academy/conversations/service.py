"""Wiring for ``academy conversations generate``: settings in, report out."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from jedi_academy.conversations.generate import (
    ConversationOptions,
    ConversationReport,
    PersonaInput,
    generate_conversations,
)
from jedi_academy.errors import AcademyError
from jedi_academy.personas.card import read_card
from jedi_academy.personas.records import get_persona
from jedi_academy.store.models import Persona

if TYPE_CHECKING:
    from jedi_academy.config import Settings
    from jedi_academy.store import Database


def personas_for(
    database: Database,
    specialization: str,
    wanted: Sequence[str] = (),
    sources: Mapping[str, Sequence[str]] | None = None,
) -> list[PersonaInput]:
    """The specialization's personas (all, or those named by id or prefix), oldest first; ``sources`` maps an
    author pseudonym to their comments (for the answers' leak check)."""
    with database.session() as session:
        if wanted:
            rows = [get_persona(session, w) for w in wanted]
            foreign = [r.id for r in rows if r.specialization_id != specialization]
            if foreign:
                raise AcademyError(
                    f"persona(s) {', '.join(foreign)} do not belong to specialization '{specialization}'"
                )
        else:
            query = select(Persona).where(Persona.specialization_id == specialization)
            rows = list(session.scalars(query.order_by(Persona.created_at, Persona.id)))
        sources = sources or {}
        return [
            PersonaInput(
                r.id,
                read_card(r.card),
                r.prompt_version,
                _own_comments(sources.get(r.source_author_hash or "", ()), r.source_comment_ids),
            )
            for r in rows
        ]


def _own_comments(comments: Sequence[Any], ids: Sequence[str]) -> tuple[str, ...]:
    wanted = set(ids)
    return tuple(c.body for c in comments if c.id in wanted)


def author_comments(
    settings: Settings, specialization: str, reddit_dir: Path | None = None
) -> dict[str, Sequence[Any]]:
    """Each ingested author's comments, or nothing when the ingest output is not there (then answers are not
    leak-checked, and the report says so: ``leak_checked`` stays 0)."""
    from jedi_academy.reddit import load_author_bundles

    try:
        bundles = load_author_bundles(settings, specialization, out_dir=reddit_dir)
    except AcademyError:
        return {}
    return {bundle.author: bundle.comments for bundle in bundles}


def generate_for_specialization(
    settings: Settings,
    specialization_id: str,
    options: ConversationOptions,
    *,
    persona_ids: Sequence[str] = (),
    backend: str | None = None,
    model: str | None = None,
    reddit_dir: Path | None = None,
    progress: Callable[[str], None] | None = None,
) -> ConversationReport:
    from jedi_academy.conversations.questions import load_question_bank
    from jedi_academy.guard.contamination import guard_for_all_instruments
    from jedi_academy.llm import open_llm
    from jedi_academy.specializations import get_specialization
    from jedi_academy.store import open_database

    specialization = get_specialization(specialization_id, settings)
    database = open_database(settings)
    personas = personas_for(
        database, specialization.id, persona_ids, author_comments(settings, specialization.id, reddit_dir)
    )
    if not personas:
        raise AcademyError(
            f"no personas for specialization '{specialization.id}'",
            f"run `academy personas generate --specialization {specialization.id}` first",
        )
    guard = guard_for_all_instruments(settings.data_dir)
    llm = open_llm(settings, backend=backend, model=model)
    return generate_conversations(
        database,
        llm,
        specialization.id,
        personas,
        load_question_bank(specialization.id),
        guard,
        specialization.persona_guidance,
        options,
        progress=progress,
    )


def require_generated(report: ConversationReport) -> None:
    """A clear error when conversations were asked for and none was stored."""
    if report.generated or report.requested == report.existing:
        return
    reasons = ", ".join(f"{reason} {count}" for reason, count in sorted(report.rejected.items())) or "none"
    hint = "see docs/personas-conversations.md"
    if report.rejected.get("truncated"):
        hint = "raise --max-tokens, or pass --keep-truncated to keep answers cut at the token limit"
    raise AcademyError(
        f"no conversation was stored: {report.requested - report.existing} attempted, "
        f"{report.replies} replies, rejected: {reasons}",
        hint,
    )
