"""From the sessions tables to the explicit portfolio input: a therapist's cases, their sessions and the
assessment runs that measure the patient before and after each session.

Which runs count, for a case with a measurement protocol (fixed at `case open`): the baseline run measured at
opening and, after session n, the protocol's run on the checkpoint the patient had after that session, taken
after the session ended; a run in another mode, seed or prompt version never stands in for it.

For a case opened before protocols:
- baseline: the latest run of the case's instrument, in character as the case's persona, on the case's start
  checkpoint, taken before the first session started (the first one taken, if all came later);
- after session n: the latest such run on the checkpoint the patient had after that session (the next
  session's checkpoint; for the last session the case's current one), taken after session n ended. The
  improvement loop re-fine-tunes the patient after a session and re-assesses it, which gives exactly this; a
  session with no such run is shown as not re-assessed.
The sessions are those of the case's current branch, preceded by the main-line sessions it branched from.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from datetime import UTC
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from jedi_academy.assessment.protocol import Protocol, protocol_of, protocol_run
from jedi_academy.errors import AcademyError
from jedi_academy.portfolio.build import CaseInput, PortfolioRequest, SessionInput
from jedi_academy.store import Database
from jedi_academy.store.models import AssessmentRun

REFERENCE_NAMES = {
    "placebo": re.compile(r"^scripted[ _-]?placebo\b", re.IGNORECASE),
    "skilled": re.compile(r"^scripted[ _-]?skilled\b", re.IGNORECASE),
}


class NoBaseline(AcademyError):
    """The case has no baseline assessment, so no change can be measured."""


class Uncontrolled(AcademyError):
    """A loop of the case ran with --no-control: its change cannot be set against a control (left out)."""


def _models() -> Any:
    from jedi_academy.store import models

    if not hasattr(models, "TherapySession"):
        raise AcademyError(
            "this version of the academy keeps no therapy sessions yet",
            "portfolios need the sessions stage (issue 15)",
        )
    return models


def primary_instrument(session: Session, case: Any) -> str:
    """The specialization's instrument the case was measured with (the first with a baseline run)."""
    from jedi_academy.instruments.api import instruments_for_specialization

    candidates = instruments_for_specialization(case.specialization_id)
    for instrument in candidates:
        if _runs(session, case.start_checkpoint_id, case.persona_id, instrument):
            return instrument
    listed = ", ".join(candidates) or "none"
    raise NoBaseline(
        f"case {case.id} has no baseline assessment (instruments of {case.specialization_id}: {listed})",
        f"run `academy assess --checkpoint {case.start_checkpoint_id} --persona {case.persona_id} "
        f"--instrument {candidates[0] if candidates else 'ID'}`",
    )


def _runs(session: Session, checkpoint_id: str, persona_id: str, instrument: str) -> list[AssessmentRun]:
    query = (
        select(AssessmentRun)
        .where(
            AssessmentRun.checkpoint_id == checkpoint_id,
            AssessmentRun.persona_id == persona_id,
            AssessmentRun.instrument_id == instrument,
        )
        .order_by(AssessmentRun.id)
    )
    return list(session.scalars(query))


def case_sessions(session: Session, case: Any) -> list[Any]:
    models = _models()
    rows = list(
        session.scalars(
            select(models.TherapySession)
            .where(models.TherapySession.case_id == case.id, models.TherapySession.status == "ended")
            .order_by(models.TherapySession.number)
        )
    )
    branch = [r for r in rows if r.branch == case.current_branch]
    if case.current_branch != "main":
        start = min((r.number for r in branch), default=None)
        trunk = [r for r in rows if r.branch == "main" and (start is None or r.number < start)]
        branch = trunk + branch
    return branch


