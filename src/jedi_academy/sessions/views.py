"""What the sessions stage's services return: therapists, cases, sessions and their recommendations, as the
command line (``as_dict()`` is ``--json``), the web templates and the stages above read them.

Field names are the JSON keys. Stored JSON columns (a session's params, a case's intake and protocol, a
recommendation's phrasings and advice) stay plain dicts: they are data, not the interface.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from jedi_academy.results import Result, plain

if TYPE_CHECKING:
    from jedi_academy.hooks import Section


@dataclass(frozen=True)
class TherapistView(Result):
    """``academy therapist add|list --json``."""

    id: str
    name: str
    created_at: str
    disabled: bool


@dataclass(frozen=True)
class TherapistDisabled(TherapistView):
    """``academy therapist disable --json``: the therapist, and how many signed-in browsers it signed out."""

    signed_out: int


@dataclass(frozen=True)
class SessionSummary(Result):
    """One line of ``academy session list`` (and of ``case show``'s sessions): counts, not contents."""

    session_id: str
    number: int
    branch: str
    checkpoint_id: str
    status: str
    mode: str
    seed: int
    turns: int
    recommendations: int
    accepted: int
    ignored: int
    # the patient's probability was not on Yes or No: neither accepted nor ignored, left out of rates
    invalid_preference: int
    # not yet put to the patient, or no usable answer: neither accepted nor ignored
    undecided: int
    flags: int
    started_at: str
    archived: bool


# A case's ``sessions``: their number in lists (``CaseView[int]``), the sessions themselves in ``case show``
# (``CaseView[list[SessionSummary]]``; the loop's case view extends each summary: ``loop.trajectory``).
Sessions = TypeVar("Sessions")


@dataclass(frozen=True)
class CaseView(Result, Generic[Sessions]):
    """``academy case list|archive --json`` (``CaseRow``) and ``case show``'s own part (``CaseDetail``)."""

    id: str
    therapist: str | None
    therapist_id: str
    specialization: str
    persona_id: str
    checkpoint_id: str
    start_checkpoint_id: str
    branch: str
    status: str
    closed_at: str | None
    closure: dict[str, Any] | None
    archived: bool
    protocol: dict[str, Any] | None  # None: opened before protocols
    baseline_runs: dict[str, int] | None
    sessions: Sessions
    intake: dict[str, Any]
    created_at: str


CaseRow = CaseView[int]
CaseDetail = CaseView[list[SessionSummary]]


@dataclass(frozen=True)
class TurnView(Result):
    index: int
    therapist: str
    patient: str | None  # None until the reply is complete
    seed: int
    risk: list[dict[str, Any]]
    context_dropped: int


@dataclass(frozen=True)
class RecommendationView(Result):
    id: int
    index: int
    text: str
    turn: int
    kind: str | None
    source: str  # therapist|extracted
    mode: str | None  # None: not yet put to the patient
    p_accept: float | None
    u: float | None
    accepted: bool | None
    decision: str  # accepted|ignored|invalid_preference|undecided
    preference_mass: float | None
    phrasings: list[dict[str, Any]]
    advice: dict[str, Any] | None


@dataclass(frozen=True)
class SessionView(Result):
    """The full record of a session: ``academy session show|replay|end --json``, the stages' fields aside."""

    session_id: str
    case_id: str
    therapist: str | None
    therapist_id: str
    checkpoint_id: str
    persona_id: str
    specialization: str
    number: int
    branch: str
    seed: int
    mode: str
    status: str
    params: dict[str, Any]
    patient_model: dict[str, Any]
    teacher_model: dict[str, Any]
    flags: list[dict[str, Any]]
    extraction: dict[str, Any] | None
    turns: list[TurnView]
    recommendations: list[RecommendationView]
    started_at: str
    ended_at: str | None


@dataclass(frozen=True)
class SessionArchived(Result):
    """``academy session archive --json``."""

    session_id: str
    case_id: str
    archived: bool


R = TypeVar("R", bound=Result)


@dataclass(frozen=True)
class WithSections(Result, Generic[R]):
    """A result with what the stages above add to it (``hooks.Section``): their fields follow its own in
    ``--json``, their lines are printed after it."""

    record: R
    fields: dict[str, Any]
    lines: list[str]

    def as_dict(self) -> dict[str, Any]:
        # a stage's field named as one of the record's replaces it where it stands
        return {**self.record.as_dict(), **plain(self.fields)}


def with_sections(record: R, sections: list[Section | None]) -> WithSections[R]:
    """``record`` with every stage's section (the hooks' answers; None: nothing to add), in order."""
    fields: dict[str, Any] = {}
    lines: list[str] = []
    for section in sections:
        if section is not None:
            fields.update(section.fields)
            lines.extend(section.lines)
    return WithSections(record, fields, lines)
