from __future__ import annotations

import bz2
import json
import os
import signal
from pathlib import Path
from typing import Any

import pytest

from jedi_academy.cli import main
from jedi_academy.reddit import scanner as scanner_module
from tests.reddit.dumps import comment, ndjson, write_dump
from tests.reddit.test_ingest import SUMMARY_KEYS, big_comments, comparable, mixed_dump


def academy(tmp_path: Path, *args: str) -> int:
    return main(["--data-dir", str(tmp_path / "data"), *args])


def test_json_summary_has_exactly_the_documented_keys(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_dump(tmp_path, mixed_dump())
    assert academy(tmp_path, "ingest", str(path), "--specializations", "adhd,anxiety", "--json") == 0
    out, err = capsys.readouterr()
    summary = json.loads(out)
    assert set(summary) == SUMMARY_KEYS
    assert summary["kept"] == 5 and summary["malformed"] == 2 and summary["lines_read"] == 19
    assert summary["by_specialization"] == {"adhd": 3, "anxiety": 2}
    assert "line 16" in err  # the first malformed lines are reported with their numbers


def test_human_summary(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write_dump(tmp_path, mixed_dump(), fmt="gz")
    assert academy(tmp_path, "ingest", str(path), "-s", "adhd") == 0
    out = capsys.readouterr().out
    assert "read 19 lines (gzip (stdlib))" in out
    assert "3 kept" in out and "too_short 1" in out and "adhd 3" in out


@pytest.mark.parametrize(
    ("make", "args", "message"),
    [
        (lambda p: p / "absent.bz2", [], "absent.bz2: no such file"),
        (lambda p: write_dump(p, [comment(1)]), ["-s", "adhd,unknown"], "unknown specialization 'unknown'"),
        (lambda p: (p / "dump.rar").write_bytes(b"x") and p / "dump.rar", [], "unsupported file type '.rar'"),
    ],
)
def test_user_errors_are_one_clear_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], make: Any, args: list[str], message: str
) -> None:
    path = make(tmp_path)
    assert academy(tmp_path, "ingest", str(path), *args) == 1
    err = capsys.readouterr().err
    first = err.splitlines()[0]
    assert first.startswith("error: ") and message in first
    assert "Traceback" not in err


def test_rules_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text("min_body_chars: 3\nexcluded_authors: []\n")
    path = write_dump(tmp_path, mixed_dump())
    assert academy(tmp_path, "ingest", str(path), "-s", "adhd", "--rules", str(rules), "--json") == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["dropped"]["too_short"] == 0 and summary["dropped"]["excluded_author"] == 0
    rules.write_text("min_chars: 3\n")
    assert academy(tmp_path, "ingest", str(path), "--rules", str(rules)) == 1
    assert "min_chars" in capsys.readouterr().err


def test_truncated_file_prints_the_partial_summary_and_fails(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    whole = bz2.compress(ndjson(big_comments(2000)), 1)
    path = tmp_path / "RC_2015-01.bz2"
    path.write_bytes(whole[: len(whole) // 2])
    assert academy(tmp_path, "ingest", str(path), "--json", "--bz2-decoder", "python") == 1
    out, err = capsys.readouterr()
    assert 0 < json.loads(out)["lines_read"] < 2000
    assert err.startswith(f"error: {path}: compressed data ends early")


def test_ctrl_c_then_resume(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(scanner_module, "CHUNK", 16 << 10)
    comments = big_comments(1500)
    path = write_dump(tmp_path, comments, fmt="zst")
    original = scanner_module.Selector.process
    calls = {"n": 0}

    def press_ctrl_c_once(self: Any, *args: Any) -> int:
        calls["n"] += 1
        if calls["n"] == 3:
            os.kill(os.getpid(), signal.SIGINT)
        return original(self, *args)

    monkeypatch.setattr(scanner_module.Selector, "process", press_ctrl_c_once)
    assert academy(tmp_path, "ingest", str(path)) == 130
    err = capsys.readouterr().err
    assert "interrupted after" in err and "--resume" in err
    monkeypatch.setattr(scanner_module.Selector, "process", original)

    assert academy(tmp_path, "ingest", str(path), "--resume", "--json") == 0
    resumed = json.loads(capsys.readouterr().out)
    other = write_dump(tmp_path, comments, name="again")
    assert academy(tmp_path, "ingest", str(other), "--json", "--out", str(tmp_path / "full")) == 0
    assert comparable(resumed) == comparable(json.loads(capsys.readouterr().out))


@pytest.mark.parametrize(
    ("where", "message"),
    [
        # `--out` naming an existing file is a usage error (exit 2), tested in tests/test_cli_errors.py
        ("out-under-file", "Not a directory"),
        ("out-proc", "/proc/jedi-academy-test"),
        ("data-dir-file", "is a file, not a folder"),
    ],
)
def test_filesystem_errors_are_one_error_and_one_hint_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], where: str, message: str
) -> None:
    path = write_dump(tmp_path, [comment(1)])
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    data = ["--data-dir", str(blocker if where == "data-dir-file" else tmp_path / "data")]
    out = {
        "out-under-file": ["--out", str(blocker / "sub")],
        "out-proc": ["--out", "/proc/jedi-academy-test"],
        "data-dir-file": [],
    }[where]
    assert main([*data, "ingest", str(path), *out]) == 1
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 2, lines
    assert lines[0].startswith("error: ") and message in lines[0]
    assert lines[1].startswith("hint: ")


def test_out_refuses_to_clear_folders_ingest_did_not_write(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_dump(tmp_path, [comment(1)])
    out = tmp_path / "mine"
    (out / "comments").mkdir(parents=True)
    precious = out / "comments" / "notes.txt"
    precious.write_text("my own file")
    assert academy(tmp_path, "ingest", str(path), "--out", str(out)) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "ingest did not write them" in err
    assert precious.read_text() == "my own file"

    # A folder ingest wrote (it has ingest's manifest) is replaced by the next run.
    ours = tmp_path / "ours"
    assert academy(tmp_path, "ingest", str(path), "--out", str(ours), "--json") == 0
    assert academy(tmp_path, "ingest", str(path), "--out", str(ours), "--json") == 0
    capsys.readouterr()


def test_a_pipe_is_refused_before_anything_is_read(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fifo = tmp_path / "RC_2015-01"
    os.mkfifo(fifo)
    assert academy(tmp_path, "ingest", str(fifo)) == 1  # would block forever if it opened the pipe
    err = capsys.readouterr().err
    assert err.startswith(f"error: {fifo}: is a pipe or device") and "hint: save the stream" in err
    assert not (tmp_path / "data" / "reddit").exists()


@pytest.mark.usefixtures("key_per_data_dir")  # the key created inside the data directory is private too
def test_everything_written_is_private(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write_dump(tmp_path, [comment(1), comment(2, subreddit="ptsd")])
    assert academy(tmp_path, "ingest", str(path), "--json") == 0
    capsys.readouterr()
    data = tmp_path / "data"
    written = [data / "secrets", data / "academy.db", *(data / "reddit").rglob("*"), data / "reddit"]
    for item in written:
        mode = item.stat().st_mode & 0o777
        assert mode == (0o700 if item.is_dir() else 0o600), (item, oct(mode))
