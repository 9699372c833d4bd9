"""Building a signed portfolio bundle: ``portfolio.json``, ``index.html`` and (optionally) the adapters.

The input is explicit: cases, each a persona measured at baseline and after its sessions (``CaseInput``);
``portfolio.source`` fills it from the sessions tables. The build first checks the whole chain against the
signed heads, and every record a case relies on (assessment runs, the checkpoints they ran on and their
lineage, dataset versions, session records) against its latest ledger entry: a record that differs, or has
no entry, is refused by name, never re-entered (that would re-bless an edit). Each record is copied into the
bundle with its entry's sequence number; the chain's body hashes from the first entry to the head, the head
signed into the heads file, and an Ed25519 signature over the canonical body make any later edit detectable.
The finished folder is verified before it is switched into place, so a bundle ``verify`` refuses is never
published.

What never enters a bundle: persona cards, intake sheets, source comment ids, author pseudonyms, local paths.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from jedi_academy.config import InstanceSettings
from jedi_academy.errors import AcademyError
from jedi_academy.portfolio import figures
from jedi_academy.portfolio.keys import fingerprint, instance_key, public_key_text, sign
from jedi_academy.portfolio.statement import STATEMENT
from jedi_academy.results import Result, plain
from jedi_academy.store import ArtifactStore, Database, ledger
from jedi_academy.store.models import Artifact, AssessmentRun, Checkpoint, DatasetVersion

FORMAT = "jedi-academy-portfolio/1"
PORTFOLIO_FILE = "portfolio.json"
HTML_FILE = "index.html"
ADAPTERS_DIR = "adapters"
REFERENCE_LABELS = ("placebo", "skilled")


@dataclass(frozen=True)
class SessionInput:
    """One session of a case: its record (when sessions are kept) and the assessment run taken after it."""

    number: int
    session_id: str | None = None
    run_id: int | None = None
    control_run_id: int | None = None  # the no-therapist control child, measured alike (loop/control.py)


@dataclass(frozen=True)
class CaseInput:
    case_id: str
    specialization: str
    persona_id: str
    instrument: str
    baseline_run_id: int
    sessions: tuple[SessionInput, ...] = ()
    closed_at: str | None = None  # `case close` (or an erasure) closed the case


@dataclass
class PortfolioRequest:
    therapist_id: str
    therapist_name: str
    cases: list[CaseInput]
    references: dict[str, list[CaseInput]] = field(default_factory=dict)  # "placebo"/"skilled" -> cases
    reference_note: str | None = None  # why the reference class is missing, when it is
    with_adapters: bool = False
    opened: int | None = None  # cases the therapist opened (default: the ones given)
    left_out: list[tuple[str, str]] = field(default_factory=list)  # (case id, reason) of the others


LEFT_OUT_REASONS = ("excluded by the therapist", "no baseline", "uncontrolled")


@dataclass(frozen=True)
class LeftOut(Result):
    """A case of the therapist's not published, and why (shown to the builder only; the body seals the
    reason alone)."""

    case: str
    reason: str


@dataclass(frozen=True)
class ChainHead(Result):
    """The ledger entry a portfolio's chain ends at (the head signed into the heads file)."""

    seq: int
    entry_sha256: str


@dataclass(frozen=True)
class PortfolioBuilt(Result):
    """What ``build_portfolio`` wrote; ``as_dict()`` is ``academy portfolio build --json``.

    ``document`` is the signed ``portfolio.json`` itself: data (hashed and signed byte for byte), carried for
    callers that read the bundle's figures, and not part of the JSON summary."""

    out: str
    cases: list[str]
    left_out: list[LeftOut]
    records: int
    head: ChainHead
    signer: str
    reference_missing: str | None
    document: dict[str, Any] = field(repr=False, compare=False)

    @property
    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = self.document["body"]
        return body

    def as_dict(self) -> dict[str, Any]:
        return {f.name: plain(getattr(self, f.name)) for f in fields(self) if f.name != "document"}

    @classmethod
    def of(cls, document: dict[str, Any], out: Path, left_out: list[tuple[str, str]]) -> PortfolioBuilt:
        body = document["body"]
        return cls(
            out=str(out),
            cases=[c["case"] for c in body["cases"]],
            left_out=[LeftOut(case, reason) for case, reason in left_out],
            records=len(body["records"]),
            head=ChainHead(**body["chain"]["head"]),
            signer=body["instance"]["fingerprint"],
            reference_missing=body["reference"]["missing"],
            document=document,
        )


