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
    assert '<td class="muted">-</td><td class="muted">-</td><td>invalid: ' in page
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
    assert "portfolio.json does not exist" in capsys.readouterr().out


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
