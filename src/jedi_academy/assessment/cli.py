"""``academy assess``, ``compare`` and ``baseline`` (light imports: loaded on every CLI start)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Literal

import typer

from jedi_academy.cli_kit import print_json
from jedi_academy.cli_kit import settings as _settings
from jedi_academy.hooks import hookimpl
from jedi_academy.limits import POSITIVE, SEED, TEMPERATURE

if TYPE_CHECKING:
    from jedi_academy.cli_kit import CommandRegistry

Mode = Literal["logprob", "sample"]


def _context(ctx: typer.Context) -> tuple[Any, Any]:
    from jedi_academy.store import open_database

    settings = _settings(ctx)
    return settings, open_database(settings)


assess_app = typer.Typer(invoke_without_command=True)  # `assess --instrument ...` administers; `assess list`


def assess_command(
    ctx: typer.Context,
    instrument: Annotated[str | None, typer.Option(help="Instrument id, e.g. phq-9 (required).")] = None,
    checkpoint: Annotated[str | None, typer.Option(help="Checkpoint id (or prefix) to assess.")] = None,
    model: Annotated[str | None, typer.Option(help="Assess this base model instead of a checkpoint.")] = None,
    persona: Annotated[str | None, typer.Option(help="Answer in character as this persona.")] = None,
    all_personas: Annotated[
        bool, typer.Option(help="One run per persona of the checkpoint's specialization.")
    ] = False,
    mode: Annotated[
        Mode, typer.Option(help="logprob (transformers/openai) or sample (any backend).")
    ] = "logprob",
    samples: Annotated[
        int, typer.Option(help="Sample mode: replies per item per option order.", **POSITIVE)
    ] = 20,
    temperature: Annotated[float, typer.Option(help="Sample mode temperature.", **TEMPERATURE)] = 1.0,
    seed: Annotated[int | None, typer.Option(help="Seed (default: settings seed).", **SEED)] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Administer an instrument to a checkpoint or model, in character, and store the per-item results.

    `academy assess list` shows the stored runs."""
    if ctx.invoked_subcommand is not None:
        return
    from jedi_academy.cli_errors import usage_error

    if instrument is None:
        raise usage_error(ctx, "Missing option '--instrument' (`academy assess list` shows the stored runs).")
    from jedi_academy.assessment import queries
    from jedi_academy.assessment.runner import (
        AssessedRun,
        SampleOptions,
        assess,
        checkpoint_target,
        model_target,
    )
    from jedi_academy.instruments import load_instrument

    if (checkpoint is None) == (model is None):
        raise usage_error(ctx, "give exactly one of --checkpoint and --model")
    if persona is not None and all_personas:
        raise usage_error(ctx, "give --persona or --all-personas, not both")
    settings, database = _context(ctx)
    load_instrument(instrument, settings.data_dir)  # an unknown id fails before the model loads
    if persona is not None:  # a prefix becomes the full id before any work
        persona = queries.persona_id(database, persona)
    target = (
        checkpoint_target(settings, database, checkpoint)
        if checkpoint
        else model_target(settings, model or "")
    )
    persona_ids: list[str | None] = [persona]
    if all_personas:
        persona_ids = queries.specialization_personas(database, target.checkpoint_id if checkpoint else None)
    options = SampleOptions(samples=samples, temperature=temperature)
    rows = []
    from jedi_academy.assessment.progress import RunProgress

    with RunProgress(len(persona_ids), quiet=as_json) as progress:
        for persona_id in persona_ids:
            progress.start(f"{instrument} · {target.label} · persona {persona_id or '-'} · {mode}")
            run = assess(settings, database, target, instrument, persona_id=persona_id, mode=mode, seed=seed,
                         sample_options=options)  # fmt: skip
            progress.advance(f"run {run.id}: total {'invalid' if run.total is None else f'{run.total:.2f}'}")
            rows.append(AssessedRun.of(run))
    if as_json:
        print_json(rows if all_personas else rows[0])
        return
    for row in rows:
        shown, persona_id = row.reported, row.persona or "-"
        typer.echo(f"run {row.run}: {row.instrument} {row.target} persona={persona_id} mode={row.mode}")
        validity = row.validity
        if not validity["valid"]:
            for reason in validity["reasons"]:
                typer.echo(f"  INVALID ({reason['code']}): {reason['detail']}")
        if row.total is None:
            typer.echo(f"  no valid total: too many missing answers ({', '.join(row.missing_items)})")
            typer.echo(f"  {attention_line(validity)}")
            continue
        error = row.standard_error
        typer.echo(
            f"  total {row.total:.2f}" + ("" if error is None else f" ± {error:.2f} SE")
            + f"  one administration [{row.ci_low:.1f}, {row.ci_high:.1f}]  "
            + (f"band {shown['band']}  screen {shown['positive_screen']}  safety flags {_flags(shown)}"
               if validity["valid"] else "no band, screen or safety flag: the run is invalid")
        )  # fmt: skip
        mass = validity.get("median_option_mass")
        typer.echo(
            f"  median order sensitivity {_number(validity.get('median_order_sensitivity'))}  "
            f"median option mass {'-' if mass is None else f'{mass:.2g}'}  "
            f"missing replies {_number(validity.get('missing_share'))}  "
            f"missing items {row.missing_items or '-'}"
        )
        typer.echo(f"  {attention_line(validity)}")


