"""Checking a portfolio bundle with nothing but the bundle (and, optionally, the public key one expects).

Checks, each failure naming what failed: the file is the exact bytes the academy writes, with nothing outside
the signed body but the signature; the signature over the body, by the key whose fingerprint the body names;
every included record against its ledger entry; the chain from its first entry up to the head, which must be
the signed head; the selection counts; every run's total and interval against its item distributions and
seed; every case figure, aggregate and reference figure against the records; the adapters against their
hashes; the HTML page against the document; no symlink, special or unexpected file.

A valid signature proves only that the holder of the key signed: whether that key is the academy's is the
caller's question (``public_key`` pinned, or ``trusted`` from the trust store), answered in ``trusted_as``.
"""

from __future__ import annotations

import json
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jedi_academy.portfolio import figures
from jedi_academy.portfolio.build import (
    ADAPTERS_DIR,
    FORMAT,
    HTML_FILE,
    LEFT_OUT_REASONS,
    PORTFOLIO_FILE,
    document_bytes,
    reference_block,
    reproduce_block,
    selection_block,
)
from jedi_academy.portfolio.keys import fingerprint, parse_public_key, public_key_text, signature_valid
from jedi_academy.results import Result
from jedi_academy.store import ledger
from jedi_academy.store.artifacts import sha256_tree


@dataclass
class VerifyReport(Result):
    """What ``verify_bundle`` found; ``as_dict()`` is ``academy portfolio verify --json`` (with the verdict).
    Mutable while the checks run: each appends its problems and counts."""

    folder: str
    problems: list[str] = field(default_factory=list)
    checked: dict[str, int] = field(default_factory=dict)
    signer: str | None = None
    head: dict[str, Any] | None = None
    trusted_as: str | None = None  # "pinned key" or the trust store's name for the signer; None: untrusted
    public_key: str | None = None
    erasures: list[str] = field(default_factory=list)  # tombstones in the chain, checked against it

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def trusted(self) -> bool:
        return self.trusted_as is not None

    @property
    def verdict(self) -> str:
        if not self.ok:
            return "not verified"
        return "verified" if self.trusted else "signer not trusted"

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "verdict": self.verdict,
            "folder": self.folder,
            "signer": self.signer,
            "trusted_as": self.trusted_as,
            "head": self.head,
            "checked": self.checked,
            "problems": self.problems,
            "erasures": self.erasures,
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
    # nothing unsigned may ride along: it would be shown (or believed) without anyone having vouched for it
    for extra in sorted(set(document) - {"body", "signature"}):
        report.problems.append(f"{PORTFOLIO_FILE}: field {extra!r} is outside the signed body")
    signature = document.get("signature")
    if not isinstance(signature, dict):
        report.problems.append(f"{PORTFOLIO_FILE}: has no signature")
        return None
    for extra in sorted(set(signature) - {"algorithm", "public_key", "value"}):
        report.problems.append(f"{PORTFOLIO_FILE}: signature field {extra!r} is not part of a signature")
    if signature.get("algorithm") != "Ed25519":
        report.problems.append(f"signature: algorithm {signature.get('algorithm')!r} is not Ed25519")
    canonical = document_bytes(document)
    if canonical != raw:
        offset = next((i for i, (a, b) in enumerate(zip(raw, canonical, strict=False)) if a != b),
                      min(len(raw), len(canonical)))  # fmt: skip
        report.problems.append(
            f"{PORTFOLIO_FILE}: byte {offset} differs from the form the academy writes (the file was edited)"
        )
    return document


def verify_bundle(
    folder: Path, public_key: str | None = None, trusted: dict[str, str] | None = None
) -> VerifyReport:
    """Check the bundle; ``public_key`` pins the signer; ``trusted`` (public key -> name): the trust store."""
    folder = Path(folder)
    report = VerifyReport(str(folder))
    if folder.is_symlink():
        report.problems.append(f"{folder} is a symlink; give the folder itself")
        return report
    document = load_document(folder, report)
    if document is None:
        return report
    from jinja2 import TemplateError

    try:
        _verify_document(folder, document, public_key, trusted, report)
    except (KeyError, TypeError, ValueError, AttributeError, IndexError, TemplateError) as exc:
        # a tampered key name can make the page unrenderable: that is a failed check, not a crash
        report.problems.append(f"{PORTFOLIO_FILE}: malformed ({type(exc).__name__}: {exc})")
    return report


