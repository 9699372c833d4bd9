"""Is improvement caused by the therapist? Scripted therapists (skilled, placebo, harmful) work the same
personas, session by session, each session followed by a loop iteration; the result is each script's
trajectory per persona, the acceptance rates, and persona-level paired tests between scripts.

Simulated patients are known to improve whatever the therapist does; a real run must show skilled > placebo >=
harmful before a therapist's improvement means anything. The persona is the unit of analysis: each persona's
change from its baseline to its last checkpoint, paired across scripts by persona, tested with an exact
sign-flip test. The experiment is resumable: its cases are found again by the experiment's key, finished
sessions and loops are skipped.
"""

from __future__ import annotations

import hashlib
import json
import statistics
from collections.abc import Callable
from functools import cache
from importlib import resources
from itertools import combinations
from typing import TYPE_CHECKING, Any

import yaml
from sqlalchemy import select

from jedi_academy.errors import AcademyError
from jedi_academy.store import open_database
from jedi_academy.store.models import Case, Persona, Therapist, TherapySession

if TYPE_CHECKING:
    from jedi_academy.config import Settings
    from jedi_academy.sessions import ScriptTurn

SCRIPTS = ("skilled", "placebo", "harmful")
ALPHA = 0.05
TINY_NOTE = (
    "the expected ordering (skilled > placebo >= harmful) is what a real run with a capable patient and "
    "teacher model must show; on the tiny test model the numbers are noise and only the mechanics are real"
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


def _personas(database: Any, specialization: str, count: int) -> list[str]:
    with database.session() as session:
        rows = list(
            session.scalars(
                select(Persona.id)
                .where(Persona.specialization_id == specialization)
                .order_by(Persona.created_at, Persona.id)
            )
        )
    if len(rows) < count:
        raise AcademyError(
            f"the experiment needs {count} '{specialization}' personas, the store has {len(rows)}",
            "lower --personas or generate more "
            f"(`academy personas generate --specialization {specialization}`)",
        )
    return rows[:count]


def _case_for(database: Any, therapist: str, persona: str, specialization: str) -> str:
    from jedi_academy.sessions import add_therapist, open_case

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
    return open_case(database, therapist, specialization, persona=persona)["id"]


def _session_seed(seed: int, script: str, persona: str, number: int) -> int:
    key = f"{seed}:{script}:{persona}:{number}"
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:4], "big") & 0x7FFFFFFF


def run_experiment(
    settings: Settings,
    *,
    specialization: str,
    sessions: int = 3,
    personas: int = 4,
    scripts: list[str] | None = None,
    seed: int = 0,
    max_tokens: int = 120,
    steps: int | None = None,
    progress: Callable[[int, int, str], None] | None = None,
    context: Any = None,
) -> dict[str, Any]:
    """Under the data directory's writer lock (it replays sessions and runs loops, which take it again)."""
    from jedi_academy.store import data_dir_lock

    with data_dir_lock(settings.data_dir, "experiment therapists"):
        return _run_experiment(
            settings, specialization=specialization, sessions=sessions, personas=personas, scripts=scripts,
            seed=seed, max_tokens=max_tokens, steps=steps, progress=progress, context=context,
        )  # fmt: skip