def attention_line(validity: dict[str, Any]) -> str:
    """The inattention measure in words, for every run (valid or not)."""
    honest = validity.get("attention_p_honest")
    if honest is None:
        return "attention items: not measured (no attention item fits this response scale)"
    return (
        f"attention items: P(honest answer) {honest:.2f} on {len(validity['attention_items'])} items "
        f"(chance {validity['attention_chance']:.2f}, needed {validity['attention_threshold']:.3g})"
    )


def _flags(shown: dict[str, Any]) -> str:
    """Each flag with the probability of an answer at or above its threshold."""
    if not shown["safety_flags"]:
        return "-"
    probabilities = shown.get("safety_flag_probabilities") or {}
    parts = []
    for item in shown["safety_flags"]:
        p = probabilities.get(item)
        parts.append(f"item {item} (unanswered)" if p is None else f"item {item} (P(non-zero) {p:.2f})")
    return ", ".join(parts)


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def compare_command(
    ctx: typer.Context,
    run_a: Annotated[int, typer.Argument(help="The earlier run (e.g. the base model).", **POSITIVE)],
    run_b: Annotated[int, typer.Argument(help="The later run (e.g. the checkpoint).", **POSITIVE)],
    allow_mismatch: Annotated[
        bool, typer.Option(help="Compare runs of different personas, modes, instrument or prompt versions.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """One persona's change: per item and in total, with its standard error, reliable change and validity."""
    from dataclasses import replace

    from jedi_academy.assessment.compare import compare_runs, load_run
    from jedi_academy.assessment.report import comparison_section, comparison_text, write_report

    settings, database = _context(ctx)
    comparison = compare_runs(
        load_run(database, run_a), load_run(database, run_b), allow_mismatch=allow_mismatch
    )
    report = write_report(
        settings.path("reports", f"compare-{run_a}-{run_b}.html"),
        f"{comparison.instrument}: run {run_a} vs run {run_b}",
        [("Comparison", comparison_section(comparison))],
    )
    comparison = replace(comparison, report=str(report))
    if as_json:
        print_json(comparison)
        return
    typer.echo(comparison_text(comparison))
    typer.echo(f"report: {report}")


def baseline_command(
    ctx: typer.Context,
    specialization: Annotated[str, typer.Option(help="Specialization id.")],
    checkpoint: Annotated[
        str | None, typer.Option(help="Checkpoint (default: the newest of the specialization).")
    ] = None,
    instrument: Annotated[
        list[str] | None, typer.Option(help="Instrument id(s) (default: the specialization's).")
    ] = None,
    mode: Annotated[Mode, typer.Option(help="logprob or sample.")] = "logprob",
    samples: Annotated[int, typer.Option(help="Sample mode: replies per item per order.", **POSITIVE)] = 20,
    max_personas: Annotated[
        int | None, typer.Option(help="Assess at most this many personas.", **POSITIVE)
    ] = None,
    sham: Annotated[
        str | None, typer.Option(help="Sham control checkpoint (fine-tuned on non-clinical conversations).")
    ] = None,
    train_sham: Annotated[
        bool, typer.Option(help="Train the sham control like the patient (or reuse the one trained before).")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Score the patient checkpoint and its controls in character; persona-level verdicts and a report."""
    from jedi_academy.assessment.baseline import run_baseline
    from jedi_academy.assessment.queries import baseline_checkpoint
    from jedi_academy.assessment.report import verdict_line
    from jedi_academy.assessment.runner import SampleOptions

    settings, database = _context(ctx)
    # resolved, and its specialization checked, before any model loads
    checkpoint = baseline_checkpoint(database, checkpoint, specialization)
    echo = (lambda _: None) if as_json else (lambda text: typer.echo(text, err=True))
    results = run_baseline(
        settings, database, specialization, checkpoint=checkpoint, instruments=instrument, mode=mode,
        sample_options=SampleOptions(samples=samples), max_personas=max_personas, sham=sham,
        train_sham=train_sham, echo=echo,
    )  # fmt: skip
    if as_json:
        print_json(results)
        return
    for instrument_id, block in results["instruments"].items():
        typer.echo(verdict_line(f"{instrument_id} ({block['verdict_basis']})", block["verdict"]))
        for name, control in block["controls"].items():
            if control["verdict"] == "not run":
                typer.echo(f"  control {name}: not run ({control['reason']})")
            else:
                typer.echo("  " + verdict_line(f"control {name}, all personas", control))
        for row in block["personas"]:
            typer.echo("  " + _persona_line(row))
    for instrument_id, reason in results["skipped_instruments"].items():
        typer.echo(f"{instrument_id}: skipped ({reason})")
    typer.echo(f"report: {results['report']}")


def _persona_line(row: dict[str, Any]) -> str:
    parts = []
    for role, side in row["runs"].items():
        total = "no total" if side["total"] is None else f"{side['total']:.1f}"
        if not side["valid"]:  # no number next to an invalid run
            total = "INVALID (" + ", ".join(r["code"] for r in side["reasons"]) + ")"
        parts.append(f"{role} {total}")
    return f"persona {row['persona'] or '-'} ({row['split']}): " + ", ".join(parts)


def assess_list_command(
    ctx: typer.Context,
    checkpoint: Annotated[
        str | None, typer.Option(help="Only runs of this checkpoint (id or prefix).")
    ] = None,
    instrument: Annotated[str | None, typer.Option(help="Only this instrument.")] = None,
    persona: Annotated[str | None, typer.Option(help="Only this persona (id or prefix).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Stored assessment runs, oldest first: the ids that `academy compare` takes."""
    from jedi_academy.assessment.queries import list_runs

    _, database = _context(ctx)
    rows = list_runs(database, checkpoint=checkpoint, instrument=instrument, persona=persona)
    if as_json:
        print_json(rows)
        return
    if not rows:
        typer.echo("no assessment runs yet (academy assess --instrument ID --checkpoint ID)")
        return
    typer.echo(
        f"{'RUN':>5}  {'INSTRUMENT':10} {'MODE':7} {'VALIDITY':28} {'TOTAL':>7}  {'PERSONA':18} TARGET"
    )
    for row in rows:
        state = "valid" if row.valid else "INVALID (" + ", ".join(row.reasons) + ")"
        total = "-" if row.total is None else f"{row.total:.2f}"
        typer.echo(
            f"{row.run:>5}  {row.instrument:10} {row.mode:7} {state:28} {total:>7}  "
            f"{(row.persona or '-'):18} {row.target}"
        )


@hookimpl
def register_commands(commands: CommandRegistry) -> None:
    assess_app.callback()(assess_command)
    assess_app.command("list")(assess_list_command)
    commands.group("assess", assess_app)
    commands.command("compare")(compare_command)
    commands.command("baseline")(baseline_command)