def _verify_document(
    folder: Path,
    document: dict[str, Any],
    expected_key: str | None,
    trusted: dict[str, str] | None,
    report: VerifyReport,
) -> None:
    body = document["body"]
    if body.get("format") != FORMAT:
        report.problems.append(f"format is {body.get('format')!r}, this academy reads {FORMAT}")
        return
    _check_signature(document, expected_key, trusted, report)
    records: dict[str, dict[str, Any]] = body["records"]
    _check_records(body, records, report)
    _check_erasures(body, report)
    _check_selection(body, report)
    _check_figures(body, records, report)
    _check_adapters(folder, body, records, report)
    _check_files(folder, document, report)


def _check_signature(
    document: dict[str, Any], expected_key: str | None, trusted: dict[str, str] | None, report: VerifyReport
) -> None:
    body, signature = document["body"], document.get("signature") or {}
    embedded = signature.get("public_key")
    if embedded != body["instance"]["public_key"]:
        report.problems.append("signature: its public key is not the instance key the body names")
    try:
        public = parse_public_key(embedded or "")
    except Exception:  # any unreadable key is a failed check, reported as such
        report.problems.append("signature: the embedded public key is unreadable")
        return
    report.public_key = public_key_text(public)
    report.signer = fingerprint(report.public_key)
    if body["instance"].get("fingerprint") != report.signer:
        report.problems.append(
            f"instance: the fingerprint {body['instance'].get('fingerprint')!r} is not the signing key's "
            f"({report.signer})"
        )
    if expected_key is not None:
        wanted = public_key_text(parse_public_key(expected_key))
        if wanted != report.public_key:
            report.problems.append(
                f"signature: signed by instance {report.signer}, "
                f"not by the expected key {fingerprint(wanted)}"
            )
        else:
            report.trusted_as = "pinned key"
    elif trusted and report.public_key in trusted:
        report.trusted_as = trusted[report.public_key]
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
    if chain["prev_sha256"] != ledger.GENESIS or not links or links[0].seq != 1:
        report.problems.append("chain: does not start at the first entry of the ledger")
    for problem in ledger.verify_links(
        chain["prev_sha256"], links, int(head["seq"]), str(head["entry_sha256"])
    ):
        report.problems.append(f"chain: {problem}")
    _check_signed_head(body, report)
    report.checked["records"] = len(records)
    report.checked["chain_links"] = len(links)


def _check_erasures(body: dict[str, Any], report: VerifyReport) -> None:
    """Each tombstone the body carries is the chain's entry at its place: an erasure is accounted for by the
    chain itself, while a record deleted or edited without one breaks it (a tamper)."""
    by_seq = {int(seq): str(digest) for seq, digest in body["chain"]["links"]}
    for tombstone in body.get("erasures", []):  # absent in portfolios built before erasures existed
        seq, subject = int(tombstone["seq"]), str(tombstone["subject_id"])
        content_hash = ledger.content_sha256(tombstone["content"])
        if by_seq.get(seq) != ledger.body_sha256(seq, "erasure", subject, content_hash):
            name = ledger.describe(seq, "erasure", subject)
            report.problems.append(f"{name}: does not match the hash chain")
            continue
        counts = tombstone["content"].get("summary", {}).get("counts", {})
        removed = ", ".join(f"{n} {what.replace('_', ' ')}" for what, n in sorted(counts.items()) if n)
        report.erasures.append(f"entry {seq}: {subject} ({removed or 'nothing removed'})")
    report.checked["erasures"] = len(body.get("erasures", []))


