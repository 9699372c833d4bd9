"""Checking a portfolio bundle with nothing but the bundle (and, optionally, the public key one expects).

Checks, each failure naming what failed: the file is the exact bytes the academy writes; the signature over
the body; every included record against its ledger entry; the chain excerpt up to the signed head; every
run's total and interval against its item distributions and seed; every case figure, aggregate and reference
figure against the records; the adapters against their hashes; the HTML page against the document.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jedi_academy.portfolio import figures
from jedi_academy.portfolio.build import (
    ADAPTERS_DIR,
    FORMAT,
    HTML_FILE,
    PORTFOLIO_FILE,
    document_bytes,
    reference_block,
    reproduce_block,
)
from jedi_academy.portfolio.keys import fingerprint, parse_public_key, public_key_text, signature_valid
from jedi_academy.store import ledger
from jedi_academy.store.artifacts import sha256_tree


@dataclass
class VerifyReport:
    folder: str
    problems: list[str] = field(default_factory=list)
    checked: dict[str, int] = field(default_factory=dict)
    signer: str | None = None
    head: dict[str, Any] | None = None

    @property
    def ok(self) -> bool:
        return not self.problems

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "folder": self.folder,
            "signer": self.signer,
            "head": self.head,
            "checked": self.checked,
            "problems": self.problems,
        }


def load_document(folder: Path, report: VerifyReport) -> dict[str, Any] | None:
    path = folder / PORTFOLIO_FILE
    if not path.is_file():
        report.problems.append(f"{path} does not exist")
        return None
    raw = path.read_bytes()
    try:
        document = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        report.problems.append(f"{PORTFOLIO_FILE}: byte {exc.start} is not UTF-8")
        return None
    except json.JSONDecodeError as exc:
        report.problems.append(f"{PORTFOLIO_FILE}: not valid JSON at line {exc.lineno} column {exc.colno}")
        return None
    if not isinstance(document, dict) or not isinstance(document.get("body"), dict):
        report.problems.append(f"{PORTFOLIO_FILE}: has no portfolio body")
        return None
    canonical = document_bytes(document)
    if canonical != raw:
        offset = next((i for i, (a, b) in enumerate(zip(raw, canonical, strict=False)) if a != b),
                      min(len(raw), len(canonical)))  # fmt: skip
        report.problems.append(
            f"{PORTFOLIO_FILE}: byte {offset} differs from the form the academy writes (the file was edited)"
        )
    return document


def verify_bundle(folder: Path, public_key: str | None = None) -> VerifyReport:
    folder = Path(folder)
    report = VerifyReport(str(folder))
    document = load_document(folder, report)
    if document is None:
        return report
    from jinja2 import TemplateError

    try:
        _verify_document(folder, document, public_key, report)
    except (KeyError, TypeError, ValueError, AttributeError, IndexError, TemplateError) as exc:
        # a tampered key name can make the page unrenderable: that is a failed check, not a crash
        report.problems.append(f"{PORTFOLIO_FILE}: malformed ({type(exc).__name__}: {exc})")
    return report


def _verify_document(
    folder: Path, document: dict[str, Any], expected_key: str | None, report: VerifyReport
) -> None:
    body = document["body"]
    if body.get("format") != FORMAT:
        report.problems.append(f"format is {body.get('format')!r}, this academy reads {FORMAT}")
        return
    _check_signature(document, expected_key, report)
    records: dict[str, dict[str, Any]] = body["records"]
    _check_records(body, records, report)
    _check_figures(body, records, report)
    _check_adapters(folder, body, records, report)
    _check_files(folder, document, report)


def _check_signature(document: dict[str, Any], expected_key: str | None, report: VerifyReport) -> None:
    body, signature = document["body"], document.get("signature") or {}
    embedded = signature.get("public_key")
    if embedded != body["instance"]["public_key"]:
        report.problems.append("signature: its public key is not the instance key the body names")
    try:
        public = parse_public_key(embedded or "")
    except Exception:  # any unreadable key is a failed check, reported as such
        report.problems.append("signature: the embedded public key is unreadable")
        return
    report.signer = fingerprint(public_key_text(public))
    if expected_key is not None:
        wanted = public_key_text(parse_public_key(expected_key))
        if wanted != public_key_text(public):
            report.problems.append(
                f"signature: signed by instance {report.signer}, "
                f"not by the expected key {fingerprint(wanted)}"
            )
    if not signature_valid(public, ledger.canonical_json(body), str(signature.get("value", ""))):
        report.problems.append(
            "signature: does not match the portfolio body (the body or the signature was altered)"
        )
    report.checked["signature"] = 1


def _check_records(body: dict[str, Any], records: dict[str, dict[str, Any]], report: VerifyReport) -> None:
    chain = body["chain"]
    links = [ledger.Link(int(seq), str(digest)) for seq, digest in chain["links"]]
    by_seq = {link.seq: link.body_sha256 for link in links}
    for ref, item in sorted(records.items()):
        name = ledger.describe(item["seq"], item["kind"], item["subject_id"])
        if ref != f"{item['kind']}:{item['subject_id']}":
            report.problems.append(f"{name}: filed under the wrong name {ref!r}")
        content_hash = ledger.content_sha256(item["content"])
        body_hash = ledger.body_sha256(item["seq"], item["kind"], item["subject_id"], content_hash)
        if item["seq"] not in by_seq:
            report.problems.append(f"{name}: not within the chain excerpt")
        elif by_seq[item["seq"]] != body_hash:
            report.problems.append(f"{name}: its content does not match the hash chain")
    head = chain["head"]
    report.head = head
    for problem in ledger.verify_links(
        chain["prev_sha256"], links, int(head["seq"]), str(head["entry_sha256"])
    ):
        report.problems.append(f"chain: {problem}")
    report.checked["records"] = len(records)
    report.checked["chain_links"] = len(links)


def _check_figures(body: dict[str, Any], records: dict[str, dict[str, Any]], report: VerifyReport) -> None:
    for _ref, item in sorted(records.items()):
        name = ledger.describe(item["seq"], item["kind"], item["subject_id"])
        if item["kind"] == "assessment_run":
            report.problems.extend(figures.run_summary_problems(name, item["content"]))
        elif item["kind"] == "session":
            report.problems.extend(figures.session_problems(name, item["content"]))
    cases = body["cases"]
    _check_cases(cases, records, "case", report)
    _compare("aggregate", body["aggregate"], figures.aggregate(cases), report)
    reference = body["reference"]
    groups = reference.get("groups", {})
    for label, group in groups.items():
        _check_cases(group["cases"], records, f"reference {label} case", report)
    derived = reference_block(
        {label: group["cases"] for label, group in groups.items()},
        {c["persona"] for c in cases},
        reference.get("missing"),
    )
    _compare("reference", reference, derived, report)
    _compare("reproduce", body["reproduce"], reproduce_block(records), report)
    report.checked["cases"] = len(cases)


def _check_cases(
    cases: list[dict[str, Any]], records: dict[str, dict[str, Any]], noun: str, report: VerifyReport
) -> None:
    for case in cases:
        try:
            derived = figures.case_figures(case, records)
        except figures.RecordProblem as exc:
            report.problems.append(f"{noun} {case.get('case')}: {exc}")
            continue
        _compare(f"{noun} {case['case']}", case["figures"], derived, report)


def _compare(label: str, stated: Any, derived: Any, report: VerifyReport) -> None:
    for difference in figures.differences(stated, derived):
        report.problems.append(f"{label}: {difference}")


def _check_adapters(
    folder: Path, body: dict[str, Any], records: dict[str, dict[str, Any]], report: VerifyReport
) -> None:
    declared = {r["content"]["adapter_sha256"] for r in records.values() if r["kind"] == "checkpoint"}
    for adapter in body["adapters"]:
        sha = adapter["sha256"]
        path = folder / ADAPTERS_DIR / sha
        if adapter["path"] != f"{ADAPTERS_DIR}/{sha}":
            report.problems.append(f"adapter {sha[:12]}: listed at an unexpected path {adapter['path']!r}")
        if sha not in declared:
            report.problems.append(f"adapter {sha[:12]}: no included checkpoint uses it")
        if not path.is_dir():
            report.problems.append(f"adapter {sha[:12]}: missing from {ADAPTERS_DIR}/")
        elif sha256_tree(path) != sha:
            report.problems.append(
                f"adapter {sha[:12]} (checkpoint {adapter['checkpoint']}): files do not match its hash"
            )
    report.checked["adapters"] = len(body["adapters"])


def _check_files(folder: Path, document: dict[str, Any], report: VerifyReport) -> None:
    from jedi_academy.portfolio.render import render_html

    page = folder / HTML_FILE
    if not page.is_file():
        report.problems.append(f"{HTML_FILE} is missing")
    elif page.read_bytes() != render_html(document).encode("utf-8"):
        report.problems.append(f"{HTML_FILE} does not match {PORTFOLIO_FILE} (the page was altered)")
    known = {PORTFOLIO_FILE, HTML_FILE}
    adapters = {a["sha256"] for a in document["body"]["adapters"]}
    for path in sorted(folder.rglob("*")):
        relative = path.relative_to(folder).parts
        if path.is_dir() or relative[0] in known:
            continue
        if relative[0] == ADAPTERS_DIR and len(relative) > 2 and relative[1] in adapters:
            continue
        report.problems.append(f"unexpected file {path.relative_to(folder).as_posix()}")