def _run_experiment(
    settings: Settings,
    *,
    specialization: str,
    sessions: int,
    personas: int,
    scripts: list[str] | None,
    seed: int,
    max_tokens: int,
    steps: int | None,
    progress: Callable[[int, int, str], None] | None,
    context: Any,
) -> dict[str, Any]:
    from jedi_academy.loop.run import LoopContext, LoopOptions, run_loop
    from jedi_academy.sessions import ModelPool, SessionOptions, SessionRunner, replay_session

    chosen = list(scripts or SCRIPTS)
    unknown = [s for s in chosen if s not in SCRIPTS]
    if unknown:
        raise AcademyError(f"unknown script(s) {', '.join(unknown)}", f"use {', '.join(SCRIPTS)}")
    library = therapist_scripts(specialization)
    database = context.database if context is not None else open_database(settings)
    persona_ids = _personas(database, specialization, personas)
    args = {"specialization": specialization, "sessions": sessions, "personas": persona_ids,
            "scripts": chosen, "seed": seed, "max_tokens": max_tokens, "steps": steps}  # fmt: skip
    key = experiment_key(args)
    context = context or LoopContext(settings, database)
    pool = ModelPool(settings)
    for (backend, model), llm in context.llms.items():  # one loaded model serves sessions and loop
        pool._llms[pool.teacher_spec(backend, model)] = llm
    note = progress or (lambda _done, _total, _message: None)
    total, done = len(chosen) * len(persona_ids) * sessions, 0
    options = SessionOptions(max_tokens=max_tokens)
    loop_options = LoopOptions(max_tokens=max_tokens, steps=steps)
    cases: dict[str, dict[str, str]] = {}
    for script in chosen:
        for persona in persona_ids:
            case_id = _case_for(database, f"scripted-{script}-{key}", persona, specialization)
            cases.setdefault(script, {})[persona] = case_id
            for number in range(1, sessions + 1):
                note(done, total, f"{script} therapist, persona {persona}, session {number}")
                session_id = _session_for(database, case_id, number)
                if session_id is None:
                    turns: list[ScriptTurn] = library[script]["sessions"][
                        (number - 1) % len(library[script]["sessions"])
                    ]
                    record = replay_session(
                        database, pool, case_id, turns,
                        seed=_session_seed(seed, script, persona, number), options=options,
                    )  # fmt: skip
                    session_id = record["session_id"]
                else:
                    runner = SessionRunner.open(database, pool, session_id)
                    if runner.status() != "ended":
                        runner.finish_pending()
                        runner.end()
                run_loop(context, session_id, loop_options)
                done += 1
    note(done, total, "analysing")
    return analyse(database, args | {"key": key}, cases)


def _session_for(database: Any, case_id: str, number: int) -> str | None:
    with database.session() as session:
        return session.scalars(
            select(TherapySession.id).where(
                TherapySession.case_id == case_id, TherapySession.number == number
            )
        ).first()


# ---------------------------------------------------------------- analysis


def _wilson(accepted: int, n: int) -> list[float] | None:
    from jedi_academy.sessions.stats import wilson_interval

    interval = wilson_interval(accepted, n)
    return list(interval) if interval is not None else None


def analyse(database: Any, args: dict[str, Any], cases: dict[str, dict[str, str]]) -> dict[str, Any]:
    from jedi_academy.instruments import load_instrument
    from jedi_academy.loop.trajectory import case_trajectory

    trajectories: dict[str, dict[str, Any]] = {}
    acceptance: dict[str, dict[str, Any]] = {}
    improvement: dict[str, dict[str, dict[str, float]]] = {}  # instrument -> script -> persona -> improvement
    for script, by_persona in cases.items():
        accepted = decided = invalid = 0
        trajectories[script] = {}
        for persona, case_id in by_persona.items():
            view = case_trajectory(database, case_id)
            points = {}
            for instrument, score in (view["baseline"]["scores"] or {}).items():
                points[instrument] = [{"session": 0, "total": score["total"], "valid": score["valid"]}]
            for row in view["sessions"]:
                accepted += len(row["accepted_recommendations"])
                decided += len(row["accepted_recommendations"]) + len(row["ignored_recommendations"])
                invalid += len(row["invalid_preference_recommendations"])
                for instrument, score in ((row["loop"] or {}).get("scores") or {}).items():
                    points.setdefault(instrument, []).append(
                        {
                            "session": row["number"],
                            "total": score["total"],
                            "valid": score["valid"],
                            "ci95": score["ci95"],
                        }
                    )
            trajectories[script][persona] = {"case_id": case_id, "points": points}
            for instrument, series in points.items():
                first, last = series[0], series[-1]
                if len(series) < 2 or not (first["valid"] and last["valid"]):
                    continue  # an invalid measurement gives no change, never a number
                spec = load_instrument(instrument).change
                sign = -1.0 if (spec.higher_is_worse if spec else True) else 1.0
                improvement.setdefault(instrument, {}).setdefault(script, {})[persona] = sign * (
                    last["total"] - first["total"]
                )
        acceptance[script] = {
            "accepted": accepted,
            "decided": decided,
            "invalid_preference": invalid,  # no decision: not in the rate
            "rate": accepted / decided if decided else None,
            "ci95": _wilson(accepted, decided),
        }
    comparisons = []
    for instrument, by_script in sorted(improvement.items()):
        for first, second in combinations([s for s in SCRIPTS if s in cases], 2):
            comparisons.append(
                _paired(instrument, first, second, by_script.get(first, {}), by_script.get(second, {}))
            )
    ordering = {}
    for instrument, by_script in improvement.items():
        means = {s: statistics.fmean(v.values()) for s, v in by_script.items() if v}
        if all(s in means for s in SCRIPTS):
            ordering[instrument] = {
                "mean_improvement": means,
                "expected_ordering_observed": means["skilled"] > means["placebo"] >= means["harmful"],
            }
    return {
        "experiment": args,
        "trajectories": trajectories,
        "improvement": improvement,
        "acceptance": acceptance,
        "comparisons": comparisons,
        "ordering": ordering,
        "note": TINY_NOTE,
        "cannot_conclude": (
            "scripted therapists test the patient model, not a therapist: a difference says the simulated "
            "patients respond to what is said; no difference (or placebo matching skilled) says their "
            "improvement would not be evidence of a therapist's skill"
        ),
    }


