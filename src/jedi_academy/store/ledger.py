"""The ledger: an append-only, tamper-evident hash chain over the records that track records rely on.

Every dataset version, checkpoint, assessment run and therapy session gets an entry, appended in the same
transaction as the record (``append_record``), so a crash leaves both or neither. An entry hashes:

    content_sha256 = SHA-256(canonical JSON of the record's content)
    body_sha256    = SHA-256(canonical JSON of [seq, kind, subject_id, content_sha256])
    entry_sha256   = SHA-256(prev_sha256 + body_sha256)          (hex strings, concatenated)

with ``prev_sha256`` the previous entry's hash (64 zeros for the first). Changing a record, an entry or the
order of entries breaks every later link. Because an entry hash needs only the previous hash and a body hash,
a subset of entries can be checked against a head (``verify_links``) given the body hashes of the entries
between them, which reveal nothing about the records they cover.

Appends are serialised: ``seq`` is the primary key and ``prev_sha256`` is unique, so two writers racing for
the same head cannot fork the chain; the loser's transaction fails. On PostgreSQL the table is locked for the
append, so writers queue instead of failing.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session, object_session

from jedi_academy.results import Result
from jedi_academy.store.models import (
    AssessmentRun,
    Checkpoint,
    DatasetVersion,
    Erasure,
    LedgerEntry,
    Recommendation,
    SessionTurn,
    TherapySession,
)

GENESIS = "0" * 64


# ---------------------------------------------------------------- hashing


def canonical_json(value: Any) -> bytes:
    """The one byte form every hash is taken over: sorted keys, no whitespace, UTF-8."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def content_sha256(content: Any) -> str:
    return sha256_hex(canonical_json(content))


def body_sha256(seq: int, kind: str, subject_id: str, content_hash: str) -> str:
    return sha256_hex(canonical_json([seq, kind, subject_id, content_hash]))


def entry_sha256(prev: str, body: str) -> str:
    return sha256_hex((prev + body).encode("ascii"))


def normalised(content: Any) -> Any:
    """Content as it reads back from a JSON column (tuples become lists, int keys strings)."""
    return json.loads(canonical_json(content))


# ---------------------------------------------------------------- record contents


def model_name(value: str | None) -> str | None:
    """A model as content names it: a local folder by its last component (``local:tiny``), never its path on
    this machine; a Hub id (``org/name``) or remote id unchanged. Pure, so a verifier elsewhere agrees."""
    if not value:
        return value
    windows_drive = len(value) > 2 and value[1] == ":" and value[2] in "/\\"
    if value.startswith(("/", "~", "./", "../")) or windows_drive:
        return "local:" + value.replace("\\", "/").rstrip("/").rsplit("/", 1)[-1]
    return value


def _named_models(described: Any) -> Any:
    """A session's patient/teacher description with its model path-free."""
    if isinstance(described, dict) and isinstance(described.get("model"), str):
        return {**described, "model": model_name(described["model"])}
    return described


def dataset_version_content(row: DatasetVersion) -> dict[str, Any]:
    return {
        "id": row.id,
        "parent_id": row.parent_id,
        "specializations": row.specializations,
        "stats": {k: v for k, v in row.stats.items() if k != "source"},  # "source": a local file path
        "export_sha256": row.export_sha256,
    }


# Metrics that say how this machine made the checkpoint (speed, memory, device, whether a crashed run was
# resumed), not what the checkpoint is: the same training gives the same content on any machine.
MACHINE_METRICS = ("tokens_per_second", "peak_memory_bytes", "resumed_from_step", "device")


def checkpoint_content(row: Checkpoint) -> dict[str, Any]:
    return {
        **legacy_checkpoint_content(row),
        "base_model": model_name(row.base_model),
        "metrics": {k: v for k, v in (row.metrics or {}).items() if k not in MACHINE_METRICS},
    }


def legacy_checkpoint_content(row: Checkpoint) -> dict[str, Any]:
    """What entries written before the path-free, machine-free rule hashed (still accepted for them)."""
    return {
        "id": row.id,
        "specialization_id": row.specialization_id,
        "kind": row.kind,
        "base_model": row.base_model,
        "adapter_sha256": row.adapter_sha256,
        "remote_model_id": row.remote_model_id,
        "dataset_id": row.dataset_id,
        "parent_id": row.parent_id,
        "hyperparameters": row.hyperparameters,
        "seed": row.seed,
        "metrics": row.metrics,
    }


# Result fields that describe this machine (local paths, wall time), not the measurement.
_LOCAL_RESULT_FIELDS = ("adapter", "administration_seconds")


