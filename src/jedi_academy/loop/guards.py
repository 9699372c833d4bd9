"""The checks every loop conversation passes before it may be trained on: no instrument wording (the
contamination guard of the conversations stage), no sudden cure (its self-cure check), no run of the persona's
author's own words (the persona leak limits), no empty answer."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from jedi_academy.conversations.replies import sounds_resolved
from jedi_academy.personas.overlap import longest_common_run, words
from jedi_academy.personas.privacy import LeakLimits

if TYPE_CHECKING:
    from jedi_academy.config import Settings
    from jedi_academy.conversations.contamination import ContaminationGuard
    from jedi_academy.store import Database


@dataclass
class LoopGuards:
    contamination: ContaminationGuard
    sources: list[tuple[str, ...]]  # the author's comments as words; empty when the ingest is not there
    leak: LeakLimits
    leak_checked: bool

    def problem(self, text: str, *, patient: bool = True) -> str | None:
        """Why ``text`` may not be trained on, or None. Therapist lines are only checked for wording."""
        if not text.strip():
            return "empty"
        if self.contamination.is_contaminated(text):
            return "contaminated"
        if not patient:
            return None
        if sounds_resolved(text):
            return "self_cure"
        if self.sources and longest_common_run([words(text)], self.sources) > self.leak.max_common_run:
            return "leak"
        return None

    def describe(self) -> dict[str, Any]:
        return {
            "instruments": self.contamination.checked_instruments,
            "unchecked_instruments": list(self.contamination.unchecked_instruments),
            "settings": asdict(self.contamination.settings),
            "self_cure": True,
            "leak_checked": self.leak_checked,
            "leak_max_common_run": self.leak.max_common_run,
        }


def loop_guards(settings: Settings, database: Database, persona_id: str, specialization: str) -> LoopGuards:
    from jedi_academy.conversations.contamination import guard_for_specialization

    guard = guard_for_specialization(specialization, data_dir=settings.data_dir)
    sources = _author_comments(settings, database, persona_id, specialization)
    return LoopGuards(guard, [words(t) for t in sources], LeakLimits(), bool(sources))


def _author_comments(
    settings: Settings, database: Database, persona_id: str, specialization: str
) -> list[str]:
    """The comments the persona was built from, when the ingest output is on this machine."""
    from jedi_academy.errors import AcademyError
    from jedi_academy.reddit.bundles import load_author_bundles
    from jedi_academy.store.models import Persona

    with database.session() as session:
        persona = session.get(Persona, persona_id)
        if persona is None or not persona.source_author_hash:
            return []
        author, wanted = persona.source_author_hash, set(persona.source_comment_ids)
    try:
        bundles = load_author_bundles(settings, specialization)
    except AcademyError:
        return []
    return [c.body for b in bundles if b.author == author for c in b.comments if c.id in wanted]
