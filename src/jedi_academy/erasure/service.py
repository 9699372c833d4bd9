"""``academy erase``: one erasure, planned, applied in one database transaction, then finished on disk.

1. Find: the comments of the authors (or the comments named) in every ingest output folder; the personas
   drawn from them (by author, or citing one of the comments); their conversations (generated, and those the
   loop made from sessions); the dataset versions holding those; the checkpoints trained on those versions
   and every checkpoint trained on top of one; the assessment runs on the personas; the cases on them.
2. Apply, in one transaction with the tombstone's ledger entry: delete the conversations, their dataset
   memberships and the assessment runs; delete each persona, or, where a case still names it, empty its
   card and provenance and mark it erased; retire the checkpoints; close the open cases on the personas
   with a note (their intake sheet emptied); record the erasure.
3. Finish, after the commit: rewrite the comment files without the comments (and rebuild the bundles),
   delete the dataset versions' exports, and build the new dataset versions without the erased
   conversations. Each step is idempotent and the erasure is marked finished at the end, so a re-run (of
   any erase) completes an interrupted one.

The whole runs under the data directory's writer lock. The tombstone names records by id and counts them; it
holds nothing of the erased words, authors or comment ids.
"""

from __future__ import annotations

import secrets
import shutil
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from jedi_academy.erasure.comments import find_comments, rewrite_without
from jedi_academy.erasure.requests import ErasureRequest
from jedi_academy.errors import AcademyError
from jedi_academy.store import ArtifactStore, Database, data_dir_lock
from jedi_academy.store.dependents import referencing_counts
from jedi_academy.store.ledger import append_record
from jedi_academy.store.models import (
    Artifact,
    AssessmentRun,
    Case,
    Checkpoint,
    Conversation,
    DatasetMember,
    DatasetVersion,
    Erasure,
    IngestRun,
    LoopRun,
    Persona,
)

if TYPE_CHECKING:
    from jedi_academy.config import Settings

CLOSING_NOTE = (
    "closed by erasure {id}: the words its persona was made from were erased at the author's request"
)


@dataclass
class Plan:
    comments: int = 0
    comment_files: list[str] = field(default_factory=list)
    personas: list[str] = field(default_factory=list)
    conversations: list[str] = field(default_factory=list)
    dataset_versions: list[str] = field(default_factory=list)
    checkpoints: list[str] = field(default_factory=list)
    assessment_runs: list[int] = field(default_factory=list)
    cases: list[str] = field(default_factory=list)
    files: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.comments or self.personas or self.conversations)


@dataclass
class ErasureResult:
    dry_run: bool
    erasure_id: str | None = None
    comments: int = 0
    personas_deleted: list[str] = field(default_factory=list)
    personas_kept_erased: list[str] = field(default_factory=list)  # a case names them: emptied, kept
    conversations: int = 0
    assessment_runs: int = 0
    dataset_versions: list[str] = field(default_factory=list)  # versions that held erased conversations
    new_dataset_versions: dict[str, str] = field(default_factory=dict)  # old -> rebuilt without them
    checkpoints_retired: list[str] = field(default_factory=list)
    cases_closed: list[str] = field(default_factory=list)
    files_removed: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def lines(self) -> list[str]:
        if not (self.comments or self.conversations or self.personas_deleted or self.personas_kept_erased):
            return ["nothing to erase: no stored comment, persona or conversation matches", *self.notes]
        verb = "would remove" if self.dry_run else "removed"
        head = "dry run, nothing changed" if self.dry_run else f"erasure {self.erasure_id}"
        personas = len(self.personas_deleted) + len(self.personas_kept_erased)
        lines = [
            f"{head}: {verb} {self.comments} comment(s), {personas} persona(s), "
            f"{self.conversations} conversation(s), {self.assessment_runs} assessment run(s)"
        ]
        if self.personas_kept_erased:
            lines.append(
                f"  personas emptied but kept (a case names them): {', '.join(self.personas_kept_erased)}"
            )
        if self.dataset_versions:
            lines.append(
                f"  dataset versions without their erased conversations: {_ids(self.dataset_versions)}"
            )
        for old, new in self.new_dataset_versions.items():
            lines.append(f"  new dataset version {new[:12]} replaces {old[:12]}")
        retire = "would retire" if self.dry_run else "retired"
        if self.checkpoints_retired:
            lines.append(f"  {retire} checkpoint(s): {', '.join(self.checkpoints_retired)}")
        if self.cases_closed:
            close = "would close" if self.dry_run else "closed"
            lines.append(f"  {close} case(s): {', '.join(self.cases_closed)}")
        if self.files_removed:
            lines.append(
                f"  {'would delete' if self.dry_run else 'deleted'} {len(self.files_removed)} export file(s)"
            )
        return [*lines, *(f"  note: {note}" for note in self.notes)]


def _ids(ids: list[str]) -> str:
    return ", ".join(i[:12] for i in ids)


