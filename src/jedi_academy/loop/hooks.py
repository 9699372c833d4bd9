"""The loop's implementations of the sessions stage's extension points (``jedi_academy.hooks``).

The loop sits above the sessions and the feedback stages (neither may import the other), so it is the one that
joins them: after a session ends the teacher codes it for MITI feedback (``--no-feedback`` skips it) and
``--refine`` queues the improvement loop; ``session show`` gets the stored feedback and ``case show`` the
trajectory (scores after each loop, change, branches). Every face that ends a session runs this through
``sessions.ending.end_session``: the CLI, the interactive ``/end`` and the web app.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from jedi_academy.hooks import ExtraOption, Section, hookimpl
from jedi_academy.loop.text import scores_line

if TYPE_CHECKING:
    from jedi_academy.sessions.views import CaseDetail, SessionView

_NO_FEEDBACK = ExtraOption(
    "no_feedback",
    Annotated[bool, typer.Option("--no-feedback", help="Skip the teacher's MITI feedback on the session.")],
    False,
)
_FEEDBACK_TOKENS = ExtraOption(
    "feedback_max_tokens",
    Annotated[int, typer.Option(min=16, help="Longest teacher reply while coding the feedback, in tokens.")],
    64,
)
_REFINE = ExtraOption(
    "refine",
    Annotated[bool, typer.Option("--refine", help="Then queue the improvement loop for `academy worker`.")],
    False,
)


# Every face of the terminal that ends a session takes the same options: `session end`, the interactive
# `/end` of `session start|resume`, and `session replay` (issue 26 point 7: one end of a session).
ENDING_COMMANDS = ("session end", "session start", "session resume", "session replay")


@hookimpl
def command_options(command: str) -> list[ExtraOption] | None:
    if command in ENDING_COMMANDS:
        return [_REFINE, _NO_FEEDBACK, _FEEDBACK_TOKENS]
    return None


@hookimpl
def session_ended(
    settings: Any, database: Any, pool: Any, record: SessionView, options: dict[str, Any], progress: Any
) -> Section | None:
    from jedi_academy.loop.session_feedback import code_ended_session

    if not options.get("no_feedback") and record.status == "ended":
        if progress is not None:
            progress("the teacher codes the session for feedback (MITI 4.2.1) ...")
        code_ended_session(
            database, pool, record.session_id, max_tokens=options.get("feedback_max_tokens", 64)
        )
    if not options.get("refine"):
        return None
    from jedi_academy.loop.jobs import enqueue_loop

    job = enqueue_loop(settings, record.session_id)
    return Section(
        {"job": job},
        [f"queued the loop as job {job['id']}: `academy worker` runs it, `academy jobs` follows it"],
    )


@hookimpl
def session_sections(database: Any, record: SessionView) -> Section:
    from jedi_academy.feedback import load_feedback
    from jedi_academy.feedback.render import render_summary
    from jedi_academy.loop.session_feedback import feedback_view

    guards = _guards_section(database, record.session_id)
    view = feedback_view(database, record.session_id)
    if view is None:
        lines = ["feedback: none stored (`academy session end` codes it)", *guards.lines]
        return Section({"feedback": None, **guards.fields}, lines)
    feedback = load_feedback(database, record.session_id)
    assert feedback is not None  # feedback_view found it
    lines = [f"Feedback on technique (coder {feedback.backend}/{feedback.model}):"]
    lines += [f"  {line}" for line in render_summary(feedback.summary)]
    return Section({"feedback": view.as_dict(), **guards.fields}, lines + guards.lines)


def _guards_section(database: Any, session_id: str) -> Section:
    """What the loop's guards kept out of training from this session (JSON key ``training_guards``, ``null``
    before the session's loop has expanded it): every session turn left out, by turn and instrument item,
    and whether the leak check ran (and if not, why)."""
    from jedi_academy.loop.run import loop_for_session
    from jedi_academy.loop.text import expansion_lines

    loop = loop_for_session(database, session_id)
    if loop is None or not loop.expansion:
        return Section({"training_guards": None}, [])
    expansion = loop.expansion
    data = {
        "removed_turns": expansion.get("removed_turns") or [],
        "leak_checked": bool(expansion.get("leak_checked")),
        "leak_not_checked": expansion.get("leak_not_checked"),
    }
    lines = [f"Training data from this session (loop {loop.id}):"]
    lines += [f"  {line}" for line in expansion_lines(expansion)]
    if not data["removed_turns"]:
        lines.append("  every answered turn is in the training data")
    return Section({"training_guards": data}, lines)


@hookimpl
def case_sections(settings: Any, database: Any, case: CaseDetail) -> Section:
    from jedi_academy.loop.trajectory import case_trajectory

    view = case_trajectory(database, case.id, settings.data_dir)
    lines = [view["protocol_note"]]
    baseline = view["baseline"]["scores"]
    if baseline:
        lines.append(f"baseline {view['baseline']['checkpoint_id']}: {scores_line(baseline)}")
    for row in view["sessions"]:
        lines.append(f"session {row['number']} [{row['branch']}]:")
        lines += [f"  accepted: {text}" for text in row["accepted_recommendations"]]
        lines += [f"  ignored:  {text}" for text in row["ignored_recommendations"]]
        invalid = row["invalid_preference_recommendations"]
        lines += [f"  invalid_preference (no decision): {text}" for text in invalid]
        loop = row["loop"]
        if loop is None:
            lines.append("  no loop yet")
        elif loop["resume"]:  # interrupted (its process was killed) or failed: say how to finish it
            where = f" at {loop['stopped_at']}" if loop["stopped_at"] else ""
            lines.append(f"  loop {loop['loop_id']} {loop['status']}{where}: resume with `{loop['resume']}`")
        elif loop["status"] != "done":
            lines.append(f"  loop {loop['loop_id']} {loop['status']}")
        else:
            lines.append(f"  -> {loop['checkpoint_id']}: {scores_line(loop['scores'], loop)}")
    if view["other_runs"]:  # apart from the protocol's, never in their place
        lines.append("other runs (not the case's protocol):")
        for run in view["other_runs"]:
            total = f"{run['total']:.2f}" if run["valid"] else "invalid"
            lines.append(
                f"  run {run['run_id']} {run['instrument']} on {run['checkpoint_id']}: {total} "
                f"({run['mode']}, seed {run['seed']}, {run['prompt_version']})"
            )
    if view.get("closure"):
        from jedi_academy.loop.closing import closure_lines

        lines += closure_lines(view["closure"])
    from jedi_academy.loop.control_view import effect_lines

    effects = effect_lines(view)
    if effects:
        lines += ["therapist effect (therapist child minus no-therapist control child, 95% interval):"]
        lines += effects
    lines.append(f"note: {view['cannot_conclude']}")
    return Section(view, lines)


@hookimpl
def turn_codes(database: Any, session_id: str) -> dict[int, Any] | None:
    from jedi_academy.feedback import load_feedback

    stored = load_feedback(database, session_id)
    return None if stored is None else {turn.index: turn.codes for turn in stored.turns}