def selection_block(published: int, opened: int, left_out: list[dict[str, str]]) -> dict[str, Any]:
    """How many cases were opened and why each one not published is left out (sealed in the body)."""
    counts = {reason: sum(1 for c in left_out if c["reason"] == reason) for reason in LEFT_OUT_REASONS}
    return {"opened": opened, "published": published, "left_out": left_out, "left_out_counts": counts}


def document_bytes(document: dict[str, Any]) -> bytes:
    """The one byte form of ``portfolio.json`` (verify insists on it, so whitespace edits are caught too)."""
    return (json.dumps(document, indent=1, sort_keys=True, ensure_ascii=False) + "\n").encode("utf-8")


class _Collector:
    """Gathers the records a portfolio uses, each with its sealed ledger entry; ``problems`` names every
    record that has no entry or no longer matches it."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.records: dict[str, dict[str, Any]] = {}
        self.problems: list[str] = []

    def add(self, row: Any) -> str:
        spec = ledger.kind_of(row)
        ref = f"{spec.kind}:{spec.subject_id(row)}"
        if ref not in self.records:
            try:
                entry, content = ledger.sealed_entry(self.session, row)
                seq = entry.seq
            except ledger.UnsealedRecord as exc:
                self.problems.append(str(exc))
                seq, content = 0, spec.content(row)
            self.records[ref] = {
                "seq": seq,
                "kind": spec.kind,
                "subject_id": spec.subject_id(row),
                "content": ledger.normalised(content),
            }
        return ref

    def run(self, run_id: int) -> str:
        row = self.session.get(AssessmentRun, run_id)
        if row is None:
            raise AcademyError(f"assessment run {run_id} does not exist", "see `academy assess --help`")
        ref = self.add(row)
        if row.checkpoint_id is not None:
            self.checkpoint(row.checkpoint_id)
        return ref

    def checkpoint(self, checkpoint_id: str) -> None:
        current: str | None = checkpoint_id
        while current is not None and f"checkpoint:{current}" not in self.records:
            row = self.session.get(Checkpoint, current)
            if row is None:
                raise AcademyError(f"checkpoint {current} has been deleted; its runs cannot be published")
            self.add(row)
            if row.dataset_id is not None:
                self.dataset(row.dataset_id)
            current = row.parent_id

    def dataset(self, dataset_id: str) -> None:
        current: str | None = dataset_id
        while current is not None and f"dataset_version:{current}" not in self.records:
            row = self.session.get(DatasetVersion, current)
            if row is None:
                raise AcademyError(f"dataset version {current} does not exist")
            self.add(row)
            current = row.parent_id

    def session_record(self, session_id: str) -> str:
        spec = ledger.RECORD_KINDS.get("session")
        row = None if spec is None else ledger.load_subject(self.session, "session", session_id)
        if row is None:
            raise AcademyError(f"session {session_id} does not exist")
        return self.add(row)

    def case(self, case: CaseInput) -> dict[str, Any]:
        closed = {"closed_at": case.closed_at} if case.closed_at else {}  # an open case's block is as before
        return {
            **closed,
            "case": case.case_id,
            "specialization": case.specialization,
            "persona": case.persona_id,
            "instrument": case.instrument,
            "baseline": self.run(case.baseline_run_id),
            "sessions": [
                {
                    "number": s.number,
                    "session": self.session_record(s.session_id) if s.session_id else None,
                    "run": self.run(s.run_id) if s.run_id is not None else None,
                    "control_run": self.run(s.control_run_id) if s.control_run_id is not None else None,
                }
                for s in sorted(case.sessions, key=lambda s: s.number)
            ],
        }


def _with_figures(
    cases: Iterable[dict[str, Any]], records: dict[str, dict[str, Any]]
) -> list[dict[str, Any]]:
    out = []
    for case in cases:
        try:
            out.append({**case, "figures": figures.case_figures(case, records)})
        except figures.RecordProblem as exc:
            raise AcademyError(f"case {case['case']}: {exc}") from exc
    return out


def reference_block(
    references: dict[str, list[dict[str, Any]]], personas: set[str], note: str | None
) -> dict[str, Any]:
    """The scripted therapists' figures on the same personas, or why there are none."""
    groups = {}
    for label in sorted(references):
        same = [c for c in references[label] if c["persona"] in personas]
        if same:
            groups[label] = {"cases": same, "aggregate": figures.aggregate(same)}
    if groups:
        return {"groups": groups, "missing": None}
    return {
        "groups": {},
        "missing": note
        or "no scripted placebo or skilled therapist has worked these personas on this instance, so these "
        "figures cannot be told apart from patients that change on their own",
    }


