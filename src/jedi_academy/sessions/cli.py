"""``academy therapist|case|session ...`` (light imports: this module loads on every CLI start).

Stages above this one extend its commands through the hooks it calls (``jedi_academy.hooks``): options on
``therapist add``, ``session end`` and ``session replay``, what runs after a session ends, and sections of
``session show`` and ``case show``."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

import typer

from jedi_academy.cli_kit import JsonFlag, echo_lines
from jedi_academy.cli_kit import database as _database
from jedi_academy.cli_kit import print_json as _print_json
from jedi_academy.cli_kit import settings as _settings
from jedi_academy.hooks import hookimpl
from jedi_academy.terminal_text import terminal_safe

if TYPE_CHECKING:
    from jedi_academy.cli_kit import CommandRegistry
    from jedi_academy.sessions.ending import EndedSession
    from jedi_academy.sessions.models import ModelPool, ModelSpec
    from jedi_academy.sessions.runner import SessionOptions, TurnResult
    from jedi_academy.sessions.stats import RateGroup
    from jedi_academy.sessions.transcript_export import ExportFormat
    from jedi_academy.sessions.views import CaseView, SessionView

therapist_app = typer.Typer(help="Therapists who work cases.", no_args_is_help=True)
case_app = typer.Typer(help="Cases: one persona worked by one therapist.", no_args_is_help=True)
session_app = typer.Typer(help="Therapy sessions with a simulated patient.", no_args_is_help=True)


@hookimpl
def register_commands(commands: CommandRegistry) -> None:
    commands.group("therapist", therapist_app)
    commands.group("case", case_app)
    commands.group("session", session_app)
    commands.command("add", group="therapist", extensible=True)(therapist_add)
    # every command that can end a session takes the options the stages add to ending it (`/end` included)
    commands.command("start", group="session", extensible=True)(session_start)
    commands.command("resume", group="session", extensible=True)(session_resume)
    commands.command("end", group="session", extensible=True)(session_end)
    commands.command("replay", group="session", extensible=True)(session_replay)


# ---------------------------------------------------------------- therapists


def therapist_add(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The therapist's name.")],
    as_json: JsonFlag = False,
    extensions: dict[str, Any] | None = None,
) -> None:
    """Add a therapist; prints the id (the web stage adds --email and an invite link)."""
    from jedi_academy.hooks import hook
    from jedi_academy.sessions.records import add_therapist
    from jedi_academy.sessions.views import with_sections

    database = _database(ctx)
    options = extensions or {}
    hook().therapist_add_check(database=database, options=options)  # refusals come before any write
    row = add_therapist(database, name)
    added = hook().therapist_added(settings=_settings(ctx), database=database, therapist=row, options=options)
    view = with_sections(row, added)
    if as_json:
        _print_json(view)
        return
    typer.echo(f"therapist {row.name}: {row.id}")
    echo_lines(view.lines)


@therapist_app.command("list")
def therapist_list(ctx: typer.Context, as_json: JsonFlag = False) -> None:
    """List therapists."""
    from jedi_academy.sessions.records import list_therapists

    rows = list_therapists(_database(ctx))
    if as_json:
        _print_json(rows)
        return
    for row in rows:
        typer.echo(f"{row.id}  {row.name}" + ("  (disabled)" if row.disabled else ""))
    if not rows:
        typer.echo("no therapists yet: `academy therapist add NAME`")


UndoFlag = Annotated[bool, typer.Option("--undo", help="Reverse it.")]


@therapist_app.command("disable")
def therapist_disable(
    ctx: typer.Context,
    therapist: Annotated[str, typer.Argument(help="Therapist name or id.")],
    undo: UndoFlag = False,
    as_json: JsonFlag = False,
) -> None:
    """Disable a therapist: no web sign-in (signed-in browsers are signed out), no new case, no session."""
    from jedi_academy.sessions.housekeeping import disable_therapist

    row = disable_therapist(_database(ctx), therapist, undo=undo)
    if as_json:
        _print_json(row)
        return
    state = "disabled" if row.disabled else "enabled"
    signed_out = f" ({row.signed_out} browser session(s) signed out)" if row.signed_out else ""
    typer.echo(f"therapist {row.name} ({row.id}) is {state}{signed_out}")


# ---------------------------------------------------------------- cases


@case_app.command("list")
def case_list(
    ctx: typer.Context,
    therapist: Annotated[str | None, typer.Option(help="Only this therapist's cases.")] = None,
    archived: Annotated[bool, typer.Option("--archived", help="Include archived cases.")] = False,
    as_json: JsonFlag = False,
) -> None:
    """List cases (archived ones with --archived)."""
    from jedi_academy.sessions.records import list_cases

    rows = list_cases(_database(ctx), therapist, archived=archived)
    if as_json:
        _print_json(rows)
        return
    for row in rows:
        typer.echo(
            f"{row.id}  {row.therapist}  {row.specialization}  checkpoint {row.checkpoint_id}  "
            f"{row.sessions} session(s)  {row.status}" + ("  archived" if row.archived else "")
        )
    if not rows:
        typer.echo("no cases yet: `academy case open --therapist T --specialization S`")


@case_app.command("archive")
def case_archive(
    ctx: typer.Context,
    case: Annotated[str, typer.Argument(help="Case id or prefix.")],
    undo: UndoFlag = False,
    as_json: JsonFlag = False,
) -> None:
    """Archive a case: it leaves the lists and pages; its records and ledger entries stay."""
    from jedi_academy.sessions.housekeeping import archive_case

    row = archive_case(_database(ctx), case, undo=undo)
    if as_json:
        _print_json(row)
        return
    typer.echo(f"case {row.id} is {'archived' if row.archived else 'back in the lists'}")


def print_case_header(case: CaseView[Any]) -> None:
    """Who works the case, on which checkpoint and branch, and the intake sheet (the loop's view too)."""
    from jedi_academy.personas.intake import render_intake

    typer.echo(f"case {case.id}  therapist {case.therapist}  {case.specialization}")
    typer.echo(f"checkpoint {case.checkpoint_id} (branch {case.branch})")
    typer.echo(render_intake(case.intake))


@case_app.command("show")
def case_show(
    ctx: typer.Context,
    case_id: Annotated[str, typer.Argument(help="Case id or prefix.")],
    as_json: JsonFlag = False,
) -> None:
    """A case: its intake sheet, its sessions and what the stages above add (the loop: the trajectory)."""
    from jedi_academy.hooks import hook
    from jedi_academy.sessions.records import show_case
    from jedi_academy.sessions.views import with_sections

    database = _database(ctx)
    case = show_case(database, case_id)
    view = with_sections(case, hook().case_sections(settings=_settings(ctx), database=database, case=case))
    if as_json:
        _print_json(view)
        return
    print_case_header(case)
    for row in case.sessions:
        typer.echo(
            f"  session {row.number}  [{row.branch}]  {row.session_id}  {row.status}  "
            f"{row.turns} turns  {row.accepted}/{row.recommendations} recommendations accepted"
            + (f" ({row.invalid_preference} invalid_preference)" if row.invalid_preference else "")
            + (f"  {row.flags} risk flag(s)" if row.flags else "")
        )
    echo_lines(view.lines)


# ---------------------------------------------------------------- sessions


def _options(
    temperature: float,
    max_tokens: int,
    preference_mode: str,
    preference_samples: int,
    extract: bool,
    extract_max_tokens: int,
) -> SessionOptions:
    from jedi_academy.sessions.recommendations import ExtractionOptions
    from jedi_academy.sessions.runner import SessionOptions

    return SessionOptions(
        temperature=temperature,
        max_tokens=max_tokens,
        preference_mode=preference_mode,
        preference_samples=preference_samples,
        extract=extract,
        extraction=ExtractionOptions(max_tokens=extract_max_tokens),
    )


def _pool_and_teacher(
    ctx: typer.Context, backend: str | None, model: str | None, base_url: str | None
) -> tuple[ModelPool, ModelSpec]:
    from jedi_academy.sessions.models import ModelPool

    pool = ModelPool(_settings(ctx), progress=_say)
    return pool, pool.teacher_spec(backend, model, base_url)


def _say(message: str) -> None:
    """Progress on stderr, so that --json output on stdout stays clean."""
    typer.echo(message, err=True)


Temperature = Annotated[float, typer.Option(min=0.0, help="Patient sampling temperature.")]
MaxTokens = Annotated[int, typer.Option(min=1, help="Longest patient reply, in tokens.")]
PreferenceMode = Annotated[
    str, typer.Option(help="auto (log-probabilities where the backend has them), logprob or sample.")
]
PreferenceSamples = Annotated[int, typer.Option(min=1, help="Yes/no samples per phrasing in sample mode.")]
Extract = Annotated[
    bool, typer.Option("--extract/--no-extract", help="Let the teacher find recommendations at the end.")
]
ExtractMaxTokens = Annotated[int, typer.Option(min=16, help="Longest teacher extraction reply.")]
TeacherBackend = Annotated[str | None, typer.Option(help="Teacher backend (default: academy --backend).")]
TeacherModel = Annotated[str | None, typer.Option(help="Teacher model (default: academy --model).")]
TeacherUrl = Annotated[str | None, typer.Option(help="Teacher server URL.")]


def session_start(
    ctx: typer.Context,
    case: Annotated[str, typer.Option(help="Case id or prefix.")],
    seed: Annotated[
        int | None, typer.Option(help="Sampling seed (default: a new random one, recorded).")
    ] = None,
    temperature: Temperature = 0.7,
    max_tokens: MaxTokens = 200,
    preference_mode: PreferenceMode = "auto",
    preference_samples: PreferenceSamples = 10,
    extract: Extract = True,
    extract_max_tokens: ExtractMaxTokens = 700,
    teacher_backend: TeacherBackend = None,
    teacher_model: TeacherModel = None,
    teacher_base_url: TeacherUrl = None,
    extensions: dict[str, Any] | None = None,
) -> None:
    """An interactive session: you type, the patient answers (/rec marks a recommendation, /end ends it as
    `academy session end` does, with the same options)."""
    from jedi_academy.personas.intake import render_intake
    from jedi_academy.sessions.interactive import HELP, run_interactive
    from jedi_academy.sessions.records import show_case
    from jedi_academy.sessions.runner import SessionRunner

    database = _database(ctx)
    pool, teacher = _pool_and_teacher(ctx, teacher_backend, teacher_model, teacher_base_url)
    options = _options(
        temperature, max_tokens, preference_mode, preference_samples, extract, extract_max_tokens
    )
    chosen_seed = secrets.randbelow(2**31) if seed is None else seed
    case_view = show_case(database, case)
    runner = SessionRunner.start(
        database, pool, case_view.id, seed=chosen_seed, options=options, teacher=teacher
    )
    typer.echo(
        f"session {runner.session_id} (number {len(case_view.sessions) + 1} of case {case_view.id}), "
        f"checkpoint {runner.checkpoint_id}, seed {chosen_seed}"
    )
    typer.echo(render_intake(case_view.intake))
    typer.echo(HELP)
    raise typer.Exit(run_interactive(runner, end_options=extensions))


def session_resume(
    ctx: typer.Context,
    session_id: Annotated[str, typer.Argument(help="Session id or prefix.")],
    extensions: dict[str, Any] | None = None,
) -> None:
    """Continue a paused or interrupted session with its own seed and settings."""
    from jedi_academy.errors import AcademyError
    from jedi_academy.sessions.interactive import HELP, run_interactive
    from jedi_academy.sessions.models import ModelPool
    from jedi_academy.sessions.runner import SessionRunner

    runner = SessionRunner.open(_database(ctx), ModelPool(_settings(ctx), progress=_say), session_id)
    status = runner.status()
    if status == "ending":
        raise AcademyError(
            f"session {runner.session_id} was interrupted while ending",
            f"finish it with `academy session end {runner.session_id}`",
        )
    if status == "ended":
        raise AcademyError(
            f"session {runner.session_id} has ended", "start a new one with `academy session start`"
        )
    typer.echo(
        f"resuming session {runner.session_id} (seed {runner.seed}, checkpoint {runner.checkpoint_id})"
    )
    typer.echo(HELP)
    raise typer.Exit(run_interactive(runner, end_options=extensions))


def session_end(
    ctx: typer.Context,
    session_id: Annotated[str, typer.Argument(help="Session id or prefix.")],
    as_json: JsonFlag = False,
    extensions: dict[str, Any] | None = None,
) -> None:
    """End a session (or finish ending one that was interrupted): recommendations, p_accept and decisions,
    then what the stages above do with an ended session (the teacher's MITI feedback, the loop)."""
    from jedi_academy.sessions.ending import end_session
    from jedi_academy.sessions.models import ModelPool
    from jedi_academy.sessions.runner import SessionRunner

    runner = SessionRunner.open(_database(ctx), ModelPool(_settings(ctx), progress=_say), session_id)
    ended = end_session(runner, options=extensions, progress=None if as_json else typer.echo)
    _show_session(ended, as_json)


def session_replay(
    ctx: typer.Context,
    case: Annotated[str, typer.Option(help="Case id or prefix.")],
    script: Annotated[Path, typer.Option(help="JSONL therapist turns, or a CSV transcript (AnnoMI layout).")],
    transcript: Annotated[str | None, typer.Option(help="transcript_id to replay from a CSV file.")] = None,
    seed: Annotated[
        int | None, typer.Option(help="Sampling seed (default: a new random one, printed and recorded).")
    ] = None,
    temperature: Temperature = 0.7,
    max_tokens: MaxTokens = 200,
    preference_mode: PreferenceMode = "auto",
    preference_samples: PreferenceSamples = 10,
    extract: Extract = True,
    extract_max_tokens: ExtractMaxTokens = 700,
    teacher_backend: TeacherBackend = None,
    teacher_model: TeacherModel = None,
    teacher_base_url: TeacherUrl = None,
    as_json: JsonFlag = False,
    extensions: dict[str, Any] | None = None,
) -> None:
    """A scripted therapist: replay a script against the case's patient, end the session, then what the stages
    above do with an ended session (the teacher's MITI feedback)."""
    from jedi_academy.sessions.ending import after_end
    from jedi_academy.sessions.models import ModelPool

    pool = ModelPool(_settings(ctx))
    record = replay_from_script(
        ctx,
        pool,
        case,
        script,
        transcript,
        seed,
        _options(temperature, max_tokens, preference_mode, preference_samples, extract, extract_max_tokens),
        (teacher_backend, teacher_model, teacher_base_url),
        as_json,
    )
    ended = after_end(
        _database(ctx), pool, record, options=extensions,
        progress=None if as_json else typer.echo, command="session replay",
    )  # fmt: skip
    _show_session(ended, as_json, turns_shown=not as_json)


def replay_from_script(
    ctx: typer.Context,
    pool: ModelPool,
    case: str,
    script: Path,
    transcript: str | None,
    seed: int | None,
    options: SessionOptions,
    teacher_choice: tuple[str | None, str | None, str | None],
    as_json: bool,
) -> SessionView:
    """Load the script (a bad one fails before any model loads or row is written), replay it, end the session;
    the turns are echoed as they happen unless JSON is wanted."""
    from jedi_academy.sessions.scripts import load_script
    from jedi_academy.sessions.service import replay_session

    turns = load_script(script, transcript)
    database = _database(ctx)
    teacher = pool.teacher_spec(*teacher_choice)

    def show_turn(result: TurnResult) -> None:
        typer.echo(terminal_safe(f"therapist> {result.therapist}\npatient> {result.patient}"))

    if seed is None:  # as `session start` does: a fresh seed, said out loud and stored with the session
        seed = secrets.randbelow(2**31)
        typer.echo(f"seed {seed} (drawn at random; --seed {seed} repeats this replay)", err=as_json)
    return replay_session(
        database,
        pool,
        case,
        turns,
        seed=seed,
        options=options,
        teacher=teacher,
        on_turn=None if as_json else show_turn,
        progress=None if as_json else typer.echo,
    )


def _show_session(shown: EndedSession, as_json: bool, turns_shown: bool = False) -> None:
    """The session (``--json``: with every stage's fields), then the lines the stages print about it."""
    from jedi_academy.sessions.advice import advice_line
    from jedi_academy.sessions.preference import decision_line, masses_line

    if as_json:
        _print_json(shown)
        return
    record = shown.record
    typer.echo(
        f"session {record.session_id} (case {record.case_id}, number {record.number}, "
        f"{record.status}), checkpoint {record.checkpoint_id}, seed {record.seed}"
    )
    if not turns_shown:
        for turn in record.turns:
            typer.echo(terminal_safe(f"therapist> {turn.therapist}"))
            reply = turn.patient if turn.patient is not None else "(no reply yet)"
            typer.echo(terminal_safe(f"patient> {reply}"))
            if turn.context_dropped:
                typer.echo(f"  (answered without the first {turn.context_dropped} turn(s): context full)")
    for rec in record.recommendations:
        typer.echo(
            f"  rec {rec.id} [{rec.source}, {rec.kind}] turn {rec.turn}: {rec.text}\n"
            f"      {decision_line(rec)}"
        )
        if (masses := masses_line(rec)) is not None:
            typer.echo(f"      {masses}")
        if rec.advice:
            typer.echo(f"      {advice_line(rec.advice)}")
    for flag in record.flags:
        typer.echo(f"  ! turn {flag['turn']}: risk content from the {flag['speaker']} ({flag['label']})")
    echo_lines(shown.lines)


@session_app.command("show")
def session_show(
    ctx: typer.Context,
    session_id: Annotated[str, typer.Argument(help="Session id or prefix.")],
    as_json: JsonFlag = False,
) -> None:
    """A session: transcript, recommendations with p_accept, u and decision, risk flags, and what the stages
    above add (the teacher's MITI feedback)."""
    from jedi_academy.sessions.ending import session_view
    from jedi_academy.sessions.records import session_json

    database = _database(ctx)
    _show_session(session_view(database, session_json(database, session_id)), as_json)


def export_session_file(ctx: typer.Context, session_id: str, out: Path, export_format: ExportFormat) -> None:
    """The transcript, with the codes a stage above adds per turn (the loop: MITI codes) when stored."""
    from jedi_academy.hooks import hook
    from jedi_academy.sessions.records import session_json
    from jedi_academy.sessions.transcript_export import export_transcript

    database = _database(ctx)
    record = session_json(database, session_id)
    codes = hook().turn_codes(database=database, session_id=record.session_id)
    written = export_transcript(record, out, export_format, codes)
    typer.echo(f"wrote {written}: session {record.session_id}, {len(record.turns)} turn(s)")


ExportFormatOption = Annotated[
    Literal["md", "html", "jsonl"], typer.Option("--format", help="md, html or jsonl.")
]


@session_app.command("export")
def session_export(
    ctx: typer.Context,
    session_id: Annotated[str, typer.Argument(help="Session id or prefix.")],
    out: Annotated[Path, typer.Option(help="The file to write.")],
    export_format: ExportFormatOption = "md",
) -> None:
    """Write a session's transcript: turns, recommendations with their decisions, risk flags."""
    export_session_file(ctx, session_id, out, export_format)


@session_app.command("list")
def session_list(
    ctx: typer.Context,
    case: Annotated[str, typer.Option(help="Case id or prefix.")],
    archived: Annotated[bool, typer.Option("--archived", help="Include archived sessions.")] = False,
    as_json: JsonFlag = False,
) -> None:
    """The sessions of a case, in order (archived ones with --archived)."""
    from jedi_academy.sessions.records import list_sessions

    rows = list_sessions(_database(ctx), case, archived=archived)
    if as_json:
        _print_json(rows)
        return
    if rows:
        header = f"{'NO':>3}  {'SESSION':14}  {'BRANCH':10} {'STATUS':7} {'MODE':11}"
        typer.echo(f"{header} TURNS, RECOMMENDATIONS")
    for row in rows:
        decided = (
            f"{row.accepted} accepted, {row.ignored} ignored, "
            f"{row.invalid_preference} invalid_preference, {row.undecided} undecided"
        )
        typer.echo(
            f"{row.number:>3}  {row.session_id:14}  {row.branch:10} {row.status:<7} "
            f"{row.mode:<11} "
            f"{row.turns} turns  {decided}  checkpoint {row.checkpoint_id}"
            + (f"  {row.flags} risk flag(s)" if row.flags else "")
            + ("  archived" if row.archived else "")
        )
    if not rows:
        typer.echo("no sessions yet: `academy session start --case CASE`")


@session_app.command("archive")
def session_archive(
    ctx: typer.Context,
    session_id: Annotated[str, typer.Argument(help="Session id or prefix.")],
    undo: UndoFlag = False,
    as_json: JsonFlag = False,
) -> None:
    """Archive an ended session: it leaves the lists and pages; its record and ledger entry stay."""
    from jedi_academy.sessions.housekeeping import archive_session

    row = archive_session(_database(ctx), session_id, undo=undo)
    if as_json:
        _print_json(row)
        return
    typer.echo(f"session {row.session_id} is {'archived' if row.archived else 'back in the lists'}")


@session_app.command("stats")
def session_stats_command(
    ctx: typer.Context,
    case: Annotated[str | None, typer.Option(help="One case.")] = None,
    specialization: Annotated[str | None, typer.Option(help="Every case of a specialization.")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Acceptance rates by persona and recommendation kind (an over-cooperative patient model shows here)."""
    from jedi_academy.cli_errors import usage_error
    from jedi_academy.sessions.stats import session_stats

    if (case is None) == (specialization is None):
        raise usage_error(ctx, "give exactly one of --case and --specialization")
    stats = session_stats(_database(ctx), case=case, specialization=specialization)
    if as_json:
        _print_json(stats)
        return

    def line(name: str, group: RateGroup) -> str:
        if not group.n or group.rate_ci95 is None:
            return f"  {name}: no decided recommendations"
        low, high = group.rate_ci95
        return (
            f"  {name}: {group.accepted}/{group.n} accepted ({group.rate or 0:.0%}, "
            f"95% CI {low:.0%}-{high:.0%}), "
            f"mean p_accept {group.mean_p_accept or 0:.3f}"
        )

    typer.echo(
        f"{stats.recommendations} recommendation(s), {stats.invalid_preference} invalid_preference "
        f"(left out of every rate: the patient did not answer Yes or No), {stats.undecided} undecided"
    )
    typer.echo(line("overall", stats.overall))
    for title, groups in (("by persona:", stats.by_persona), ("by kind:", stats.by_kind)):
        typer.echo(title)
        for name, group in groups.items():
            typer.echo(line(name, group))
        if not groups:
            typer.echo("  no decided recommendations")
    for warning in stats.warnings:
        typer.echo(f"warning: {warning}")
    typer.echo(f"note: {stats.cannot_conclude}")
