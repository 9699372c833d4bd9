"""``academy loop``, ``academy worker``, ``academy jobs``, ``academy case branch|switch|tree|compare|report``,
``academy experiment therapists``. What the loop adds to the sessions stage's commands (``case show``'s
trajectory, MITI feedback and ``--refine`` after ``session end``) is in ``loop/hooks.py``. Light imports:
this module loads on every CLI start."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

import typer

from jedi_academy.cli_kit import JsonFlag
from jedi_academy.cli_kit import database as _database
from jedi_academy.cli_kit import print_json as _print_json
from jedi_academy.cli_kit import settings as _settings
from jedi_academy.hooks import hookimpl
from jedi_academy.limits import SEED
from jedi_academy.loop.text import scores_line

if TYPE_CHECKING:
    from jedi_academy.cli_kit import CommandRegistry
    from jedi_academy.loop.run import LoopView

experiment_app = typer.Typer(
    help="Experiments that make the loop's numbers meaningful.", no_args_is_help=True
)


@hookimpl
def register_commands(commands: CommandRegistry) -> None:
    commands.command("loop")(loop_command)
    commands.command("worker")(worker_command)
    commands.command("jobs")(jobs_command)
    commands.command("demo-loop")(demo_loop_command)
    commands.group("experiment", experiment_app)
    commands.command("open", group="case")(case_open)
    for name, command in (
        ("branch", case_branch),
        ("switch", case_switch),
        ("tree", case_tree_command),
        ("compare", case_compare),
        ("report", case_report),
        ("close", case_close),
    ):
        commands.command(name, group="case")(command)


# ---------------------------------------------------------------- academy loop


def loop_options(
    teacher_backend: str | None,
    teacher_model: str | None,
    teacher_base_url: str | None,
    max_tokens: int,
    strategy: str,
    steps: int | None,
    batch_size: int | None,
    learning_rate: float | None,
    instrument: list[str] | None,
) -> dict[str, Any]:
    return {
        "teacher_backend": teacher_backend,
        "teacher_model": teacher_model,
        "teacher_base_url": teacher_base_url,
        "max_tokens": max_tokens,
        "strategy": strategy,
        "steps": steps,
        "batch_size": batch_size,
        "learning_rate": learning_rate,
        "instruments": instrument or [],
    }


TeacherBackend = Annotated[str | None, typer.Option(help="Teacher backend (default: academy --backend).")]
TeacherModel = Annotated[str | None, typer.Option(help="Teacher model (default: academy --model).")]
TeacherUrl = Annotated[str | None, typer.Option(help="Teacher server URL.")]
MaxTokens = Annotated[int, typer.Option(min=4, help="Longest teacher answer in the expansion, in tokens.")]
Strategy = Annotated[
    str, typer.Option(help="continue (the parent's adapter, replaying its data) or retrain (from base).")
]
Steps = Annotated[
    int | None, typer.Option(min=1, help="Training steps (default: a quarter of the parent's).")
]
BatchSize = Annotated[int | None, typer.Option(min=1, help="Training batch size (default: the parent's).")]
LearningRate = Annotated[float | None, typer.Option(help="Learning rate (default: the parent's).")]
Instrument = Annotated[
    list[str] | None, typer.Option("--instrument", help="Instruments (default: the specialization's).")
]


def loop_command(
    ctx: typer.Context,
    session: Annotated[str, typer.Option(help="The ended session (id or prefix).")],
    teacher_backend: TeacherBackend = None,
    teacher_model: TeacherModel = None,
    teacher_base_url: TeacherUrl = None,
    max_tokens: MaxTokens = 160,
    strategy: Strategy = "continue",
    steps: Steps = None,
    batch_size: BatchSize = None,
    learning_rate: LearningRate = None,
    instrument: Instrument = None,
    queue: Annotated[bool, typer.Option("--queue", help="Queue it for `academy worker` instead.")] = False,
    no_control: Annotated[
        bool,
        typer.Option(
            "--no-control",
            help="Skip the no-therapist control child (exploring only): the loop is marked uncontrolled "
            "and has no therapist effect.",
        ),
    ] = False,
    as_json: JsonFlag = False,
) -> None:
    """One loop iteration after a session: expansion, merge, re-fine-tune, re-assess, and the no-therapist
    control (the therapist effect); finished steps skip."""
    from jedi_academy.loop.refine import STRATEGIES

    if strategy not in STRATEGIES:
        raise typer.BadParameter(f"use one of {', '.join(STRATEGIES)}", param_hint="--strategy")
    settings = _settings(ctx)
    options = loop_options(
        teacher_backend, teacher_model, teacher_base_url, max_tokens, strategy, steps, batch_size,
        learning_rate, instrument,
    )  # fmt: skip
    options["control"] = not no_control
    if queue:
        from jedi_academy.loop.jobs import enqueue_loop

        job = enqueue_loop(settings, session, options)
        if as_json:
            _print_json(job)
        else:
            typer.echo(
                f"queued job {job['id']}: run `academy worker` to execute it, `academy jobs` to follow it"
            )
        return
    from jedi_academy.loop.run import LoopContext, LoopOptions, run_loop, stage_line
    from jedi_academy.loop.text import expansion_lines

    def stage(step: str, state: str, message: str) -> None:
        typer.echo(stage_line(step, state, message), err=as_json)

    def inner(text: str) -> None:  # within a stage (training steps, assessment items), on stderr
        typer.echo(f"    {text}", err=True)

    context = LoopContext(settings, _database(ctx))
    result = run_loop(context, session, LoopOptions.from_dict(options), on_stage=stage, echo=inner)
    if as_json:
        _print_json(result)
        return
    typer.echo(
        f"loop {result.loop_id} after session {result.session_number}: checkpoint "
        f"{result.checkpoint_id} (parent {result.parent_checkpoint_id}), dataset "
        f"{str(result.dataset_id)[:12]} (parent {str(result.parent_dataset_id)[:12]}), "
        f"{result.train_conversations_added} training conversation(s) added"
    )
    for line in expansion_lines(result.expansion):
        typer.echo(f"  {line}")
    _echo_assessment(result.assessment)
    _echo_effect(result)


def _echo_effect(result: LoopView) -> None:
    from jedi_academy.instruments.effect import effect_text

    if result.uncontrolled:
        typer.echo(f"  therapist effect: none, {result.therapist_effect_reason}")
        return
    typer.echo(f"  control checkpoint {result.control_checkpoint_id} (same parent, budget and seed)")
    for instrument, effect in (result.therapist_effect or {}).items():
        changes = ""
        if effect.get("therapist_change") is not None:
            therapist, control = effect["therapist_change"], effect["control_change"]
            changes = f" (therapist child {therapist:+.2f}, control child {control:+.2f})"
        typer.echo(f"  {instrument} therapist effect: {effect_text(effect)}{changes}")


def _echo_assessment(assessment: dict[str, Any]) -> None:
    for instrument, score in assessment["scores"].items():
        if not score["valid"]:
            typer.echo(f"  {instrument}: INVALID measurement ({'; '.join(score['problems'])}); no score")
            continue
        low, high = score["ci95"]
        typer.echo(f"  {instrument}: {score['total']:.2f} (95% {low:.2f}-{high:.2f})")
        for label, key in (("previous checkpoint", "change_vs_previous"), ("baseline", "change_vs_baseline")):
            change = assessment[key][instrument]
            if change["classification"] is None:
                typer.echo(f"    vs {label}: {change['note']}")
            else:
                typer.echo(f"    vs {label}: {change['change']:+.2f}, {change['classification']}")
    typer.echo(f"  note: {assessment['cannot_conclude']}")


def demo_loop_command(
    ctx: typer.Context,
    specialization: Annotated[
        str | None, typer.Option("--specialization", "-s", help="Default: the newest fine-tuned one.")
    ] = None,
) -> None:
    """After `academy run`: one scripted session and one loop iteration on the tiny model (make demo)."""
    from jedi_academy.loop.demo import run_loop_demo

    run_loop_demo(_settings(ctx), echo=typer.echo, specialization=specialization)


# ---------------------------------------------------------------- queue


def worker_command(
    ctx: typer.Context,
    burst: Annotated[bool, typer.Option("--burst", help="Exit once the queue is empty.")] = False,
    poll: Annotated[float, typer.Option(min=0.05, help="Seconds between looks at an empty queue.")] = 1.0,
) -> None:
    """Execute queued jobs (loop iterations, experiments); a job whose worker died is picked up again."""
    from jedi_academy.loop.jobs import run_worker

    settings = _settings(ctx)
    typer.echo(f"worker on the queue of {settings.data_dir} (Ctrl-C stops; an interrupted job is requeued)")
    try:
        ran = run_worker(settings, burst=burst, poll_s=poll, echo=typer.echo)
    except KeyboardInterrupt:
        raise typer.Exit(130) from None
    typer.echo(f"queue empty: {ran} job(s) run")


def jobs_command(
    ctx: typer.Context,
    status: Annotated[str | None, typer.Option(help="Only jobs in this status.")] = None,
    limit: Annotated[int, typer.Option(min=1, help="Newest this many.")] = 50,
    as_json: JsonFlag = False,
) -> None:
    """Queued, running and finished jobs with their progress."""
    from jedi_academy.loop.jobs import list_jobs

    rows = list_jobs(_database(ctx), status, limit)
    if as_json:
        _print_json(rows)
        return
    for row in rows:
        progress = row["progress"]
        bar = ""
        if progress.get("total"):
            filled = round(20 * progress["done"] / progress["total"])
            bar = f" [{'#' * filled}{'.' * (20 - filled)}] {progress['done']}/{progress['total']}"
        message = f"  {progress['message']}" if progress.get("message") else ""
        typer.echo(f"{row['id']}  {row['kind']:<10} {row['status']:<8}{bar}{message}")
        if row["error"]:
            typer.echo(f"    error: {row['error']}")
    if not rows:
        typer.echo("no jobs: `academy session end --refine` or `academy loop --queue` adds one")


# ---------------------------------------------------------------- branches


def case_open(
    ctx: typer.Context,
    therapist: Annotated[str, typer.Option(help="Therapist name or id.")],
    specialization: Annotated[str, typer.Option("--specialization", "-s", help="Specialization id.")],
    persona: Annotated[
        str | None, typer.Option(help="Persona id or prefix (default: the one this therapist worked least).")
    ] = None,
    checkpoint: Annotated[
        str | None, typer.Option(help="Patient checkpoint (default: the specialization's newest).")
    ] = None,
    instrument: Instrument = None,
    assess_mode: Annotated[
        Literal["logprob", "sample"], typer.Option(help="The protocol's assessment mode.")
    ] = "logprob",
    seed: Annotated[
        int | None,
        typer.Option(help="The protocol's assessment seed (default: the configured seed).", **SEED),
    ] = None,
    samples: Annotated[
        int | None, typer.Option(min=1, help="Replies per item and option order in sample mode (20).")
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Open a case: a persona on its specialization's patient checkpoint, with its measurement protocol fixed
    and its baseline measured now. Shows the intake sheet, never the card."""
    from jedi_academy.loop.protocol import OpenCase, open_case_with_baseline
    from jedi_academy.personas.intake import render_intake

    echo = (lambda m: typer.echo(m, err=True)) if as_json else typer.echo
    request = OpenCase(
        therapist, specialization, persona=persona, checkpoint=checkpoint,
        instruments=tuple(instrument or ()), mode=assess_mode, seed=seed, samples=samples,
    )  # fmt: skip
    case = open_case_with_baseline(_settings(ctx), _database(ctx), request, progress=echo)
    if as_json:
        _print_json(case)
        return
    typer.echo(f"case {case.id} ({case.specialization}) on checkpoint {case.checkpoint_id}")
    protocol = case.protocol
    assert protocol is not None  # a case opened here always has one
    typer.echo(
        f"protocol: {', '.join(protocol['instruments'])}, {protocol['mode']} mode, seed {protocol['seed']}, "
        f"prompt {protocol['prompt_version']} (attention items {protocol['attention_version']})"
    )
    typer.echo(f"baseline: {scores_line(case.baseline)}")
    typer.echo(render_intake(case.intake))


