import json
import random
import re
import shutil
from pathlib import Path

import pytest

from jedi_academy.portfolio import (
    CaseInput,
    PortfolioRequest,
    SessionInput,
    build_portfolio,
    instance_key,
    public_key_text,
    verify_bundle,
)
from jedi_academy.portfolio.recompute import RecomputeOptions, recompute_problems
from jedi_academy.store.models import Persona


def robin_case(world) -> CaseInput:  # type: ignore[no-untyped-def]
    return CaseInput(
        case_id="c-robin",
        specialization="depression",
        persona_id="p-robin",
        instrument="phq-9",
        baseline_run_id=world.baseline,
        sessions=(
            SessionInput(1, run_id=world.after_session_1),
            SessionInput(2, run_id=world.after_session_2),
        ),
    )


def request(world, **extra) -> PortfolioRequest:  # type: ignore[no-untyped-def]
    return PortfolioRequest(
        therapist_id="t-1", therapist_name="Ada Padawan", cases=[robin_case(world)], **extra
    )


@pytest.fixture(scope="module")
def bundle(world, tmp_path_factory):  # type: ignore[no-untyped-def]
    out = tmp_path_factory.mktemp("bundle") / "portfolio"
    build_portfolio(world.database, world.settings.data_dir, request(world, with_adapters=True), out)
    return out


def test_build_and_verify_two_sessions(world, bundle) -> None:  # type: ignore[no-untyped-def]
    report = verify_bundle(bundle)
    assert report.ok, report.problems
    body = json.loads((bundle / "portfolio.json").read_text())["body"]
    case = body["cases"][0]
    figures = case["figures"]
    assert figures["n_sessions"] == 2
    assert [s["score"]["run"] for s in figures["sessions"]] == [world.after_session_1, world.after_session_2]
    # A random-weight model barely puts its reply on the option labels: the validity gates reject the runs,
    # and the portfolio reports the case as invalid instead of scoring a change.
    scores = [figures["baseline"], *(s["score"] for s in figures["sessions"])]
    assert all(s["total"] is not None for s in scores)
    assert not all(s["valid"] for s in scores)
    assert all(s["invalid_reasons"] == [] for s in scores if s["valid"])
    change = figures["change"]
    assert change["classification"] == "invalid" and "measurement is invalid (" in change["reason"]
    aggregate = body["aggregate"][0]
    assert aggregate["cases"] == 1 and aggregate["cases_with_valid_change"] == 0
    assert aggregate["mean_change"] is None and aggregate["share_reliable_improvement"] is None
    assert body["reference"]["missing"]  # no scripted therapists on this instance
    kinds = {r["kind"] for r in body["records"].values()}
    assert kinds == {"assessment_run", "checkpoint", "dataset_version"}
    assert body["instance"]["public_key"] == public_key_text(instance_key(world.settings.data_dir))
    page = (bundle / "index.html").read_text()
    assert "<svg" in page and "What this does not prove" in page and "<script" not in page
    # an invalid measurement has no number next to it in the table
    assert 'no score: the measurement is invalid</td><td>invalid: ' in page  # no number beside "invalid"
    assert not re.search(r"<td>[\d.]+</td><td>[^<]*</td><td>invalid", page)
    assert report.signer == body["instance"]["fingerprint"]


def test_the_right_public_key_is_required_when_given(world, bundle, tmp_path) -> None:  # type: ignore[no-untyped-def]
    own = public_key_text(instance_key(world.settings.data_dir))
    assert verify_bundle(bundle, public_key=own).ok
    stranger = public_key_text(instance_key(tmp_path / "other-instance"))
    report = verify_bundle(bundle, public_key=stranger)
    assert not report.ok and any("not by the expected key" in p for p in report.problems)


def _flip(data: bytes, position: int) -> bytes:
    old = data[position]
    new = ord("7") if old != ord("7") else ord("3")
    return data[:position] + bytes([new]) + data[position + 1 :]


def test_every_single_byte_tamper_fails_with_a_reason(bundle, tmp_path) -> None:  # type: ignore[no-untyped-def]
    original = (bundle / "portfolio.json").read_bytes()
    rng = random.Random(18)
    positions = sorted(rng.sample(range(len(original)), 40))
    copy = tmp_path / "copy"
    shutil.copytree(bundle, copy)
    for position in positions:
        (copy / "portfolio.json").write_bytes(_flip(original, position))
        report = verify_bundle(copy)
        assert not report.ok and report.problems, f"tamper at byte {position} went unnoticed"
    (copy / "portfolio.json").write_bytes(original)
    assert verify_bundle(copy).ok


