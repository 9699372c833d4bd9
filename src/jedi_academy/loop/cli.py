"""``academy loop``, ``academy worker``, ``academy jobs``, ``academy case branch|switch|tree|compare|report``,
``academy experiment therapists``; the loop also extends ``academy case show`` (the trajectory) and ``academy
session end`` (``--refine`` queues the loop). Light imports: this module loads on every CLI start."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

import typer

from jedi_academy.limits import SEED

if TYPE_CHECKING:
    from jedi_academy.config import Settings

JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON.")]
experiment_app = typer.Typer(
    help="Experiments that make the loop's numbers meaningful.", no_args_is_help=True
)


def _settings(ctx: typer.Context) -> Settings:
    from jedi_academy.config import settings_from_context

    return settings_from_context(ctx)


def _database(ctx: typer.Context) -> Any:
    from jedi_academy.store import open_database

    return open_database(_settings(ctx))


def _print_json(data: Any) -> None:
    typer.echo(json.dumps(data, indent=2, ensure_ascii=False))


def register(app: typer.Typer) -> None:
    from jedi_academy.sessions.cli import case_app, session_app

    app.command("loop")(loop_command)
    app.command("worker")(worker_command)
    app.command("jobs")(jobs_command)
    app.command("demo-loop")(demo_loop_command)
    app.add_typer(experiment_app, name="experiment")
    for name, command in (
        ("branch", case_branch),
        ("switch", case_switch),
        ("tree", case_tree_command),
        ("compare", case_compare),
        ("report", case_report),
        ("close", case_close),
    ):
        case_app.command(name)(command)
    # The loop extends commands of the sessions stage (which cannot import the loop, a stage above it):
    # the trajectory in `case show`, the loop queue and MITI feedback after `session end|replay`, and the
    # stored feedback in `session show`.
    _replace(case_app, "show", case_show)
    _replace(session_app, "end", session_end)
    _replace(session_app, "replay", session_replay)
    _replace(session_app, "show", session_show)
    _replace(session_app, "export", session_export)


def _replace(group: typer.Typer, name: str, command: Any) -> None:
    group.registered_commands = [c for c in group.registered_commands if c.name != name]
    group.command(name)(command)


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
    as_json: JsonFlag = False,
) -> None:
    """One loop iteration after a session: expansion, merge, re-fine-tune, re-assess (finished steps skip)."""
    from jedi_academy.loop.refine import STRATEGIES

    if strategy not in STRATEGIES:
        raise typer.BadParameter(f"use one of {', '.join(STRATEGIES)}", param_hint="--strategy")
    settings = _settings(ctx)
    options = loop_options(
        teacher_backend, teacher_model, teacher_base_url, max_tokens, strategy, steps, batch_size,
        learning_rate, instrument,
    )  # fmt: skip
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
    from jedi_academy.loop.run import STEPS, LoopContext, LoopOptions, run_loop
    from jedi_academy.store import open_database

    def stage(step: str, state: str, message: str) -> None:
        number = f"[{STEPS.index(step) + 1}/{len(STEPS)}]"
        if state == "start":
            typer.echo(f"{number} {message} ...", err=as_json)
        elif state == "skip":
            typer.echo(f"{number} {message}: done earlier, skipped", err=as_json)
        else:
            typer.echo(f"{number} done: {message}", err=as_json)

    context = LoopContext(settings, open_database(settings))
    result = run_loop(context, session, LoopOptions.from_dict(options), on_stage=stage)
    if as_json:
        _print_json(result)
        return
    typer.echo(
        f"loop {result['loop_id']} after session {result['session_number']}: checkpoint "
        f"{result['checkpoint_id']} (parent {result['parent_checkpoint_id']}), dataset "
        f"{result['dataset_id'][:12]} (parent {str(result['parent_dataset_id'])[:12]})"
    )
    _echo_assessment(result["assessment"])


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


# ---------------------------------------------------------------- sessions commands the loop extends


NoFeedback = Annotated[
    bool, typer.Option("--no-feedback", help="Skip the teacher's MITI feedback on the session.")
]
FeedbackTokens = Annotated[
    int, typer.Option(min=16, help="Longest teacher reply while coding the feedback, in tokens.")
]


def _with_feedback(
    ctx: typer.Context, record: dict[str, Any], code: bool, max_tokens: int, quiet: bool
) -> dict[str, Any]:
    """The record with its stored feedback summary (coded first when ``code``) under ``feedback``."""
    from jedi_academy.loop.session_feedback import code_ended_session, feedback_view
    from jedi_academy.sessions.models import ModelPool

    database = _database(ctx)
    if code and record["status"] == "ended":
        if not quiet:
            typer.echo("the teacher codes the session for feedback (MITI 4.2.1) ...")
        pool = ModelPool(_settings(ctx), progress=lambda m: typer.echo(m, err=True))
        code_ended_session(database, pool, record["session_id"], max_tokens=max_tokens)
    return {**record, "feedback": feedback_view(database, record["session_id"])}


def _show_with_feedback(
    ctx: typer.Context, record: dict[str, Any], as_json: bool, turns_shown: bool = False
) -> None:
    from jedi_academy.feedback import load_feedback
    from jedi_academy.feedback.render import render_summary
    from jedi_academy.sessions.cli import _show_session

    if as_json:
        _print_json(record)
        return
    _show_session(record, False, turns_shown)
    feedback = load_feedback(_database(ctx), record["session_id"]) if record.get("feedback") else None
    if feedback is None:
        typer.echo("feedback: none stored (`academy session end` codes it unless --no-feedback)")
        return
    typer.echo(f"Feedback on technique (coder {feedback.backend}/{feedback.model}):")
    for line in render_summary(feedback.summary):
        typer.echo(f"  {line}")


def session_export(
    ctx: typer.Context,
    session_id: Annotated[str, typer.Argument(help="Session id or prefix.")],
    out: Annotated[Path, typer.Option(help="The file to write.")],
    export_format: Annotated[
        Literal["md", "html", "jsonl"], typer.Option("--format", help="md, html or jsonl.")
    ] = "md",
) -> None:
    """Write a session's transcript: turns with their MITI codes, recommendations with decisions, flags."""
    from jedi_academy.feedback import load_feedback
    from jedi_academy.sessions.records import session_json
    from jedi_academy.sessions.transcript_export import export_transcript

    database = _database(ctx)
    record = session_json(database, session_id)
    feedback = load_feedback(database, record["session_id"])
    codes = None if feedback is None else {turn.index: turn.codes for turn in feedback.turns}
    written = export_transcript(record, out, export_format, codes)
    typer.echo(f"wrote {written}: session {record['session_id']}, {len(record['turns'])} turn(s)")


