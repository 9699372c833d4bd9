"""Signed chain heads, kept in an append-only file outside the database (``<data-dir>/ledger-heads.jsonl``).

A head is (seq, entry_sha256) of the ledger at one moment, signed with the instance key. Whoever edits the
database alone cannot undo a head: a chain shorter than a signed head, or one that does not pass through it,
is BROKEN. Publishing heads (every portfolio embeds the latest) lets clients compare what the instance showed
them, as monitors do with Certificate Transparency's signed tree heads (RFC 6962).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from jedi_academy.errors import AcademyError
from jedi_academy.portfolio.keys import instance_key, parse_public_key, public_key_text, sign, signature_valid
from jedi_academy.results import Result
from jedi_academy.store import Database, ledger

HEAD_FORMAT = "jedi-academy-ledger-head/1"
HEADS_FILE = "ledger-heads.jsonl"


@dataclass(frozen=True)
class SignedHead(Result):
    """A signed head: one line of the heads file, ``academy ledger head --json`` and a portfolio's
    ``chain.signed_head`` (its ``as_dict()`` is that data, so its fields never change)."""

    seq: int
    entry_sha256: str
    signed_at: str
    public_key: str
    signature: str


@dataclass(frozen=True)
class Backfilled(Result):
    """``academy ledger backfill --json``: how many entries were appended."""

    appended: int


def head_message(seq: int, entry_sha256: str, signed_at: str, public_key: str) -> bytes:
    """The bytes a head signature covers (the same for the CLI, the portfolio verifier and the browser)."""
    return ledger.canonical_json(
        {"format": HEAD_FORMAT, "seq": seq, "entry_sha256": entry_sha256, "signed_at": signed_at,
         "public_key": public_key}
    )  # fmt: skip


def head_signature_valid(head: dict[str, Any], public_key: str) -> bool:
    if head.get("public_key") != public_key:
        return False
    message = head_message(int(head["seq"]), str(head["entry_sha256"]), str(head["signed_at"]), public_key)
    return signature_valid(parse_public_key(public_key), message, str(head.get("signature", "")))


def heads_path(data_dir: Path) -> Path:
    return Path(data_dir) / HEADS_FILE


def read_heads(data_dir: Path) -> tuple[list[SignedHead], list[str]]:
    """Every head in the file, and a problem for each line that is unreadable or not signed by this
    instance's key (the caller counts those as a broken ledger)."""
    path = heads_path(data_dir)
    if not path.exists():
        return [], []
    public = public_key_text(instance_key(data_dir))
    heads: list[SignedHead] = []
    problems: list[str] = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        try:
            raw = json.loads(line)
            head = SignedHead(**raw)
            valid = head_signature_valid(raw, public)
        except (ValueError, TypeError, KeyError, AcademyError):
            problems.append(f"{path.name} line {number}: not a signed head")
            continue
        if not valid:
            problems.append(f"{path.name} line {number}: head {head.seq} is not signed by this instance")
            continue
        heads.append(head)
    return heads, problems


def check_ledger(session: Session, data_dir: Path, *, check_records: bool = True) -> ledger.ChainReport:
    """``ledger.verify_chain`` against every signed head in the heads file."""
    heads, problems = read_heads(data_dir)
    report = ledger.verify_chain(
        session, check_records=check_records, heads=[(h.seq, h.entry_sha256) for h in heads]
    )
    report.problems[:0] = problems
    return report


def seal_head(session: Session, data_dir: Path, *, check_records: bool = True) -> SignedHead:
    """Sign the current head and append it to the heads file (or return the latest head when the chain has
    not grown since). Refused when the chain is broken or does not extend every earlier head: the instance
    never signs a rewritten history. (A portfolio build checks its own records and passes
    ``check_records=False``: an edit elsewhere is not blessed by a head, which covers only the hashes.)"""
    report = check_ledger(session, data_dir, check_records=check_records)
    if not report.ok:
        raise AcademyError(
            "the ledger is BROKEN, so its head is not signed: " + "; ".join(report.problems[:5]),
            "run `academy ledger verify` to see every problem",
        )
    if report.head_seq == 0:
        raise AcademyError("the ledger is empty: there is no head to sign")
    heads, _ = read_heads(data_dir)
    latest = max(heads, key=lambda h: h.seq, default=None)
    if latest is not None and latest.seq == report.head_seq:
        return latest
    key = instance_key(data_dir)
    public = public_key_text(key)
    signed_at = datetime.now(UTC).replace(microsecond=0).isoformat()
    head = SignedHead(
        seq=report.head_seq,
        entry_sha256=report.head_sha256,
        signed_at=signed_at,
        public_key=public,
        signature=sign(key, head_message(report.head_seq, report.head_sha256, signed_at, public)),
    )
    _append_line(heads_path(data_dir), json.dumps(head.as_dict(), sort_keys=True))
    return head


def backfill(database: Database, data_dir: Path) -> Backfilled:
    """Enter the records that never had an entry, in one transaction under the data directory's writer lock
    (the chain must not grow under another writer's feet); refused once the instance has a signed head,
    because every record made since joined the chain when it was made, so one without an entry now lost it."""
    from jedi_academy.store.lock import data_dir_lock

    with data_dir_lock(data_dir, "ledger backfill"):
        if has_sealed_head(data_dir):
            raise AcademyError(
                "this instance has a signed ledger head, so backfill is refused: every record made since "
                "joined the chain when it was made, and one without an entry now lost it",
                "run `academy ledger verify` to see which records have no entry",
            )
        with database.session() as session:
            return Backfilled(ledger.append_existing(session))


def has_sealed_head(data_dir: Path) -> bool:
    path = heads_path(data_dir)
    return path.exists() and path.stat().st_size > 0


def _append_line(path: Path, line: str) -> None:
    """One write with O_APPEND (a short line lands whole even with two writers), fsynced; 0600."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, (line + "\n").encode("utf-8"))
        os.fsync(fd)
    finally:
        os.close(fd)