def ingest_folders(settings: Settings, session: Session) -> list[Path]:
    """Every folder an ingest wrote to, and the default one."""
    from jedi_academy.reddit.layout import default_output_dir

    named = {
        Path(p)
        for p in session.scalars(select(IngestRun.output_dir).where(IngestRun.output_dir.is_not(None)))
        if p is not None
    }
    named.add(default_output_dir(settings))
    return sorted(p for p in named if p.is_dir())


def erase(
    settings: Settings, database: Database, request: ErasureRequest, *, dry_run: bool = False
) -> ErasureResult:
    """Erase what ``request`` names (see the module's docstring); ``dry_run`` only says what would go."""
    if not request:
        raise AcademyError("nothing to erase was named", "give --author, --comment or --from-file")
    with data_dir_lock(settings.data_dir, "erase"):
        result = ErasureResult(dry_run=dry_run)
        store = ArtifactStore(settings.data_dir)
        with database.session() as session:
            folders = ingest_folders(settings, session)
            matches = find_comments(folders, set(request.authors), set(request.comments))
            comment_ids = matches.ids | set(request.comments)
            plan = _plan(session, settings, store, set(request.authors), comment_ids)
            plan.comments = sum(matches.by_file.values())
            plan.comment_files = [str(p) for p in matches.by_file]
            _describe(session, plan, result)
            if dry_run or not plan:
                if not dry_run:
                    result.notes += finish_pending(settings, database, store)
                return result
            result.erasure_id = _apply(session, plan)
        for path in matches.by_file:
            rewrite_without(path, comment_ids)
        result.notes += finish_pending(settings, database, store, rebuilt=result.new_dataset_versions)
        return result


def _plan(
    session: Session, settings: Settings, store: ArtifactStore, authors: set[str], comment_ids: set[str]
) -> Plan:
    plan = Plan()
    personas = [
        p
        for p in session.scalars(select(Persona).where(Persona.erased_at.is_(None)).order_by(Persona.id))
        if p.source_author_hash in authors or comment_ids & set(p.source_comment_ids or [])
    ]
    plan.personas = [p.id for p in personas]
    if plan.personas:
        plan.conversations = list(
            session.scalars(
                select(Conversation.id)
                .where(Conversation.persona_id.in_(plan.personas))
                .order_by(Conversation.id)
            )
        )
        plan.assessment_runs = list(
            session.scalars(select(AssessmentRun.id).where(AssessmentRun.persona_id.in_(plan.personas)))
        )
        plan.cases = list(session.scalars(select(Case.id).where(Case.persona_id.in_(plan.personas))))
    if plan.conversations:
        plan.dataset_versions = sorted(
            set(
                session.scalars(
                    select(DatasetMember.dataset_id).where(
                        DatasetMember.conversation_id.in_(plan.conversations)
                    )
                )
            )
        )
    plan.checkpoints = _trained_on(session, plan.dataset_versions)
    plan.files = _export_files(session, settings, store, plan.dataset_versions)
    return plan


def _trained_on(session: Session, dataset_ids: list[str]) -> list[str]:
    """The checkpoints trained on the versions, and every checkpoint trained on top of one of them."""
    if not dataset_ids:
        return []
    found = set(session.scalars(select(Checkpoint.id).where(Checkpoint.dataset_id.in_(dataset_ids))))
    frontier = set(found)
    while frontier:
        children = set(session.scalars(select(Checkpoint.id).where(Checkpoint.parent_id.in_(frontier))))
        frontier = children - found
        found |= children
    retired = set(session.scalars(select(Checkpoint.id).where(Checkpoint.retired_at.is_not(None))))
    return sorted(found - retired)


def _export_files(
    session: Session, settings: Settings, store: ArtifactStore, dataset_ids: list[str]
) -> list[str]:
    """The dataset versions' export artifacts and the files `academy run` exported from them."""
    files: list[str] = []
    exports = settings.path("exports")
    for version in session.scalars(select(DatasetVersion).where(DatasetVersion.id.in_(dataset_ids))):
        artifact = session.get(Artifact, version.export_sha256) if version.export_sha256 else None
        if artifact is not None:
            files.append(str(store.path(artifact)))
        if exports.is_dir():
            files += [str(p) for p in sorted(exports.glob(f"*{version.id[:12]}*"))]
    return files


def _describe(session: Session, plan: Plan, result: ErasureResult) -> None:
    result.comments = plan.comments
    for persona_id in plan.personas:
        others = referencing_counts(session, "personas", [persona_id])
        kept = {t for t in others if t not in ("conversations", "assessment_runs")}
        (result.personas_kept_erased if kept else result.personas_deleted).append(persona_id)
    result.conversations = len(plan.conversations)
    result.assessment_runs = len(plan.assessment_runs)
    result.dataset_versions = plan.dataset_versions
    result.checkpoints_retired = plan.checkpoints
    result.cases_closed = [
        c for c in plan.cases if (row := session.get(Case, c)) is not None and row.status == "open"
    ]
    result.files_removed = [f for f in plan.files if Path(f).exists()]