def build_body(
    database: Database, settings_data_dir: Path, request: PortfolioRequest, instance: InstanceSettings
) -> dict[str, Any]:
    from jedi_academy.portfolio.heads import check_ledger, seal_head

    if not request.cases:
        reasons = "; ".join(f"{case}: {reason}" for case, reason in request.left_out)
        raise AcademyError(
            f"therapist {request.therapist_name!r} has no case to publish"
            + (f" ({reasons})" if reasons else "")
        )
    key = instance_key(settings_data_dir)
    public = public_key_text(key)
    with database.session() as session:
        chain = check_ledger(session, settings_data_dir, check_records=False)
        if not chain.ok:
            raise AcademyError(
                "the ledger is BROKEN, so nothing is signed: " + "; ".join(chain.problems),
                "run `academy ledger verify`; restore the database from a backup",
            )
        collector = _Collector(session)
        cases = [collector.case(c) for c in request.cases]
        references = {
            label: [collector.case(c) for c in group] for label, group in request.references.items() if group
        }
        if collector.problems:
            raise AcademyError(
                "refusing to sign records that differ from their sealed ledger entries: "
                + "; ".join(collector.problems),
                "run `academy ledger verify`; an edited record cannot be published",
            )
        signed = seal_head(session, settings_data_dir, check_records=False)
        # the whole chain of body hashes: any two portfolios of this instance can be compared (no fork, no
        # rollback), and the body hashes reveal nothing about the records they cover
        prev, links = ledger.chain_excerpt(session, 1, signed.seq)
        erasures = ledger.tombstones(session, signed.seq)
        adapters = _adapter_list(session, collector.records) if request.with_adapters else []
    records = collector.records
    cases = _with_figures(cases, records)
    reference_cases = {label: _with_figures(group, records) for label, group in references.items()}
    return {
        "format": FORMAT,
        "generated_at": datetime.now(UTC).replace(microsecond=0).isoformat(),
        "therapist": {"id": request.therapist_id, "name": request.therapist_name},
        "instance": {
            "public_key": public,
            "fingerprint": fingerprint(public),
            "name": instance.name,
            "url": instance.url,
        },
        "selection": selection_block(
            len(cases),
            request.opened if request.opened is not None else len(cases) + len(request.left_out),
            # why each is left out, not which: a left-out case's id, persona and records stay private
            [{"reason": reason} for _case, reason in request.left_out],
        ),
        "cases": cases,
        "aggregate": figures.aggregate(cases),
        "reference": reference_block(reference_cases, {c["persona"] for c in cases}, request.reference_note),
        "records": dict(sorted(records.items())),
        "chain": {
            "prev_sha256": prev,
            "links": [[link.seq, link.body_sha256] for link in links],
            "head": {"seq": signed.seq, "entry_sha256": signed.entry_sha256},
            "signed_head": signed.as_dict(),
        },
        # the erasures' tombstones in the chain (ids and counts, nothing erased): a record missing from the
        # instance since is accounted for by one of them, not by a tamper
        "erasures": erasures,
        "adapters": [{k: v for k, v in a.items() if k != "source"} for a in adapters],
        "reproduce": reproduce_block(records),
        "statement": STATEMENT,
        "_adapter_sources": {a["sha256"]: a["source"] for a in adapters},
    }