def _protocol_input(session: Session, case: Any, protocol: Protocol, uncontrolled_ok: bool) -> CaseInput:
    """A case with a protocol: its baseline is the run measured at `case open`, each session's the protocol's
    run on the checkpoint after it; any other run on those checkpoints is never used in their place."""
    instrument = protocol.instruments[0]
    baseline_id = (case.baseline_runs or {}).get(instrument)
    if baseline_id is None:
        raise NoBaseline(f"case {case.id} has no baseline run of its protocol ({protocol.describe()})")

    def run_after(row: Any, checkpoint: str) -> AssessmentRun | None:
        run = protocol_run(session, protocol, checkpoint, instrument)
        # a run taken before the session ended (the checkpoint it ran on) is no re-assessment after it
        ended = row.ended_at
        later = run is not None and ended is not None and _naive(run.started_at) >= _naive(ended)
        return run if later else None

    sessions = case_sessions(session, case)
    return _case_input(session, case, sessions, instrument, int(baseline_id), run_after, uncontrolled_ok)


def case_input(session: Session, case: Any, *, uncontrolled_ok: bool = False) -> CaseInput:
    """``uncontrolled_ok``: a reference case (scripted therapists) with --no-control loops still gives its raw
    figures, without a therapist effect; a published case never does (``Uncontrolled``)."""
    protocol = protocol_of(case)
    if protocol is not None:
        return _protocol_input(session, case, protocol, uncontrolled_ok)
    # a case opened before protocols: the latest runs, as before
    instrument = primary_instrument(session, case)
    sessions = case_sessions(session, case)
    baseline_runs = _runs(session, case.start_checkpoint_id, case.persona_id, instrument)
    if sessions:
        before = [r for r in baseline_runs if _naive(r.started_at) <= _naive(sessions[0].started_at)]
        baseline = before[-1] if before else baseline_runs[0]
    else:
        baseline = baseline_runs[-1]

    def run_after(row: Any, checkpoint: str) -> AssessmentRun | None:
        later = [
            r
            for r in _runs(session, checkpoint, case.persona_id, instrument)
            if row.ended_at is not None and _naive(r.started_at) >= _naive(row.ended_at)
        ]
        return later[-1] if later else None

    return _case_input(session, case, sessions, instrument, baseline.id, run_after, uncontrolled_ok)


def _case_input(
    session: Session,
    case: Any,
    sessions: list[Any],
    instrument: str,
    baseline_run_id: int,
    run_after: Callable[[Any, str], AssessmentRun | None],
    uncontrolled_ok: bool,
) -> CaseInput:
    """The case's input: per session, the run ``run_after`` finds on the checkpoint the session led to (the
    next session's, or the case's current one after the last) and its control child's twin."""
    inputs = []
    for index, row in enumerate(sessions):
        after = sessions[index + 1].checkpoint_id if index + 1 < len(sessions) else case.current_checkpoint_id
        run = run_after(row, after)
        inputs.append(
            SessionInput(row.number, session_id=row.id, run_id=run.id if run else None,
                         control_run_id=_control_run(session, case, row.id, run, uncontrolled_ok))
        )  # fmt: skip
    return CaseInput(
        case_id=case.id,
        specialization=case.specialization_id,
        persona_id=case.persona_id,
        instrument=instrument,
        baseline_run_id=baseline_run_id,
        sessions=tuple(inputs),
        closed_at=_closed_at(case),
    )


def _closed_at(case: Any) -> str | None:
    """When the case was closed, as its closure records it (the database may drop the time zone)."""
    if case.status != "closed":
        return None
    stamp = (case.closure or {}).get("closed_at")
    if stamp is None and case.closed_at is not None:
        moment = case.closed_at if case.closed_at.tzinfo else case.closed_at.replace(tzinfo=UTC)
        stamp = moment.isoformat(timespec="seconds")
    return stamp


def _control_run(
    session: Session, case: Any, session_id: str, run: AssessmentRun | None, uncontrolled_ok: bool
) -> int | None:
    """The run of the session's control child measured like ``run`` (same instrument, mode, seed and prompt
    version); a loop run with --no-control makes the whole case uncontrolled."""
    from jedi_academy.store.models import LoopRun

    loop = session.scalars(select(LoopRun).where(LoopRun.session_id == session_id)).first()
    control = (loop.control if loop is not None else None) or {}
    if control.get("status") == "uncontrolled" and not uncontrolled_ok:
        raise Uncontrolled(f"case {case.id}: the loop after session {session_id} ran with --no-control")
    if run is None or control.get("status") != "done" or not control.get("checkpoint_id"):
        return None
    twins = [
        r
        for r in _runs(session, control["checkpoint_id"], case.persona_id, run.instrument_id)
        if (r.mode, r.seed, r.prompt_version) == (run.mode, run.seed, run.prompt_version)
    ]
    return twins[-1].id if twins else None