def _paired(
    instrument: str, first: str, second: str, a: dict[str, float], b: dict[str, float]
) -> dict[str, Any]:
    from jedi_academy.assessment.stats import paired_permutation_p

    personas = sorted(set(a) & set(b))
    differences = [a[p] - b[p] for p in personas]  # first's improvement minus second's
    n = len(differences)
    result: dict[str, Any] = {
        "instrument": instrument,
        "first": first,
        "second": second,
        "n_personas": n,
        "mean_difference": statistics.fmean(differences) if differences else None,
        "d_z": None,
        "p": None,
        "smallest_reachable_p": 2 / 2**n if n else None,
    }
    if n >= 2 and statistics.stdev(differences) > 0:
        result["d_z"] = statistics.fmean(differences) / statistics.stdev(differences)
    if n:
        result["p"] = paired_permutation_p(differences)
    if n == 0:
        result["verdict"] = "not testable: no persona has valid measurements under both scripts"
    elif 2 / 2**n > ALPHA:
        result["verdict"] = (
            f"underpowered: with {n} persona(s) the exact sign-flip test cannot reach p < {ALPHA}"
        )
    elif result["p"] < ALPHA:
        better = first if result["mean_difference"] > 0 else second
        result["verdict"] = f"{better} improved the personas more (p = {result['p']:.3g}, n = {n})"
    else:
        result["verdict"] = f"no detectable difference (p = {result['p']:.3g}, n = {n})"
    return result


def render_experiment(result: dict[str, Any]) -> str:
    setup = result["experiment"]
    lines = [
        f"experiment {setup['key']}: {setup['specialization']}, {len(setup['personas'])} persona(s), "
        f"{setup['sessions']} session(s)"
    ]
    for script, rates in result["acceptance"].items():
        rate = "-" if rates["rate"] is None else f"{rates['rate']:.0%}"
        interval = rates["ci95"]
        ci = f" (95% CI {interval[0]:.0%}-{interval[1]:.0%})" if interval else ""
        invalid = rates.get("invalid_preference") or 0
        left_out = f"; {invalid} invalid_preference left out (no decision)" if invalid else ""
        lines.append(f"  {script}: accepted {rates['accepted']}/{rates['decided']} = {rate}{ci}{left_out}")
    for instrument, by_script in result["improvement"].items():
        for script, values in by_script.items():
            shown = ", ".join(f"{p} {v:+.2f}" for p, v in values.items())
            lines.append(f"  {instrument} improvement from baseline, {script}: {shown}")
    for comparison in result["comparisons"]:
        lines.append(f"  {comparison['instrument']} {comparison['first']} vs {comparison['second']}: "
                     f"{comparison['verdict']}")  # fmt: skip
    for instrument, order in result["ordering"].items():
        lines.append(
            f"  {instrument}: expected ordering skilled > placebo >= harmful "
            + ("observed" if order["expected_ordering_observed"] else "NOT observed")
        )
    lines.append(f"note: {result['note']}")
    lines.append(f"cannot conclude: {result['cannot_conclude']}")
    return "\n".join(lines)