def session_end(
    ctx: typer.Context,
    session_id: Annotated[str, typer.Argument(help="Session id or prefix.")],
    refine: Annotated[
        bool, typer.Option("--refine", help="Then queue the improvement loop for `academy worker`.")
    ] = False,
    no_feedback: NoFeedback = False,
    feedback_max_tokens: FeedbackTokens = 64,
    as_json: JsonFlag = False,
) -> None:
    """End a session (or finish ending one that was interrupted): recommendations, p_accept and decisions,
    then the teacher's MITI feedback."""
    from jedi_academy.sessions.models import ModelPool
    from jedi_academy.sessions.runner import SessionRunner

    settings = _settings(ctx)
    runner = SessionRunner.open(
        _database(ctx), ModelPool(settings, progress=lambda m: typer.echo(m, err=True)), session_id
    )
    record = runner.end(progress=None if as_json else typer.echo)
    record = _with_feedback(ctx, record, not no_feedback, feedback_max_tokens, as_json)
    job = None
    if refine:
        from jedi_academy.loop.jobs import enqueue_loop

        job = enqueue_loop(settings, record["session_id"])
    if as_json:
        _print_json({**record, "job": job} if refine else record)
        return
    _show_with_feedback(ctx, record, False)
    if job is not None:
        typer.echo(f"queued the loop as job {job['id']}: `academy worker` runs it, `academy jobs` follows it")


