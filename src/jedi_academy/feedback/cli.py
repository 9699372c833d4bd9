"""``academy feedback ...`` (keep imports light: this module loads on every CLI start)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from jedi_academy.cli_kit import database as _database
from jedi_academy.cli_kit import settings as _settings
from jedi_academy.hooks import hookimpl

if TYPE_CHECKING:
    from jedi_academy.cli_kit import CommandRegistry
    from jedi_academy.config import Settings
    from jedi_academy.llm import LLM

app = typer.Typer(
    help="Feedback on technique: MITI-style coding of sessions and agreement with human coders.",
    no_args_is_help=True,
)


def _coder(settings: Settings, backend: str | None, model: str | None) -> LLM:
    from jedi_academy.llm import open_llm

    return open_llm(settings, backend=backend, model=model)


BackendOption = Annotated[str | None, typer.Option(help="Coder backend (overrides academy --backend).")]
ModelOption = Annotated[str | None, typer.Option(help="Coder (teacher) model (overrides academy --model).")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON.")]


@app.command("code")
def code(
    ctx: typer.Context,
    transcript: Annotated[
        Path, typer.Option(help="Transcript: .jsonl or .csv with therapist/patient turns.")
    ],
    session_id: Annotated[
        str | None, typer.Option(help="Store the feedback under this session id (replacing any earlier one).")
    ] = None,
    no_globals: Annotated[bool, typer.Option("--no-globals", help="Skip the four global ratings.")] = False,
    temperature: Annotated[
        float, typer.Option(min=0.0, help="Coder sampling temperature (0 = greedy).")
    ] = 0.0,
    seed: Annotated[int | None, typer.Option(help="Sampling seed (default: settings).")] = None,
    backend: BackendOption = None,
    model: ModelOption = None,
    as_json: JsonOption = False,
) -> None:
    """Code every therapist turn with MITI 4.2.1 behaviour codes, rate the session and summarise it."""
    from jedi_academy.feedback.coding import CodingOptions, code_session
    from jedi_academy.feedback.render import render_feedback
    from jedi_academy.feedback.transcript import read_transcript

    settings = _settings(ctx)
    turns = read_transcript(transcript)
    options = CodingOptions(
        temperature=temperature, seed=settings.seed if seed is None else seed, rate_globals=not no_globals
    )
    feedback = code_session(_coder(settings, backend, model), turns, session_id=session_id, options=options)
    if session_id:
        from jedi_academy.feedback.storage import save_feedback
        from jedi_academy.store import open_database

        save_feedback(open_database(settings), feedback)
    typer.echo(json.dumps(feedback.as_dict(), indent=2) if as_json else render_feedback(feedback))


@app.command("show")
def show(
    ctx: typer.Context,
    session_id: Annotated[str, typer.Argument(help="Session id or unique prefix.")],
    as_json: JsonOption = False,
) -> None:
    """Show the stored feedback of a session."""
    from jedi_academy.errors import AcademyError
    from jedi_academy.feedback.render import render_feedback
    from jedi_academy.feedback.storage import load_feedback

    feedback = load_feedback(_database(ctx), session_id)
    if feedback is None:
        raise AcademyError(
            f"no feedback stored for session {session_id!r}", "run `academy feedback code` first"
        )
    typer.echo(json.dumps(feedback.as_dict(), indent=2) if as_json else render_feedback(feedback))


@app.command("evaluate")
def evaluate(
    ctx: typer.Context,
    transcripts: Annotated[Path, typer.Option(help="CSV in the AnnoMI column layout, with human codes.")],
    limit: Annotated[
        int | None, typer.Option(min=1, help="Code only the first N therapist utterances.")
    ] = None,
    batch_size: Annotated[int, typer.Option(min=1, help="Utterances per generation call.")] = 32,
    seed: Annotated[int | None, typer.Option(help="Sampling seed (default: settings).")] = None,
    backend: BackendOption = None,
    model: ModelOption = None,
    as_json: JsonOption = False,
) -> None:
    """Agreement of the model's codes with the human codes of an AnnoMI-layout file, beside two baselines."""
    from jedi_academy.feedback.annomi import read_annomi
    from jedi_academy.feedback.coding import CodingOptions
    from jedi_academy.feedback.evaluate import evaluate_file
    from jedi_academy.feedback.render import render_evaluation

    settings = _settings(ctx)
    read_annomi(transcripts)  # a malformed file fails before any model loads

    def progress(done: int, total: int) -> None:
        typer.echo(f"coded {done}/{total} utterance(s)", err=True)

    report = evaluate_file(
        _coder(settings, backend, model),
        transcripts,
        limit=limit,
        options=CodingOptions(seed=settings.seed if seed is None else seed, rate_globals=False),
        batch_size=batch_size,
        progress=None if as_json else progress,
    )
    typer.echo(json.dumps(report.as_dict(), indent=2) if as_json else render_evaluation(report))


@hookimpl
def register_commands(commands: CommandRegistry) -> None:
    commands.group("feedback", app)
