"""Is improvement caused by the therapist? Four arms work the same personas from one start checkpoint with one
training budget: scripted therapists (skilled, placebo, harmful), each session followed by a loop iteration,
and ``loop-only``, the loop with no session (the start checkpoint re-fine-tuned on its own data: the drift).

The design (arms, common random numbers, budget, persona count) is in ``experiment_plan``, the tests in
``experiment_analysis`` and ``experiment_stats``. The experiment is resumable: its cases are found again by
the experiment's key (which includes the start checkpoint), finished sessions and loops are skipped, and each
loop-only iteration is recorded in ``<data_dir>/experiments/<key>/`` when done.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml
from sqlalchemy import select

from jedi_academy.errors import AcademyError
from jedi_academy.loop.experiment_analysis import (
    all_invalid_line,
    comparisons,
    ordering_result,
    persona_means,
)
from jedi_academy.loop.experiment_plan import (
    LOOP_ONLY,
    SESSION_ARMS,
    Budget,
    choose_arms,
    crn_seed,
    needed_personas,
    order_personas,
    plan_units,
    power_note,
    training_budget,
)
from jedi_academy.results import Result
from jedi_academy.store import open_database
from jedi_academy.store.models import (
    Case,
    Checkpoint,
    Conversation,
    DatasetMember,
    LoopRun,
    Persona,
    Therapist,
    TherapySession,
)

if TYPE_CHECKING:
    from jedi_academy.config import Settings
    from jedi_academy.loop.run import LoopView
    from jedi_academy.sessions import ScriptTurn

SCRIPTS = SESSION_ARMS  # the scripted therapists (package YAML)
TINY_NOTE = (
    "the expected ordering (skilled > placebo > harmful, skilled above the loop-only drift) is what a real "
    "run with a capable patient and teacher model must show; on the tiny test model the numbers are noise "
    "and only the mechanics are real"
)


@cache
def _data(name: str) -> dict[str, Any]:
    path = resources.files("jedi_academy.loop").joinpath(f"data/therapists/{name}.yaml")
    if not path.is_file():
        raise AcademyError(f"no scripted therapists for specialization {name!r}", "see loop/data/therapists/")
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def therapist_scripts(specialization: str) -> dict[str, dict[str, Any]]:
    """script -> {description, sessions: [[ScriptTurn, ...], ...]} for one specialization."""
    from jedi_academy.sessions import ScriptTurn

    data = _data(specialization)
    raw = {"skilled": data["skilled"], "placebo": _data("placebo"), "harmful": data["harmful"]}
    return {
        name: {
            "description": spec["description"],
            "version": data["version"],
            "sessions": [
                [ScriptTurn(t["therapist"], tuple(t.get("recommendations", ()))) for t in session]
                for session in spec["sessions"]
            ],
        }
        for name, spec in raw.items()
    }


def experiment_key(args: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(args, sort_keys=True).encode()).hexdigest()[:8]


def resolve_start_checkpoint(database: Any, specialization: str, wanted: str | None) -> str:
    """``wanted`` (id or prefix), else the specialization's current base fine-tune: its newest local
    checkpoint trained from the base model (no parent) that no loop made. Resolved once per experiment and
    recorded in its key, so a later fine-tune starts a new experiment rather than changing this one."""
    from jedi_academy.sessions.records import get_checkpoint_row

    with database.session() as session:
        if wanted is not None:
            row = get_checkpoint_row(session, wanted)
            if row.specialization_id not in (None, specialization) or row.kind == "remote":
                raise AcademyError(
                    f"checkpoint {row.id} is not a local '{specialization}' patient",
                    "pass a local fine-tune of this specialization (`academy checkpoints list`)",
                )
            return row.id
        made_by_loops = select(LoopRun.checkpoint_id).where(LoopRun.checkpoint_id.is_not(None))
        found = session.scalars(
            select(Checkpoint.id)
            .where(
                Checkpoint.specialization_id == specialization,
                Checkpoint.kind == "lora",
                Checkpoint.parent_id.is_(None),
                Checkpoint.id.not_in(made_by_loops),
            )
            .order_by(Checkpoint.created_at.desc(), Checkpoint.id)
        ).first()
    if found is None:
        raise AcademyError(
            f"no base fine-tune of '{specialization}' to start the experiment from",
            f"fine-tune one (`academy finetune --specialization {specialization} ...`) or pass "
            "--start-checkpoint",
        )
    return found


def start_checkpoint_for(settings: Settings, specialization: str, wanted: str | None) -> str:
    return resolve_start_checkpoint(open_database(settings), specialization, wanted)


def _personas(database: Any, specialization: str, count: int, start_dataset: str | None) -> list[str]:
    with database.session() as session:
        rows = list(
            session.scalars(
                select(Persona.id)
                .where(Persona.specialization_id == specialization)
                .order_by(Persona.created_at, Persona.id)
            )
        )
        trained = set(
            session.scalars(
                select(Conversation.persona_id)
                .join(DatasetMember, DatasetMember.conversation_id == Conversation.id)
                .where(DatasetMember.dataset_id == start_dataset, DatasetMember.split == "train")
                .distinct()
            )
        )
    if len(rows) < count:
        raise AcademyError(
            f"the experiment needs {count} '{specialization}' personas, the store has {len(rows)}",
            "lower --personas (with --allow-underpowered below the design's minimum) or generate more "
            f"(`academy personas generate --specialization {specialization}`)",
        )
    return order_personas([(p, p in trained) for p in rows], count)


def measurement_seed(seed: int, persona: str) -> int:
    """The seed every measurement of ``persona`` uses, in every arm and after every session: the cases'
    protocol seed (a case is always measured the same way) and the loop-only arm's."""
    return crn_seed(seed, persona, 0)