def session_replay(
    ctx: typer.Context,
    case: Annotated[str, typer.Option(help="Case id or prefix.")],
    script: Annotated[Path, typer.Option(help="JSONL therapist turns, or a CSV transcript (AnnoMI layout).")],
    transcript: Annotated[str | None, typer.Option(help="transcript_id to replay from a CSV file.")] = None,
    seed: Annotated[
        int | None, typer.Option(help="Sampling seed (default: a new random one, printed and recorded).")
    ] = None,
    temperature: Annotated[float, typer.Option(min=0.0, help="Patient sampling temperature.")] = 0.7,
    max_tokens: Annotated[int, typer.Option(min=1, help="Longest patient reply, in tokens.")] = 200,
    preference_mode: Annotated[
        str, typer.Option(help="auto (log-probabilities where the backend has them), logprob or sample.")
    ] = "auto",
    preference_samples: Annotated[
        int, typer.Option(min=1, help="Yes/no samples per phrasing in sample mode.")
    ] = 10,
    extract: Annotated[
        bool, typer.Option("--extract/--no-extract", help="Let the teacher find recommendations at the end.")
    ] = True,
    extract_max_tokens: Annotated[int, typer.Option(min=16, help="Longest teacher extraction reply.")] = 700,
    teacher_backend: TeacherBackend = None,
    teacher_model: TeacherModel = None,
    teacher_base_url: TeacherUrl = None,
    no_feedback: NoFeedback = False,
    feedback_max_tokens: FeedbackTokens = 64,
    as_json: JsonFlag = False,
) -> None:
    """A scripted therapist: replay a script against the case's patient, end the session, then the teacher's
    MITI feedback."""
    from jedi_academy.sessions.cli import _options, replay_from_script

    record = replay_from_script(
        ctx,
        case,
        script,
        transcript,
        seed,
        _options(temperature, max_tokens, preference_mode, preference_samples, extract, extract_max_tokens),
        (teacher_backend, teacher_model, teacher_base_url),
        as_json,
    )
    record = _with_feedback(ctx, record, not no_feedback, feedback_max_tokens, as_json)
    _show_with_feedback(ctx, record, as_json, turns_shown=not as_json)


def session_show(
    ctx: typer.Context,
    session_id: Annotated[str, typer.Argument(help="Session id or prefix.")],
    as_json: JsonFlag = False,
) -> None:
    """A session: transcript, recommendations with p_accept, u and decision, risk flags, MITI feedback."""
    from jedi_academy.sessions.records import session_json

    record = session_json(_database(ctx), session_id)
    _show_with_feedback(ctx, _with_feedback(ctx, record, False, 0, True), as_json)


def case_show(
    ctx: typer.Context,
    case_id: Annotated[str, typer.Argument(help="Case id or prefix.")],
    as_json: JsonFlag = False,
) -> None:
    """A case: intake sheet, sessions, and the trajectory (scores after each loop, change, branches)."""
    from jedi_academy.loop.trajectory import case_trajectory
    from jedi_academy.sessions.cli import print_case_header

    view = case_trajectory(_database(ctx), case_id)
    if as_json:
        _print_json(view)
        return
    print_case_header(view)
    baseline = view["baseline"]["scores"]
    if baseline:
        typer.echo(f"baseline {view['baseline']['checkpoint_id']}: {_scores_line(baseline)}")
    for row in view["sessions"]:
        typer.echo(
            f"  session {row['number']}  [{row['branch']}]  {row['session_id']}  {row['status']}  "
            f"{row['turns']} turns  {row['accepted']}/{row['recommendations']} recommendations accepted"
            + (f"  {row['flags']} risk flag(s)" if row["flags"] else "")
        )
        for text in row["accepted_recommendations"]:
            typer.echo(f"      accepted: {text}")
        for text in row["ignored_recommendations"]:
            typer.echo(f"      ignored:  {text}")
        loop = row["loop"]
        if loop is None:
            typer.echo("      no loop yet")
        elif loop["status"] != "done":
            typer.echo(f"      loop {loop['loop_id']} {loop['status']}")
        else:
            typer.echo(f"      -> {loop['checkpoint_id']}: {_scores_line(loop['scores'], loop)}")
    if view.get("closure"):
        from jedi_academy.loop.closing import closure_lines

        for line in closure_lines(view["closure"]):
            typer.echo(line)
    typer.echo(f"note: {view['cannot_conclude']}")


