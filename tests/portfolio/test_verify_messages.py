"""`portfolio verify` on something that is not a portfolio folder says so in one line."""

from jedi_academy.cli import main


def test_verify_names_a_missing_folder_and_a_folder_without_a_portfolio(settings, tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    base = ["--data-dir", str(settings.data_dir)]
    missing = tmp_path / "nowhere"
    assert main([*base, "portfolio", "verify", str(missing)]) == 1
    captured = capsys.readouterr()
    assert captured.err.splitlines()[0] == f"error: portfolio folder {missing} does not exist"
    assert "NOT VERIFIED" not in captured.out
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main([*base, "portfolio", "verify", str(empty)]) == 1
    assert f"error: {empty} is not a portfolio folder (no portfolio.json in it)" in capsys.readouterr().err
