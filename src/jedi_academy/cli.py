"""The ``academy`` command. Thin: parses flags, calls the stage packages, prints results.

Heavy libraries (torch, transformers, SQLAlchemy) are imported inside the commands that need them, so that
``academy --help`` stays fast.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

# Plain click help instead of rich panels: loading rich's markdown and traceback machinery would double the
# start-up time of every command (`academy --help` must answer in under half a second).
os.environ.setdefault("TYPER_USE_RICH", "0")

import typer

from jedi_academy.cli_kit import database as _database
from jedi_academy.cli_kit import settings as _settings
from jedi_academy.limits import REPLY_TOKENS, SEED, TEMPERATURE
from jedi_academy.terminal_text import terminal_safe

if TYPE_CHECKING:
    from jedi_academy.config import Settings

app = typer.Typer(
    name="academy",
    help="Jedi Academy: simulated patients, validated questionnaires, verifiable therapist track records.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
model_app = typer.Typer(help="Build and inspect models.", no_args_is_help=True)
db_app = typer.Typer(help="Database schema and migrations.", no_args_is_help=True)
config_app = typer.Typer(help="Show the effective configuration.", no_args_is_help=True)
app.add_typer(model_app, name="model")
app.add_typer(db_app, name="db")
app.add_typer(config_app, name="config")


_built: list[typer.Typer] = []


def build_app() -> typer.Typer:
    """The ``academy`` application with every stage's commands. Each stage contributes them through the
    ``register_commands`` hook (``jedi_academy.hooks``); this module only collects them, once per process.
    A stage that cannot be loaded, or two stages claiming one command, stop start-up with one line
    (``main``)."""
    if not _built:
        from jedi_academy.cli_kit import CommandRegistry
        from jedi_academy.hooks import hook

        commands = CommandRegistry(app)
        hook().register_commands(commands=commands)
        commands.finish()
        _built.append(app)
    return app


def _print_version(value: bool) -> None:
    if value:
        from jedi_academy import __version__

        typer.echo(f"academy {__version__}")
        raise typer.Exit(0)


@app.callback()
def root(
    ctx: typer.Context,
    config: Annotated[
        Path | None, typer.Option(help="academy.toml to read (default ./academy.toml).")
    ] = None,
    data_dir: Annotated[Path | None, typer.Option(help="Data directory (default ./academy-data).")] = None,
    database_url: Annotated[
        str | None, typer.Option(help="SQLAlchemy URL (default SQLite in the data dir).")
    ] = None,
    backend: Annotated[str | None, typer.Option(help="LLM backend: transformers, openai or mistral.")] = None,
    model: Annotated[str | None, typer.Option(help="Model: 'tiny', a local folder or a hub id.")] = None,
    base_url: Annotated[str | None, typer.Option(help="Server URL for the openai/mistral backends.")] = None,
    device: Annotated[str | None, typer.Option(help="auto, cpu, cuda or cuda:N.")] = None,
    debug: Annotated[bool, typer.Option("--debug", help="Show full tracebacks.")] = False,
    version: Annotated[
        bool,
        typer.Option("--version", is_eager=True, callback=_print_version, help="Print the version and exit."),
    ] = False,
) -> None:
    if config is not None:
        os.environ["ACADEMY_CONFIG"] = str(config)
    ctx.obj = {
        "data_dir": data_dir,
        "database_url": database_url,
        "backend": backend,
        "model": model,
        "base_url": base_url,
        "device": device,
    }


# ---------------------------------------------------------------- config and db


@config_app.command("show")
def config_show(ctx: typer.Context) -> None:
    """Print the effective settings as JSON (secrets hidden)."""
    typer.echo(json.dumps(_settings(ctx).shown(), indent=2))


@db_app.command("upgrade")
def db_upgrade(ctx: typer.Context) -> None:
    """Apply pending migrations (commands also do this on first use)."""
    from jedi_academy.store.db import current_revision

    database = _database(ctx)
    typer.echo(f"database at revision {current_revision(database.engine)}")


@db_app.command("current")
def db_current(ctx: typer.Context) -> None:
    """Show the schema revision of the database and the newest one this version knows."""
    from jedi_academy.store.db import Database, current_revision, head_revision

    database = Database(_settings(ctx).resolved_database_url)
    typer.echo(f"current: {current_revision(database.engine)}  head: {head_revision()}")


# ---------------------------------------------------------------- models and the LLM layer


@model_app.command("init-tiny")
def model_init_tiny(
    ctx: typer.Context,
    out: Annotated[
        Path | None, typer.Option(help="Folder to write (default <data-dir>/models/tiny).")
    ] = None,
    force: Annotated[bool, typer.Option(help="Rebuild even if the folder exists.")] = False,
) -> None:
    """Build the tiny random-weight Mistral model with the real v3 tokenizer (Hugging Face format)."""
    from jedi_academy.llm.tiny import build_tiny_model, tiny_model_dir

    target = out or tiny_model_dir(_settings(ctx))
    path = build_tiny_model(target, force=force)
    typer.echo(f"tiny model ready at {path}")


@model_app.command("info")
def model_info(ctx: typer.Context) -> None:
    """Load the configured model and print its architecture and chat format."""
    from jedi_academy.llm import open_llm

    llm = open_llm(_settings(ctx))
    typer.echo(json.dumps(llm.describe(), indent=2))


def _checkpoint_target(settings: Settings, checkpoint_id: str) -> tuple[Settings, str | None]:
    """Settings and adapter argument that make the LLM layer serve a checkpoint."""
    from jedi_academy.llm.targets import resolve_checkpoint
    from jedi_academy.store import open_database

    with open_database(settings).session() as session:
        found = resolve_checkpoint(session, settings, checkpoint_id)
    update = {"backend": found.backend, "model": found.model, "base_url": found.base_url}
    return settings.model_copy(update=update), found.adapter


@app.command()
def chat(
    ctx: typer.Context,
    message: Annotated[list[str] | None, typer.Option("--message", "-m", help="Send and exit.")] = None,
    system: Annotated[str | None, typer.Option(help="System prompt.")] = None,
    checkpoint: Annotated[str | None, typer.Option(help="Chat with this checkpoint (id or prefix).")] = None,
    persona: Annotated[str | None, typer.Option(help="Persona id: its card is the system prompt.")] = None,
    adapter: Annotated[Path | None, typer.Option(help="LoRA adapter folder (transformers backend).")] = None,
    max_tokens: Annotated[int, typer.Option(help="Longest reply, in tokens.", **REPLY_TOKENS)] = 128,
    temperature: Annotated[float, typer.Option(help="0 = greedy.", **TEMPERATURE)] = 0.7,
    seed: Annotated[int | None, typer.Option(help="Sampling seed.", **SEED)] = None,
) -> None:
    """Chat with a model or checkpoint: one reply per --message, or an interactive session without it."""
    from jedi_academy.llm import GenerationParams, open_llm

    settings = _settings(ctx)
    adapter_path = str(adapter) if adapter else None
    if checkpoint:
        settings, adapter_path = _checkpoint_target(settings, checkpoint)
    if persona:
        from jedi_academy.personas import persona_system_prompt
        from jedi_academy.store import open_database

        system = persona_system_prompt(open_database(settings), persona)
    llm = open_llm(settings)
    params = GenerationParams(
        temperature=temperature, max_tokens=max_tokens, seed=settings.seed if seed is None else seed
    )
    history: list[dict[str, str]] = [{"role": "system", "content": system}] if system else []

    def reply_to(text: str) -> str:
        history.append({"role": "user", "content": text})
        answer = llm.generate([history], params, adapter=adapter_path)[0]
        history.append({"role": "assistant", "content": answer})
        return answer

    if message:
        for text in message:
            typer.echo(f"you> {text}")
            typer.echo(f"model> {terminal_safe(reply_to(text))}")
        return
    typer.echo("Type a message; an empty line or Ctrl-D ends the chat.")
    while True:
        try:
            text = input("you> ").strip()
        except EOFError:
            break
        if not text:
            break
        typer.echo(f"model> {terminal_safe(reply_to(text))}")


@app.command()
def score(
    ctx: typer.Context,
    prompt: Annotated[str, typer.Option(help="The user message.")],
    continuation: Annotated[list[str], typer.Option(help="Candidate reply; repeat for several.")],
    system: Annotated[str | None, typer.Option(help="System prompt.")] = None,
    adapter: Annotated[Path | None, typer.Option(help="LoRA adapter folder (transformers backend).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Log-likelihood of each candidate reply after the prompt (the questionnaire-scoring primitive)."""
    from jedi_academy.llm import LoglikelihoodRequest, open_llm

    llm = open_llm(_settings(ctx))
    context = ([{"role": "system", "content": system}] if system else []) + [
        {"role": "user", "content": prompt}
    ]
    requests = [
        LoglikelihoodRequest(context, text, adapter=str(adapter) if adapter else None)
        for text in continuation
    ]
    results = llm.loglikelihood(requests)
    rows = [
        {"continuation": text, "logprob": r.logprob, "tokens": r.num_tokens, "greedy": r.is_greedy}
        for text, r in zip(continuation, results, strict=True)
    ]
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    for row in rows:
        typer.echo(f"{row['logprob']:12.4f}  ({row['tokens']} tokens)  {row['continuation']!r}")