def assessment_run_content(row: AssessmentRun) -> dict[str, Any]:
    content = legacy_assessment_run_content(row)
    result = content["result"]
    target = result.get("target")
    if isinstance(target, str) and target.startswith("model "):  # the label names the model it asked
        result = {**result, "target": "model " + str(model_name(target.removeprefix("model ")))}
    return {**content, "model": model_name(row.model), "result": result}


def legacy_assessment_run_content(row: AssessmentRun) -> dict[str, Any]:
    return {
        "id": row.id,
        "checkpoint_id": row.checkpoint_id,
        "model": row.model,
        "backend": row.backend,
        "persona_id": row.persona_id,
        "instrument_id": row.instrument_id,
        "instrument_version": row.instrument_version,
        "prompt_version": row.prompt_version,
        "mode": row.mode,
        "seed": row.seed,
        "total": row.total,
        "ci_low": row.ci_low,
        "ci_high": row.ci_high,
        "result": {k: v for k, v in row.result.items() if k not in _LOCAL_RESULT_FIELDS},
        "items": [
            {
                "item_id": item.item_id,
                "position": item.position,
                "distribution": item.distribution,
                "expected_value": item.expected_value,
                "argmax_value": item.argmax_value,
                "entropy": item.entropy,
                "order_sensitivity": item.order_sensitivity,
                "n_missing": item.n_missing,
                "detail": item.detail,
            }
            for item in sorted(row.items, key=lambda i: i.position)
        ],
    }


def turn_content(turn: SessionTurn) -> dict[str, Any]:
    content = {
        "index": turn.index,
        "therapist": turn.therapist,
        "patient": turn.patient,
        "seed": turn.seed,
        "risk": turn.risk,
    }
    if turn.context_dropped:  # what the patient saw; absent when it saw everything, as in older records
        content["context_dropped"] = turn.context_dropped
    return content


def session_content(row: TherapySession) -> dict[str, Any]:
    """A therapy session with its transcript and recommendations: what was said, with which seeds, on which
    checkpoint, and what the patient decided. The case's intake sheet (from the persona card) is not here,
    nor the local path of a model."""
    content = legacy_session_content(row)
    content["patient"] = _named_models(content["patient"])
    content["teacher"] = _named_models(content["teacher"])
    session = object_session(row)
    assert session is not None
    recommendations = session.scalars(
        select(Recommendation).where(Recommendation.session_id == row.id).order_by(Recommendation.index)
    )
    for sealed, rec in zip(content["recommendations"], recommendations, strict=True):
        # sealed when present, so entries written before issue 25 point 6 (and 26 point 4) hash as they did
        for key in ("decision", "preference_mass", "advice"):
            if getattr(rec, key) is not None:
                sealed[key] = getattr(rec, key)
    return content


def legacy_session_content(row: TherapySession) -> dict[str, Any]:
    session = object_session(row)
    assert session is not None
    turns = session.scalars(
        select(SessionTurn).where(SessionTurn.session_id == row.id).order_by(SessionTurn.index)
    )
    recommendations = session.scalars(
        select(Recommendation).where(Recommendation.session_id == row.id).order_by(Recommendation.index)
    )
    return {
        "id": row.id,
        "case_id": row.case_id,
        "number": row.number,
        "branch": row.branch,
        "checkpoint_id": row.checkpoint_id,
        "seed": row.seed,
        "mode": row.mode,
        "status": row.status,
        "params": row.params,
        "patient": row.patient,
        "teacher": row.teacher,
        "flags": row.flags,
        "extraction": row.extraction,
        "turns": [turn_content(t) for t in turns],
        "recommendations": [
            {
                "index": r.index,
                "turn": r.turn,
                "text": r.text,
                "kind": r.kind,
                "source": r.source,
                "mode": r.mode,
                "p_accept": r.p_accept,
                "u": r.u,
                "accepted": r.accepted,
                "phrasings": r.phrasings,
            }
            for r in recommendations
        ],
    }


def erasure_content(row: Erasure) -> dict[str, Any]:
    """The tombstone: which records an erasure removed or retired, by id, and how many of each kind. It holds
    none of the erased content (no author, comment id or text), so it can stay in the chain for good."""
    return {"id": row.id, "summary": row.summary}


def erased_subjects(content: dict[str, Any]) -> set[tuple[str, str]]:
    """(kind, subject id) of the ledger records a tombstone says its erasure deleted."""
    deleted = content.get("summary", {}).get("deleted_records", {})
    return {(kind, str(subject)) for kind, subjects in deleted.items() for subject in subjects}