def _check_signed_head(body: dict[str, Any], report: VerifyReport) -> None:
    """The head the instance signed into its heads file is the portfolio's head."""
    from jedi_academy.portfolio.heads import head_signature_valid

    chain, signed = body["chain"], body["chain"].get("signed_head")
    if not isinstance(signed, dict):
        report.problems.append("chain: no signed head")
        return
    if set(signed) != {"seq", "entry_sha256", "signed_at", "public_key", "signature"}:
        report.problems.append("chain: the signed head has unexpected fields")
    if not head_signature_valid(signed, body["instance"]["public_key"]):
        report.problems.append("chain: the signed head's signature is not the instance's")
    head = chain["head"]
    if [signed.get("seq"), signed.get("entry_sha256")] != [head["seq"], head["entry_sha256"]]:
        report.problems.append("chain: the head is not the signed head")


def _check_selection(body: dict[str, Any], report: VerifyReport) -> None:
    selection = body["selection"]
    left_out = selection["left_out"]
    for item in left_out:
        if set(item) != {"reason"} or item["reason"] not in LEFT_OUT_REASONS:
            report.problems.append(f"selection: {item!r} is not a reason this academy leaves a case out for")
    opened = selection["opened"]
    if not isinstance(opened, int) or opened != len(body["cases"]) + len(left_out):
        report.problems.append(
            f"selection: {opened} case(s) opened, but {len(body['cases'])} published and {len(left_out)} "
            "left out"
        )
    _compare("selection", selection, selection_block(len(body["cases"]), opened, left_out), report)


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
    for path in sorted(_walk(folder)):
        relative = path.relative_to(folder).parts
        mode = path.lstat().st_mode
        if stat.S_ISLNK(mode):
            report.problems.append(f"{path.relative_to(folder).as_posix()} is a symlink (refused)")
            continue
        if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
            report.problems.append(f"{path.relative_to(folder).as_posix()} is a special file (refused)")
            continue
        if stat.S_ISDIR(mode) or relative[0] in known:
            continue
        if relative[0] == ADAPTERS_DIR and len(relative) > 2 and relative[1] in adapters:
            continue
        report.problems.append(f"unexpected file {path.relative_to(folder).as_posix()}")


def _walk(folder: Path) -> list[Path]:
    """Every path under ``folder`` without following symlinks (a linked folder is reported, not entered)."""
    found = []
    for root, dirs, files in os.walk(folder, followlinks=False):
        found += [Path(root) / name for name in (*dirs, *files)]
    return found


def compare_bundles(first: Path, second: Path) -> list[str]:
    """Two verified portfolios of one instance: the shorter chain must be a prefix of the longer one (a
    different hash at a shared entry is a fork or a rewritten history; a shorter chain under a later signed
    head is a rollback)."""
    bodies = []
    for folder in (first, second):
        bodies.append(json.loads((Path(folder) / PORTFOLIO_FILE).read_text(encoding="utf-8"))["body"])
    a, b = bodies
    if a["instance"]["public_key"] != b["instance"]["public_key"]:
        return [f"--against: another instance ({b['instance']['fingerprint']}) signed it"]
    problems = []
    chains = []
    for body in bodies:
        links = [ledger.Link(int(seq), str(digest)) for seq, digest in body["chain"]["links"]]
        chains.append(ledger.running_hashes(body["chain"]["prev_sha256"], links))
    shared = sorted(set(chains[0]) & set(chains[1]))
    for seq in shared:
        if chains[0][seq] != chains[1][seq]:
            problems.append(
                f"--against: entry {seq} differs between the two portfolios (a fork or a rewritten history)"
            )
            break
    signed_at = [body["chain"]["signed_head"]["signed_at"] for body in bodies]
    later, earlier = (a, b) if signed_at[0] >= signed_at[1] else (b, a)
    if later["chain"]["head"]["seq"] < earlier["chain"]["head"]["seq"]:
        problems.append(
            f"--against: the later-signed head ({later['chain']['head']['seq']}) is behind the earlier one "
            f"({earlier['chain']['head']['seq']}): the chain was rolled back"
        )
    return problems
