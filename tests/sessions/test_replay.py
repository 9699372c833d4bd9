"""Replayed sessions on the tiny model: storage, reproducibility, the accept/ignore draw, show/list/stats."""

import json
import stat
from pathlib import Path
from typing import Any

import pytest

from jedi_academy.cli import main
from jedi_academy.feedback import load_feedback
from jedi_academy.sessions import SessionOptions, load_script, replay_session, session_json
from tests.sessions.conftest import FAST, World

SCRIPT = [
    {"therapist": "What brings you here today?"},
    {
        "therapist": "Could you try a ten minute walk each morning?",
        "recommendations": ["Walk ten minutes each morning"],
    },
    {"therapist": "Have you had any thoughts of suicide?"},
    {
        "therapist": "Let's agree on two things: call your sister on Sunday and note one good moment a day.",
        "recommendations": ["Call your sister on Sunday", "Write down one good moment each day"],
    },
]
SESSION_KEYS = {
    "session_id",
    "case_id",
    "therapist",
    "checkpoint_id",
    "persona_id",
    "seed",
    "turns",
    "recommendations",
}
REC_KEYS = {
    "id", "text", "turn", "source", "p_accept", "u", "accepted", "decision", "preference_mass", "phrasings",
}  # fmt: skip


def write_script(path: Path) -> Path:
    path.write_text("".join(json.dumps(turn) + "\n" for turn in SCRIPT), encoding="utf-8")
    return path


def replay_cli(world: World, script: Path, seed: int, capsys: Any, *extra: str) -> dict[str, Any]:
    """Replay through the CLI; MITI feedback is skipped unless ``extra`` holds "--feedback"."""
    feedback = ["--feedback-max-tokens", "48"] if "--feedback" in extra else ["--no-feedback"]
    extra = tuple(arg for arg in extra if arg != "--feedback")
    code = main(
        [*world.cli, "session", "replay", "--case", world.case_id, "--script", str(script),
         "--seed", str(seed), "--max-tokens", "12", "--no-extract", *feedback, *extra, "--json"]
    )  # fmt: skip
    captured = capsys.readouterr()
    assert code == 0, captured.err
    return json.loads(captured.out)


def decisions(record: dict[str, Any]) -> list[tuple[Any, ...]]:
    return [
        (
            r["text"],
            r["turn"],
            r["source"],
            r["p_accept"],
            r["u"],
            r["accepted"],
            [p["p_yes"] for p in r["phrasings"]],
        )
        for r in record["recommendations"]
    ]


