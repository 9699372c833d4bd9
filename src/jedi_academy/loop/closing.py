"""Design step 9, the final evaluation: close a case.

Closing takes the final measurement of the case's protocol (the instruments, mode, seed and prompt version
fixed at `case open`, administered to the case's current checkpoint in character as the case's persona,
validity-gated as every loop measurement is; a case opened before protocols uses the given mode and seed),
compares it with the baseline (the case's first checkpoint, measured the same way), stores the comparison on
the case and marks it closed. A closed case takes no more sessions; its sessions, branches and
checkpoints stay readable.

The closure's therapist effect is the case's, from its loops' no-therapist controls (loop/control.py): per
instrument, the sum over the current line's sessions of the therapist child's change minus the control
child's, with its interval. A case whose loops ran without a control (`--no-control`, or loops from before
the control) has none, and the closure says why instead of crediting the raw change to the therapist.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from jedi_academy.errors import AcademyError
from jedi_academy.loop.protocol import case_protocol, protocol_view
from jedi_academy.loop.reassess import reassess
from jedi_academy.results import Result
from jedi_academy.store.lookup import one_by_id_or_prefix
from jedi_academy.store.models import Case, TherapySession

if TYPE_CHECKING:
    from jedi_academy.config import Settings
    from jedi_academy.store import Database

NO_CONTROL = (
    "the raw change is how this patient model's answers moved, fine-tuning included, and cannot be credited "
    "to the therapist"
)


@dataclass(frozen=True)
class ClosureEffect(Result):
    """The case's therapist effect per instrument (None when no instrument has one) and a note saying what it
    is, or why there is none."""

    therapist_effect: dict[str, dict[str, Any]] | None
    therapist_effect_note: str


@dataclass(frozen=True)
class Closure(Result):
    """A closed case's final evaluation (``academy case close --json``; ``as_dict()`` is stored as the
    case's ``closure``). Per instrument, the measurements are ``loop.reassess.measurement_json``'s and the
    changes ``change_json``'s."""

    case_id: str
    closed_at: str  # ISO 8601, to the second
    baseline_checkpoint_id: str
    final_checkpoint_id: str
    mode: str
    seed: int
    protocol: dict[str, Any] | None
    protocol_note: str
    final_scores: dict[str, dict[str, Any]]
    baseline_scores: dict[str, dict[str, Any]]
    change_vs_baseline: dict[str, dict[str, Any]]
    valid: bool  # the final and the baseline measurements are all valid
    therapist_effect: dict[str, dict[str, Any]] | None
    therapist_effect_note: str

    def lines(self) -> list[str]:
        return closure_lines(self.as_dict())


def closure_effect(database: Database, case_id: str) -> ClosureEffect:
    """The case's therapist effect along its current line of sessions (loop/control_view.py) and its note."""
    from jedi_academy.instruments.effect import effect_text
    from jedi_academy.loop.control_view import case_line_effect
    from jedi_academy.loop.trajectory import case_trajectory

    effects = case_line_effect(case_trajectory(database, case_id))
    measured = {i: e for i, e in effects.items() if e.get("effect") is not None}
    if not effects:
        return ClosureEffect(
            None, f"no therapist effect: no session of the case has a loop with a control; {NO_CONTROL}"
        )
    if not measured:
        reasons = "; ".join(f"{i}: {e.get('reason')}" for i, e in sorted(effects.items()))
        return ClosureEffect(None, f"no therapist effect ({reasons}); {NO_CONTROL}")
    said = "; ".join(f"{i} {effect_text(e)}" for i, e in sorted(effects.items()))
    return ClosureEffect(effects, (
        f"{said} (the therapist child's change minus the no-therapist control's, summed over the sessions; "
        "one simulated patient, so it says nothing about other patients)"
    ))  # fmt: skip


def _open_case(database: Database, case_id: str) -> tuple[str, str, str, str, str]:
    with database.session() as session:
        case = one_by_id_or_prefix(session, Case, case_id, "case", "see `academy case list`")
        if case.status != "open":
            raise AcademyError(f"case {case.id} is already {case.status}", f"`academy case show {case.id}`")
        active = session.scalars(
            select(TherapySession).where(TherapySession.case_id == case.id, TherapySession.status != "ended")
        ).first()
        if active is not None:
            raise AcademyError(
                f"case {case.id} has an unfinished session {active.id}",
                f"end it first: `academy session end {active.id}`",
            )
        return (
            case.id,
            case.persona_id,
            case.specialization_id,
            case.start_checkpoint_id,
            case.current_checkpoint_id,
        )


