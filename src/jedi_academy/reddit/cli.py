"""``academy ingest`` (keep imports light: this module loads on every CLI start)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

import typer

from jedi_academy.cli_kit import settings as _settings
from jedi_academy.hooks import hookimpl
from jedi_academy.limits import POSITIVE

if TYPE_CHECKING:
    from jedi_academy.cli_kit import CommandRegistry


@hookimpl
def register_commands(commands: CommandRegistry) -> None:
    commands.command("ingest")(ingest_command)


def ingest_command(
    ctx: typer.Context,
    paths: Annotated[
        list[Path],
        typer.Argument(
            metavar="PATH...",
            help="Dump files: .bz2, .zst, .xz, .gz, or plain NDJSON (.ndjson, .jsonl, no suffix).",
        ),
    ],
    specializations: Annotated[
        str | None,
        typer.Option("--specializations", "-s", help="'all' (default) or a comma-separated list: adhd,ptsd."),
    ] = None,
    out: Annotated[
        Path | None, typer.Option("--out", help="Output folder (default <data-dir>/reddit).")
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option(
            "--workers",
            "-w",
            help="Decoder threads for .bz2 (default: every core; 1 per task on Spark).",
            **POSITIVE,
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON summary; no progress bar.")] = False,
    resume: Annotated[
        bool, typer.Option("--resume", help="Continue the interrupted or partial run in the output folder.")
    ] = False,
    rules_file: Annotated[
        Path | None, typer.Option("--rules", help="YAML file overriding keep rules (see docs/ingestion.md).")
    ] = None,
    specialization_dirs: Annotated[
        list[Path] | None,
        typer.Option("--specializations-dir", help="Extra folder of specialization YAML files (repeatable)."),
    ] = None,
    bz2_decoder: Annotated[
        Literal["auto", "lbzip2", "indexed_bzip2", "python"],
        typer.Option(
            "--bz2-decoder", help="auto (lbzip2, else indexed_bzip2), lbzip2, indexed_bzip2, python."
        ),
    ] = "auto",
    replace: Annotated[
        bool,
        typer.Option(
            "--replace",
            help="Let a run for fewer specializations delete the others' data in the output folder.",
        ),
    ] = False,
    checkpoint_every: Annotated[
        float,
        typer.Option("--checkpoint-every", help="Seconds between resume checkpoints.", min=0.0, max=86400.0),
    ] = 60.0,
    engine: Annotated[
        Literal["local", "spark"],
        typer.Option("--engine", help="local (this process) or spark (PySpark; see docs/ingestion.md)."),
    ] = "local",
    master: Annotated[
        str | None,
        typer.Option(
            "--master", help="Spark master URL with --engine spark (default local[*]).", metavar="URL"
        ),
    ] = None,
) -> None:
    """Ingest Reddit comment dumps: keep the specializations' subreddits, pseudonymise, scrub, save."""
    import signal
    import threading

    from jedi_academy.reddit.errors import DumpReadError, IngestInterrupted
    from jedi_academy.reddit.pipeline import IngestOptions, ingest
    from jedi_academy.reddit.progress import NullProgress, RichProgress

    if out is not None and out.exists() and not out.is_dir():
        raise typer.BadParameter(f"{out} exists and is not a folder", param_hint="'--out'")
    if master is not None and engine != "spark":
        raise typer.BadParameter("needs --engine spark", param_hint="'--master'")
    settings = _settings(ctx)
    if not resume and not replace:
        _refuse_dropping_specializations(out or settings.path("reddit"), specializations)
    options = IngestOptions(
        paths=paths,
        specializations=specializations,
        out_dir=out,
        workers=workers,
        resume=resume,
        rules=_load_rules(rules_file) if rules_file else None,
        specialization_dirs=specialization_dirs or (),
        bz2_decoder=bz2_decoder,
        checkpoint_every_s=checkpoint_every,
    )
    if engine == "spark":
        _ingest_on_spark(settings, options, master, as_json)
        return
    progress = RichProgress() if not as_json and sys.stderr.isatty() else NullProgress()
    warn = progress.message if isinstance(progress, RichProgress) else _to_stderr

    stop = threading.Event()

    def on_sigint(_signum: int, _frame: Any) -> None:
        if stop.is_set():
            raise KeyboardInterrupt  # a second Ctrl-C: stop now
        stop.set()
        warn("stopping: saving what was kept and a checkpoint (Ctrl-C again to abort at once)")

    from jedi_academy.store import data_dir_lock

    lock = data_dir_lock(settings.data_dir, "ingest")
    lock.acquire()  # a second writer is refused before the SIGINT handler and the run row exist
    previous = signal.signal(signal.SIGINT, on_sigint)
    try:
        result = ingest(settings, options, progress=progress, stop=stop, warn=warn)
    except (DumpReadError, IngestInterrupted) as exc:
        progress.close()
        if as_json and exc.summary is not None:
            typer.echo(json.dumps(exc.summary))
        if isinstance(exc, IngestInterrupted):
            _to_stderr(f"{exc.message}\nhint: {exc.hint}")
            raise typer.Exit(130) from None
        raise
    except KeyboardInterrupt:
        # The second Ctrl-C: every save step leaves the last committed checkpoint usable.
        progress.close()
        _to_stderr(
            "interrupted at once; the last checkpoint is kept\n"
            "hint: run the same command with --resume to continue"
        )
        raise typer.Exit(130) from None
    finally:
        progress.close()
        signal.signal(signal.SIGINT, previous)
        lock.release()
    if as_json:
        typer.echo(json.dumps(result.summary))
        return
    _print_summary(result.summary, result)


