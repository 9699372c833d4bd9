"""The registry through which stages contribute commands and extend each other (jedi_academy.hooks,
cli_kit.CommandRegistry): conflicts and missing parts stop start-up with one line, and no stage edits
another's commands."""

import subprocess
import sys
from pathlib import Path

import pytest
import typer

from jedi_academy.cli import build_app, main
from jedi_academy.cli_kit import CommandRegistry
from jedi_academy.errors import ConfigError
from jedi_academy.hooks import PLUGINS, ROUTE_PLUGINS, plugin_manager

SOURCE = Path(__file__).resolve().parents[1] / "src" / "jedi_academy"


def _noop(ctx: typer.Context) -> None:
    """Does nothing."""


def test_two_stages_adding_one_command_is_an_error() -> None:
    commands = CommandRegistry(typer.Typer())
    commands.group("case", help="Cases.")
    commands.command("show", group="case")(_noop)
    commands.command("show", group="case")(_noop)
    with pytest.raises(ConfigError, match="two stages add the command `academy case show`"):
        commands.finish()


def test_a_group_is_declared_once_and_commands_need_a_declared_group() -> None:
    commands = CommandRegistry(typer.Typer())
    commands.group("case", help="Cases.")
    with pytest.raises(ConfigError, match="two stages declare the command group `academy case`"):
        commands.group("case", help="Again.")
    commands.command("branch", group="cases")(_noop)
    with pytest.raises(ConfigError, match="`academy cases branch` is added to a group no stage declares"):
        commands.finish()


def test_every_plugin_module_is_registered_and_the_extensions_land() -> None:
    manager = plugin_manager()
    registered = {name for name, _ in manager.list_name_plugin()}
    # the web app's route modules join once an app is built (route_hook), whatever ran before this test
    assert registered - set(ROUTE_PLUGINS) == set(PLUGINS) and registered <= set(PLUGINS) | set(ROUTE_PLUGINS)
    root = typer.main.get_command(build_app())
    session_end = root.commands["session"].commands["end"]
    assert {"--refine", "--no-feedback", "--feedback-max-tokens", "--json"} <= {
        opt for param in session_end.params for opt in param.opts
    }
    therapist_add = root.commands["therapist"].commands["add"]
    assert "--email" in {opt for param in therapist_add.params for opt in param.opts}
    assert set(root.commands["case"].commands) == {
        "open", "list", "show", "branch", "switch", "tree", "compare", "report", "close", "archive"
    }  # fmt: skip
    assert "adapters" in root.commands["checkpoints"].commands  # serving adds to finetune's group


def test_no_module_edits_another_stages_commands() -> None:
    edits = [
        f"{path.relative_to(SOURCE)}"
        for path in SOURCE.rglob("*.py")
        if "registered_commands" in path.read_text(encoding="utf-8") and path.name != "cli_kit.py"
    ]
    assert edits == []


def test_a_stage_that_cannot_be_loaded_stops_start_up_with_one_line(tmp_path: Path) -> None:
    """A broken installation (a stage module that fails to import) is one error line and exit 1, never a
    traceback and never a CLI that silently lacks the stage's commands."""
    broken = tmp_path / "jedi_academy_broken"
    broken.mkdir()
    (broken / "__init__.py").write_text("raise ImportError('a dependency of this stage is missing')\n")
    code = (
        "import sys; import jedi_academy.hooks as h; "
        "h.PLUGINS = (*h.PLUGINS, 'jedi_academy_broken'); "
        "from jedi_academy.cli import main; sys.exit(main(['--help']))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
        env={"PYTHONPATH": f"{tmp_path}:{SOURCE.parent}", "PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert lines[0] == (
        "error: the stage module jedi_academy_broken cannot be loaded: a dependency of this stage is missing"
    )
    assert lines[1].startswith("hint: ") and len(lines) == 2 and "Traceback" not in result.stderr


def test_main_still_answers(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["case", "--help"]) == 0
    assert "branch" in capsys.readouterr().out