def case_close(
    ctx: typer.Context,
    case_id: Annotated[str, typer.Argument(help="Case id or prefix.")],
    assess_mode: Annotated[
        Literal["logprob", "sample"], typer.Option(help="How the instruments are administered.")
    ] = "logprob",
    seed: Annotated[int, typer.Option(help="Assessment seed.", **SEED)] = 0,
    as_json: JsonFlag = False,
) -> None:
    """Final evaluation: measure the case's instruments on its current checkpoint, compare with the baseline,
    and close the case (no more sessions; everything stays readable)."""
    from jedi_academy.loop.closing import close_case, closure_lines
    from jedi_academy.loop.run import case_instruments
    from jedi_academy.sessions.records import show_case
    from jedi_academy.store import data_dir_lock

    settings, database = _settings(ctx), _database(ctx)
    view = show_case(database, case_id)
    echo = (lambda m: typer.echo(m, err=True)) if as_json else typer.echo
    with data_dir_lock(settings.data_dir, "case close"):
        closure = close_case(
            settings,
            database,
            view["id"],
            instruments=case_instruments(settings, view["specialization"]),
            mode=assess_mode,
            seed=seed,
            progress=echo,
        )
    if as_json:
        _print_json(closure)
        return
    for line in closure_lines(closure):
        typer.echo(line)


def _scores_line(scores: dict[str, Any], loop: dict[str, Any] | None = None) -> str:
    parts = []
    for instrument, score in scores.items():
        if not score["valid"]:
            parts.append(f"{instrument} invalid ({'; '.join(score['problems'])})")
            continue
        text = f"{instrument} {score['total']:.2f} (95% {score['ci95'][0]:.2f}-{score['ci95'][1]:.2f})"
        if loop is not None:
            for label, key in (("vs previous", "change_vs_previous"), ("vs baseline", "change_vs_baseline")):
                change = loop[key][instrument]
                if change["classification"] is not None:
                    text += f", {label} {change['change']:+.2f} {change['classification']}"
        parts.append(text)
    return "; ".join(parts)


# ---------------------------------------------------------------- branches


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
    from jedi_academy.loop.trajectory import branch_case

    if (at is None) == (after_session is None):
        from jedi_academy.cli_errors import usage_error

        raise usage_error(ctx, "give exactly one of --at CHECKPOINT or --after-session N")
    result = branch_case(_database(ctx), case_id, at=at, after_session=after_session, name=name)
    if as_json:
        _print_json(result)
        return
    typer.echo(
        f"case {result['case_id']}: branch {result['branch']} starts at {result['from_checkpoint_id']}; "
        "the next session runs there"
    )


def case_switch(
    ctx: typer.Context,
    case_id: Annotated[str, typer.Argument(help="Case id or prefix.")],
    branch: Annotated[str, typer.Argument(help="Branch name.")],
    as_json: JsonFlag = False,
) -> None:
    """Continue another branch: later sessions run on its newest checkpoint."""
    from jedi_academy.loop.trajectory import switch_branch

    result = switch_branch(_database(ctx), case_id, branch)
    if as_json:
        _print_json(result)
    else:
        typer.echo(f"case {result['case_id']}: on branch {branch}, checkpoint {result['checkpoint_id']}")


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
            typer.echo(f"  {_scores_line(line['final_scores'])}")
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
    personas: Annotated[int, typer.Option(min=1, help="Personas (each worked by every script).")] = 4,
    scripts: Annotated[
        list[str] | None, typer.Option("--script", help="Scripts (default: skilled, placebo, harmful).")
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed of the sessions and draws.")] = 0,
    max_tokens: Annotated[int, typer.Option(min=4, help="Longest patient and teacher reply.")] = 120,
    steps: Steps = None,
    queue: Annotated[bool, typer.Option("--queue", help="Queue it for `academy worker` instead.")] = False,
    as_json: JsonFlag = False,
) -> None:
    """Scripted therapists (skilled, placebo, harmful) over the same personas through the loop."""
    args = {
        "specialization": specialization,
        "sessions": sessions,
        "personas": personas,
        "scripts": scripts or None,
        "seed": seed,
        "max_tokens": max_tokens,
        "steps": steps,
    }
    settings = _settings(ctx)
    if queue:
        from jedi_academy.loop.jobs import submit_job

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
