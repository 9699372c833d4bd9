"""SQLAlchemy models. Schema changes go through an Alembic revision in ``migrations/versions``.

Later waves (therapy sessions, recommendations, portfolios) add tables that reference ``personas``,
``checkpoints`` and ``dataset_versions`` by key; nothing here needs to change for them.
"""

from __future__ import annotations

import os
import socket
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, DateTime, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSON, list[Any]: JSON}  # noqa: RUF012


class Artifact(Base):
    """A file or folder under ``<data_dir>/artifacts``, named by the SHA-256 of its content."""

    __tablename__ = "artifacts"

    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    relpath: Mapped[str] = mapped_column(String(512))
    size_bytes: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Specialization(Base):
    __tablename__ = "specializations"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    display_name: Mapped[str] = mapped_column(String(200))
    definition_sha256: Mapped[str] = mapped_column(String(64))
    definition: Mapped[dict[str, Any]] = mapped_column(default=dict)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)


class IngestRun(Base):
    __tablename__ = "ingest_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    status: Mapped[str] = mapped_column(String(16), default="running")  # running|completed|partial|failed
    inputs: Mapped[list[Any]] = mapped_column(default=list)  # [{path, size, head_sha256}]
    specializations: Mapped[list[Any]] = mapped_column(default=list)
    rules: Mapped[dict[str, Any]] = mapped_column(default=dict)
    counts: Mapped[dict[str, Any]] = mapped_column(default=dict)
    output_dir: Mapped[str | None] = mapped_column(String(1024))
    error: Mapped[str | None] = mapped_column(Text)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    duration_s: Mapped[float | None] = mapped_column(Float)
    # The process that last wrote the row: a ``running`` row whose process is gone is marked failed
    # (store/ownership.py). Set on every insert and update, so a resumed run belongs to its new process.
    owner_pid: Mapped[int | None] = mapped_column(Integer, default=os.getpid, onupdate=os.getpid)
    owner_host: Mapped[str | None] = mapped_column(
        String(255), default=socket.gethostname, onupdate=socket.gethostname
    )


class Persona(Base):
    __tablename__ = "personas"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    specialization_id: Mapped[str] = mapped_column(ForeignKey("specializations.id"), index=True)
    card: Mapped[dict[str, Any]] = mapped_column(default=dict)  # what a therapist may see
    # Provenance: never shown to a therapist.
    source_author_hash: Mapped[str | None] = mapped_column(String(128))
    source_comment_ids: Mapped[list[Any]] = mapped_column(default=list)
    backend: Mapped[str] = mapped_column(String(32))
    model: Mapped[str] = mapped_column(String(256))
    prompt_version: Mapped[str] = mapped_column(String(32))
    seed: Mapped[int] = mapped_column(Integer, default=0)
    metrics: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    # Set when its source was erased (`academy erase`) and a case still names it: the card and provenance
    # are emptied, the row stays so that the case keeps its key.
    erased_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Conversation(Base):
    __tablename__ = "conversations"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    persona_id: Mapped[str] = mapped_column(ForeignKey("personas.id"), index=True)
    specialization_id: Mapped[str] = mapped_column(ForeignKey("specializations.id"), index=True)
    origin: Mapped[str] = mapped_column(String(32), default="generated")  # generated|session|...
    provenance: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    turns: Mapped[list[Turn]] = relationship(
        back_populates="conversation", order_by="Turn.turn", cascade="all, delete-orphan"
    )