@dataclass(frozen=True)
class RecordKind:
    kind: str
    model: type
    content: Callable[[Any], dict[str, Any]]
    subject_id: Callable[[Any], str]
    # the content entries written by an earlier version hashed, still accepted for those entries
    legacy_content: Callable[[Any], dict[str, Any]] | None = None

    def contents(self, row: Any) -> list[dict[str, Any]]:
        """The content as hashed now, then as earlier versions hashed it."""
        found = [self.content(row)]
        if self.legacy_content is not None:
            found.append(self.legacy_content(row))
        return found


RECORD_KINDS: dict[str, RecordKind] = {
    "dataset_version": RecordKind("dataset_version", DatasetVersion, dataset_version_content, lambda r: r.id),
    "checkpoint": RecordKind(
        "checkpoint", Checkpoint, checkpoint_content, lambda r: r.id, legacy_checkpoint_content
    ),
    "assessment_run": RecordKind(
        "assessment_run",
        AssessmentRun,
        assessment_run_content,
        lambda r: str(r.id),
        legacy_assessment_run_content,
    ),
    "session": RecordKind("session", TherapySession, session_content, lambda r: r.id, legacy_session_content),
    "erasure": RecordKind("erasure", Erasure, erasure_content, lambda r: r.id),
}


def sealed_content(spec: RecordKind, row: Any, content_hash: str) -> dict[str, Any] | None:
    """The record's content in the form its entry hashed, or None when no form matches (it was edited)."""
    for content in spec.contents(row):
        if content_sha256(content) == content_hash:
            return content
    return None


def register_record_kind(kind: RecordKind) -> None:
    """Let a later stage's table (therapy sessions) join the chain."""
    RECORD_KINDS[kind.kind] = kind


def kind_of(row: Any) -> RecordKind:
    for kind in RECORD_KINDS.values():
        if isinstance(row, kind.model):
            return kind
    raise TypeError(f"{type(row).__name__} records are not kept in the ledger")


def load_subject(session: Session, kind: str, subject_id: str) -> Any | None:
    spec = RECORD_KINDS[kind]
    key: Any = int(subject_id) if spec.model is AssessmentRun else subject_id
    return session.get(spec.model, key)


# ---------------------------------------------------------------- appending


def head(session: Session) -> LedgerEntry | None:
    return session.scalars(select(LedgerEntry).order_by(LedgerEntry.seq.desc()).limit(1)).first()


