"""The checks every loop conversation passes before it may be trained on, the same the conversations stage
applies: no instrument wording (the contamination guard over every instrument, as dataset builds check), no
sudden cure (the self-cure judge, asked by the teacher of answers that may claim recovery), no run of the
persona's author's own words (the persona leak limits), no empty answer.

The author's comments are looked for wherever an ingest wrote them: ``academy ingest`` into
``<data_dir>/reddit/``, ``academy run`` into ``<data_dir>/reddit/run-<id>/``, ``--out`` anywhere (every
completed ingest run records its output folder). A loop that cannot run the leak check says why
(:attr:`LoopGuards.leak_reason`), in its output and its record: never a silent ``leak_checked: false``."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jedi_academy.conversations.judges import judge_self_cure, may_claim_recovery
from jedi_academy.guard.overlap import longest_common_run, words
from jedi_academy.personas.privacy import LeakLimits

if TYPE_CHECKING:
    from jedi_academy.config import Settings
    from jedi_academy.guard.contamination import ContaminationGuard
    from jedi_academy.llm import LLM
    from jedi_academy.store import Database


@dataclass(frozen=True)
class AuthorSources:
    """The persona's own comments found for the leak check, or why there are none."""

    comments: list[str]
    folder: str | None = None  # the ingest output they came from
    reason: str | None = None  # why the leak check cannot run (None when it can)


@dataclass
class LoopGuards:
    contamination: ContaminationGuard
    sources: list[tuple[str, ...]]  # the author's comments as words; empty when the ingest is not there
    leak: LeakLimits
    leak_checked: bool
    judge: LLM | None = None  # the teacher, for the self-cure judge (None: the judge is off)
    judge_seed: int = 0
    leak_reason: str | None = None  # why the leak check does not run, in plain words
    leak_source: str | None = None  # the ingest output folder the author's comments came from

    def problem(self, text: str, *, question: str = "", patient: bool = True) -> str | None:
        """Why ``text`` may not be trained on, or None. Therapist lines are only checked for wording."""
        if not text.strip():
            return "empty"
        if self.contamination.is_contaminated(text):
            return "contaminated"
        if not patient:
            return None
        if self.leaks(text):
            return "leak"
        claims = self.judge is not None and may_claim_recovery(text)
        if claims and judge_self_cure(self.judge, [(question, text)], self.judge_seed)[0]:  # type: ignore[arg-type]
            return "self_cure"
        return None

    def leaks(self, text: str) -> bool:
        """Whether ``text`` repeats a run of the author's own words longer than the leak limit."""
        if not self.sources:
            return False
        return longest_common_run([words(text)], self.sources) > self.leak.max_common_run

    def wording(self, text: str) -> list[str]:
        """The instrument items (or stems, instructions, options) ``text`` reproduces verbatim, as
        ``phq-9 item 9``, in order and without repeats."""
        return list(dict.fromkeys(f"{m.instrument_id} {m.where}" for m in self.contamination.matches(text)))

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
    found = author_sources(settings, database, persona_id, specialization)
    return LoopGuards(
        guard,
        [words(t) for t in found.comments],
        LeakLimits(),
        bool(found.comments),
        judge,
        leak_reason=found.reason,
        leak_source=found.folder,
    )


def ingest_folders(settings: Settings, database: Database, specialization: str) -> list[Path]:
    """Every folder an ingest of ``specialization`` may have written, newest first: the output folders of
    completed ingest runs (``academy run`` writes ``reddit/run-<id>/``), then the default ``reddit/`` and its
    subfolders (a data directory copied from another machine keeps them under new paths). Only folders that
    hold the specialization's bundles are returned."""
    from sqlalchemy import select

    from jedi_academy.reddit.layout import bundles_file, default_output_dir
    from jedi_academy.store.models import IngestRun

    with database.session() as session:
        rows = session.scalars(
            select(IngestRun).where(IngestRun.status == "completed").order_by(IngestRun.id.desc())
        ).all()
        recorded = [
            Path(r.output_dir) for r in rows if r.output_dir and specialization in (r.specializations or [])
        ]
    default = default_output_dir(settings)
    below = sorted(
        (p for p in default.iterdir() if p.is_dir()) if default.is_dir() else [],
        key=lambda p: p.stat().st_mtime,
        reverse=True,
    )
    found: list[Path] = []
    for folder in [*recorded, default, *below]:
        resolved = folder.resolve()
        if resolved not in found and bundles_file(resolved, specialization).is_file():
            found.append(resolved)
    return found


def author_sources(
    settings: Settings, database: Database, persona_id: str, specialization: str
) -> AuthorSources:
    """The comments the persona was built from, from the newest ingest output that holds its author; or the
    reason the leak check cannot run."""
    from jedi_academy.conversations.service import author_comments
    from jedi_academy.store.models import Persona

    with database.session() as session:
        persona = session.get(Persona, persona_id)
        if persona is None or not persona.source_author_hash:
            reason = f"persona {persona_id} records no Reddit author, so there are no comments of its own"
            return AuthorSources([], reason=reason)
        author, wanted = persona.source_author_hash, set(persona.source_comment_ids)
    folders = ingest_folders(settings, database, specialization)
    if not folders:
        return AuthorSources(
            [],
            reason=f"no ingested Reddit comments of specialization '{specialization}' on this machine "
            f"(looked in {settings.path('reddit')} and the output folders of completed ingest runs); "
            "copy the ingest output here or run `academy ingest`",
        )
    partial = None
    for folder in folders:
        comments = author_comments(settings, specialization, folder).get(author)
        if comments is None:
            continue
        own = [c.body for c in comments if c.id in wanted]
        if own:
            return AuthorSources(own, folder=str(folder))
        partial = partial or (
            f"the ingest output {folder} holds the persona's author but none of the "
            f"{len(wanted)} comment(s) the persona was built from (was it built from another ingest?)"
        )
    looked = ", ".join(str(f) for f in folders)
    absent = f"the persona's author is in none of the ingest outputs on this machine ({looked})"
    return AuthorSources([], reason=partial or absent)