def _adapter_list(session: Session, records: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    found = []
    for ref, item in records.items():
        if item["kind"] != "checkpoint" or not item["content"]["adapter_sha256"]:
            continue
        sha = item["content"]["adapter_sha256"]
        artifact = session.get(Artifact, sha)
        if artifact is None:
            raise AcademyError(f"{ref}: its adapter {sha[:12]} is not in the artifact store")
        found.append({"checkpoint": item["subject_id"], "sha256": sha, "path": f"{ADAPTERS_DIR}/{sha}",
                      "source": artifact.relpath})  # fmt: skip
    return sorted(found, key=lambda a: a["sha256"])


def reproduce_block(records: dict[str, dict[str, Any]]) -> dict[str, Any]:
    runs = [r["content"] for r in records.values() if r["kind"] == "assessment_run"]
    return {
        "base_models": sorted({r["model"] for r in runs}),
        "backends": sorted({r["backend"] for r in runs}),
        "instruments": sorted({f"{r['instrument_id']} {r['instrument_version']}" for r in runs}),
        "prompt_versions": sorted({r["prompt_version"] for r in runs}),
        "seeds": sorted({r["seed"] for r in runs}),
    }


def build_portfolio(
    database: Database,
    data_dir: Path,
    request: PortfolioRequest,
    out: Path,
    instance: InstanceSettings | None = None,
) -> PortfolioBuilt:
    """Build, sign, verify and write the bundle into ``out`` (a new or empty folder); returns what it wrote
    (with the signed document).

    Under the data directory's writer lock: the chain head it signs and the instance key it may create must
    not change under another writer (the web app's "build portfolio" is refused alike while one runs)."""
    from jedi_academy.store.lock import data_dir_lock

    with data_dir_lock(data_dir, "portfolio build"):
        document = _build_locked(database, data_dir, request, out, instance)
    return PortfolioBuilt.of(document, out, request.left_out)


def _build_locked(
    database: Database,
    data_dir: Path,
    request: PortfolioRequest,
    out: Path,
    instance: InstanceSettings | None,
) -> dict[str, Any]:
    from jedi_academy.portfolio.render import render_html
    from jedi_academy.portfolio.verify import verify_bundle

    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise AcademyError(f"{out} exists and is not an empty folder", "choose a new --out folder")
    body = build_body(database, data_dir, request, instance or InstanceSettings())
    sources = body.pop("_adapter_sources")
    key = instance_key(data_dir)
    document = {
        "body": body,
        "signature": {
            "algorithm": "Ed25519",
            "public_key": body["instance"]["public_key"],
            "value": sign(key, ledger.canonical_json(body)),
        },
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".portfolio-", dir=out.parent))
    try:
        (staging / PORTFOLIO_FILE).write_bytes(document_bytes(document))
        (staging / HTML_FILE).write_text(render_html(document), encoding="utf-8")
        store = ArtifactStore(data_dir)
        for sha, relpath in sources.items():
            shutil.copytree(store.root / relpath, staging / ADAPTERS_DIR / sha)
        report = verify_bundle(staging, public_key=document["signature"]["public_key"])
        if not report.ok:  # never publish what verify refuses (a corrupted adapter, a chain gap)
            raise AcademyError(
                "the built portfolio fails its own verification, so it is not published: "
                + "; ".join(report.problems),
                "run `academy ledger verify` and check the artifact store",
            )
        if out.exists():
            out.rmdir()
        os.replace(staging, out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return document