def _case_for(context: Any, therapist: str, persona: str, specialization: str, start: str, seed: int) -> str:
    from jedi_academy.loop.protocol import OpenCase, open_case_with_baseline
    from jedi_academy.sessions import add_therapist

    database = context.database

    with database.session() as session:
        found = session.scalars(select(Therapist).where(Therapist.name == therapist)).first()
        case = None
        if found is not None:
            case = session.scalars(
                select(Case.id).where(Case.therapist_id == found.id, Case.persona_id == persona)
            ).first()
    if case is not None:
        return case
    if found is None:
        add_therapist(database, therapist)
    # every case opens on the experiment's start checkpoint, never on another arm's child, with the protocol
    # (and baseline) every arm of this persona shares
    request = OpenCase(
        therapist, specialization, persona=persona, checkpoint=start, seed=measurement_seed(seed, persona)
    )
    return open_case_with_baseline(context.settings, database, request, llms=context.llms).id


def run_experiment(
    settings: Settings,
    *,
    specialization: str,
    sessions: int = 3,
    personas: int | None = None,
    arms: list[str] | None = None,
    seed: int = 0,
    max_tokens: int = 120,
    steps: int | None = None,
    start_checkpoint: str | None = None,
    allow_underpowered: bool = False,
    progress: Callable[[int, int, str], None] | None = None,
    context: Any = None,
) -> ExperimentReport:
    """Under the data directory's writer lock (it replays sessions and runs loops, which take it again).
    ``personas`` defaults to the fewest the design's tests need (:func:`needed_personas`)."""
    from jedi_academy.store import data_dir_lock

    chosen = choose_arms(arms)
    count = personas if personas is not None else needed_personas(chosen)
    power = power_note(chosen, count, allow_underpowered)  # refuses before anything is written
    with data_dir_lock(settings.data_dir, "experiment therapists"):
        return _run_experiment(
            settings, specialization=specialization, sessions=sessions, personas=count, arms=chosen,
            seed=seed, max_tokens=max_tokens, steps=steps, start_checkpoint=start_checkpoint, power=power,
            progress=progress, context=context,
        )  # fmt: skip


