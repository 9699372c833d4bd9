"""The checks every loop conversation passes before it may be trained on, the same the conversations stage
applies: no instrument wording (the contamination guard over every instrument, as dataset builds check), no
sudden cure (the self-cure judge, asked by the teacher of answers that may claim recovery), no run of the
persona's author's own words (the persona leak limits), no empty answer."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from jedi_academy.conversations.judges import judge_self_cure, may_claim_recovery
from jedi_academy.guard.overlap import longest_common_run, words
from jedi_academy.personas.privacy import LeakLimits

if TYPE_CHECKING:
    from jedi_academy.config import Settings
    from jedi_academy.guard.contamination import ContaminationGuard
    from jedi_academy.llm import LLM
    from jedi_academy.store import Database


@dataclass
class LoopGuards:
    contamination: ContaminationGuard
    sources: list[tuple[str, ...]]  # the author's comments as words; empty when the ingest is not there
    leak: LeakLimits
    leak_checked: bool
    judge: LLM | None = None  # the teacher, for the self-cure judge (None: the judge is off)
    judge_seed: int = 0

    def problem(self, text: str, *, question: str = "", patient: bool = True) -> str | None:
        """Why ``text`` may not be trained on, or None. Therapist lines are only checked for wording."""
        if not text.strip():
            return "empty"
        if self.contamination.is_contaminated(text):
            return "contaminated"
        if not patient:
            return None
        if self.sources and longest_common_run([words(text)], self.sources) > self.leak.max_common_run:
            return "leak"
        claims = self.judge is not None and may_claim_recovery(text)
        if claims and judge_self_cure(self.judge, [(question, text)], self.judge_seed)[0]:  # type: ignore[arg-type]
            return "self_cure"
        return None

    def describe(self) -> dict[str, Any]:
        return {
            "contamination": self.contamination.fingerprint(),
            "self_cure_judge": self.judge is not None,
            "leak_checked": self.leak_checked,
            "leak_max_common_run": self.leak.max_common_run,
        }


def loop_guards(
    settings: Settings, database: Database, persona_id: str, specialization: str, judge: LLM | None
) -> LoopGuards:
    from jedi_academy.guard.contamination import guard_for_all_instruments

    guard = guard_for_all_instruments(settings.data_dir)
    sources = _author_comments(settings, database, persona_id, specialization)
    return LoopGuards(guard, [words(t) for t in sources], LeakLimits(), bool(sources), judge)


def _author_comments(
    settings: Settings, database: Database, persona_id: str, specialization: str
) -> list[str]:
    """The comments the persona was built from, when the ingest output is on this machine."""
    from jedi_academy.conversations.service import author_comments
    from jedi_academy.store.models import Persona

    with database.session() as session:
        persona = session.get(Persona, persona_id)
        if persona is None or not persona.source_author_hash:
            return []
        author, wanted = persona.source_author_hash, set(persona.source_comment_ids)
    comments = author_comments(settings, specialization).get(author, ())
    return [c.body for c in comments if c.id in wanted]