def close_case(
    settings: Settings,
    database: Database,
    case_id: str,
    *,
    instruments: list[str],
    mode: str = "logprob",
    seed: int = 0,
    llms: dict[Any, Any] | None = None,
    progress: Any = None,
) -> Closure:
    """Measure, compare with the baseline, store the closure and mark the case closed; returns the closure."""
    found, persona, specialization, baseline, final = _open_case(database, case_id)
    protocol = case_protocol(database, found)
    samples = None
    if protocol is not None:  # the final measurement follows the case's protocol, like every other one
        instruments, mode, seed = list(protocol.instruments), protocol.mode, protocol.seed
        samples = protocol.samples
    if not instruments:
        raise AcademyError(f"no instruments for specialization {specialization}")
    effect = closure_effect(database, found)
    assessment = reassess(
        settings,
        database,
        child=final,
        previous=final,
        baseline=baseline,
        persona_id=persona,
        instruments=instruments,
        mode=mode,
        seed=seed,
        llms=llms if llms is not None else {},
        progress=progress,
        samples=samples,
    )
    view = protocol_view(protocol)
    closed_at = datetime.now(UTC).replace(microsecond=0)
    closure = Closure(
        case_id=found,
        closed_at=closed_at.isoformat(),
        baseline_checkpoint_id=baseline,
        final_checkpoint_id=final,
        mode=mode,
        seed=seed,
        protocol=view.protocol,
        protocol_note=view.protocol_note,
        final_scores=assessment.scores,
        baseline_scores=assessment.baseline_scores,
        change_vs_baseline=assessment.change_vs_baseline,
        valid=assessment.valid and all(s["valid"] for s in assessment.baseline_scores.values()),
        therapist_effect=effect.therapist_effect,
        therapist_effect_note=effect.therapist_effect_note,
    )
    with database.session() as session:
        case = session.get(Case, found)
        assert case is not None
        if case.status != "open":  # closed by someone else while we measured
            raise AcademyError(f"case {found} was closed meanwhile", f"`academy case show {found}`")
        case.status = "closed"
        case.closed_at = closed_at
        case.closure = closure.as_dict()
    return closure


def close_case_now(
    settings: Settings,
    database: Database,
    case_id: str,
    *,
    mode: str = "logprob",
    seed: int = 0,
    progress: Any = None,
) -> Closure:
    """`academy case close` and the web's "Close case" button: the case's instruments, under the data
    directory's writer lock (a worker training meanwhile is waited for by neither: the second is refused)."""
    from jedi_academy.loop.run import case_instruments
    from jedi_academy.store import data_dir_lock

    with database.session() as session:
        specialization = one_by_id_or_prefix(
            session, Case, case_id, "case", "see `academy case list`"
        ).specialization_id
    with data_dir_lock(settings.data_dir, "case close"):
        return close_case(
            settings,
            database,
            case_id,
            instruments=case_instruments(settings, specialization),
            mode=mode,
            seed=seed,
            progress=progress,
        )


def closure_lines(closure: dict[str, Any]) -> list[str]:
    """A stored closure (``Case.closure``: :class:`Closure`'s ``as_dict()``, or an erasure's note) in words,
    for `case close` and `case show`."""
    if closure.get("erased"):  # closed by `academy erase`: no final measurement, a note
        return [f"case {closure.get('case_id', '')} closed {closure.get('closed_at', '')}: {closure['note']}"]
    lines = [
        f"case {closure['case_id']} closed {closure['closed_at']}: final measurement on "
        f"{closure['final_checkpoint_id']} against the baseline {closure['baseline_checkpoint_id']}"
    ]
    for instrument, change in closure["change_vs_baseline"].items():
        if change["change"] is None:
            lines.append(f"  {instrument}: {change['note']}")
            continue
        lines.append(
            f"  {instrument}: {change['before']:g} -> {change['after']:g} (change {change['change']:+g}): "
            f"{change['classification']}"
        )
    lines.append(f"  therapist effect: {closure['therapist_effect_note']}")
    return lines
