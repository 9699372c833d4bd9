"""A case's measurement protocol: how the case's patient is measured, fixed once at ``case open``.

A score change means something only when both sides were measured the same way. The protocol names
everything that decides an administration: the persona whose card is the system prompt, the instruments, the
mode (log-probabilities or samples), the seed (which also draws the attention items and their places), the
number of samples per item in sample mode, and the prompt version with the attention set's version. A run
*follows* the protocol when it matches all of them; the loop, the trajectory, the case report, the web app
and the portfolio read protocol runs only, and list any other run on the same checkpoint apart from them.

This module sits in the assessment stage so that the portfolio (below the loop) can select runs with it too.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from jedi_academy.assessment.attention import attention_set
from jedi_academy.assessment.prompts import PROMPT_VERSION
from jedi_academy.assessment.runner import MODES, SampleOptions
from jedi_academy.errors import AcademyError, ConfigError
from jedi_academy.store.models import AssessmentRun, Case

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from jedi_academy.store import Database

NO_PROTOCOL = "no protocol (opened before protocols)"
DEFAULT_SAMPLES = SampleOptions().samples


@dataclass(frozen=True)
class Protocol:
    persona_id: str
    instruments: tuple[str, ...]
    mode: str  # logprob | sample
    seed: int
    samples: int | None  # constrained replies per item and option order in sample mode; None in logprob mode
    prompt_version: str
    attention_version: str  # the attention items are part of the prompt: their set's version

    def as_dict(self) -> dict[str, Any]:
        return {
            "persona_id": self.persona_id,
            "instruments": list(self.instruments),
            "mode": self.mode,
            "seed": self.seed,
            "samples": self.samples,
            "prompt_version": self.prompt_version,
            "attention_version": self.attention_version,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Protocol:
        return cls(
            persona_id=str(data["persona_id"]),
            instruments=tuple(data["instruments"]),
            mode=str(data["mode"]),
            seed=int(data["seed"]),
            samples=None if data.get("samples") is None else int(data["samples"]),
            prompt_version=str(data["prompt_version"]),
            attention_version=str(data["attention_version"]),
        )

    def sample_options(self) -> SampleOptions:
        return SampleOptions(samples=self.samples or DEFAULT_SAMPLES)

    def follows(self, run: AssessmentRun) -> bool:
        """Whether ``run`` was administered under this protocol (its checkpoint aside)."""
        if (run.persona_id, run.mode, run.seed, run.prompt_version) != (
            self.persona_id, self.mode, self.seed, self.prompt_version
        ):  # fmt: skip
            return False
        if run.instrument_id not in self.instruments:
            return False
        result = run.result or {}
        attention = result.get("attention")  # None when no attention family fits the instrument's scale
        if isinstance(attention, dict) and str(attention.get("version")) != self.attention_version:
            return False
        if self.mode == "sample":
            return (result.get("sample_options") or {}).get("samples") == self.samples
        return True

    def describe(self) -> str:
        samples = f", {self.samples} samples" if self.mode == "sample" else ""
        return (
            f"{', '.join(self.instruments)} as {self.persona_id}, {self.mode} mode{samples}, "
            f"seed {self.seed}, "
            f"prompt {self.prompt_version} (attention items {self.attention_version})"
        )


def make_protocol(
    persona_id: str,
    instruments: list[str],
    *,
    mode: str = "logprob",
    seed: int = 0,
    samples: int | None = None,
) -> Protocol:
    """The protocol of a case opened now: the current prompt and attention versions."""
    if mode not in MODES:
        raise ConfigError(f"unknown assessment mode {mode!r}", "use logprob or sample")
    if not instruments:
        raise AcademyError("a measurement protocol needs at least one instrument")
    if samples is not None and samples < 1:
        raise ConfigError(f"samples must be at least 1, not {samples}")
    return Protocol(
        persona_id=persona_id,
        instruments=tuple(dict.fromkeys(instruments)),
        mode=mode,
        seed=seed,
        samples=(samples or DEFAULT_SAMPLES) if mode == "sample" else None,
        prompt_version=PROMPT_VERSION,
        attention_version=attention_set().version,
    )


def protocol_of(case: Case) -> Protocol | None:
    """The case row's protocol; None for a case opened before protocols existed."""
    return None if not case.protocol else Protocol.from_dict(case.protocol)


def case_protocol(database: Database, case_id: str) -> Protocol | None:
    """The protocol of the case ``case_id`` (exact id), or None for a case opened before protocols."""
    with database.session() as session:
        case = session.get(Case, case_id)
        if case is None:
            raise AcademyError(f"case {case_id!r} does not exist", "see `academy case list`")
        return protocol_of(case)


def protocol_run(
    session: Session, protocol: Protocol, checkpoint_id: str, instrument: str
) -> AssessmentRun | None:
    """The protocol's run of ``instrument`` on the checkpoint: the first one taken (a later rerun under the
    same protocol repeats it; taking the first means a favourable rerun can never replace it)."""
    for run in session.scalars(
        select(AssessmentRun)
        .where(
            AssessmentRun.checkpoint_id == checkpoint_id,
            AssessmentRun.persona_id == protocol.persona_id,
            AssessmentRun.instrument_id == instrument,
            AssessmentRun.mode == protocol.mode,
            AssessmentRun.seed == protocol.seed,
            AssessmentRun.prompt_version == protocol.prompt_version,
        )
        .order_by(AssessmentRun.id)
    ):
        if protocol.follows(run):
            return run
    return None


def other_runs(
    session: Session, protocol: Protocol | None, persona_id: str, checkpoint_ids: list[str]
) -> list[AssessmentRun]:
    """Runs on the case's checkpoints for its persona that do not follow the protocol (all of them when the
    case has none): shown apart, never in place of protocol runs."""
    if not checkpoint_ids:
        return []
    rows = session.scalars(
        select(AssessmentRun)
        .where(AssessmentRun.checkpoint_id.in_(checkpoint_ids), AssessmentRun.persona_id == persona_id)
        .order_by(AssessmentRun.id)
    )
    return [run for run in rows if protocol is None or not protocol.follows(run)]


def other_run_json(run: AssessmentRun) -> dict[str, Any]:
    """One line's worth of a run outside the protocol: what it was and whether it passed its gates."""
    validity = (run.result or {}).get("validity") or {}
    valid = bool(validity.get("valid")) and run.total is not None
    return {
        "run_id": run.id,
        "checkpoint_id": run.checkpoint_id,
        "instrument": run.instrument_id,
        "mode": run.mode,
        "seed": run.seed,
        "prompt_version": run.prompt_version,
        "total": run.total if valid else None,
        "valid": valid,
    }