class Turn(Base):
    __tablename__ = "turns"
    __table_args__ = (UniqueConstraint("conversation_id", "turn"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    conversation_id: Mapped[str] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"))
    turn: Mapped[int] = mapped_column(Integer)
    question: Mapped[str] = mapped_column(Text)
    answer: Mapped[str] = mapped_column(Text)

    conversation: Mapped[Conversation] = relationship(back_populates="turns")


class DatasetVersion(Base):
    """An immutable set of conversations; ``id`` is the hash of its rows."""

    __tablename__ = "dataset_versions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    parent_id: Mapped[str | None] = mapped_column(ForeignKey("dataset_versions.id"))
    specializations: Mapped[list[Any]] = mapped_column(default=list)
    stats: Mapped[dict[str, Any]] = mapped_column(default=dict)
    export_sha256: Mapped[str | None] = mapped_column(ForeignKey("artifacts.sha256"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class DatasetMember(Base):
    __tablename__ = "dataset_members"

    dataset_id: Mapped[str] = mapped_column(ForeignKey("dataset_versions.id"), primary_key=True)
    conversation_id: Mapped[str] = mapped_column(ForeignKey("conversations.id"), primary_key=True)
    split: Mapped[str] = mapped_column(String(16))  # train|validation


class Checkpoint(Base):
    """A patient model: the base, or a LoRA adapter (local) or fine-tuned model id (remote) on top of it."""

    __tablename__ = "checkpoints"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    specialization_id: Mapped[str | None] = mapped_column(ForeignKey("specializations.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # base|lora|remote
    base_model: Mapped[str] = mapped_column(String(256))
    adapter_sha256: Mapped[str | None] = mapped_column(ForeignKey("artifacts.sha256"))
    remote_model_id: Mapped[str | None] = mapped_column(String(256))
    dataset_id: Mapped[str | None] = mapped_column(ForeignKey("dataset_versions.id"))
    parent_id: Mapped[str | None] = mapped_column(ForeignKey("checkpoints.id"))
    hyperparameters: Mapped[dict[str, Any]] = mapped_column(default=dict)
    seed: Mapped[int] = mapped_column(Integer, default=0)
    metrics: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # "patient", or "control": a loop's no-therapist child (loop/control.py), never a case's current
    # checkpoint nor the specialization's patient model
    role: Mapped[str] = mapped_column(String(16), default="patient", server_default="patient")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    # Retired: trained on erased data. Kept in the lineage, never offered for new cases, loaded or served.
    # Not part of the ledger content (store/ledger.py names its fields), so retiring is no edit of the record.
    retired_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    retired_by: Mapped[str | None] = mapped_column(String(64))  # the erasure's id


class AssessmentRun(Base):
    __tablename__ = "assessment_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    checkpoint_id: Mapped[str | None] = mapped_column(ForeignKey("checkpoints.id"), index=True)
    model: Mapped[str] = mapped_column(String(256))
    backend: Mapped[str] = mapped_column(String(32))
    persona_id: Mapped[str | None] = mapped_column(ForeignKey("personas.id"), index=True)
    instrument_id: Mapped[str] = mapped_column(String(64))
    instrument_version: Mapped[str] = mapped_column(String(32))
    prompt_version: Mapped[str] = mapped_column(String(32))
    mode: Mapped[str] = mapped_column(String(16))  # logprob|sample
    seed: Mapped[int] = mapped_column(Integer, default=0)
    total: Mapped[float | None] = mapped_column(Float)
    ci_low: Mapped[float | None] = mapped_column(Float)
    ci_high: Mapped[float | None] = mapped_column(Float)
    result: Mapped[dict[str, Any]] = mapped_column(default=dict)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    duration_s: Mapped[float | None] = mapped_column(Float)

    items: Mapped[list[ItemResult]] = relationship(
        back_populates="run", order_by="ItemResult.position", cascade="all, delete-orphan"
    )


class ItemResult(Base):
    __tablename__ = "item_results"
    __table_args__ = (UniqueConstraint("run_id", "item_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("assessment_runs.id", ondelete="CASCADE"))
    item_id: Mapped[str] = mapped_column(String(64))
    position: Mapped[int] = mapped_column(Integer)
    distribution: Mapped[dict[str, Any]] = mapped_column(default=dict)  # value -> probability
    expected_value: Mapped[float | None] = mapped_column(Float)
    argmax_value: Mapped[float | None] = mapped_column(Float)
    entropy: Mapped[float | None] = mapped_column(Float)
    order_sensitivity: Mapped[float | None] = mapped_column(Float)
    n_missing: Mapped[int] = mapped_column(Integer, default=0)
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)

    run: Mapped[AssessmentRun] = relationship(back_populates="items")


class FeedbackRecord(Base):
    """MITI-style feedback on one therapy session. ``session_id`` is opaque: no foreign key until the
    sessions table exists."""

    __tablename__ = "feedback"

    session_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    transcript_sha256: Mapped[str] = mapped_column(String(64))
    backend: Mapped[str] = mapped_column(String(32))
    model: Mapped[str] = mapped_column(String(256))
    prompt_version: Mapped[str] = mapped_column(String(32))
    scheme_version: Mapped[str] = mapped_column(String(64))
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)  # codes, ratings, summary
    payload_sha256: Mapped[str] = mapped_column(String(64))  # verified on every load
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


# ---------------------------------------------------------------- therapy sessions (issue 15)


class Therapist(Base):
    __tablename__ = "therapists"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    disabled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))  # no sign-in, no sessions


class Case(Base):
    """One persona worked by one therapist, on a patient checkpoint that later sessions may replace."""

    __tablename__ = "cases"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    therapist_id: Mapped[str] = mapped_column(ForeignKey("therapists.id"), index=True)
    specialization_id: Mapped[str] = mapped_column(ForeignKey("specializations.id"), index=True)
    persona_id: Mapped[str] = mapped_column(ForeignKey("personas.id"), index=True)
    start_checkpoint_id: Mapped[str] = mapped_column(ForeignKey("checkpoints.id"))
    current_checkpoint_id: Mapped[str] = mapped_column(ForeignKey("checkpoints.id"))
    current_branch: Mapped[str] = mapped_column(String(64), default="main")
    status: Mapped[str] = mapped_column(String(16), default="open")  # open|closed
    intake: Mapped[dict[str, Any]] = mapped_column(default=dict)  # the sheet the therapist saw at opening
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    closure: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)  # `case close` evaluation
    # archived: out of the lists and pages, kept (with its sessions' ledger entries)
    archived_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # the measurement protocol fixed at `case open` (assessment.protocol.Protocol) and the baseline run id per
    # instrument measured then; both None for cases opened before protocols (migration 0019)
    protocol: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    baseline_runs: Mapped[dict[str, int] | None] = mapped_column(JSON, default=None)


class TherapySession(Base):
    __tablename__ = "therapy_sessions"
    __table_args__ = (UniqueConstraint("case_id", "number"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    case_id: Mapped[str] = mapped_column(ForeignKey("cases.id"), index=True)
    number: Mapped[int] = mapped_column(Integer)  # 1, 2, ... within the case
    branch: Mapped[str] = mapped_column(String(64), default="main")
    checkpoint_id: Mapped[str] = mapped_column(ForeignKey("checkpoints.id"), index=True)
    seed: Mapped[int] = mapped_column(Integer)
    mode: Mapped[str] = mapped_column(String(16))  # interactive|replay
    status: Mapped[str] = mapped_column(String(16), default="active")  # active|ending|ended
    params: Mapped[dict[str, Any]] = mapped_column(default=dict)  # generation settings, prompt versions
    patient: Mapped[dict[str, Any]] = mapped_column(default=dict)  # backend, model, adapter of the replies
    teacher: Mapped[dict[str, Any]] = mapped_column(default=dict)  # backend, model of the extraction
    flags: Mapped[list[Any]] = mapped_column(default=list)  # risk content: [{turn, speaker, category}]
    extraction: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    archived_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))  # not in the ledger content


class SessionTurn(Base):
    """One therapist utterance and the patient's reply; ``patient`` is NULL until the reply is complete."""

    __tablename__ = "session_turns"
    __table_args__ = (UniqueConstraint("session_id", "index"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    session_id: Mapped[str] = mapped_column(ForeignKey("therapy_sessions.id", ondelete="CASCADE"), index=True)
    index: Mapped[int] = mapped_column(Integer)
    therapist: Mapped[str] = mapped_column(Text)
    patient: Mapped[str | None] = mapped_column(Text)
    seed: Mapped[int] = mapped_column(Integer)
    risk: Mapped[list[Any]] = mapped_column(default=list)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    seconds: Mapped[float | None] = mapped_column(Float)
    # earlier turns left out of the patient's prompt so that it fits the model's context
    context_dropped: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class Recommendation(Base):
    __tablename__ = "recommendations"
    __table_args__ = (UniqueConstraint("session_id", "index"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    session_id: Mapped[str] = mapped_column(ForeignKey("therapy_sessions.id", ondelete="CASCADE"), index=True)
    index: Mapped[int] = mapped_column(Integer)  # order within the session; seeds its accept/ignore draw
    turn: Mapped[int] = mapped_column(Integer)
    text: Mapped[str] = mapped_column(Text)
    kind: Mapped[str | None] = mapped_column(String(32))
    source: Mapped[str] = mapped_column(String(16))  # therapist|extracted
    mode: Mapped[str | None] = mapped_column(String(16))  # logprob|sample
    p_accept: Mapped[float | None] = mapped_column(Float)
    u: Mapped[float | None] = mapped_column(Float)
    accepted: Mapped[bool | None] = mapped_column()
    phrasings: Mapped[list[Any]] = mapped_column(default=list)  # [{text, p_yes, mass, ...}]
    # median P(yes) + P(no) over the phrasings; below 0.5 the decision is invalid_preference (issue 25)
    preference_mass: Mapped[float | None] = mapped_column(Float, default=None)
    # accepted|ignored|invalid_preference|undecided; None in rows written before it existed
    decision: Mapped[str | None] = mapped_column(String(24), default=None)
    # the teacher's judgement of accepted advice for this persona: {judgement, reason, reply, seed, ...}
    advice: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


# ---------------------------------------------------------------- web accounts (issue 17)


class WebAccount(Base):
    """A therapist's sign-in: email, argon2 password hash, or a pending one-time invite (its SHA-256 only)."""

    __tablename__ = "web_accounts"

    therapist_id: Mapped[str] = mapped_column(ForeignKey("therapists.id"), primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    password_hash: Mapped[str | None] = mapped_column(String(256))
    invite_sha256: Mapped[str | None] = mapped_column(String(64), index=True)
    invite_expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    password_changed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class WebSession(Base):
    """A browser's login session; the cookie carries the signed id, the table only its SHA-256."""

    __tablename__ = "web_sessions"

    id_sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    therapist_id: Mapped[str | None] = mapped_column(ForeignKey("therapists.id"), index=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class LoginAttempt(Base):
    __tablename__ = "login_attempts"
    __table_args__ = (Index("ix_login_attempts_key_at", "key", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(String(400))  # "email:..." or "ip:..."
    succeeded: Mapped[bool] = mapped_column()
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
# ---------------------------------------------------------------- the improvement loop (issue 16)


class LoopRun(Base):
    """One loop iteration after one session: expansion, merge, re-fine-tune, re-assess. Each step's outcome is
    committed as it finishes, so a re-run skips it and a killed run resumes at the next one."""

    __tablename__ = "loop_runs"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    session_id: Mapped[str] = mapped_column(ForeignKey("therapy_sessions.id"), unique=True)
    case_id: Mapped[str] = mapped_column(ForeignKey("cases.id"), index=True)
    branch: Mapped[str] = mapped_column(String(64), default="main")
    status: Mapped[str] = mapped_column(String(16), default="running")  # running|done|failed
    steps: Mapped[dict[str, Any]] = mapped_column(default=dict)  # step -> {status, seconds, finished_at}
    options: Mapped[dict[str, Any]] = mapped_column(default=dict)
    parent_checkpoint_id: Mapped[str] = mapped_column(ForeignKey("checkpoints.id"))
    parent_dataset_id: Mapped[str | None] = mapped_column(String(64))
    conversation_ids: Mapped[list[Any]] = mapped_column(default=list)
    expansion: Mapped[dict[str, Any]] = mapped_column(default=dict)
    dataset_id: Mapped[str | None] = mapped_column(String(64))
    checkpoint_id: Mapped[str | None] = mapped_column(ForeignKey("checkpoints.id"), index=True)
    training: Mapped[dict[str, Any]] = mapped_column(default=dict)
    assessment: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # the no-therapist control arm (loop/control.py): its conversations, dataset, checkpoint, assessment and
    # the therapist effect; {"status": "uncontrolled"} under --no-control
    control: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)


class CaseBranch(Base):
    """A line of sessions of a case, started from one of its checkpoints (``main`` starts at the case's)."""

    __tablename__ = "case_branches"
    __table_args__ = (UniqueConstraint("case_id", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    case_id: Mapped[str] = mapped_column(ForeignKey("cases.id"), index=True)
    name: Mapped[str] = mapped_column(String(64))
    from_checkpoint_id: Mapped[str] = mapped_column(ForeignKey("checkpoints.id"))
    parent_branch: Mapped[str | None] = mapped_column(String(64))
    after_session: Mapped[int | None] = mapped_column(Integer)  # the session whose loop made the checkpoint
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Job(Base):
    """A queued long job (a loop iteration, an experiment): what the queue runs, its progress and outcome. The
    queue only carries the id; this row is the durable record a restarted worker resumes from."""

    __tablename__ = "jobs"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    args: Mapped[dict[str, Any]] = mapped_column(default=dict)
    status: Mapped[str] = mapped_column(String(16), default="queued")  # queued|running|done|failed
    progress: Mapped[dict[str, Any]] = mapped_column(default=dict)  # {step, done, total, message}
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    error: Mapped[str | None] = mapped_column(Text)
    worker: Mapped[str | None] = mapped_column(String(128))  # host:pid of the worker running it
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    heartbeat_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class LedgerEntry(Base):
    """One link of the append-only hash chain over the records a portfolio relies on (see ``store.ledger``).

    ``body_sha256`` hashes (seq, kind, subject_id, content_sha256); ``entry_sha256`` hashes the previous
    entry's hash with this body, so changing any earlier record or entry breaks every later link.
    """

    __tablename__ = "ledger"

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    kind: Mapped[str] = mapped_column(String(32))
    subject_id: Mapped[str] = mapped_column(String(128))
    content_sha256: Mapped[str] = mapped_column(String(64))
    body_sha256: Mapped[str] = mapped_column(String(64))
    prev_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    entry_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Erasure(Base):
    """One `academy erase`: what it removed and retired, as record ids and counts (never the erased authors'
    pseudonyms or words). Sealed in the ledger as a tombstone, so a record it deleted reads as erased, not
    as missing. ``pending`` lists the work left after the commit (files to delete, dataset versions to
    rebuild); ``finished_at`` is set when it is done, so a re-run finishes an interrupted erasure."""

    __tablename__ = "erasures"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    summary: Mapped[dict[str, Any]] = mapped_column(default=dict)
    pending: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
