"""Therapists and cases on the command line and in the store (SQLite; PostgreSQL where CI has it)."""

import json
from pathlib import Path

import pytest

from jedi_academy.cli import main
from jedi_academy.errors import AcademyError
from jedi_academy.sessions import add_therapist, list_cases, open_case, session_json, show_case
from jedi_academy.sessions.records import create_session
from jedi_academy.sessions.stats import session_stats
from jedi_academy.store import Database, open_database
from jedi_academy.store.models import Recommendation, SessionTurn
from tests.factories import add_persona, add_protocol_runs
from tests.sessions.conftest import add_base_checkpoint


def populate(database: Database) -> None:
    add_persona(database, "p-robin", specialization="depression", name="Robin")
    add_persona(database, "p-sam", specialization="depression", name="Sam")
    add_persona(database, "p-ana", specialization="anxiety", name="Ana")
    add_base_checkpoint(database, "tiny")


def exercise_store(database: Database) -> None:
    """Every session table written and read back, without a model."""
    populate(database)
    add_therapist(database, "Grace")
    case = open_case(database, "Grace", "depression", checkpoint="ck-tinybase")
    session_id = create_session(
        database, case.id, seed=9, mode="replay", params={}, patient={"model": "tiny"}, teacher={}
    )
    with database.session() as session:
        session.add(
            SessionTurn(session_id=session_id, index=0, therapist="Hi", patient="Hello", seed=1, risk=[])
        )
        session.add(
            Recommendation(
                session_id=session_id, index=0, turn=0, text="Rest", kind="lifestyle", source="therapist",
                mode="logprob", p_accept=0.4, u=0.3, accepted=True, phrasings=[{"text": "q", "p_yes": 0.4}],
            )
        )
        session.add(  # revision 0021: a recommendation the patient did not decide, its mass and a judgement
            Recommendation(
                session_id=session_id, index=1, turn=0, text="Walk", kind="lifestyle", source="therapist",
                mode="logprob", p_accept=0.6, u=0.1, accepted=None, decision="invalid_preference",
                preference_mass=1e-9, phrasings=[{"text": "q", "p_yes": 0.6, "mass": 1e-9}],
                advice={"judgement": "unjudged", "reason": "no label"},
            )
        )  # fmt: skip
    record = session_json(database, session_id)
    assert [turn.as_dict() for turn in record.turns] == [
        {"index": 0, "therapist": "Hi", "patient": "Hello", "seed": 1, "risk": [], "context_dropped": 0}
    ]
    assert record.recommendations[0].accepted is True and record.therapist == "Grace"
    assert record.recommendations[0].decision == "accepted"  # a row from before 0021: derived
    invalid = record.recommendations[1]
    assert invalid.decision == "invalid_preference" and invalid.preference_mass == pytest.approx(1e-9)
    assert invalid.advice == {"judgement": "unjudged", "reason": "no label"}
    stats = session_stats(database, case=case.id)
    assert stats.by_kind["lifestyle"].n == 1 and stats.by_persona[case.persona_id].accepted == 1
    assert stats.invalid_preference == 1 and stats.undecided == 0 and stats.overall.n == 1
    assert stats.as_dict()["case"] == case.id  # --json names the case it counts
    summary = show_case(database, case.id).sessions[0]
    assert summary.accepted == 1 and summary.invalid_preference == 1 and summary.undecided == 0


def test_session_tables_on_sqlite(settings) -> None:  # type: ignore[no-untyped-def]
    exercise_store(open_database(settings))


@pytest.mark.postgres
def test_session_tables_on_postgresql(postgres_url: str) -> None:
    database = Database(postgres_url)
    database.migrate()
    exercise_store(database)


