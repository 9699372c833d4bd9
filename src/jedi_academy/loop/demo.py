"""``academy demo-loop`` (the last step of ``make demo``): after the first-wave pipeline (``academy run``),
one scripted session with a patient checkpoint the pipeline trained, then one loop iteration, the case's
trajectory and tree, and its HTML report. Small settings: it finishes in about a minute on 2 CPU cores."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from jedi_academy.errors import AcademyError
from jedi_academy.store import open_database
from jedi_academy.store.models import Checkpoint, Conversation, DatasetMember
from jedi_academy.terminal_text import terminal_safe

if TYPE_CHECKING:
    from jedi_academy.config import Settings
    from jedi_academy.loop.run import LoopView

THERAPIST = "Demo Therapist"
SESSION_TOKENS = 24
LOOP_TOKENS = 32
LOOP_STEPS = 5


def _patient(database: Any, specialization: str | None) -> tuple[str, str, str]:
    """(specialization, checkpoint, persona): the newest local fine-tuned checkpoint and a persona its dataset
    trains on, so the loop's new conversations land in the training split."""
    with database.session() as session:
        query = select(Checkpoint).where(Checkpoint.kind == "lora", Checkpoint.role != "control")
        query = query.order_by(Checkpoint.created_at.desc())
        if specialization is not None:
            query = query.where(Checkpoint.specialization_id == specialization)
        for checkpoint in session.scalars(query):
            if checkpoint.dataset_id is None or checkpoint.specialization_id is None:
                continue
            persona = session.scalars(
                select(Conversation.persona_id)
                .join(DatasetMember, DatasetMember.conversation_id == Conversation.id)
                .where(DatasetMember.dataset_id == checkpoint.dataset_id, DatasetMember.split == "train")
                .order_by(Conversation.persona_id)
            ).first()
            if persona is not None:
                return checkpoint.specialization_id, checkpoint.id, persona
    raise AcademyError(
        "no fine-tuned patient checkpoint to work with", "run the first-wave pipeline first: `academy run`"
    )


def run_loop_demo(
    settings: Settings, echo: Callable[[str], None] = print, specialization: str | None = None
) -> LoopView:
    from jedi_academy.loop.experiment import therapist_scripts
    from jedi_academy.loop.protocol import OpenCase, open_case_with_baseline, pool_llms
    from jedi_academy.loop.report import write_case_report
    from jedi_academy.loop.run import STEPS, LoopContext, LoopOptions, run_loop
    from jedi_academy.loop.trajectory import case_tree
    from jedi_academy.sessions import ModelPool, SessionOptions, add_therapist, replay_session
    from jedi_academy.sessions.preference import INVALID_PREFERENCE, decision_line

    database = open_database(settings)
    field, checkpoint, persona = _patient(database, specialization)
    with contextlib.suppress(AcademyError):  # a second demo run works a new case with the same therapist
        add_therapist(database, THERAPIST)
    pool = ModelPool(settings)
    request = OpenCase(THERAPIST, field, persona=persona, checkpoint=checkpoint)
    case = open_case_with_baseline(settings, database, request, llms=pool_llms(pool))
    echo(f"[1/3] case {case.id}: {field}, persona {persona}, patient checkpoint {checkpoint}")
    script = therapist_scripts(field)["skilled"]["sessions"][0]

    def show_turn(result: Any) -> None:
        echo(f"      therapist> {result.therapist}")
        echo(f"      patient>   {terminal_safe(result.patient)}")

    record = replay_session(
        database,
        pool,
        case.id,
        script,
        seed=settings.seed,
        options=SessionOptions(max_tokens=SESSION_TOKENS, extract=False),
        on_turn=show_turn,
    )
    echo(f"[2/3] session {record.session_id} replayed (the skilled therapist script); recommendations:")
    for rec in record.recommendations:
        echo(f"      {decision_line(rec)}  {rec.text}")
    invalid = sum(1 for rec in record.recommendations if rec.decision == INVALID_PREFERENCE)
    if invalid:
        echo(
            f"      {invalid} of {len(record.recommendations)} decisions are invalid: the patient model "
            "did not answer Yes or No (its probability went elsewhere), so they are neither accepted nor "
            "ignored and get no follow-up; a random tiny model cannot make decisions"
        )

    context = LoopContext(settings, database)
    for spec, llm in pool._llms.items():  # the session's loaded model serves the loop too
        context.llms[(spec.backend, spec.model)] = llm
    echo("[3/3] one loop iteration")

    def stage(step: str, state: str, message: str) -> None:
        if state != "start":
            echo(f"      [{STEPS.index(step) + 1}/{len(STEPS)}] {message}")

    result = run_loop(
        context, record.session_id, LoopOptions(max_tokens=LOOP_TOKENS, steps=LOOP_STEPS), on_stage=stage
    )
    echo(
        f"      checkpoint {result.checkpoint_id} (parent {result.parent_checkpoint_id}), "
        f"dataset {str(result.dataset_id)[:12]} (parent {str(result.parent_dataset_id)[:12]})"
    )
    echo(case_tree(database, case.id)["text"])
    report = write_case_report(database, case.id, settings.path("reports", f"case-{case.id}.html"))
    echo(f"case report with the trajectory plot: {report}")
    echo("the tiny model's text is gibberish and its scores noise; the loop's mechanics are real")
    return result