# ---------------------------------------------------------------- demo


@app.command()
def demo(ctx: typer.Context) -> None:
    """The offline demo: build the tiny model, chat with it, score two replies."""
    from jedi_academy.demo import run_demo

    run_demo(_settings(ctx), echo=typer.echo)


# ---------------------------------------------------------------- entry point


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; every failure prints one ``error:`` line (``--debug`` shows tracebacks): cli_errors."""
    from typer.main import get_command

    from jedi_academy.cli_errors import (
        EXIT_PROBLEM,
        accepts_option,
        debug_requested,
        invoked_command,
        run_with_error_boundary,
    )
    from jedi_academy.errors import AcademyError

    args = sys.argv[1:] if argv is None else argv
    try:
        command = get_command(build_app())
    except AcademyError as exc:  # a broken installation: one line, not a traceback at import time
        typer.echo(f"error: {exc.message}", err=True)
        if exc.hint:
            typer.echo(f"hint: {exc.hint}", err=True)
        return EXIT_PROBLEM
    return run_with_error_boundary(
        lambda: command.main(args=args, prog_name="academy", standalone_mode=False),
        debug=debug_requested(args),
        resumable=lambda: accepts_option(invoked_command(command, args), "--resume"),
        args=args,
    )


if __name__ == "__main__":
    sys.exit(main())