def test_replayed_jsonl_script_is_stored_and_reproducible(
    world: World, pool: Any, tmp_path: Path, capsys
) -> None:  # type: ignore[no-untyped-def]
    script = write_script(tmp_path / "script.jsonl")
    first = replay_cli(world, script, 11, capsys)
    assert set(first) >= SESSION_KEYS
    assert first["case_id"] == world.case_id and first["therapist"] == "Ada Lovelace"
    assert first["persona_id"] == "p-robin" and first["checkpoint_id"] == "ck-tinybase0001"
    assert first["seed"] == 11 and first["status"] == "ended"
    assert [t["index"] for t in first["turns"]] == [0, 1, 2, 3]
    assert [t["therapist"] for t in first["turns"]] == [turn["therapist"] for turn in SCRIPT]
    assert all(isinstance(t["patient"], str) for t in first["turns"])  # one reply per therapist turn
    recs = first["recommendations"]
    assert [(r["text"], r["turn"], r["source"]) for r in recs] == [
        ("Walk ten minutes each morning", 1, "therapist"),
        ("Call your sister on Sunday", 3, "therapist"),
        ("Write down one good moment each day", 3, "therapist"),
    ]
    for rec in recs:
        assert set(rec) >= REC_KEYS and rec["mode"] == "logprob"
        assert 0 < rec["p_accept"] < 1 and 0 <= rec["u"] < 1
        # the random tiny model puts almost none of its probability on the whole replies "Yes" and "No": it
        # made no decision (tests/sessions/test_preference_validity.py plants a patient that does)
        masses = sorted(p["mass"] for p in rec["phrasings"])
        assert rec["preference_mass"] == pytest.approx((masses[2] + masses[3]) / 2) and masses[-1] < 0.5
        assert rec["decision"] == "invalid_preference" and rec["accepted"] is None
        assert len(rec["phrasings"]) == 6  # three phrasings, each with both answer orders
        assert {p["order"] for p in rec["phrasings"]} == {"Yes/No", "No/Yes"}
        assert rec["p_accept"] == pytest.approx(sum(p["p_yes"] for p in rec["phrasings"]) / 6)
        assert rec["kind"] is not None
    # the risk question flags the session
    assert [(f["turn"], f["speaker"], f["category"]) for f in first["flags"]] == [(2, "therapist", "suicide")]

    # the same seed through the Python API (the web app's path) gives the same replies and decisions; its
    # result's JSON form is what the command printed
    options = SessionOptions(max_tokens=12, extract=False)
    replayed = load_script(script)
    again = replay_session(world.database, pool, world.case_id, replayed, seed=11, options=options).as_dict()
    assert again["session_id"] != first["session_id"]
    assert [t["patient"] for t in again["turns"]] == [t["patient"] for t in first["turns"]]
    assert decisions(again) == decisions(first)

    other = replay_session(world.database, pool, world.case_id, replayed, seed=12, options=options).as_dict()
    assert [r["u"] for r in other["recommendations"]] != [r["u"] for r in first["recommendations"]]
    assert [t["patient"] for t in other["turns"]] != [t["patient"] for t in first["turns"]]

    # stored: show gives back what replay printed
    assert main([*world.cli, "session", "show", first["session_id"], "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["turns"] == first["turns"] and decisions(shown) == decisions(first)
    assert main([*world.cli, "session", "show", first["session_id"][:8]]) == 0
    text = capsys.readouterr().out
    assert "therapist> What brings you here today?" in text and "risk content from the therapist" in text
    assert text.count("INVALID PREFERENCE") == 3 and text.count("mass per phrasing (P(yes)+P(no)): ") == 3

    assert main([*world.cli, "session", "list", "--case", world.case_id, "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    numbers = {row["session_id"]: row["number"] for row in listed}
    assert numbers[first["session_id"]] < numbers[again["session_id"]] < numbers[other["session_id"]]
    assert all(
        row["turns"] == 4 and row["recommendations"] == 3 for row in listed if row["session_id"] in numbers
    )


def test_replay_codes_feedback_that_show_returns(world: World, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    """After the session ends the teacher codes it (MITI); `session show` gives the stored summary back."""
    script = write_script(tmp_path / "script.jsonl")
    record = replay_cli(world, script, 21, capsys, "--feedback")
    feedback = record["feedback"]
    assert feedback is not None
    assert set(feedback) >= {
        "turns", "coded_turns", "counts", "reflection_to_question", "percent_complex_reflections",
        "mi_adherent", "mi_non_adherent", "indicators", "suggestions", "limits", "coder",
    }  # fmt: skip
    assert feedback["turns"] == 4 and 0 <= feedback["coded_turns"] <= 4
    assert feedback["coder"]["model"] == str(world.settings.model)
    stored = load_feedback(world.database, record["session_id"])
    assert stored is not None and stored.summary.as_dict()["counts"] == feedback["counts"]
    assert [turn.therapist for turn in stored.turns] == [turn["therapist"] for turn in SCRIPT]

    assert main([*world.cli, "session", "show", record["session_id"][:8], "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["feedback"] == feedback
    assert main([*world.cli, "session", "show", record["session_id"]]) == 0
    assert "MITI 4.2.1 summary indicators:" in capsys.readouterr().out

    skipped = replay_cli(world, script, 22, capsys)  # --no-feedback (replay_cli's default)
    assert skipped["feedback"] is None and load_feedback(world.database, skipped["session_id"]) is None


def test_replayed_csv_transcript(world: World, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    csv = tmp_path / "annomi.csv"
    csv.write_text(
        "transcript_id,mi_quality,video_title,utterance_id,interlocutor,utterance_text\n"
        "3,high,x,0,therapist,Thanks for coming in.\n"
        "3,high,x,1,client,Sure.\n"
        "3,high,x,2,therapist,How has your drinking been this month?\n"
        "3,high,x,3,client,Fine I guess.\n"
        "4,low,y,0,therapist,Not this one.\n",
        encoding="utf-8",
    )
    code = main(
        [*world.cli, "session", "replay", "--case", world.case_id, "--script", str(csv), "--transcript", "3",
         "--seed", "5", "--max-tokens", "12", "--no-extract", "--json"]
    )  # fmt: skip
    record = json.loads(capsys.readouterr().out)
    assert code == 0
    assert [t["therapist"] for t in record["turns"]] == [
        "Thanks for coming in.",
        "How has your drinking been this month?",
    ]
    assert all(isinstance(t["patient"], str) for t in record["turns"]) and record["recommendations"] == []


def test_teacher_extraction_dedupes_against_marked(world: World, pool: Any) -> None:
    from jedi_academy.sessions.recommendations import ExtractionOptions, extract

    turns = [
        (0, "How have you been sleeping?"),
        (1, "Could you try a walk every morning?"),
        (2, "Call your sister."),
    ]
    options = ExtractionOptions(temperature=1.0, max_tokens=300, max_chars=60, max_items=3)
    llm = pool.get(pool.teacher_spec())
    for seed in range(30):  # the random tiny teacher lists something for some seeds
        found, record = extract(llm, turns, [], seed=seed, options=options)
        if found:
            break
    assert found, "the tiny teacher never listed a recommendation"
    assert record["problem"] is None and all(item.turn in (0, 1, 2) for item in found)
    repeat, _ = extract(llm, turns, [], seed=seed, options=options)
    assert repeat == found  # same seed, same list
    deduped, record = extract(llm, turns, [found[0].text.upper()], seed=seed, options=options)
    assert found[0] not in deduped and record["duplicates"] >= 1


def test_session_end_with_extraction_through_the_api(world: World, pool: Any, tmp_path: Path) -> None:
    script = load_script(write_script(tmp_path / "s.jsonl"))
    options = SessionOptions(**FAST)
    record = replay_session(world.database, pool, world.case_id, script[:2], seed=3, options=options)
    assert record.extraction is not None and record.extraction["problem"] is None and record.status == "ended"
    sources = [r.source for r in record.recommendations]
    assert sources[0] == "therapist" and set(sources) <= {"therapist", "extracted"}
    assert [r.index for r in record.recommendations] == list(range(len(sources)))
    assert record == session_json(world.database, record.session_id)


def test_stats_leave_the_tiny_models_invalid_preferences_out(
    world: World, pool: Any, tmp_path: Path, capsys
) -> None:  # type: ignore[no-untyped-def]
    """The tiny model decides nothing, so no rate has anything in it; the rates of real decisions are in
    test_cases.py (stored rows) and test_preference_validity.py (a planted patient)."""
    from jedi_academy.sessions import session_stats

    script = load_script(write_script(tmp_path / "s.jsonl"))
    replay_session(world.database, pool, world.case_id, script[:2], seed=4, options=SessionOptions(**FAST))
    stats = session_stats(world.database, specialization="depression")
    assert stats.invalid_preference >= 1
    assert stats.invalid_preference + stats.undecided == stats.recommendations
    assert stats.overall.n == 0 and stats.overall.rate is None
    assert stats.by_persona == {} and stats.by_kind == {}
    assert main([*world.cli, "session", "stats", "--case", world.case_id]) == 0
    out = capsys.readouterr().out
    assert "invalid_preference (left out of every rate" in out
    assert "overall: no decided recommendations" in out and "by persona:" in out
    assert main([*world.cli, "session", "stats"]) == 2  # a usage error
    assert "exactly one of --case and --specialization" in capsys.readouterr().err


def test_replay_without_a_seed_draws_prints_and_records_one(world: World, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    import re

    script = write_script(tmp_path / "script.jsonl")
    code = main(
        [*world.cli, "session", "replay", "--case", world.case_id, "--script", str(script),
         "--max-tokens", "8", "--no-extract"]
    )  # fmt: skip
    out = capsys.readouterr().out
    assert code == 0
    drawn = re.search(r"^seed (\d+) \(drawn at random; --seed \1 repeats this replay\)$", out, re.MULTILINE)
    assert drawn is not None, out
    session_line = re.search(r"^session (s-\w+) .*seed (\d+)$", out, re.MULTILINE)
    assert session_line is not None and session_line.group(2) == drawn.group(1)
    assert main([*world.cli, "session", "show", session_line.group(1), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["seed"] == int(drawn.group(1))

    assert main([*world.cli, "session", "list", "--case", world.case_id]) == 0
    listed = capsys.readouterr().out.splitlines()
    assert listed[0].split()[:5] == ["NO", "SESSION", "BRANCH", "STATUS", "MODE"]
    row = next(line for line in listed if session_line.group(1) in line)
    # the tiny model decides nothing: its three recommendations are invalid_preference
    assert " main " in row and "0 accepted, 0 ignored, 3 invalid_preference, 0 undecided" in row


def test_session_export_writes_turns_codes_and_decisions(world: World, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    """`session export` (as the loop stage extends it) carries the stored MITI codes of each turn."""
    script = write_script(tmp_path / "script.jsonl")
    record = replay_cli(world, script, 22, capsys, "--feedback")
    stored = load_feedback(world.database, record["session_id"])
    assert stored is not None
    out = tmp_path / "export" / "session.jsonl"
    export = ["session", "export", record["session_id"][:8], "--format", "jsonl", "--out", str(out)]
    assert main([*world.cli, *export]) == 0
    assert f"wrote {out}" in capsys.readouterr().out
    lines = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [line["type"] for line in lines] == ["session"] + ["turn"] * 4 + ["recommendation"] * 3 + [
        "flag"
    ] * len(record["flags"])
    assert lines[0]["session_id"] == record["session_id"] and lines[0]["seed"] == 22
    turns = lines[1:5]
    assert [t["therapist"] for t in turns] == [turn["therapist"] for turn in record["turns"]]
    codes = {turn.index: turn.codes for turn in stored.turns}
    assert [t["miti_codes"] for t in turns] == [
        list(codes[t["index"]]) if codes.get(t["index"]) is not None else None for t in turns
    ]
    for rec, line in zip(record["recommendations"], lines[5:8], strict=True):
        assert line["text"] == rec["text"] and line["accepted"] == rec["accepted"]
        assert line["decision"].startswith("invalid_preference (the patient did not answer Yes or No")
    assert stat.S_IMODE(out.stat().st_mode) == 0o600

    markdown = tmp_path / "session.md"
    assert main([*world.cli, "session", "export", record["session_id"], "--out", str(markdown)]) == 0
    text = markdown.read_text(encoding="utf-8")
    assert text.startswith(f"# Session {record['number']} of case {record['case_id']}")
    assert f"**Therapist (0):** {record['turns'][0]['therapist']}" in text and "## Recommendations" in text
