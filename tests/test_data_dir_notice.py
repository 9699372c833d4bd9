"""A command that creates the data directory on the way names it, once, on stderr (issue 29 point 6)."""

from __future__ import annotations

from pathlib import Path

import pytest

from jedi_academy.cli import main


@pytest.mark.parametrize("command", [["therapist", "list"], ["keys", "show"]])
def test_a_created_data_directory_is_named_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: list[str]
) -> None:
    data = tmp_path / "fresh"
    assert main(["--data-dir", str(data), *command]) == 0
    err = capsys.readouterr().err
    assert data.is_dir() and err.splitlines().count(f"created data directory {data}") == 1
    assert main(["--data-dir", str(data), *command]) == 0  # it exists now: nothing to say
    assert "created data directory" not in capsys.readouterr().err
