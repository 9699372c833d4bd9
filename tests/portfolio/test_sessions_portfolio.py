"""A portfolio over real sessions: a tiny-model case with two replayed sessions, the patient re-fine-tuned and
re-assessed after each (what the improvement loop does), built and verified through the CLI."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from jedi_academy.cli import main
from tests.assessment.training_data import endorse_symptoms, write
from tests.factories import add_persona
from tests.portfolio.conftest import QUICK

SCRIPT = [
    ("What brings you here today?", ()),
    ("Could you try a ten minute walk each morning?", ("Walk ten minutes each morning",)),
    ("And call your sister on Sunday?", ("Call your sister on Sunday",)),
]


@dataclass
class Practice:
    settings: Any
    database: Any
    robin_case: str
    sam_case: str
    session_ids: list[str]
    cli: list[str]


def _retrain(settings: Any, parent: str, data: Path) -> str:
    from jedi_academy.finetune.service import FinetuneRequest, finetune

    child = finetune(
        settings,
        FinetuneRequest(dataset=str(data), specialization="depression", parent=parent, show_progress=False),
        QUICK,
        echo=lambda _text: None,
    )
    return child.id


@pytest.fixture(scope="module")
def practice(tmp_path_factory: pytest.TempPathFactory, tiny_dir: Path, tiny_llm: Any) -> Practice:
    from jedi_academy.assessment.runner import assess, checkpoint_target
    from jedi_academy.config import load_settings
    from jedi_academy.finetune.service import FinetuneRequest, finetune
    from jedi_academy.sessions import (
        ModelPool,
        ModelSpec,
        ScriptTurn,
        SessionOptions,
        add_therapist,
        open_case,
        replay_session,
        set_case_checkpoint,
    )
    from jedi_academy.store import open_database

    root = tmp_path_factory.mktemp("practice")
    settings = load_settings(data_dir=root / "data", model=str(tiny_dir), device="cpu")
    database = open_database(settings)
    add_persona(database, "p-robin", specialization="depression", name="Robin Quillfeather")
    add_persona(database, "p-sam", specialization="depression", name="Sam Ottersby")
    data = write(root / "patient.jsonl", endorse_symptoms(16))
    start = finetune(
        settings,
        FinetuneRequest(dataset=str(data), specialization="depression", show_progress=False),
        QUICK,
        echo=lambda _text: None,
    ).id
    add_therapist(database, "Ada Padawan")
    robin = open_case(database, "Ada Padawan", "depression", persona="p-robin", checkpoint=start).id
    sam = open_case(database, "Ada Padawan", "depression", persona="p-sam", checkpoint=start).id
    pool = ModelPool(settings)
    pool._llms[ModelSpec("transformers", settings.model, None)] = tiny_llm
    llms: dict = {("transformers", settings.model): tiny_llm}
    for persona in ("p-robin", "p-sam"):
        assess(
            settings,
            database,
            checkpoint_target(settings, database, start, llms),
            "phq-9",
            persona_id=persona,
        )
    script = [ScriptTurn(text, recs) for text, recs in SCRIPT]
    options = SessionOptions(max_tokens=8, extract=False)
    session_ids = []
    checkpoint = start
    for number in (1, 2):
        record = replay_session(database, pool, robin, script, seed=number, options=options)
        session_ids.append(record.session_id)
        checkpoint = _retrain(settings, checkpoint, data)  # the loop: a child checkpoint after the session
        set_case_checkpoint(database, robin, checkpoint)
        target = checkpoint_target(settings, database, checkpoint, llms)
        assess(settings, database, target, "phq-9", persona_id="p-robin")
    cli = ["--data-dir", str(settings.data_dir), "--model", str(tiny_dir), "--device", "cpu"]
    return Practice(settings, database, robin, sam, session_ids, cli)


def _json(capsys: Any, argv: list[str], code: int = 0) -> dict[str, Any]:
    assert main(argv) == code
    return json.loads(capsys.readouterr().out)


def test_portfolio_over_two_sessions(practice: Practice, tmp_path: Path, capsys: Any) -> None:
    out = tmp_path / "portfolio"
    built = _json(
        capsys,
        [*practice.cli, "portfolio", "build", "--therapist", "Ada Padawan", "--out", str(out),
         "--exclude", practice.sam_case, "--with-adapters", "--json"],
    )  # fmt: skip
    assert built["cases"] == [practice.robin_case]
    # the --json summary keeps its keys (the typed result's as_dict; the signed document is not in it)
    assert list(built) == ["out", "cases", "left_out", "records", "head", "signer", "reference_missing"]
    assert built["left_out"] == [{"case": practice.sam_case, "reason": "excluded by the therapist"}]
    assert list(built["head"]) == ["seq", "entry_sha256"] and built["out"] == str(out)
    body = json.loads((out / "portfolio.json").read_text())["body"]
    case = body["cases"][0]["figures"]
    assert case["n_sessions"] == 2
    assert all(s["score"] is not None for s in case["sessions"])  # re-assessed after each session
    assert all(s["score"]["valid"] == (s["score"]["invalid_reasons"] == []) for s in case["sessions"])
    assert case["sessions"][0]["score"]["checkpoint"] != case["sessions"][1]["score"]["checkpoint"]
    made = [s["recommendations"]["made"] for s in case["sessions"]]
    assert made == [2, 2] and case["recommendations"]["made"] == 4
    # the random tiny patient answers neither Yes nor No: its four recommendations are no decision, counted
    # apart, and the verifier re-derives that from the sealed phrasings' masses
    assert case["recommendations"]["invalid_preference"] == 4
    assert case["recommendations"]["accepted"] + case["recommendations"]["ignored"] == 0
    sessions = [r for r in body["records"].values() if r["kind"] == "session"]
    assert sorted(r["subject_id"] for r in sessions) == sorted(practice.session_ids)
    assert all(len(r["content"]["turns"]) == len(SCRIPT) for r in sessions)

    text = (out / "portfolio.json").read_text() + (out / "index.html").read_text()
    assert practice.sam_case not in text and "p-sam" not in text
    assert "Robin Quillfeather" not in text and "h-p-robin" not in text
    assert "intake" not in json.dumps(body["records"])
    assert str(practice.settings.data_dir.parent) not in text  # no local paths (adapters, training files)

    # without a pinned or trusted key every check runs, but the verdict is not VERIFIED: exit 3
    assert main([*practice.cli, "portfolio", "verify", str(out)]) == 3
    said = capsys.readouterr().out
    assert "signature valid, but the signer is not trusted: this proves nothing about who made it" in said
    assert "VERIFIED" not in said
    key = _json(capsys, [*practice.cli, "keys", "show", "--json"])["public_key"]
    verified = _json(
        capsys, [*practice.cli, "portfolio", "verify", str(out), "--public-key", key, "--recompute", "--json"]
    )
    assert verified["ok"] and verified["trusted_as"] == "pinned key", verified["problems"]
    assert verified["verdict"] == "verified"
    assert verified["checked"]["recomputed_runs"] == 3
    # trusting the published key once (a client's own data directory) serves later checks
    client = ["--data-dir", str(tmp_path / "client")]
    assert main([*client, "keys", "trust", key, "--name", "Jedi Academy (test)"]) == 0
    capsys.readouterr()
    assert main([*client, "portfolio", "verify", str(out)]) == 0
    assert "VERIFIED (signer trusted as Jedi Academy (test))" in capsys.readouterr().out


def test_an_edited_recommendation_stops_the_build(practice: Practice, tmp_path: Path, capsys: Any) -> None:
    """Editing an ended session in the database: build refuses and names it; ledger verify still reports it
    (the build appended nothing that would re-bless the edit)."""
    from sqlalchemy import select

    from jedi_academy.store.models import Recommendation, SessionTurn

    target = practice.session_ids[1]
    with practice.database.session() as session:
        rec = session.scalars(select(Recommendation).where(Recommendation.session_id == target)).first()
        turn = session.scalars(select(SessionTurn).where(SessionTurn.session_id == target)).first()
        saved = (rec.u, rec.accepted, turn.therapist)  # type: ignore[union-attr]
        rec.accepted = not rec.accepted  # type: ignore[union-attr]
        rec.u = 1 - rec.u if rec.u is not None else 0.5  # type: ignore[union-attr]
        turn.therapist = "You are clearly cured, stop all treatment."  # type: ignore[union-attr]
    try:
        out = tmp_path / "forged"
        argv = [*practice.cli, "portfolio", "build", "--therapist", "Ada Padawan", "--out", str(out)]
        assert main(argv) != 0
        err = capsys.readouterr().err
        assert f"(session {target}): the stored record no longer matches its hash" in err
        assert not out.exists()
        assert main([*practice.cli, "ledger", "verify"]) == 1
        said = capsys.readouterr().out
        assert f"(session {target}): the stored record no longer matches its hash" in said
        assert "BROKEN" in said
    finally:
        with practice.database.session() as session:
            rec = session.get(Recommendation, rec.id)  # type: ignore[union-attr]
            turn = session.get(SessionTurn, turn.id)  # type: ignore[union-attr]
            rec.u, rec.accepted, turn.therapist = saved  # type: ignore[union-attr]
    assert main([*practice.cli, "ledger", "verify"]) == 0


def test_a_case_without_baseline_is_left_out_with_its_reason(practice: Practice, tmp_path: Path) -> None:
    from jedi_academy.portfolio import build_portfolio, portfolio_request
    from jedi_academy.sessions import add_therapist, open_case
    from jedi_academy.store.models import Case

    with practice.database.session() as session:
        start = session.get(Case, practice.robin_case).start_checkpoint_id  # type: ignore[union-attr]
    add_persona(practice.database, "p-kit", specialization="depression", name="Kit Marrowby")
    add_therapist(practice.database, "Ben Padawan")
    measured = open_case(practice.database, "Ben Padawan", "depression", persona="p-robin", checkpoint=start)
    unmeasured = open_case(practice.database, "Ben Padawan", "depression", persona="p-kit", checkpoint=start)
    request = portfolio_request(practice.database, "Ben Padawan")
    assert [c.case_id for c in request.cases] == [measured.id]
    assert request.left_out == [(unmeasured.id, "no baseline")] and request.opened == 2
    out = tmp_path / "ben"
    body = build_portfolio(practice.database, practice.settings.data_dir, request, out).body
    assert body["selection"] == {
        "opened": 2,
        "published": 1,
        "left_out": [{"reason": "no baseline"}],
        "left_out_counts": {"excluded by the therapist": 0, "no baseline": 1, "uncontrolled": 0},
    }
    page = (out / "index.html").read_text()
    assert "opened 2 case(s); 1 are published here" in page and "1 no baseline" in page
    assert "p-kit" not in page and unmeasured.id not in page + (out / "portfolio.json").read_text()


def test_a_changed_transcript_or_decision_names_the_session(practice: Practice, tmp_path: Path) -> None:
    from jedi_academy.portfolio import PortfolioRequest, build_portfolio, verify_bundle
    from jedi_academy.portfolio.build import document_bytes
    from jedi_academy.portfolio.source import portfolio_request

    request: PortfolioRequest = portfolio_request(
        practice.database, "Ada Padawan", include=[practice.robin_case]
    )
    out = tmp_path / "p"
    build_portfolio(practice.database, practice.settings.data_dir, request, out)
    assert verify_bundle(out).ok
    document = json.loads((out / "portfolio.json").read_text())
    ref = f"session:{practice.session_ids[0]}"
    entry = document["body"]["records"][ref]
    entry["content"]["turns"][0]["therapist"] += "!"
    (out / "portfolio.json").write_bytes(document_bytes(document))
    problems = verify_bundle(out).problems
    assert any(f"ledger entry {entry['seq']} (session {practice.session_ids[0]})" in p for p in problems)


def test_session_records_are_in_the_chain_when_they_end(practice: Practice) -> None:
    from jedi_academy.store import ledger

    with practice.database.session() as session:
        for session_id in practice.session_ids:
            assert ledger.latest_entry(session, "session", session_id) is not None
        assert ledger.verify_chain(session).ok


def test_scripted_therapists_form_the_reference_class(practice: Practice) -> None:
    """Runs last in this module: it adds a scripted placebo therapist's case on the same persona."""
    from jedi_academy.portfolio.source import portfolio_request
    from jedi_academy.sessions import add_therapist, open_case

    before = portfolio_request(practice.database, "Ada Padawan", include=[practice.robin_case])
    assert before.references == {}
    add_therapist(practice.database, "Scripted placebo")
    with practice.database.session() as session:
        from jedi_academy.store.models import Case

        start = session.get(Case, practice.robin_case).start_checkpoint_id  # type: ignore[union-attr]
    placebo = open_case(
        practice.database, "Scripted placebo", "depression", persona="p-robin", checkpoint=start
    )
    open_case(practice.database, "Scripted placebo", "depression", persona="p-sam", checkpoint=start)
    after = portfolio_request(practice.database, "Ada Padawan", include=[practice.robin_case])
    assert list(after.references) == ["placebo"]
    assert [c.case_id for c in after.references["placebo"]] == [placebo.id]  # only the same personas
    named = portfolio_request(
        practice.database,
        "Ada Padawan",
        include=[practice.robin_case],
        references={"skilled": "Scripted placebo"},
    )
    assert list(named.references) == ["skilled"]
