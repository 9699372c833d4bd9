"""One loop iteration after a session: expansion, merge, re-fine-tune, re-assess.

Each step's outcome is committed with the step (``loop_runs`` row, one transaction per step), so a re-run
skips finished steps and a run killed inside a step redoes only that step: expansion finds the conversations
already stored, merge the identical (content-addressed) version, training resumes from the trainer's saved
state and reaches the same adapter, and assessment reuses stored runs. The options a loop first ran with are
stored and reused, so a resumed run cannot silently change them.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from jedi_academy.errors import AcademyError
from jedi_academy.results import Result
from jedi_academy.store import ArtifactStore
from jedi_academy.store.models import Case, Checkpoint, LoopRun, TherapySession

if TYPE_CHECKING:
    from jedi_academy.config import Settings
    from jedi_academy.loop.control import TherapistEffect
    from jedi_academy.loop.reassess import Reassessment
    from jedi_academy.store import Database

STEPS = ("expand", "merge", "refine", "reassess", "control")
STEP_TITLES = {
    "expand": "expansion: the teacher writes what happened after the session",
    "merge": "merge: a new dataset version",
    "refine": "re-fine-tune: a child checkpoint",
    "reassess": "re-assess: the case's instruments on the child",
    "control": "control: the same iteration without the therapist (loop/control.py)",
}

# step, state ("start"|"done"|"skip"), message
StageCallback = Callable[[str, str, str], None]


@dataclass(frozen=True)
class LoopOptions(Result):
    """What a loop run asks for (``academy loop``'s options); stored with the loop, so a resumed run keeps
    them (``as_dict``/``from_dict``)."""

    teacher_backend: str | None = None
    teacher_model: str | None = None
    teacher_base_url: str | None = None
    temperature: float = 0.8
    max_tokens: int = 160
    strategy: str = "continue"
    steps: int | None = None  # training steps (default: a quarter of the parent's)
    batch_size: int | None = None
    learning_rate: float | None = None
    lora_rank: int | None = None  # only when retraining from base
    instruments: tuple[str, ...] = ()  # default: the specialization's
    assess_mode: str = "logprob"
    seed: int | None = None  # default: the session's seed
    self_cure_judge: bool = True
    control: bool = True  # False (--no-control): no control child, everything it produces is "uncontrolled"

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LoopOptions:
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        known["instruments"] = tuple(known.get("instruments") or ())
        return cls(**known)


@dataclass(frozen=True)
class LoopView(Result):
    """A loop run as ``academy loop --json``, a loop job's result and the experiment read it. The step
    outcomes (``expansion``, ``training``, ``assessment``, ``control``) are the JSON each step stored; the
    therapist effect's four fields are :class:`loop.control.TherapistEffect`'s."""

    loop_id: str
    session_id: str
    session_number: int | None
    case_id: str
    branch: str
    status: str  # running|done|failed
    steps: dict[str, dict[str, Any]]  # step -> {status, seconds, finished_at}, "pending" before it ran
    checkpoint_id: str | None  # the therapist child
    parent_checkpoint_id: str
    dataset_id: str | None
    parent_dataset_id: str | None
    conversation_ids: list[str]
    train_conversations_added: int | None
    expansion: dict[str, Any]
    training: dict[str, Any]
    assessment: dict[str, Any]
    control: dict[str, Any] | None
    therapist_effect: dict[str, Any] | None
    therapist_effect_reason: str | None
    control_checkpoint_id: str | None
    uncontrolled: bool
    options: dict[str, Any]
    error: str | None

    @classmethod
    def of(cls, loop: LoopRun, session_number: int | None, effect: TherapistEffect) -> LoopView:
        merge = (loop.expansion or {}).get("merge") or {}
        return cls(
            loop_id=loop.id,
            session_id=loop.session_id,
            session_number=session_number,
            case_id=loop.case_id,
            branch=loop.branch,
            status=loop.status,
            steps={s: loop.steps.get(s, {"status": "pending"}) for s in STEPS},
            checkpoint_id=loop.checkpoint_id,
            parent_checkpoint_id=loop.parent_checkpoint_id,
            dataset_id=loop.dataset_id,
            parent_dataset_id=loop.parent_dataset_id,
            conversation_ids=list(loop.conversation_ids),
            train_conversations_added=merge.get("train_conversations_added"),
            expansion=loop.expansion,
            training=loop.training,
            assessment=loop.assessment,
            control=loop.control,
            therapist_effect=effect.therapist_effect,
            therapist_effect_reason=effect.therapist_effect_reason,
            control_checkpoint_id=effect.control_checkpoint_id,
            uncontrolled=effect.uncontrolled,
            options=loop.options,
            error=loop.error,
        )


@dataclass
class LoopContext:
    settings: Settings
    database: Database
    llms: dict[Any, Any] = field(default_factory=dict)  # (backend, model) -> loaded LLM, shared by all steps


def _now() -> datetime:
    return datetime.now(UTC)


def loop_for_session(database: Database, session_id: str) -> LoopRun | None:
    with database.session() as session:
        return session.scalars(select(LoopRun).where(LoopRun.session_id == session_id)).first()


def _start(database: Database, session_id: str, options: LoopOptions) -> str:
    """The loop row of the session: created on the first run, found on every later one."""
    from jedi_academy.sessions.records import get_session

    with database.session() as session:
        row = get_session(session, session_id)
        if row.status != "ended":
            raise AcademyError(
                f"session {row.id} has not ended ({row.status})",
                f"end it first: `academy session end {row.id}`",
            )
        existing = session.scalars(select(LoopRun).where(LoopRun.session_id == row.id)).first()
        if existing is not None:
            return existing.id
        checkpoint = session.get(Checkpoint, row.checkpoint_id)
        assert checkpoint is not None
        loop = LoopRun(
            id=f"l-{secrets.token_hex(5)}",
            session_id=row.id,
            case_id=row.case_id,
            branch=row.branch,
            status="running",
            steps={},
            options=options.as_dict() | {"seed": row.seed if options.seed is None else options.seed},
            parent_checkpoint_id=checkpoint.id,
            parent_dataset_id=checkpoint.dataset_id,
            conversation_ids=[],
            expansion={},
            training={},
            assessment={},
        )
        session.add(loop)
        return loop.id


def _mark_running(database: Database, loop_id: str) -> None:
    """A resumed loop (failed or interrupted earlier) is running again; its pid says who runs it."""
    with database.session() as session:
        loop = session.get(LoopRun, loop_id)
        assert loop is not None
        if loop.status != "done":
            loop.status = "running"
            loop.error = None


def _commit_step(database: Database, loop_id: str, step: str, seconds: float, **values: Any) -> None:
    with database.session() as session:
        loop = session.get(LoopRun, loop_id)
        assert loop is not None
        for name, value in values.items():
            setattr(loop, name, value)
        loop.steps = {**loop.steps, step: {"status": "done", "seconds": round(seconds, 3),
                                           "finished_at": _now().isoformat()}}  # fmt: skip
        if all(loop.steps.get(s, {}).get("status") == "done" for s in STEPS):
            loop.status = "done"
            loop.error = None


def _fail(database: Database, loop_id: str, step: str, error: str) -> None:
    with database.session() as session:
        loop = session.get(LoopRun, loop_id)
        if loop is not None:
            loop.status = "failed"
            loop.error = f"{step}: {error}"


def run_loop(
    context: LoopContext,
    session_id: str,
    options: LoopOptions | None = None,
    *,
    on_stage: StageCallback | None = None,
    echo: Callable[[str], None] | None = None,
) -> LoopView:
    """Run (or finish) the loop after ``session_id``; returns its :func:`loop_json`.

    Holds the data directory's writer lock (the loop trains and writes artifacts) and then its case's lock
    (a session of the case cannot end meanwhile): a second writer is refused with one line, before anything
    is written."""
    from jedi_academy.sessions.records import get_session
    from jedi_academy.store import case_lock, data_dir_lock

    data_dir = context.settings.data_dir
    with data_dir_lock(data_dir, "loop"):
        with context.database.session() as session:
            case_id = get_session(session, session_id).case_id
        with case_lock(data_dir, case_id, "loop"):
            return _run_locked(context, session_id, options, on_stage, echo)


def _run_locked(
    context: LoopContext,
    session_id: str,
    options: LoopOptions | None,
    on_stage: StageCallback | None,
    echo: Callable[[str], None] | None,
) -> LoopView:
    database = context.database
    loop_id = _start(database, session_id, options or LoopOptions())
    _mark_running(database, loop_id)
    stage = on_stage or (lambda _step, _state, _message: None)
    for step in STEPS:
        loop = _load(database, loop_id)
        if loop.steps.get(step, {}).get("status") == "done":
            stage(step, "skip", STEP_TITLES[step])
            continue
        stage(step, "start", STEP_TITLES[step])
        started = time.monotonic()
        try:
            values = _STEP_FUNCTIONS[step](context, loop, echo)
        except (AcademyError, KeyboardInterrupt) as exc:
            _fail(database, loop_id, step, str(exc) or type(exc).__name__)
            raise
        _commit_step(database, loop_id, step, time.monotonic() - started, **values)
        stage(step, "done", _summary(step, values))
    return loop_json(database, loop_id)


def stage_line(step: str, state: str, message: str) -> str:
    """A loop stage's progress line, the same for `academy loop` and `academy worker`: ``[2/4] ...``."""
    number = f"[{STEPS.index(step) + 1}/{len(STEPS)}]"
    if state == "start":
        return f"{number} {message} ..."
    if state == "skip":
        return f"{number} {message}: done earlier, skipped"
    return f"{number} done: {message}"


def _load(database: Database, loop_id: str) -> LoopRun:
    with database.session() as session:
        loop = session.get(LoopRun, loop_id)
        assert loop is not None
        session.expunge(loop)
        return loop


def _session_record(database: Database, session_id: str) -> dict[str, Any]:
    """The session's JSON form: the expansion and the control read it as the data they expand."""
    from jedi_academy.sessions.records import session_json

    return session_json(database, session_id).as_dict()


def _llm(context: LoopContext, backend: str, model: str, base_url: str | None) -> Any:
    from jedi_academy.llm import open_llm

    key = (backend, model)
    if key not in context.llms:
        settings = context.settings.model_copy(update={"base_url": base_url or context.settings.base_url})
        context.llms[key] = open_llm(settings, backend=backend, model=model)
    return context.llms[key]


@dataclass(frozen=True)
class ExpansionInputs:
    """What writing a loop's conversations needs: the loop's options, its session's record, the teacher and
    the guards for the session's persona (the therapist's expansion and the control's neutral one alike)."""

    options: LoopOptions
    record: dict[str, Any]
    teacher: Any
    guards: Any


def expansion_inputs(context: LoopContext, loop: LoopRun) -> ExpansionInputs:
    from jedi_academy.loop.guards import loop_guards

    options = LoopOptions.from_dict(loop.options)
    settings = context.settings
    record = _session_record(context.database, loop.session_id)
    teacher = _llm(
        context,
        options.teacher_backend or settings.backend,
        options.teacher_model or settings.model,
        options.teacher_base_url,
    )
    guards = loop_guards(
        settings,
        context.database,
        record["persona_id"],
        record["specialization"],
        teacher if options.self_cure_judge else None,
    )
    return ExpansionInputs(options, record, teacher, guards)


def _expand(context: LoopContext, loop: LoopRun, _echo: Any) -> dict[str, Any]:
    from jedi_academy.loop.expansion import ExpansionOptions, expand_session
    from jedi_academy.loop.text import left_out_text
    from jedi_academy.personas import persona_system_prompt

    inputs = expansion_inputs(context, loop)
    options, record, teacher, guards = inputs.options, inputs.record, inputs.teacher, inputs.guards
    report = expand_session(
        context.database,
        teacher,
        record,
        guards,
        ExpansionOptions(temperature=options.temperature, max_tokens=options.max_tokens),
        persona_prompt=persona_system_prompt(context.database, record["persona_id"]),
    )
    if not report.conversation_ids:
        raise AcademyError(
            f"expansion of session {loop.session_id} produced no usable conversation "
            f"({left_out_text(report.left_out)})",
            "check the teacher model, or run a session with at least one reply",
        )
    return {"expansion": report.as_dict(), "conversation_ids": report.conversation_ids}


def _merge(context: LoopContext, loop: LoopRun, _echo: Any) -> dict[str, Any]:
    from jedi_academy.loop.merge import merge_conversations

    with context.database.session() as session:
        case = session.get(Case, loop.case_id)
        assert case is not None
        specialization, persona = case.specialization_id, case.persona_id
    merged = merge_conversations(
        context.database,
        ArtifactStore(context.settings.data_dir),
        specialization,
        loop.parent_dataset_id,
        list(loop.conversation_ids),
        persona,
    )
    return {"dataset_id": merged["dataset_id"], "expansion": {**loop.expansion, "merge": merged}}


def _refine(context: LoopContext, loop: LoopRun, echo: Any) -> dict[str, Any]:
    from jedi_academy.sessions.records import set_case_checkpoint

    assert loop.dataset_id is not None
    training = train_child(context, loop, loop.dataset_id, echo)
    _advance_case(context.database, loop, training["checkpoint_id"], set_case_checkpoint)
    return {"checkpoint_id": training["checkpoint_id"], "training": training}


def train_child(
    context: LoopContext, loop: LoopRun, dataset_id: str, echo: Any, *, role: str = "patient"
) -> dict[str, Any]:
    """A child of the loop's parent on ``dataset_id`` with the loop's budget; the control child (role
    ``control``, loop/control.py) is trained by this same call, so both arms get the same budget."""
    from jedi_academy.loop.refine import refine_checkpoint

    options = LoopOptions.from_dict(loop.options)
    with context.database.session() as session:
        case = session.get(Case, loop.case_id)
        assert case is not None
        specialization = case.specialization_id
    return refine_checkpoint(
        context.settings,
        context.database,
        loop.parent_checkpoint_id,
        dataset_id,
        specialization,
        strategy=options.strategy,
        steps=options.steps,
        overrides={
            "batch_size": options.batch_size,
            "learning_rate": options.learning_rate,
            "lora_rank": options.lora_rank,
            "lora_alpha": None if options.lora_rank is None else 2.0 * options.lora_rank,
        },
        seed=int(loop.options["seed"]),
        echo=echo,
        role=role,
    )


def _advance_case(database: Database, loop: LoopRun, child: str, set_case_checkpoint: Any) -> None:
    """Later sessions of the branch run on the child, unless the case has since moved elsewhere."""
    with database.session() as session:
        case = session.get(Case, loop.case_id)
        assert case is not None
        moved = case.current_checkpoint_id != loop.parent_checkpoint_id or case.current_branch != loop.branch
    if not moved:
        set_case_checkpoint(database, loop.case_id, child)


def _reassess(context: LoopContext, loop: LoopRun, echo: Any) -> dict[str, Any]:
    assert loop.checkpoint_id is not None
    return {"assessment": measure_child(context, loop, loop.checkpoint_id, echo).as_dict()}


@dataclass(frozen=True)
class ChildMeasurement(Result):
    """A loop child's re-assessment with the case's protocol it followed (stored as ``loop_runs.assessment``,
    or the control's)."""

    reassessment: Reassessment
    protocol: dict[str, Any] | None
    protocol_note: str

    def as_dict(self) -> dict[str, Any]:
        return {**self.reassessment.as_dict(), "protocol": self.protocol, "protocol_note": self.protocol_note}


def measure_child(context: LoopContext, loop: LoopRun, child: str, echo: Any) -> ChildMeasurement:
    """The case's instruments on ``child`` against the loop's parent and the case's baseline; the control
    child (loop/control.py) is measured by this same call, so both arms follow the same measurement rule."""
    from jedi_academy.loop.protocol import case_protocol, protocol_view
    from jedi_academy.loop.reassess import reassess

    options = LoopOptions.from_dict(loop.options)
    with context.database.session() as session:
        case = session.get(Case, loop.case_id)
        assert case is not None
        persona, baseline, specialization = case.persona_id, case.start_checkpoint_id, case.specialization_id
    protocol = case_protocol(context.database, loop.case_id)
    if protocol is not None:  # every measurement of the case follows the protocol fixed at `case open`
        instruments, mode, seed = list(protocol.instruments), protocol.mode, protocol.seed
        samples = protocol.samples
    else:  # a case opened before protocols: the loop's own options, as before
        instruments = list(options.instruments) or case_instruments(context.settings, specialization)
        mode, seed, samples = options.assess_mode, int(loop.options["seed"]), None
    assessment = reassess(
        context.settings,
        context.database,
        child=child,
        previous=loop.parent_checkpoint_id,
        baseline=baseline,
        persona_id=persona,
        instruments=instruments,
        mode=mode,
        seed=seed,
        llms=context.llms,
        progress=echo,
        samples=samples,
    )
    view = protocol_view(protocol)
    return ChildMeasurement(assessment, view.protocol, view.protocol_note)


def case_instruments(settings: Settings, specialization: str) -> list[str]:
    from jedi_academy.specializations import get_specialization

    return list(get_specialization(specialization, settings).instruments)


_STEP_FUNCTIONS: dict[str, Callable[[LoopContext, LoopRun, Any], dict[str, Any]]] = {
    "expand": _expand,
    "merge": _merge,
    "refine": _refine,
    "reassess": _reassess,
    "control": lambda context, loop, echo: _control(context, loop, echo),
}


def _control(context: LoopContext, loop: LoopRun, echo: Any) -> dict[str, Any]:
    from jedi_academy.loop.control import run_control

    return run_control(context, loop, echo)


def _summary(step: str, values: dict[str, Any]) -> str:
    if step == "expand":
        from jedi_academy.loop.text import left_out_text

        report = values["expansion"]
        removed = len(report.get("removed_turns") or [])
        leak = "leak-checked"
        if not report.get("leak_checked"):  # said here too: a worker's job shows only this line
            leak = f"NOT leak-checked: {report.get('leak_not_checked')}"
        return (
            f"{len(values['conversation_ids'])} conversation(s) ({report['generated']} new, "
            f"{report['existing']} found), {left_out_text(report['left_out'])}; "
            f"{removed} session turn(s) left out of training; {leak}"
        )
    if step == "merge":
        merge = values["expansion"]["merge"]
        return (
            f"dataset {merge['dataset_id'][:12]} (parent {str(merge['parent_dataset_id'])[:12]}), "
            f"{merge['train_conversations_added']} training conversation(s) added"
        )
    if step == "refine":
        return f"checkpoint {values['checkpoint_id']} ({values['training']['strategy']})"
    if step == "control":
        from jedi_academy.loop.control import control_summary

        return control_summary(values["control"])
    parts = []
    for instrument, score in values["assessment"]["scores"].items():
        change = values["assessment"]["change_vs_previous"][instrument]
        if score["valid"]:
            parts.append(f"{instrument} {score['total']:.2f} ({change['classification']} vs previous)")
        else:
            parts.append(f"{instrument} invalid ({'; '.join(score['problems'])})")
    return ", ".join(parts)


def loop_json(database: Database, loop_id: str) -> LoopView:
    """The loop run ``loop_id`` (``as_dict()`` is ``academy loop --json``)."""
    from jedi_academy.loop.control import effect_fields

    with database.session() as session:
        loop = session.get(LoopRun, loop_id)
        if loop is None:
            raise AcademyError(f"no loop run {loop_id}")
        number = session.scalar(select(TherapySession.number).where(TherapySession.id == loop.session_id))
        return LoopView.of(loop, number, effect_fields(loop.control))
