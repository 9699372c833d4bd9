"""Malformed annotation files and transcripts: one clear error naming the file, the line and the column."""

from __future__ import annotations

from pathlib import Path

import pytest

from jedi_academy.cli import main
from jedi_academy.feedback.annomi import read_annomi
from jedi_academy.feedback.transcript import FeedbackInputError, read_transcript

from .annomi_sample import HEADER, ROWS, write_sample


def _with_row(number: int, row: str) -> list[str]:
    return [*ROWS[:number], row, *ROWS[number + 1 :]]


@pytest.mark.parametrize(
    ("rows", "header", "expected"),
    [
        (ROWS, HEADER.replace("interlocutor", "speaker"), "line 1: missing column 'interlocutor'"),
        # ROWS[2] is on line 4 (header on line 1); ROWS[4] spans no extra line.
        (
            _with_row(2, "demo-1,high,Invented A,2,therapist,00:00:09,Reflecting.,reflect,n/a,simple,n/a"),
            HEADER,
            "line 4, column 'main_therapist_behaviour': 'reflect' is not one of reflection, question, "
            "therapist_input, other",
        ),
        (
            _with_row(1, "demo-1,high,Invented A,1,patient,00:00:04,Hi.,n/a,neutral,n/a,n/a"),
            HEADER,
            "line 3, column 'interlocutor': 'patient' is not therapist or client",
        ),
        (
            _with_row(5, "demo-1,high,Invented A,five,client,00:00:20,Right.,n/a,neutral,n/a,n/a"),
            HEADER,
            "line 7, column 'utterance_id': 'five' is not a whole number",
        ),
        (
            _with_row(5, "demo-1,high,Invented A,5,client,00:00:20,Right.,n/a,neutral,n/a,n/a,extra"),
            HEADER,
            "line 7: more fields than the header has columns",
        ),
        (
            _with_row(5, "demo-1,high,Invented A,5,client"),
            HEADER,
            "line 7, column 'timestamp': missing",
        ),
        (
            _with_row(2, "demo-1,high,Invented A,2,therapist,00:00:09,Hm.,reflection,n/a,deep,n/a"),
            HEADER,
            "line 4, column 'reflection_subtype': 'deep' is not one of simple, complex or n/a",
        ),
        (
            _with_row(5, "demo-1,high,Invented A,4,client,00:00:20,Right.,n/a,neutral,n/a,n/a"),
            HEADER,
            "line 7, column 'utterance_id': utterance 4 of transcript 'demo-1' already appears on line 6",
        ),
        ([], HEADER, "no utterances after the header"),
    ],
)
def test_malformed_annotation_files_name_the_line_and_column(
    tmp_path: Path, rows: list[str], header: str, expected: str
) -> None:
    path = write_sample(tmp_path / "bad.csv", rows, header)
    with pytest.raises(FeedbackInputError) as caught:
        read_annomi(path)
    assert str(path) in caught.value.message
    assert expected in caught.value.message


def test_line_numbers_count_quoted_line_breaks(tmp_path: Path) -> None:
    # Row 0 holds a quoted field over two lines, so ROWS[1] starts on line 4, and the bad row 2 on line 5.
    rows = [
        'demo-1,high,Invented A,0,therapist,00:00:01,"Hello,\nwhat brings you in?",question,n/a,n/a,open',
        ROWS[1],
        "demo-1,high,Invented A,2,therapist,00:00:09,Hm.,summary,n/a,n/a,n/a",
    ]
    with pytest.raises(FeedbackInputError, match=r"line 5, column 'main_therapist_behaviour'"):
        read_annomi(write_sample(tmp_path / "multi.csv", rows))


def test_evaluate_refuses_a_malformed_file_in_one_line_before_loading_a_model(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_sample(tmp_path / "bad.csv", _with_row(2, "demo-1,high,A,2,therapist,0,Hm.,x,n/a,n/a,n/a"))
    # The model folder does not exist: the file error must come first.
    args = [
        "--model",
        str(tmp_path / "no-model"),
        "feedback",
        "evaluate",
        "--transcripts",
        str(path),
        "--json",
    ]
    assert main(args) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.strip().splitlines()
    assert lines == [
        f"error: {path}, line 4, column 'main_therapist_behaviour': 'x' is not one of reflection, question, "
        "therapist_input, other"
    ]


def test_a_file_without_therapist_utterances_is_refused(tmp_path: Path) -> None:
    from jedi_academy.feedback.evaluate import evaluate_file

    path = write_sample(tmp_path / "clients.csv", [row for row in ROWS if ",client," in row])
    # The coder is never called: the file is refused first, so no model is needed here.
    with pytest.raises(FeedbackInputError, match="no therapist utterances to compare"):
        evaluate_file(None, path)  # type: ignore[arg-type]


def test_a_missing_file_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["feedback", "evaluate", "--transcripts", str(tmp_path / "none.csv")]) == 1
    assert "none.csv: no such file" in capsys.readouterr().err


def test_a_file_that_is_not_utf8_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "latin1.csv"
    path.write_bytes(
        HEADER.encode() + "t,high,v,0,therapist,0,Caf\xe9?,question,n/a,n/a,open\n".encode("latin-1")
    )
    with pytest.raises(FeedbackInputError, match="not UTF-8"):
        read_annomi(path)


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        (
            "t.jsonl",
            '{"therapist": "Hi.", "patient": "Hello."}\n{"therapist": "Hi."\n',
            "line 2: not valid JSON",
        ),
        (
            "t.jsonl",
            '{"therapist": "", "patient": "Hello."}\n',
            "line 1: field 'therapist' must be non-empty",
        ),
        ("t.jsonl", '{"therapist": "Hi.", "client": "Hello."}\n', "line 1: unknown field 'client'"),
        ("t.jsonl", "\n", "no turns"),
        ("t.csv", "therapist,patient\nHi.,Hello.\n,Hm.\n", "line 3: field 'therapist' must be non-empty"),
        ("t.csv", "speaker,text\nHi.,Hello.\n", "line 1: no 'therapist' column"),
        ("t.txt", "Hi.\n", "unknown transcript format '.txt'"),
    ],
)
def test_malformed_transcripts(tmp_path: Path, name: str, content: str, expected: str) -> None:
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    with pytest.raises(FeedbackInputError, match=expected):
        read_transcript(path)
