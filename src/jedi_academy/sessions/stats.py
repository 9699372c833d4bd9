"""Acceptance rates by persona and by recommendation kind: a uniformly compliant patient model shows here.

Rates come with a 95% Wilson interval; with few recommendations the interval, not the rate, is the finding.
Only decisions count: an ``invalid_preference`` (the patient did not answer Yes or No) is counted apart.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from jedi_academy.errors import AcademyError
from jedi_academy.results import Result
from jedi_academy.sessions.preference import INVALID_PREFERENCE
from jedi_academy.sessions.records import get_case
from jedi_academy.store.models import Case, Recommendation, Specialization, TherapySession

if TYPE_CHECKING:
    from jedi_academy.store import Database

COMPLIANT_RATE = 0.9
COMPLIANT_MIN_N = 10


def wilson_interval(accepted: int, n: int, z: float = 1.959964) -> tuple[float, float] | None:
    if n == 0:
        return None
    p = accepted / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return (max(0.0, centre - half), min(1.0, centre + half))


@dataclass(frozen=True)
class RateGroup(Result):
    """The decided recommendations of one group: how many were accepted, the rate with its 95% Wilson
    interval, and the patient's p_accept (mean and standard deviation)."""

    n: int
    accepted: int
    rate: float | None  # None: nothing decided
    rate_ci95: list[float] | None
    mean_p_accept: float | None
    sd_p_accept: float | None


@dataclass(frozen=True)
class SessionStats(Result):
    """``academy session stats --json``: of one case (``case`` set) or of a specialization's cases."""

    case: str | None  # left out of --json for a specialization's stats
    specialization: str
    recommendations: int
    # the patient's probability was not on Yes or No: not a decision, so not in any rate
    invalid_preference: int
    undecided: int
    overall: RateGroup
    by_persona: dict[str, RateGroup]
    by_kind: dict[str, RateGroup]
    by_source: dict[str, RateGroup]
    warnings: list[str]
    cannot_conclude: str

    def as_dict(self) -> dict[str, Any]:
        view = super().as_dict()
        if self.case is None:
            del view["case"]
        return view


def _group(rows: list[tuple[float, bool]]) -> RateGroup:
    n = len(rows)
    accepted = sum(1 for _, a in rows if a)
    ps = [p for p, _ in rows]
    mean_p = sum(ps) / n if n else None
    sd_p = math.sqrt(sum((p - mean_p) ** 2 for p in ps) / (n - 1)) if n > 1 and mean_p is not None else None
    interval = wilson_interval(accepted, n)
    return RateGroup(
        n=n,
        accepted=accepted,
        rate=accepted / n if n else None,
        rate_ci95=list(interval) if interval else None,
        mean_p_accept=mean_p,
        sd_p_accept=sd_p,
    )


def _is_compliant(group: RateGroup) -> bool:
    return group.n >= COMPLIANT_MIN_N and (group.rate or 0) >= COMPLIANT_RATE


def session_stats(
    database: Database, *, case: str | None = None, specialization: str | None = None
) -> SessionStats:
    if (case is None) == (specialization is None):
        raise AcademyError("give exactly one of --case and --specialization")
    with database.session() as session:
        query = (
            select(Recommendation, Case.persona_id)
            .join(TherapySession, Recommendation.session_id == TherapySession.id)
            .join(Case, TherapySession.case_id == Case.id)
        )
        if case is not None:
            found = get_case(session, case)
            query = query.where(Case.id == found.id)
            scope_case: str | None = found.id
            scope_specialization = found.specialization_id
        else:
            if specialization is None or session.get(Specialization, specialization) is None:
                raise AcademyError(
                    f"unknown specialization {specialization!r}", "see `academy specializations list`"
                )
            query = query.where(Case.specialization_id == specialization)
            scope_case, scope_specialization = None, specialization
        rows = list(session.execute(query).all())
    # a decision has a p_accept; the pairs below are (p_accept, accepted)
    decided = [
        (rec, persona, (float(rec.p_accept), bool(rec.accepted)))
        for rec, persona in rows
        if rec.accepted is not None and rec.p_accept is not None
    ]
    by_persona: dict[str, list[tuple[float, bool]]] = defaultdict(list)
    by_kind: dict[str, list[tuple[float, bool]]] = defaultdict(list)
    by_source: dict[str, list[tuple[float, bool]]] = defaultdict(list)
    for rec, persona, point in decided:
        by_persona[persona].append(point)
        by_kind[rec.kind or "unclassified"].append(point)
        by_source[rec.source].append(point)
    overall = _group([point for _, _, point in decided])
    warnings = []
    if _is_compliant(overall):
        warnings.append(
            f"the patient model accepted {overall.rate or 0:.0%} of {overall.n} recommendations: simulated "
            "patients are known to be over-cooperative; check the personas' resistances and the training data"
        )
    for persona, points in sorted(by_persona.items()):
        group = _group(points)
        if _is_compliant(group):
            warnings.append(f"persona {persona} accepted {group.rate or 0:.0%} of {group.n} recommendations")
    invalid = sum(1 for r, _ in rows if r.decision == INVALID_PREFERENCE)
    return SessionStats(
        case=scope_case,
        specialization=scope_specialization,
        recommendations=len(rows),
        invalid_preference=invalid,
        undecided=len(rows) - len(decided) - invalid,
        overall=overall,
        by_persona={k: _group(v) for k, v in sorted(by_persona.items())},
        by_kind={k: _group(v) for k, v in sorted(by_kind.items())},
        by_source={k: _group(v) for k, v in sorted(by_source.items())},
        warnings=warnings,
        cannot_conclude=(
            "acceptance here is the patient model's own preference, drawn at random; it says how cooperative "
            "the simulated patient is, not whether a recommendation would help a real client"
        ),
    )