def case_close(
    ctx: typer.Context,
    case_id: Annotated[str, typer.Argument(help="Case id or prefix.")],
    assess_mode: Annotated[
        Literal["logprob", "sample"],
        typer.Option(help="How the instruments are administered (a case with a protocol follows it)."),
    ] = "logprob",
    seed: Annotated[
        int, typer.Option(help="Assessment seed (a case with a protocol uses the protocol's).", **SEED)
    ] = 0,
    as_json: JsonFlag = False,
) -> None:
    """Final evaluation: measure the case's protocol on its current checkpoint, compare with the baseline,
    and close the case (no more sessions; everything stays readable)."""
    from jedi_academy.loop.closing import close_case_now

    echo = (lambda m: typer.echo(m, err=True)) if as_json else typer.echo
    closure = close_case_now(
        _settings(ctx), _database(ctx), case_id, mode=assess_mode, seed=seed, progress=echo
    )
    if as_json:
        _print_json(closure)
        return
    for line in closure.lines():
        typer.echo(line)


def case_branch(
    ctx: typer.Context,
    case_id: Annotated[str, typer.Argument(help="Case id or prefix.")],
    at: Annotated[str | None, typer.Option("--at", help="One of the case's checkpoints.")] = None,
    after_session: Annotated[
        int | None, typer.Option("--after-session", help="The checkpoint session N's loop made.")
    ] = None,
    name: Annotated[str | None, typer.Option(help="Branch name (default branch-2, branch-3, ...).")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Return to an earlier checkpoint of the case and start a new branch there; later sessions grow it."""
    from jedi_academy.loop.branches import branch_case

    if (at is None) == (after_session is None):
        from jedi_academy.cli_errors import usage_error

        raise usage_error(ctx, "give exactly one of --at CHECKPOINT or --after-session N")
    data_dir = _settings(ctx).data_dir
    result = branch_case(
        _database(ctx), case_id, data_dir=data_dir, at=at, after_session=after_session, name=name
    )
    if as_json:
        _print_json(result.as_dict())
        return
    typer.echo(
        f"case {result.case_id}: branch {result.branch} starts at {result.from_checkpoint_id}; "
        "the next session runs there"
    )


def case_switch(
    ctx: typer.Context,
    case_id: Annotated[str, typer.Argument(help="Case id or prefix.")],
    branch: Annotated[str, typer.Argument(help="Branch name.")],
    as_json: JsonFlag = False,
) -> None:
    """Continue another branch: later sessions run on its newest checkpoint."""
    from jedi_academy.loop.branches import switch_branch

    result = switch_branch(_database(ctx), case_id, branch, data_dir=_settings(ctx).data_dir)
    if as_json:
        _print_json(result.as_dict())
    else:
        typer.echo(f"case {result.case_id}: on branch {result.branch}, checkpoint {result.checkpoint_id}")


def case_tree_command(
    ctx: typer.Context,
    case_id: Annotated[str, typer.Argument(help="Case id or prefix.")],
    as_json: JsonFlag = False,
) -> None:
    """The case's checkpoints and sessions as a tree, with the scores on each node."""
    from jedi_academy.loop.trajectory import case_tree

    tree = case_tree(_database(ctx), case_id)
    if as_json:
        _print_json(tree)
    else:
        typer.echo(tree["text"])


def case_compare(
    ctx: typer.Context,
    case_id: Annotated[str, typer.Argument(help="Case id or prefix.")],
    branches: Annotated[list[str], typer.Option("--branches", help="Two branch names.")],
    as_json: JsonFlag = False,
) -> None:
    """Two approaches on the same patient: each branch's latest scores and their difference."""
    from jedi_academy.errors import AcademyError
    from jedi_academy.loop.trajectory import compare_branches

    if len(branches) != 2:
        raise AcademyError("--branches takes two names", "e.g. --branches main --branches branch-2")
    result = compare_branches(_database(ctx), case_id, branches[0], branches[1])
    if as_json:
        _print_json(result)
        return
    for line in result["branches"]:
        rate = line["acceptance_rate"]
        typer.echo(
            f"branch {line['branch']}: sessions {line['sessions'] or '-'}, "
            f"latest {line['final_checkpoint_id']}, "
            f"accepted {line['recommendations_accepted']}/{line['recommendations_decided']}"
            + (f" ({rate:.0%})" if rate is not None else "")
        )
        if line["final_scores"]:
            typer.echo(f"  {scores_line(line['final_scores'])}")
    for instrument, diff in result["difference"].items():
        if diff["classification"] is None:
            typer.echo(f"{instrument}: {diff['note']}")
        else:
            typer.echo(
                f"{instrument}: {branches[1]} - {branches[0]} = {diff['difference']:+.2f} "
                f"({diff['classification']})"
            )
    typer.echo(f"note: {result['cannot_conclude']}")


def case_report(
    ctx: typer.Context,
    case_id: Annotated[str, typer.Argument(help="Case id or prefix.")],
    out: Annotated[Path, typer.Option(help="HTML file to write.")] = Path("case-report.html"),
) -> None:
    """An HTML report of the case: the trajectory plot (bands, cut-offs) per instrument, tree, sessions."""
    from jedi_academy.loop.report import write_case_report

    path = write_case_report(_database(ctx), case_id, out)
    typer.echo(f"wrote {path}")


# ---------------------------------------------------------------- experiment


@experiment_app.command("therapists")
def experiment_therapists(
    ctx: typer.Context,
    specialization: Annotated[str, typer.Option("--specialization", "-s", help="Specialization id.")],
    sessions: Annotated[int, typer.Option(min=1, help="Sessions per case.")] = 3,
    personas: Annotated[
        int | None,
        typer.Option(min=1, help="Personas, each worked by every arm (default: what the tests need, 8)."),
    ] = None,
    arms: Annotated[
        list[str] | None,
        typer.Option("--arm", help="Arms (default: skilled, placebo, harmful, loop-only)."),
    ] = None,
    start_checkpoint: Annotated[
        str | None,
        typer.Option(help="Checkpoint every case starts from (default: the base fine-tune)."),
    ] = None,
    allow_underpowered: Annotated[
        bool, typer.Option("--allow-underpowered", help="Run with fewer personas than the tests need.")
    ] = False,
    seed: Annotated[int, typer.Option(help="Seed of the sessions and draws (shared by the arms).")] = 0,
    max_tokens: Annotated[int, typer.Option(min=4, help="Longest patient and teacher reply.")] = 120,
    steps: Annotated[
        int | None,
        typer.Option(min=1, help="Training steps per loop iteration (default: a quarter of the start's)."),
    ] = None,
    queue: Annotated[bool, typer.Option("--queue", help="Queue it for `academy worker` instead.")] = False,
    as_json: JsonFlag = False,
) -> None:
    """Scripted therapists (skilled, placebo, harmful) and the loop alone (loop-only) over the same personas,
    from one start checkpoint with one training budget; the ordering and every pair tested exactly."""
    from jedi_academy.cli_errors import usage_error
    from jedi_academy.errors import AcademyError
    from jedi_academy.loop.experiment_plan import choose_arms, needed_personas, power_note

    try:
        chosen = choose_arms(arms)
        power_note(chosen, personas if personas is not None else needed_personas(chosen), allow_underpowered)
    except AcademyError as exc:  # an unknown arm, too few personas
        raise usage_error(ctx, str(exc)) from None
    settings = _settings(ctx)
    args: dict[str, Any] = {  # the job's stored arguments (JSON) and run_experiment's keywords
        "specialization": specialization,
        "sessions": sessions,
        "personas": personas,
        "arms": chosen,
        "seed": seed,
        "max_tokens": max_tokens,
        "steps": steps,
        "start_checkpoint": start_checkpoint,
        "allow_underpowered": allow_underpowered,
    }
    if queue:
        from jedi_academy.loop.experiment import start_checkpoint_for
        from jedi_academy.loop.jobs import submit_job

        # resolved now, so the job (and a recovered re-run of it) starts where this command said
        args["start_checkpoint"] = start_checkpoint_for(settings, specialization, start_checkpoint)
        job = submit_job(settings, "experiment", args)
        if as_json:
            _print_json(job)
        else:
            typer.echo(f"queued job {job['id']}: run `academy worker`, follow with `academy jobs`")
        return
    from jedi_academy.loop.experiment import render_experiment, run_experiment

    def progress(done: int, total: int, message: str) -> None:
        typer.echo(f"[{done}/{total}] {message}", err=as_json)

    result = run_experiment(settings, progress=progress, **args)
    if as_json:
        _print_json(result)
    else:
        typer.echo(render_experiment(result))