def _ingest_on_spark(settings: Any, options: Any, master: str | None, as_json: bool) -> None:
    from jedi_academy.reddit.errors import DumpReadError
    from jedi_academy.reddit.spark_engine import spark_ingest
    from jedi_academy.store import data_dir_lock

    lock = data_dir_lock(settings.data_dir, "ingest")
    lock.acquire()
    try:
        result = spark_ingest(settings, options, master=master, warn=_to_stderr)
    except DumpReadError as exc:
        if as_json and exc.summary is not None:
            typer.echo(json.dumps(exc.summary))
        raise
    finally:
        lock.release()
    if as_json:
        typer.echo(json.dumps(result.summary))
        return
    _print_summary(result.summary, result)


def _refuse_dropping_specializations(out: Path, specializations: str | None) -> None:
    """A fresh run replaces the output folder's dataset: refuse when that would silently delete the data of
    specializations this run does not select."""
    from jedi_academy.errors import AcademyError
    from jedi_academy.reddit.layout import COMMENTS

    if specializations is None or specializations.strip() == "all":
        return
    wanted = {part.strip() for part in specializations.split(",") if part.strip()}
    present = sorted(
        folder.name.partition("=")[2]
        for folder in (out / COMMENTS).glob("specialization=*")
        if folder.is_dir() and any(folder.iterdir())
    )
    dropped = [spec for spec in present if spec not in wanted]
    if dropped:
        raise AcademyError(
            f"{out} holds ingested data of {', '.join(dropped)}, which this run "
            f"({', '.join(sorted(wanted))}) would delete",
            "pass --out NEW_FOLDER to keep both, --specializations all, or --replace to delete it",
        )


def _to_stderr(message: str) -> None:
    typer.echo(message, err=True)


def _load_rules(path: Path) -> Any:
    import yaml
    from pydantic import ValidationError

    from jedi_academy.errors import AcademyError
    from jedi_academy.reddit.rules import KeepRules

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise AcademyError(f"cannot read the rules file {path}: {exc}") from exc
    if not isinstance(data, dict):
        raise AcademyError(f"{path}: expected a mapping of rule settings")
    try:
        return KeepRules.model_validate(data)
    except ValidationError as exc:
        fields = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise AcademyError(f"{path}: {fields}", f"valid fields: {', '.join(KeepRules.model_fields)}") from exc


def _print_summary(summary: dict[str, Any], result: Any) -> None:
    dropped = ", ".join(f"{reason} {n:,}" for reason, n in summary["dropped"].items() if n) or "none"
    kept = ", ".join(f"{spec} {n:,}" for spec, n in summary["by_specialization"].items())
    decoders = ", ".join(dict.fromkeys(result.decoders)) or "nothing new"
    typer.echo(
        f"read {summary['lines_read']:,} lines ({decoders}): "
        f"{summary['matched']:,} comments in the selected subreddits, {summary['kept']:,} kept, "
        f"{summary['malformed']:,} malformed lines"
    )
    typer.echo(f"dropped: {dropped}")
    typer.echo(f"kept per specialization: {kept}")
    typer.echo(
        f"{summary['authors']:,} pseudonymous authors; {summary['seconds']:.1f} s; "
        f"output in {result.out_dir} (run {result.run_id}{', resumed' if result.resumed else ''})"
    )