def _edit(folder: Path, change) -> list[str]:  # type: ignore[no-untyped-def]
    """Change the parsed document, write it back in canonical form, return verify's problems."""
    from jedi_academy.portfolio.build import document_bytes

    document = json.loads((folder / "portfolio.json").read_text())
    change(document)
    (folder / "portfolio.json").write_bytes(document_bytes(document))
    return verify_bundle(folder).problems


@pytest.fixture
def copy(bundle, tmp_path) -> Path:  # type: ignore[no-untyped-def]
    target = tmp_path / "copy"
    shutil.copytree(bundle, target)
    return target


def test_a_changed_score_names_the_entry(world, copy) -> None:  # type: ignore[no-untyped-def]
    ref = f"assessment_run:{world.after_session_2}"

    def change(document):  # type: ignore[no-untyped-def]
        document["body"]["records"][ref]["content"]["items"][0]["distribution"]["3"] += 0.01

    problems = _edit(copy, change)
    seq = json.loads((copy / "portfolio.json").read_text())["body"]["records"][ref]["seq"]
    named = f"ledger entry {seq} (assessment_run {world.after_session_2})"
    assert any(named in p and "does not match the hash chain" in p for p in problems), problems
    assert any("signature" in p for p in problems)


def test_a_changed_figure_names_the_case(copy) -> None:  # type: ignore[no-untyped-def]
    def change(document):  # type: ignore[no-untyped-def]
        document["body"]["cases"][0]["figures"]["sessions"][1]["score"]["total"] -= 3

    problems = _edit(copy, change)
    assert any(p.startswith("case c-robin: sessions[1].score.total") for p in problems), problems