def _naive(moment: Any) -> Any:
    """SQLite returns naive UTC datetimes, PostgreSQL aware ones; compare them alike."""
    return moment.replace(tzinfo=None) if moment is not None and moment.tzinfo is not None else moment


def _select(cases: list[Any], wanted: Sequence[str], noun: str) -> set[str]:
    chosen = set()
    for item in wanted:
        matches = [c.id for c in cases if c.id == item] or [c.id for c in cases if c.id.startswith(item)]
        if len(matches) != 1:
            problem = "is ambiguous" if matches else "is not one of this therapist's cases"
            raise AcademyError(f"{noun} {item!r} {problem}", "see `academy case list --therapist NAME`")
        chosen.add(matches[0])
    return chosen


def portfolio_request(
    database: Database,
    therapist: str,
    *,
    include: Sequence[str] | None = None,
    exclude: Sequence[str] | None = None,
    with_adapters: bool = False,
    references: dict[str, str] | None = None,
) -> PortfolioRequest:
    """The request for ``therapist``'s cases (all, or ``include``), less ``exclude``; the reference class is
    the named (or, by default, the ``scripted placebo``/``scripted skilled``) therapists' cases."""
    models = _models()
    with database.session() as session:
        worker = _therapist(session, models, therapist)
        cases = list(
            session.scalars(
                select(models.Case)
                .where(models.Case.therapist_id == worker.id)
                .order_by(models.Case.created_at)
            )
        )
        keep = _select(cases, include, "case") if include else {c.id for c in cases}
        keep -= _select(cases, exclude or [], "excluded case")
        left_out = [(c.id, "excluded by the therapist") for c in cases if c.id not in keep]
        chosen, inputs = [], []
        for case in cases:
            if case.id not in keep:
                continue
            try:
                inputs.append(case_input(session, case))
                chosen.append(case)
            except NoBaseline:  # one unmeasured case leaves itself out, it does not sink the portfolio
                left_out.append((case.id, "no baseline"))
            except Uncontrolled:  # explored with --no-control: no therapist effect, counted as such
                left_out.append((case.id, "uncontrolled"))
        personas = {c.persona_id for c in chosen}
        reference_cases: dict[str, list[CaseInput]] = {}
        for label, other in _reference_therapists(session, models, references).items():
            if other.id == worker.id:
                continue
            rows = session.scalars(
                select(models.Case).where(
                    models.Case.therapist_id == other.id, models.Case.persona_id.in_(personas)
                )
            )
            reference_cases[label] = [m for m in (_maybe_input(session, c) for c in rows) if m]
        return PortfolioRequest(
            therapist_id=worker.id,
            therapist_name=worker.name,
            cases=inputs,
            references=reference_cases,
            with_adapters=with_adapters,
            opened=len(cases),
            left_out=left_out,
        )


def _maybe_input(session: Session, case: Any) -> CaseInput | None:
    """A reference case's input, or None when it has no baseline (it cannot serve as a comparison)."""
    try:
        return case_input(session, case, uncontrolled_ok=True)
    except NoBaseline:
        return None


def _therapist(session: Session, models: Any, wanted: str) -> Any:
    """By exact name or id."""
    row = session.scalars(
        select(models.Therapist).where((models.Therapist.name == wanted) | (models.Therapist.id == wanted))
    ).first()
    if row is None:
        raise AcademyError(f"therapist {wanted!r} does not exist", "see `academy therapist list`")
    return row


def _reference_therapists(session: Session, models: Any, named: dict[str, str] | None) -> dict[str, Any]:
    if named:
        return {label: _therapist(session, models, name) for label, name in named.items()}
    found: dict[str, Any] = {}
    for row in session.scalars(select(models.Therapist).order_by(models.Therapist.created_at)):
        for label, pattern in REFERENCE_NAMES.items():
            if label not in found and pattern.match(row.name):
                found[label] = row
    return found