def _run_experiment(
    settings: Settings,
    *,
    specialization: str,
    sessions: int,
    personas: int,
    arms: list[str],
    seed: int,
    max_tokens: int,
    steps: int | None,
    start_checkpoint: str | None,
    power: str | None,
    progress: Callable[[int, int, str], None] | None,
    context: Any,
) -> ExperimentReport:
    from jedi_academy.loop.run import LoopContext, LoopOptions, run_loop
    from jedi_academy.sessions import ModelPool, SessionOptions

    library = therapist_scripts(specialization)
    database = context.database if context is not None else open_database(settings)
    start = resolve_start_checkpoint(database, specialization, start_checkpoint)
    with database.session() as session:
        row = session.get(Checkpoint, start)
        assert row is not None
        budget, start_dataset = training_budget(dict(row.hyperparameters), steps), row.dataset_id
    persona_ids = _personas(database, specialization, personas, start_dataset)
    args = {"specialization": specialization, "sessions": sessions, "personas": persona_ids, "arms": arms,
            "seed": seed, "max_tokens": max_tokens, "budget": budget.as_dict(),
            "start_checkpoint_id": start}  # fmt: skip
    key = experiment_key(args)
    context = context or LoopContext(settings, database)
    pool = ModelPool(settings)
    for (backend, model), llm in context.llms.items():  # one loaded model serves sessions and loop
        pool._llms[pool.teacher_spec(backend, model)] = llm
    note = progress or (lambda _done, _total, _message: None)
    units = plan_units(arms, persona_ids, sessions, seed)
    options = SessionOptions(max_tokens=max_tokens)
    cases: dict[tuple[str, str], str | None] = {}
    steps_done: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for done, unit in enumerate(units):
        note(done, len(units), f"{unit.arm}, persona {unit.persona_id}, session {unit.session}")
        cell = (unit.arm, unit.persona_id)
        earlier = steps_done.setdefault(cell, [])
        if unit.arm == LOOP_ONLY:
            cases[cell] = None
            parent = earlier[-1]["checkpoint_id"] if earlier else start
            earlier.append(_loop_only_step(context, key, specialization, unit, parent, start, budget, seed))
            continue
        case_id = cases.get(cell) or _case_for(
            context, f"scripted-{unit.arm}-{key}", unit.persona_id, specialization, start, seed
        )
        cases[cell] = case_id
        script: list[list[ScriptTurn]] = library[unit.arm]["sessions"]
        turns = script[(unit.session - 1) % len(script)]  # session k uses the script's k-th (cycling)
        session_id = _held_session(database, pool, case_id, unit.session, turns, unit.seed, options)
        # the experiment's own arms are its controls (loop-only is the no-session drift), so each arm's loop
        # trains no control child of its own; its cases are reference cases, never a therapist's portfolio
        loop_options = LoopOptions(max_tokens=max_tokens, steps=budget.steps, batch_size=budget.batch_size,
                                   seed=unit.seed, control=False)  # fmt: skip
        record = run_loop(context, session_id, loop_options)
        earlier.append(_step_from_loop(database, unit.session, unit.seed, record))
    note(len(units), len(units), "analysing")
    instruments = _instruments(settings, specialization)
    return analyse(database, args | {"key": key}, cases, steps_done, instruments, power)


def _held_session(
    database: Any, pool: Any, case_id: str, number: int, turns: list[Any], seed: int, options: Any
) -> str:
    """Session ``number`` of the case: replayed with the unit's seed, or found (and finished) on a re-run."""
    from jedi_academy.sessions import SessionRunner, replay_session

    with database.session() as session:
        found = session.scalars(
            select(TherapySession.id).where(
                TherapySession.case_id == case_id, TherapySession.number == number
            )
        ).first()
    if found is None:
        return replay_session(database, pool, case_id, turns, seed=seed, options=options).session_id
    runner = SessionRunner.open(database, pool, found)
    if runner.status() != "ended":
        runner.finish_pending()
        runner.end()
    return found


def _instruments(settings: Settings, specialization: str) -> list[str]:
    from jedi_academy.loop.run import case_instruments

    return case_instruments(settings, specialization)