def test_tampered_page_adapter_and_extra_files_are_caught(copy) -> None:  # type: ignore[no-untyped-def]
    page = copy / "index.html"
    page.write_text(page.read_text().replace("Ada Padawan", "Ada Master", 1))
    adapter_file = next(p for p in (copy / "adapters").rglob("*") if p.is_file())
    data = adapter_file.read_bytes()
    adapter_file.write_bytes(_flip(data, len(data) // 2))
    (copy / "notes.txt").write_text("hi")
    problems = verify_bundle(copy).problems
    assert any("index.html does not match" in p for p in problems)
    assert any(p.startswith("adapter ") and "do not match its hash" in p for p in problems)
    assert "unexpected file notes.txt" in problems


def test_excluded_cases_and_private_data_stay_out(world, bundle) -> None:  # type: ignore[no-untyped-def]
    text = (bundle / "portfolio.json").read_text() + (bundle / "index.html").read_text()
    records = json.loads((bundle / "portfolio.json").read_text())["body"]["records"]
    assert "p-sam" not in text  # the case the therapist left out
    assert f"assessment_run:{world.other_after}" not in records
    with world.database.session() as session:
        personas = {p.id: p for p in session.query(Persona)}
    for persona in personas.values():
        for value in (persona.card["name"], persona.source_author_hash, *persona.source_comment_ids):
            assert f'"{value}"' not in text
        for trait in persona.card["symptoms"]:
            assert trait["text"] not in text
    assert "Robin Quillfeather" not in text and "h-p-robin" not in text


def test_recompute_reproduces_the_scores(world, bundle) -> None:  # type: ignore[no-untyped-def]
    body = json.loads((bundle / "portfolio.json").read_text())["body"]
    problems, runs = recompute_problems(world.settings, world.database, bundle, body, RecomputeOptions())
    assert problems == [] and runs == 3


def test_recompute_notices_a_different_adapter(world, bundle, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from safetensors.torch import load_file, save_file

    copy = tmp_path / "copy"
    shutil.copytree(bundle, copy)
    weights = next((copy / "adapters").rglob("*.safetensors"))
    tensors = load_file(str(weights))
    save_file({name: value * 3 for name, value in tensors.items()}, str(weights))
    body = json.loads((copy / "portfolio.json").read_text())["body"]
    only = RecomputeOptions(runs=frozenset({str(world.after_session_1)}))
    problems, runs = recompute_problems(world.settings, world.database, copy, body, only)
    assert runs == 1
    assert any("recomputed total" in p or "answers differently" in p for p in problems)


def test_reference_class_is_computed_on_the_same_personas(world, tmp_path) -> None:  # type: ignore[no-untyped-def]
    placebo = CaseInput("c-placebo", "depression", "p-robin", "phq-9", world.baseline,
                        (SessionInput(1, run_id=world.baseline),))  # fmt: skip
    elsewhere = CaseInput("c-other", "depression", "p-sam", "phq-9", world.other_baseline,
                          (SessionInput(1, run_id=world.other_after),))  # fmt: skip
    out = tmp_path / "with-reference"
    build_portfolio(
        world.database,
        world.settings.data_dir,
        request(world, references={"placebo": [placebo, elsewhere]}),
        out,
    )
    report = verify_bundle(out)
    assert report.ok, report.problems
    reference = json.loads((out / "portfolio.json").read_text())["body"]["reference"]
    assert reference["missing"] is None
    group = reference["groups"]["placebo"]
    assert [c["case"] for c in group["cases"]] == ["c-placebo"]  # p-sam is not among the therapist's personas


def test_verify_cli(world, bundle, copy, capsys) -> None:  # type: ignore[no-untyped-def]
    from jedi_academy.cli import main

    base = ["--data-dir", str(world.settings.data_dir), "--model", world.settings.model]
    key = public_key_text(instance_key(world.settings.data_dir))
    assert main([*base, "portfolio", "verify", str(bundle), "--public-key", key, "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["ok"] and shown["checked"]["records"] >= 4 and shown["problems"] == []
    data = (copy / "portfolio.json").read_bytes()
    (copy / "portfolio.json").write_bytes(_flip(data, len(data) // 2))
    assert main([*base, "portfolio", "verify", str(copy)]) == 1
    out = capsys.readouterr().out
    assert "FAIL " in out and "NOT VERIFIED" in out
    assert main([*base, "portfolio", "verify", str(copy.parent / "nowhere")]) == 1
    assert f"portfolio folder {copy.parent / 'nowhere'} does not exist" in capsys.readouterr().err


KILL_SCRIPT = """
import os, sys
from pathlib import Path
from jedi_academy.config import load_settings
from jedi_academy.portfolio import build, render
from jedi_academy.store import ledger, open_database
from tests.portfolio.test_portfolio import robin_case_ids

def die(*_args, **_kwargs):
    os._exit(9)

point = sys.argv[3]
if point == "inside-transaction":
    ledger.chain_excerpt = die
elif point == "writing-files":
    render.render_html = die
elif point == "renaming":
    build.os.replace = die
settings = load_settings(data_dir=Path(sys.argv[1]))
request = build.PortfolioRequest("t-1", "Ada Padawan", [build.CaseInput(*robin_case_ids(sys.argv[4]))])
build.build_portfolio(open_database(settings), settings.data_dir, request, Path(sys.argv[2]))
"""


def robin_case_ids(text: str) -> tuple:  # type: ignore[type-arg]
    baseline, first, second = (int(v) for v in text.split(","))
    sessions = (SessionInput(1, run_id=first), SessionInput(2, run_id=second))
    return ("c-robin", "depression", "p-robin", "phq-9", baseline, sessions)


@pytest.mark.parametrize("point", ["inside-transaction", "writing-files", "renaming"])
def test_a_build_killed_at_any_step_leaves_no_portfolio(world, tmp_path, point) -> None:  # type: ignore[no-untyped-def]
    import os
    import subprocess
    import sys

    from jedi_academy.store import ledger as store_ledger

    with world.database.session() as session:
        before = store_ledger.verify_chain(session)
    out = tmp_path / "out"
    runs = f"{world.baseline},{world.after_session_1},{world.after_session_2}"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path.cwd()), *sys.path])}
    result = subprocess.run(
        [sys.executable, "-c", KILL_SCRIPT, str(world.settings.data_dir), str(out), point, runs],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 9, result.stderr
    assert not out.exists() or not any(out.iterdir())
    with world.database.session() as session:
        after = store_ledger.verify_chain(session)
    assert after.ok and after.entries >= before.entries
    build_portfolio(world.database, world.settings.data_dir, request(world), out)
    assert verify_bundle(out).ok


def _resign(folder: Path, key_dir: Path, change=None) -> str:  # type: ignore[no-untyped-def]
    """Re-sign the bundle (after ``change``) with the key of ``key_dir``: body, head and signature alike."""
    from jedi_academy.portfolio.build import document_bytes
    from jedi_academy.portfolio.heads import head_message
    from jedi_academy.portfolio.keys import fingerprint, sign
    from jedi_academy.portfolio.render import render_html
    from jedi_academy.store import ledger

    key = instance_key(key_dir)
    public = public_key_text(key)
    document = json.loads((folder / "portfolio.json").read_text())
    body = document["body"]
    if change is not None:
        change(body)
    body["instance"].update(public_key=public, fingerprint=fingerprint(public))
    head = body["chain"]["signed_head"]
    head["public_key"] = public
    head["signature"] = sign(key, head_message(head["seq"], head["entry_sha256"], head["signed_at"], public))
    document["signature"] = {"algorithm": "Ed25519", "public_key": public,
                             "value": sign(key, ledger.canonical_json(body))}  # fmt: skip
    (folder / "portfolio.json").write_bytes(document_bytes(document))
    (folder / "index.html").write_text(render_html(document), encoding="utf-8")
    return public


def test_a_bundle_resigned_with_another_key_is_not_trusted(world, copy, tmp_path) -> None:  # type: ignore[no-untyped-def]
    real = public_key_text(instance_key(world.settings.data_dir))

    def forge(body):  # type: ignore[no-untyped-def]
        body["therapist"]["name"] = "Ada Master"

    stranger = _resign(copy, tmp_path / "forger", forge)
    report = verify_bundle(copy)
    assert report.ok and not report.trusted  # internally consistent, but nobody vouches for the signer
    report = verify_bundle(copy, public_key=real)
    assert not report.ok and any("not by the expected key" in p for p in report.problems)
    assert verify_bundle(copy, trusted={real: "Jedi Academy"}).trusted_as is None
    assert verify_bundle(copy, trusted={stranger: "forger"}).trusted_as == "forger"


def _tamper_document(copy: Path, change) -> list[str]:  # type: ignore[no-untyped-def]
    from jedi_academy.portfolio.build import document_bytes

    document = json.loads((copy / "portfolio.json").read_text())
    change(document)
    (copy / "portfolio.json").write_bytes(document_bytes(document))
    return verify_bundle(copy).problems


def _set(path: tuple, value) -> object:  # type: ignore[no-untyped-def, type-arg]
    def change(document):  # type: ignore[no-untyped-def]
        target = document
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value

    return change


TAMPERS = {
    "an unsigned top-level endorsement":
        (_set(("endorsement",), "Certified by the Jedi Council"), "outside the signed body"),
    "an extra signature field": (_set(("signature", "note"), "checked by hand"), "not part of a signature"),
    "a rewritten algorithm": (_set(("signature", "algorithm"), "Ed25519 (FIPS certified)"), "is not Ed25519"),
    "a fingerprint of another key":
        (_set(("body", "instance", "fingerprint"), "0123456789abcdef"), "not the signing key"),
    "a moved signed head": (_set(("body", "chain", "signed_head", "seq"), 1), "signed head"),
    "a hidden left-out case": (_set(("body", "selection", "opened"), 5), "selection: 5 case(s) opened"),
    "a changed instance url": (_set(("body", "instance", "url"), "https://evil.example"), "signature"),
}  # fmt: skip


@pytest.mark.parametrize("kind", sorted(TAMPERS))
def test_tamper_kinds_are_refused(copy, kind) -> None:  # type: ignore[no-untyped-def]
    change, expected = TAMPERS[kind]
    problems = _tamper_document(copy, change)
    assert any(expected in p for p in problems), problems


def test_a_symlink_or_special_file_in_the_bundle_is_refused(copy, tmp_path) -> None:  # type: ignore[no-untyped-def]
    import os

    adapters = copy / "adapters"
    real = tmp_path / "elsewhere"
    shutil.move(str(adapters), real)
    os.symlink(real, adapters)  # the same files, reached through a link
    problems = verify_bundle(copy).problems
    assert "adapters is a symlink (refused)" in problems
    os.unlink(adapters)
    shutil.move(str(real), adapters)
    assert verify_bundle(copy).ok
    os.mkfifo(copy / "pipe")
    assert "pipe is a special file (refused)" in verify_bundle(copy).problems


def test_against_catches_a_fork(world, bundle, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from jedi_academy.cli import main
    from jedi_academy.store import ledger

    later = tmp_path / "later"
    build_portfolio(world.database, world.settings.data_dir, request(world), later)
    forked = tmp_path / "forked"
    shutil.copytree(later, forked)

    def fork(body):  # type: ignore[no-untyped-def]
        """Another history for an entry no included record sits on, consistently re-chained: what an
        operator showing two clients two histories would sign."""
        chain = body["chain"]
        used = {r["seq"] for r in body["records"].values()}
        index = next(i for i, (seq, _) in enumerate(chain["links"]) if seq not in used)
        chain["links"][index][1] = "f" * 64
        links = [ledger.Link(seq, digest) for seq, digest in chain["links"]]
        head = ledger.running_hashes(chain["prev_sha256"], links)[links[-1].seq]
        chain["head"]["entry_sha256"] = chain["signed_head"]["entry_sha256"] = head

    _resign(forked, world.settings.data_dir, fork)  # signed with the instance's own key
    key = public_key_text(instance_key(world.settings.data_dir))
    assert verify_bundle(forked, public_key=key).ok  # each history verifies on its own ...
    base = ["--data-dir", str(world.settings.data_dir), "--model", world.settings.model]
    base += ["portfolio", "verify"]
    assert main([*base, str(later), "--against", str(bundle), "--public-key", key]) == 0
    # ... but side by side the fork shows
    assert main([*base, str(bundle), "--against", str(forked), "--public-key", key]) == 1
    stranger = tmp_path / "stranger"
    shutil.copytree(later, stranger)
    _resign(stranger, tmp_path / "forger")
    assert main([*base, str(bundle), "--against", str(stranger), "--public-key", key]) == 1


def test_build_refuses_a_corrupted_adapter_and_a_gap_in_the_chain(world, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from sqlalchemy import select

    from jedi_academy.errors import AcademyError
    from jedi_academy.store import ArtifactStore
    from jedi_academy.store.models import Artifact, Checkpoint, LedgerEntry

    store = ArtifactStore(world.settings.data_dir)
    with world.database.session() as session:
        sha = session.get(Checkpoint, world.checkpoint_id).adapter_sha256  # type: ignore[union-attr]
        weights = next((store.root / session.get(Artifact, sha).relpath).rglob("*.safetensors"))  # type: ignore[union-attr]
    original = weights.read_bytes()
    weights.chmod(0o600)
    weights.write_bytes(_flip(original, len(original) // 2))
    out = tmp_path / "out"
    try:
        with pytest.raises(AcademyError, match=r"fails its own verification.*do not match its hash"):
            build_portfolio(world.database, world.settings.data_dir, request(world, with_adapters=True), out)
        assert not out.exists() or not any(out.iterdir())
    finally:
        weights.write_bytes(original)
    with world.database.session() as session:
        middle = session.scalars(select(LedgerEntry).where(LedgerEntry.seq == 2)).one()
        saved = {c.name: getattr(middle, c.name) for c in LedgerEntry.__table__.columns}
        session.delete(middle)
    try:
        with pytest.raises(AcademyError, match=r"the ledger is BROKEN.*sequence jumps from 1 to 3"):
            build_portfolio(world.database, world.settings.data_dir, request(world), out)
    finally:
        with world.database.session() as session:
            session.add(LedgerEntry(**saved))
    build_portfolio(world.database, world.settings.data_dir, request(world), out)
    assert verify_bundle(out).ok


def test_the_page_names_the_instance_and_never_the_key_to_trust(world, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from jedi_academy.config import InstanceSettings

    out = tmp_path / "named"
    instance = InstanceSettings(name="Jedi Academy, Coruscant", url="https://academy.example/key")
    body = build_portfolio(world.database, world.settings.data_dir, request(world), out, instance).body
    assert body["instance"]["name"] == instance.name and body["instance"]["url"] == instance.url
    page = (out / "index.html").read_text()
    assert "Jedi Academy, Coruscant" in page and "https://academy.example/key" in page
    assert body["instance"]["public_key"] not in page  # the page never offers the key to check it with
    assert "Do not take the signing key from this page" in page
    # no number beside an invalid measurement, and no local path anywhere
    invalid = [s for s in [body["cases"][0]["figures"]["baseline"]] if not s["valid"]]
    for score in invalid:
        assert f"{score['total']:.2f}" not in page
    text = page + (out / "portfolio.json").read_text()
    assert str(world.settings.data_dir.parent) not in text
    assert world.settings.model.startswith("/")
    assert [line for line in text.splitlines() if world.settings.model in line] == []
    assert body["reproduce"]["base_models"] == ["local:tiny"]