def _apply(session: Session, plan: Plan) -> str:
    now = datetime.now(UTC)
    erasure_id = f"erasure-{secrets.token_hex(5)}"
    if plan.conversations:
        session.execute(delete(DatasetMember).where(DatasetMember.conversation_id.in_(plan.conversations)))
        for conversation in session.scalars(
            select(Conversation).where(Conversation.id.in_(plan.conversations))
        ):
            session.delete(conversation)  # its turns go with it
        erased = set(plan.conversations)
        for loop_run in session.scalars(select(LoopRun)):  # ids only, but a stale id misleads
            if erased & set(loop_run.conversation_ids or []):
                loop_run.conversation_ids = [c for c in loop_run.conversation_ids if c not in erased]
    for run in session.scalars(select(AssessmentRun).where(AssessmentRun.id.in_(plan.assessment_runs))):
        session.delete(run)
    for checkpoint in session.scalars(select(Checkpoint).where(Checkpoint.id.in_(plan.checkpoints))):
        checkpoint.retired_at, checkpoint.retired_by = now, erasure_id
    closed = []
    for case in session.scalars(select(Case).where(Case.id.in_(plan.cases))):
        case.intake = {"specialization": case.intake.get("specialization"), "erased": True}  # was the card
        if case.status == "open":
            case.status, case.closed_at = "closed", now
            case.closure = {
                "case_id": case.id,
                "closed_at": now.isoformat(timespec="seconds"),
                "erased": True,
                "erasure_id": erasure_id,
                "note": CLOSING_NOTE.format(id=erasure_id),
            }
            closed.append(case.id)
    session.flush()
    kept = []
    for persona in session.scalars(select(Persona).where(Persona.id.in_(plan.personas))):
        if referencing_counts(session, "personas", [persona.id]):
            persona.card, persona.source_author_hash, persona.source_comment_ids = {}, None, []
            persona.metrics, persona.erased_at = {}, now
            kept.append(persona.id)
        else:
            session.delete(persona)
    session.flush()
    erasure = Erasure(
        id=erasure_id,
        summary={
            "counts": {
                "comments": plan.comments,
                "personas": len(plan.personas),
                "conversations": len(plan.conversations),
                "assessment_runs": len(plan.assessment_runs),
                "dataset_versions": len(plan.dataset_versions),
                "checkpoints_retired": len(plan.checkpoints),
                "cases_closed": len(closed),
            },
            "deleted_records": {"assessment_run": [str(i) for i in sorted(plan.assessment_runs)]},
            "dataset_versions": plan.dataset_versions,
            "retired_checkpoints": plan.checkpoints,
            "closed_cases": sorted(closed),
            "personas_kept_erased": sorted(kept),
            "erased_at": now.isoformat(timespec="seconds"),
        },
        pending={"files": plan.files, "rebuild": plan.dataset_versions},
        created_at=now,
    )
    session.add(erasure)
    append_record(session, erasure)
    return erasure_id


def finish_pending(
    settings: Settings, database: Database, store: ArtifactStore, *, rebuilt: dict[str, str] | None = None
) -> list[str]:
    """Finish every erasure whose disk work was interrupted (or has just been committed): delete its files,
    build its new dataset versions. Returns notes (a version that could not be rebuilt)."""
    from jedi_academy.datasets.versions import build_dataset

    notes: list[str] = []
    with database.session() as session:
        unfinished = [
            (e.id, dict(e.pending))
            for e in session.scalars(select(Erasure).where(Erasure.finished_at.is_(None)))
        ]
    for erasure_id, pending in unfinished:
        for name in pending.get("files", []):
            path = Path(name)
            if path.is_dir():
                shutil.rmtree(path)
            else:
                path.unlink(missing_ok=True)
        new_versions: dict[str, str] = dict(pending.get("rebuilt", {}))
        for old in pending.get("rebuild", []):
            if old in new_versions:
                continue
            with database.session() as session:
                version = session.get(DatasetVersion, old)
                members = list(
                    session.scalars(
                        select(DatasetMember.conversation_id).where(DatasetMember.dataset_id == old)
                    )
                )
                specializations = list(version.specializations) if version else []
                stats = dict(version.stats) if version else {}
            if not members:
                new_versions[old] = ""
                notes.append(f"dataset version {old[:12]} held only erased conversations: no new version")
                continue
            try:
                new, _ = build_dataset(
                    database,
                    store,
                    specializations,
                    validation_fraction=float(stats.get("validation_fraction", 0.1)),
                    seed=int(stats.get("seed", 0)),
                    conversation_ids=members,
                )
            except AcademyError as exc:
                notes.append(f"dataset version {old[:12]} was not rebuilt: {exc}")
                new_versions[old] = ""
                continue
            new_versions[old] = new.id
        with database.session() as session:
            row = session.get(Erasure, erasure_id)
            assert row is not None
            row.pending = {**pending, "rebuilt": new_versions}
            row.finished_at = datetime.now(UTC)
        if rebuilt is not None:
            rebuilt.update({old: new for old, new in new_versions.items() if new})
    return notes