def _added(database: Any, training: dict[str, Any], parent_id: str) -> int | None:
    """Training conversations the iteration added: what the child trained on minus what its parent did."""
    if training.get("train_conversations_added") is not None:  # when the refine step reports it itself
        return int(training["train_conversations_added"])
    child = (training.get("metrics") or {}).get("train_conversations")
    with database.session() as session:
        parent = session.get(Checkpoint, parent_id)
        before = (parent.metrics or {}).get("train_conversations") if parent is not None else None
    return None if child is None or before is None else int(child) - int(before)


def _step_record(
    database: Any, number: int, seed: int, training: dict[str, Any], assessment: dict[str, Any], parent: str
) -> dict[str, Any]:
    config = training.get("config") or {}
    return {
        "session": number,
        "seed": seed,
        "parent_checkpoint_id": parent,
        "checkpoint_id": training["checkpoint_id"],
        "train_steps": config.get("max_steps"),
        "batch_size": config.get("batch_size"),
        "train_conversations_added": _added(database, training, parent),
        "scores": _scores(assessment.get("scores") or {}),
        "baseline_scores": _scores(assessment.get("baseline_scores") or {}),
    }


def _scores(scores: dict[str, Any]) -> dict[str, Any]:
    return {i: {"total": s.get("total"), "valid": bool(s.get("valid")), "reasons": _reason_codes(s)}
            for i, s in scores.items()}  # fmt: skip


def _reason_codes(score: dict[str, Any]) -> list[str]:
    """The validity gates a measurement failed (their codes: option_mass, inattention, ...)."""
    reasons = (score.get("validity") or {}).get("reasons") or []
    codes = [r["code"] for r in reasons if isinstance(r, dict) and r.get("code")]
    return codes or [str(p).split(":")[0] for p in score.get("problems") or []]


def _step_from_loop(database: Any, number: int, seed: int, record: LoopView) -> dict[str, Any]:
    training = {**record.training, "checkpoint_id": record.checkpoint_id}
    parent = record.parent_checkpoint_id
    step = _step_record(database, number, seed, training, record.assessment, parent)
    return step | {"session_id": record.session_id, "loop_id": record.loop_id}


def _loop_only_step(
    context: Any, key: str, specialization: str, unit: Any, parent: str, start: str, budget: Budget, seed: int
) -> dict[str, Any]:
    """The loop with no session: the parent re-fine-tuned on its own dataset with the budget and the unit's
    seed, then the same measurement as a loop's (child, parent and start checkpoint, the unit's seed)."""
    from jedi_academy.loop.reassess import reassess
    from jedi_academy.loop.refine import refine_checkpoint

    settings, database = context.settings, context.database
    path = settings.path("experiments", key, f"loop-only-{unit.persona_id}-{unit.session}.json")
    if path.is_file():
        return json.loads(path.read_text(encoding="utf-8"))
    with database.session() as session:
        row = session.get(Checkpoint, parent)
        assert row is not None and row.dataset_id is not None
        dataset = row.dataset_id
    training = refine_checkpoint(
        settings, database, parent, dataset, specialization, strategy="continue", steps=budget.steps,
        overrides={"batch_size": budget.batch_size}, seed=unit.seed,
    )  # fmt: skip
    assessment = reassess(
        settings, database, child=training["checkpoint_id"], previous=parent, baseline=start,
        persona_id=unit.persona_id, instruments=_instruments(settings, specialization), mode="logprob",
        seed=measurement_seed(seed, unit.persona_id), llms=context.llms,
    ).as_dict()  # fmt: skip
    step = _step_record(database, unit.session, unit.seed, training, assessment, parent)
    step |= {"session_id": None, "loop_id": None}
    _write_private(path, step)
    return step