def test_therapist_and_case_commands(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    from jedi_academy.config import load_settings

    settings = load_settings(data_dir=tmp_path / "data")
    database = open_database(settings)
    populate(database)
    cli = ["--data-dir", str(settings.data_dir)]

    assert main([*cli, "therapist", "add", "Ada Lovelace", "--json"]) == 0
    therapist = json.loads(capsys.readouterr().out)
    assert therapist["name"] == "Ada Lovelace" and therapist["id"].startswith("t-")
    assert main([*cli, "therapist", "add", "Ada  Lovelace"]) == 1
    assert "already exists" in capsys.readouterr().err

    # no fine-tuned depression checkpoint yet: the base registration is not a patient model
    assert main([*cli, "case", "open", "--therapist", "Ada Lovelace", "--specialization", "depression"]) == 1
    err = capsys.readouterr().err
    assert "no patient checkpoint for specialization 'depression'" in err and "--checkpoint" in err

    planted = add_protocol_runs(database, "ck-tinybase0001", ["p-robin", "p-sam"])
    opened = []
    for _ in range(3):
        code = main(
            [*cli, "case", "open", "--therapist", therapist["id"], "--specialization", "depression",
             "--checkpoint", "ck-tinybase", "--json"]
        )  # fmt: skip
        assert code == 0
        opened.append(json.loads(capsys.readouterr().out))
    first = opened[0]
    assert first["id"].startswith("case-") and first["checkpoint_id"] == "ck-tinybase0001"
    assert first["therapist"] == "Ada Lovelace" and first["specialization"] == "depression"
    # personas the therapist has worked least come first
    assert [case["persona_id"] for case in opened] == ["p-robin", "p-sam", "p-robin"]
    # each case's protocol is fixed at opening, with its baseline run (found stored here)
    assert [case["baseline_run_ids"] for case in opened] == [
        {"phq-9": planted[case["persona_id"]]} for case in opened
    ]
    assert first["protocol"]["mode"] == "logprob" and first["protocol"]["instruments"] == ["phq-9"]
    # the therapist sees the intake sheet, never the card
    intake = first["intake"]
    assert intake["specialization"] == "Depression" and intake["presenting_problem"]
    assert "Robin" not in json.dumps(first) and "evidence" not in json.dumps(first)

    code = main(
        [
            *cli,
            "case",
            "open",
            "--therapist",
            "Ada Lovelace",
            "--specialization",
            "depression",
            "--persona",
            "p-ana",
        ]
    )
    assert code == 1 and "belongs to 'anxiety'" in capsys.readouterr().err
    assert main([*cli, "case", "open", "--therapist", "Nobody", "--specialization", "depression"]) == 1
    assert "therapist 'Nobody' does not exist" in capsys.readouterr().err

    assert main([*cli, "case", "show", first["id"]]) == 0
    out = capsys.readouterr().out
    assert "Presenting problem: Low mood" in out and "Robin" not in out
    assert main([*cli, "case", "list", "--json"]) == 0
    assert [c["id"] for c in json.loads(capsys.readouterr().out)] == [c["id"] for c in opened]
    assert [c.id for c in list_cases(database, "Ada Lovelace")] == [c["id"] for c in opened]
    assert main([*cli, "session", "list", "--case", first["id"]]) == 0
    assert "no sessions yet" in capsys.readouterr().out
    assert main([*cli, "session", "list", "--case", "case-"]) == 1
    assert "case 'case-' is ambiguous" in capsys.readouterr().err
    assert main([*cli, "session", "show", "s-missing"]) == 1
    assert "session 's-missing' does not exist" in capsys.readouterr().err


def test_stats_warn_about_a_uniformly_compliant_patient(settings) -> None:  # type: ignore[no-untyped-def]
    database = open_database(settings)
    populate(database)
    add_therapist(database, "Grace")
    case = open_case(database, "Grace", "depression", persona="p-sam", checkpoint="ck-tinybase")
    session_id = create_session(
        database, case.id, seed=1, mode="replay", params={}, patient={}, teacher={}
    )
    with database.session() as session:
        for index in range(12):
            accepted = index != 0
            session.add(
                Recommendation(
                    session_id=session_id, index=index, turn=0, text=f"rec {index}", source="therapist",
                    kind="homework" if index % 2 else "lifestyle", mode="logprob", p_accept=0.95,
                    u=0.97 if not accepted else 0.5, accepted=accepted, phrasings=[],
                )
            )  # fmt: skip
        session.add(
            Recommendation(
                session_id=session_id, index=12, turn=0, text="late", source="extracted", phrasings=[]
            )
        )
    stats = session_stats(database, specialization="depression")
    assert stats.recommendations == 13 and stats.undecided == 1
    assert stats.overall.accepted == 11 and stats.overall.rate == pytest.approx(11 / 12)
    assert stats.by_kind["homework"].n == 6 and stats.by_kind["lifestyle"].accepted == 5
    assert stats.overall.sd_p_accept == pytest.approx(0.0, abs=1e-12)
    assert any("accepted 92% of 12" in w for w in stats.warnings)
    assert any(w.startswith("persona p-sam accepted") for w in stats.warnings)
    assert "case" not in stats.as_dict()  # a specialization's stats: --json has no case key
    with pytest.raises(AcademyError, match="unknown specialization 'nope'"):
        session_stats(database, specialization="nope")
