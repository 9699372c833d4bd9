"""``academy run`` (light imports: loaded on every CLI start)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from jedi_academy.cli_kit import settings as _settings
from jedi_academy.hooks import hookimpl

if TYPE_CHECKING:
    from jedi_academy.cli_kit import CommandRegistry

DEMO_PIPELINE = Path(__file__).parent / "data" / "demo.toml"
REAL_MODEL_HINT = """
The same pipeline with real models (see examples/pipeline.toml):
  GPU, transformers:  academy --device cuda run PIPELINE.toml --model mistralai/Mistral-7B-Instruct-v0.3 \\
                          --base mistralai/Mistral-7B-v0.3
  a vLLM server:      academy run PIPELINE.toml --backend openai --base-url http://HOST:8000 \\
                          --model mistralai/Mistral-7B-Instruct-v0.3
  the Mistral API:    MISTRAL_API_KEY=... academy run PIPELINE.toml --backend mistral \\
                          --model mistral-small-latest   (generation only; fine-tuning stays local)"""


def run_command(
    ctx: typer.Context,
    pipeline: Annotated[
        Path | None, typer.Argument(help="Pipeline TOML (default: the offline demo).")
    ] = None,
    specializations: Annotated[str | None, typer.Option(help="Comma-separated; overrides [input].")] = None,
    backend: Annotated[str | None, typer.Option(help="Teacher backend; overrides [teacher].")] = None,
    model: Annotated[str | None, typer.Option(help="Teacher model; overrides [teacher].")] = None,
    base_url: Annotated[str | None, typer.Option(help="Teacher server URL; overrides [teacher].")] = None,
    base: Annotated[str | None, typer.Option(help="Base model to fine-tune; overrides [base].")] = None,
    resume: Annotated[bool, typer.Option(help="Continue interrupted stages (ingest, fine-tuning).")] = False,
    restart: Annotated[
        bool, typer.Option(help="Discard interrupted fine-tuning runs and train them from the start.")
    ] = False,
) -> None:
    """Run the whole pipeline: ingest, personas, conversations, dataset, fine-tune, baseline, report.

    Stages whose inputs did not change since the last run are skipped."""
    from jedi_academy.errors import ConfigError
    from jedi_academy.pipeline.config import load_pipeline
    from jedi_academy.pipeline.run import Pipeline

    if resume and restart:
        raise ConfigError("--resume and --restart exclude each other", "choose one")
    settings = _settings(ctx)
    path = pipeline or DEMO_PIPELINE
    config = load_pipeline(path)
    updates: dict = {}
    if specializations:
        updates["input"] = config.input.model_copy(update={"specializations": specializations.split(",")})
    teacher = {k: v for k, v in {"backend": backend, "model": model, "base_url": base_url}.items() if v}
    if teacher:
        updates["teacher"] = config.teacher.model_copy(update=teacher)
    if base:
        updates["base"] = config.base.model_copy(update={"model": base})
    config = type(config).model_validate(
        {**config.model_dump(), **{k: v.model_dump() for k, v in updates.items()}}
    )
    result = Pipeline(settings, config, path.parent.resolve(), resume=resume, restart=restart).run()
    typer.echo(result.summary)
    if result.skipped:
        typer.echo(f"skipped (unchanged): {', '.join(result.skipped)}")
    from jedi_academy.llm.tiny import is_tiny_model

    if is_tiny_model(config.teacher.model) or is_tiny_model(config.base.model):
        typer.echo(REAL_MODEL_HINT)


@hookimpl
def register_commands(commands: CommandRegistry) -> None:
    commands.command("run")(run_command)