def append(session: Session, kind: str, subject_id: str, content: Any) -> LedgerEntry:
    """Append an entry for ``content`` in the caller's transaction."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("LOCK TABLE ledger IN SHARE ROW EXCLUSIVE MODE"))
    last = head(session)
    seq = 1 if last is None else last.seq + 1
    prev = GENESIS if last is None else last.entry_sha256
    content_hash = content_sha256(content)
    body = body_sha256(seq, kind, subject_id, content_hash)
    entry = LedgerEntry(
        seq=seq,
        kind=kind,
        subject_id=subject_id,
        content_sha256=content_hash,
        body_sha256=body,
        prev_sha256=prev,
        entry_sha256=entry_sha256(prev, body),
    )
    session.add(entry)
    session.flush()
    return entry


def append_record(session: Session, row: Any) -> LedgerEntry:
    """Append the entry covering ``row`` (flushed first, so its id and children exist)."""
    session.flush()
    spec = kind_of(row)
    return append(session, spec.kind, spec.subject_id(row), spec.content(row))


def latest_entry(session: Session, kind: str, subject_id: str) -> LedgerEntry | None:
    query = (
        select(LedgerEntry)
        .where(LedgerEntry.kind == kind, LedgerEntry.subject_id == subject_id)
        .order_by(LedgerEntry.seq.desc())
        .limit(1)
    )
    return session.scalars(query).first()


class UnsealedRecord(Exception):
    """A record with no ledger entry, or one that no longer matches its latest entry; the message names it."""


def sealed_entry(session: Session, row: Any) -> tuple[LedgerEntry, dict[str, Any]]:
    """The latest entry covering ``row``, which must still match it, and the content as it hashed. A record
    is sealed once, when it is created or ends: nothing appends a fresh entry for a record that changed
    (that would re-bless an edit)."""
    spec = kind_of(row)
    session.flush()
    subject = spec.subject_id(row)
    existing = latest_entry(session, spec.kind, subject)
    if existing is None:
        raise UnsealedRecord(f"{spec.kind} {subject}: has no ledger entry")
    content = sealed_content(spec, row, existing.content_sha256)
    if content is None:
        raise UnsealedRecord(
            f"{describe(existing.seq, spec.kind, subject)}: the stored record no longer matches its hash"
        )
    return existing, content


def unsealed_rows(session: Session, kinds: Iterable[str] | None = None) -> list[tuple[str, Any]]:
    """Records that should have an entry and never had one (a session joins the chain when it ends)."""
    found: list[tuple[str, Any]] = []
    for name in kinds or list(RECORD_KINDS):
        spec = RECORD_KINDS[name]
        covered = set(session.scalars(select(LedgerEntry.subject_id).where(LedgerEntry.kind == name)))
        model: Any = spec.model
        order = model.created_at if hasattr(model, "created_at") else model.started_at
        for row in session.scalars(select(model).order_by(order)):
            if name == "session" and row.status != "ended":
                continue
            if spec.subject_id(row) not in covered:
                found.append((name, row))
    return found


def append_existing(session: Session, kinds: Iterable[str] | None = None) -> int:
    """Give every record that never had an entry one (records made before the ledger existed); returns how
    many. A record that has an entry is never entered again, whatever its content is now."""
    rows = unsealed_rows(session, kinds)
    for name, row in rows:
        spec = RECORD_KINDS[name]
        append(session, name, spec.subject_id(row), spec.content(row))
    return len(rows)


# ---------------------------------------------------------------- verification


@dataclass
class ChainReport(Result):
    """What a walk of the chain found; ``as_dict()`` is ``academy ledger verify --json``."""

    entries: int = 0
    head_sha256: str = GENESIS
    head_seq: int = 0
    problems: list[str] = field(default_factory=list)
    missing_records: list[str] = field(default_factory=list)  # deleted since (e.g. a deleted checkpoint)
    erased_records: list[str] = field(default_factory=list)  # deleted by an erasure its tombstone names
    unsealed_records: list[str] = field(default_factory=list)  # records that never had an entry
    heads_checked: int = 0

    @property
    def ok(self) -> bool:
        return not self.problems

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "entries": self.entries,
            "head": {"seq": self.head_seq, "entry_sha256": self.head_sha256},
            "problems": self.problems,
            "missing_records": self.missing_records,
            "erased_records": self.erased_records,
            "unsealed_records": self.unsealed_records,
            "heads_checked": self.heads_checked,
        }


def describe(seq: int, kind: str, subject_id: str) -> str:
    return f"ledger entry {seq} ({kind} {subject_id})"


def verify_chain(
    session: Session, *, check_records: bool = True, heads: Sequence[tuple[int, str]] = ()
) -> ChainReport:
    """Walk the whole chain: every link, every hash, that the chain passes through every signed head
    (``heads``: (seq, entry_sha256) pairs, checked by the caller's signature check), and (``check_records``)
    that each record's current content still hashes to its latest entry and which records have no entry.
    Once a head is signed, a record without an entry is a problem: records join the chain when they are
    made, so one without an entry lost it (a deleted tail) or was slipped in."""
    report = ChainReport(entries=int(session.scalar(select(func.count()).select_from(LedgerEntry)) or 0))
    wanted = {seq for seq, _ in heads}
    at_heads: dict[int, str] = {}
    prev = GENESIS
    expected_seq = 1
    latest: dict[tuple[str, str], LedgerEntry] = {}
    for entry in session.scalars(select(LedgerEntry).order_by(LedgerEntry.seq)).yield_per(1000):
        name = describe(entry.seq, entry.kind, entry.subject_id)
        if entry.seq != expected_seq:
            report.problems.append(f"{name}: sequence jumps from {expected_seq - 1} to {entry.seq}")
        if entry.prev_sha256 != prev:
            report.problems.append(f"{name}: does not link to the entry before it")
        body = body_sha256(entry.seq, entry.kind, entry.subject_id, entry.content_sha256)
        if body != entry.body_sha256:
            report.problems.append(f"{name}: body hash does not match its fields")
        if entry_sha256(entry.prev_sha256, body) != entry.entry_sha256:
            report.problems.append(f"{name}: entry hash does not match")
        if entry.seq in wanted:
            at_heads[entry.seq] = entry.entry_sha256
        prev = entry.entry_sha256
        expected_seq = entry.seq + 1
        report.head_seq, report.head_sha256 = entry.seq, entry.entry_sha256
        latest[(entry.kind, entry.subject_id)] = entry
    if check_records:
        erased = _erased_by_tombstones(session, latest)
        for (kind, subject_id), entry in latest.items():
            if kind not in RECORD_KINDS:
                continue
            row = load_subject(session, kind, subject_id)
            name = describe(entry.seq, kind, subject_id)
            tombstone = erased.get((kind, subject_id))
            if row is None and tombstone is not None and tombstone > entry.seq:
                report.erased_records.append(f"{name}: erased (tombstone at entry {tombstone})")
            elif row is None:
                report.missing_records.append(name)
            elif sealed_content(RECORD_KINDS[kind], row, entry.content_sha256) is None:
                report.problems.append(f"{name}: the stored record no longer matches its hash")
        for kind, row in unsealed_rows(session):
            named = f"{kind} {RECORD_KINDS[kind].subject_id(row)}"
            report.unsealed_records.append(named)
            if heads:
                report.problems.append(f"{named}: has no ledger entry, though the chain has a signed head")
    for seq, digest in sorted(set(heads)):
        report.heads_checked += 1
        if seq > report.head_seq:
            report.problems.append(
                f"signed head {seq} ({digest[:16]}): the chain ends at entry {report.head_seq}, "
                "so entries after it were removed"
            )
        elif at_heads.get(seq) != digest:
            report.problems.append(
                f"signed head {seq} ({digest[:16]}): entry {seq} of the chain has another hash, "
                "so the chain does not extend the signed head (it was rewritten)"
            )
    return report


def tombstones(session: Session, up_to_seq: int) -> list[dict[str, Any]]:
    """The erasure entries up to ``up_to_seq`` with their sealed content, as a portfolio carries them (a
    verifier rehashes each against its link)."""
    found = []
    query = select(LedgerEntry).where(LedgerEntry.kind == "erasure", LedgerEntry.seq <= up_to_seq)
    for entry in session.scalars(query.order_by(LedgerEntry.seq)):
        row = session.get(Erasure, entry.subject_id)
        content = sealed_content(RECORD_KINDS["erasure"], row, entry.content_sha256) if row else None
        if content is not None:
            found.append({"seq": entry.seq, "subject_id": entry.subject_id, "content": content})
    return found


def _erased_by_tombstones(
    session: Session, latest: dict[tuple[str, str], LedgerEntry]
) -> dict[tuple[str, str], int]:
    """(kind, subject) -> the seq of the sealed tombstone that erased it. Only a tombstone whose erasure row
    still matches its entry counts: an erasure row slipped in (or edited) to hide a deletion hides nothing."""
    found: dict[tuple[str, str], int] = {}
    for (kind, subject_id), entry in latest.items():
        if kind != "erasure":
            continue
        row = session.get(Erasure, subject_id)
        if row is None:
            continue
        content = sealed_content(RECORD_KINDS["erasure"], row, entry.content_sha256)
        if content is None:
            continue
        for subject in erased_subjects(content):
            found[subject] = entry.seq
    return found


@dataclass(frozen=True)
class Link:
    """What a verifier needs of one entry: its sequence number and body hash."""

    seq: int
    body_sha256: str


def verify_links(prev_sha256: str, links: Sequence[Link], head_seq: int, head_sha256: str) -> list[str]:
    """Check that consecutive entries starting after ``prev_sha256`` lead to the head; returns problems."""
    problems: list[str] = []
    if not links:
        return ["the chain excerpt is empty"]
    current = prev_sha256
    for index, link in enumerate(links):
        if index and link.seq != links[index - 1].seq + 1:
            problems.append(f"ledger entry {link.seq}: sequence jumps from {links[index - 1].seq}")
        current = entry_sha256(current, link.body_sha256)
    if links[-1].seq != head_seq:
        problems.append(f"the chain excerpt ends at entry {links[-1].seq}, not at the head {head_seq}")
    if current != head_sha256:
        problems.append(f"the chain excerpt does not lead to the head {head_sha256[:16]}…")
    return problems


def chain_excerpt(session: Session, first_seq: int, head_seq: int) -> tuple[str, list[Link]]:
    """The previous hash of entry ``first_seq`` and the links from it to ``head_seq``."""
    entries = list(
        session.scalars(
            select(LedgerEntry)
            .where(LedgerEntry.seq >= first_seq, LedgerEntry.seq <= head_seq)
            .order_by(LedgerEntry.seq)
        )
    )
    if not entries:
        return GENESIS, []
    return entries[0].prev_sha256, [Link(e.seq, e.body_sha256) for e in entries]


def running_hashes(prev_sha256: str, links: Sequence[Link]) -> dict[int, str]:
    """The entry hash after each link of an excerpt (what a signed head or another excerpt is compared to)."""
    hashes: dict[int, str] = {}
    current = prev_sha256
    for link in links:
        current = entry_sha256(current, link.body_sha256)
        hashes[link.seq] = current
    return hashes