def _write_private(path: Path, data: dict[str, Any]) -> None:
    """Atomically, readable by the owner only (it names personas of the data directory)."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    handle, staging = tempfile.mkstemp(dir=path.parent, prefix=".staging-")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            json.dump(data, out, sort_keys=True)
        os.chmod(staging, 0o600)
        os.replace(staging, path)
    except BaseException:
        Path(staging).unlink(missing_ok=True)
        raise


# ---------------------------------------------------------------- analysis


def _wilson(accepted: int, n: int) -> list[float] | None:
    from jedi_academy.sessions.stats import wilson_interval

    interval = wilson_interval(accepted, n)
    return list(interval) if interval is not None else None


def _improvement_sign(instrument: str) -> float:
    from jedi_academy.instruments import load_instrument

    spec = load_instrument(instrument).change
    return -1.0 if (spec.higher_is_worse if spec else True) else 1.0


def measurement_points(
    steps_done: dict[tuple[str, str], list[dict[str, Any]]], instrument: str
) -> list[dict[str, Any]]:
    """One point per (arm, persona, session): improvement against the start checkpoint, valid only when both
    measurements are."""
    sign = _improvement_sign(instrument)
    points = []
    for (arm, persona), steps in steps_done.items():
        for step in steps:
            after = step["scores"].get(instrument) or {"valid": False, "reasons": ["not measured"]}
            before = step["baseline_scores"].get(instrument) or {"valid": False, "reasons": ["not measured"]}
            valid = after["valid"] and before["valid"]
            points.append({
                "arm": arm, "persona_id": persona, "session": step["session"], "valid": valid,
                "improvement": sign * (after["total"] - before["total"]) if valid else None,
                # the gates failed by the arm's checkpoint or by the start checkpoint (same seed)
                "problems": sorted({*after["reasons"], *before["reasons"]}),
            })  # fmt: skip
    return points


def _acceptance(database: Any, cases: dict[tuple[str, str], str | None]) -> dict[str, dict[str, Any]]:
    from jedi_academy.loop.trajectory import case_trajectory

    counts: dict[str, list[int]] = {}
    for (arm, _persona), case_id in cases.items():
        if case_id is None:
            continue
        tally = counts.setdefault(arm, [0, 0, 0])
        for row in case_trajectory(database, case_id).sessions:
            tally[0] += len(row.accepted_recommendations)
            tally[1] += len(row.accepted_recommendations) + len(row.ignored_recommendations)
            tally[2] += len(row.invalid_preference_recommendations)  # no decision: never in the rate
    return {arm: {"accepted": a, "decided": d, "invalid_preference": n, "rate": a / d if d else None,
                  "ci95": _wilson(a, d)}
            for arm, (a, d, n) in counts.items()}  # fmt: skip


@dataclass(frozen=True)
class ExperimentReport(Result):
    """``academy experiment therapists --json`` (and a queued experiment job's result). The per-case rows,
    per-arm outcomes and tests inside stay the JSON shapes they are stored as."""

    experiment: dict[str, Any]  # the design: specialization, sessions, personas, arms, seed, budget, key
    start_checkpoint_id: str
    arms: list[str]
    personas: list[str]
    budget: dict[str, Any]
    underpowered: bool
    power: str
    primary_instrument: str
    cases: list[dict[str, Any]]
    outcomes: dict[str, Any]  # per instrument, per arm, per persona: the mean improvement
    ordering: dict[str, Any]  # Page's L over skilled > placebo > harmful
    comparisons: list[dict[str, Any]]  # the Holm-corrected pairs
    no_valid_measurements: str | None
    acceptance: dict[str, Any] | None
    warnings: list[str]
    note: str
    cannot_conclude: str


def analyse(
    database: Any,
    args: dict[str, Any],
    cases: dict[tuple[str, str], str | None],
    steps_done: dict[tuple[str, str], list[dict[str, Any]]],
    instruments: list[str],
    power: str | None,
) -> ExperimentReport:
    arms = args["arms"]
    primary = instruments[0]
    case_rows = []
    for (arm, persona), steps in steps_done.items():
        added = [s["train_conversations_added"] for s in steps]
        case_rows.append({
            "arm": arm, "persona_id": persona, "case_id": cases.get((arm, persona)),
            "start_checkpoint_id": args["start_checkpoint_id"],
            "train_steps": sum(int(s["train_steps"] or 0) for s in steps),
            "train_steps_per_session": sorted({s["train_steps"] for s in steps}),
            "batch_size": sorted({s["batch_size"] for s in steps}, key=str),
            "train_conversations_added": None if None in added else sum(added),
            "checkpoints": [s["checkpoint_id"] for s in steps],
            "sessions": steps,
        })  # fmt: skip
    outcomes = {i: persona_means(measurement_points(steps_done, i)) for i in instruments}
    points = measurement_points(steps_done, primary)
    invalid = all_invalid_line(points, primary)
    means = outcomes[primary]
    ordering = ordering_result(means, arms)
    pairs = comparisons(means, arms)
    if invalid is not None:
        ordering["verdict"] = "not testable: no valid measurement"
        for row in pairs:
            row["verdict"] = "not testable: no valid measurement"
    warnings = [
        f"{row['arm']} / {row['persona_id']}: its sessions added no training conversation, so the arm "
        "trained like loop-only (a persona held out from training?)"
        for row in case_rows
        if row["arm"] != LOOP_ONLY and row["train_conversations_added"] == 0
    ]
    return ExperimentReport(
        experiment=args,
        start_checkpoint_id=args["start_checkpoint_id"],
        arms=arms,
        personas=args["personas"],
        budget=args["budget"],
        underpowered=power is not None,
        power=power or f"{len(args['personas'])} personas: every test can reach p < 0.05",
        primary_instrument=primary,
        cases=case_rows,
        outcomes=outcomes,
        ordering=ordering,
        comparisons=pairs,
        no_valid_measurements=invalid,
        acceptance=_acceptance(database, cases) if invalid is None else None,
        warnings=warnings,
        note=TINY_NOTE,
        cannot_conclude=(
            "scripted therapists test the patient model, not a therapist: a difference says the simulated "
            "patients respond to what is said; no difference (or placebo or loop-only matching skilled) says "
            "their improvement would not be evidence of a therapist's skill"
        ),
    )


def render_experiment(result: ExperimentReport) -> str:
    setup = result.experiment
    budget = result.budget
    lines = [
        f"experiment {setup['key']}: {setup['specialization']}, {len(result.personas)} persona(s), "
        f"{setup['sessions']} session(s), arms {', '.join(result.arms)}",
        f"start checkpoint {result.start_checkpoint_id} for every case; each loop iteration trains "
        f"{budget['steps']} step(s), batch {budget['batch_size']}; the arms share each persona's seeds",
    ]
    if result.underpowered:
        lines.append(result.power.replace("underpowered:", "UNDERPOWERED:", 1))
    for row in result.cases:
        added = row["train_conversations_added"]
        lines.append(
            f"  {row['arm']:<9} {row['persona_id']}  {row['case_id'] or '(no case)'}  "
            f"{row['start_checkpoint_id']} -> {row['checkpoints'][-1]}  {row['train_steps']} step(s), "
            f"+{'?' if added is None else added} training conversation(s)"
        )
    lines.extend(f"warning: {w}" for w in result.warnings)
    if result.no_valid_measurements:
        lines.append(result.no_valid_measurements)
    else:
        primary = result.primary_instrument
        for arm, by_persona in result.outcomes[primary].items():
            shown = ", ".join(f"{p} {v:+.2f}" for p, v in by_persona.items())
            lines.append(f"  {primary} improvement, persona means over valid sessions, {arm}: {shown}")
        lines.append(f"  ordering skilled > placebo > harmful: {result.ordering['verdict']}")
        for row in result.comparisons:
            lines.append(f"  {row['a']} vs {row['b']}: {row['verdict']}")
        for arm, rates in (result.acceptance or {}).items():
            rate = "-" if rates["rate"] is None else f"{rates['rate']:.0%}"
            interval = rates["ci95"]
            ci = f" (95% CI {interval[0]:.0%}-{interval[1]:.0%})" if interval else ""
            lines.append(f"  {arm}: accepted {rates['accepted']}/{rates['decided']} = {rate}{ci}")
    lines.append(f"note: {result.note}")
    lines.append(f"cannot conclude: {result.cannot_conclude}")
    return "\n".join(lines)
