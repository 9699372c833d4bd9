import json
from pathlib import Path

import pytest

from jedi_academy.cli import main
from jedi_academy.sessions.scripts import ScriptError, ScriptTurn, load_script

CSV_HEADER = "transcript_id,mi_quality,utterance_id,interlocutor,timestamp,utterance_text\n"


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_jsonl_script_with_optional_recommendations(tmp_path: Path) -> None:
    script = write(
        tmp_path / "s.jsonl",
        json.dumps({"therapist": "How was the week?"})
        + "\n\n"
        + json.dumps({"therapist": "Try a walk.", "recommendations": ["Walk ten minutes a day"]})
        + "\n",
    )
    assert load_script(script) == [
        ScriptTurn("How was the week?"),
        ScriptTurn("Try a walk.", ("Walk ten minutes a day",)),
    ]


def test_csv_transcript_replays_therapist_rows_in_utterance_order(tmp_path: Path) -> None:
    script = write(
        tmp_path / "t.csv",
        CSV_HEADER
        + '7,high,2,therapist,00:01,"So, what brings you in,\nin your words?"\n'
        + "7,high,1,client,00:00,I should not be here.\n"
        + "7,high,0,therapist,00:00,Hello and welcome.\n"
        + "7,high,10,therapist,00:05,Could you keep a sleep diary?\n"
        + "8,low,0,therapist,00:00,Another transcript.\n",
    )
    turns = load_script(script, transcript="7")
    assert [t.therapist for t in turns] == [
        "Hello and welcome.",
        "So, what brings you in,\nin your words?",
        "Could you keep a sleep diary?",
    ]


@pytest.mark.parametrize(
    ("name", "text", "transcript", "message"),
    [
        (
            "a.csv",
            "transcript_id,utterance_text\n1,hi\n",
            "1",
            "missing column(s) utterance_id, interlocutor",
        ),
        ("b.csv", CSV_HEADER + "1,high,0,client,00:00,Only me.\n", "1", "no therapist turns"),
        ("c.csv", CSV_HEADER + "1,high,0,therapist,00:00,Hi.\n", "99", "no transcript '99'"),
        (
            "d.csv",
            CSV_HEADER + "1,high,x,therapist,00:00,Hi.\n",
            "1",
            "line 2: utterance_id 'x' is not a number",
        ),
        ("e.csv", CSV_HEADER, None, "needs --transcript"),
        ("f.jsonl", '{"therapist": "ok"}\n{"therapist": \n', None, "line 2: not valid JSON"),
        ("g.jsonl", '{"therapist": ""}\n', None, "line 1: 'therapist' must be a non-empty string"),
        ("h.jsonl", '{"therapist": "x", "recs": []}\n', None, "line 1: unknown field(s) recs"),
        ("i.jsonl", "\n\n", None, "no therapist turns"),
        ("j.jsonl", '{"therapist": "x"}\n', "3", "--transcript only applies to CSV"),
    ],
)
def test_bad_scripts_get_one_clear_error(
    tmp_path: Path, name: str, text: str, transcript: str | None, message: str
) -> None:
    path = write(tmp_path / name, text)
    with pytest.raises(ScriptError) as caught:
        load_script(path, transcript)
    assert message in str(caught.value) and name in str(caught.value)


def test_bad_script_on_the_command_line_is_one_line_and_writes_nothing(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    path = write(tmp_path / "bad.csv", "transcript_id,utterance_text\n1,hi\n")
    data = tmp_path / "data"
    code = main(
        ["--data-dir", str(data), "session", "replay", "--case", "c-x", "--script", str(path), "--json"]
    )
    captured = capsys.readouterr()
    assert code == 1 and captured.out == ""
    lines = captured.err.strip().splitlines()
    assert lines[0].startswith("error: ") and "missing column(s)" in lines[0] and len(lines) <= 2
    assert not (data / "academy.db").exists()  # nothing opened, nothing written
    missing = main(["--data-dir", str(data), "session", "replay", "--case", "c-x", "--script", "nope.jsonl"])
    assert missing == 1 and "does not exist" in capsys.readouterr().err
