"""Opening a case with its measurement protocol and baseline, and measuring a checkpoint the case's way.

``academy case open`` and the web app's "Open a case" both call :func:`open_case_with_baseline`: the protocol
(``assessment.protocol.Protocol``) is fixed, the baseline is measured on the start checkpoint under it, and
only then is the case written, with both, in one transaction, so no case exists without its baseline. Every
later measurement of the case (the loop's re-assessment, the control child, the closure) calls
:func:`measure_with_protocol`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, MutableMapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from jedi_academy.assessment.protocol import NO_PROTOCOL, Protocol, case_protocol, make_protocol
from jedi_academy.results import Result, plain
from jedi_academy.sessions.views import CaseView

if TYPE_CHECKING:
    from jedi_academy.config import Settings
    from jedi_academy.sessions.models import ModelPool
    from jedi_academy.store import Database

__all__ = [
    "NO_PROTOCOL",
    "CaseOpened",
    "OpenCase",
    "Protocol",
    "ProtocolView",
    "case_protocol",
    "measure_with_protocol",
    "open_case_with_baseline",
    "pool_llms",
    "protocol_view",
]


def measure_with_protocol(
    settings: Settings,
    database: Database,
    protocol: Protocol,
    checkpoint_id: str,
    *,
    llms: MutableMapping[Any, Any],
    progress: Callable[[str], None] | None = None,
) -> dict[str, dict[str, Any]]:
    """Each of the protocol's instruments on ``checkpoint_id`` (the stored protocol run, or one administered
    now): instrument -> measurement (``loop.reassess.measurement_json``: run id, total, band, validity)."""
    from jedi_academy.loop.reassess import measure_run

    measured = {}
    for instrument in protocol.instruments:
        if progress is not None:
            progress(f"assessing {instrument} on {checkpoint_id} (the case's protocol)")
        measured[instrument] = measure_run(settings, database, protocol, checkpoint_id, instrument, llms=llms)
    return measured


@dataclass(frozen=True)
class CaseOpened(CaseView[int]):
    """An opened case (``academy case open --json``): the case's record (the sessions stage's ``CaseView``)
    with its baseline, instrument -> measurement (``loop.reassess.measurement_json``)."""

    baseline_run_ids: dict[str, int] | None  # the same, under the name `case open --json` has always used
    baseline: dict[str, dict[str, Any]]


@dataclass(frozen=True)
class OpenCase:
    """What opening a case asks for (``academy case open``'s options, the web app's form): a persona of
    ``specialization`` (default: the one the therapist worked least) on a patient checkpoint (default: the
    specialization's newest), and the protocol: the specialization's instruments unless ``instruments``, the
    mode, the seed (default: the configured one) and the samples of sample mode."""

    therapist: str
    specialization: str
    persona: str | None = None
    checkpoint: str | None = None
    instruments: tuple[str, ...] = ()
    mode: str = "logprob"
    seed: int | None = None
    samples: int | None = None


def open_case_with_baseline(
    settings: Settings,
    database: Database,
    request: OpenCase,
    *,
    llms: MutableMapping[Any, Any] | None = None,
    progress: Callable[[str], None] | None = None,
) -> CaseOpened:
    """Open a case: fix its protocol, measure the baseline on the start checkpoint, then write the case with
    both. Returns the case's record with ``protocol``, ``baseline_runs`` (instrument -> run id) and the
    ``baseline`` measurements."""
    from jedi_academy.loop.run import case_instruments
    from jedi_academy.sessions.records import create_case, plan_case

    plan = plan_case(
        database, request.therapist, request.specialization, persona=request.persona,
        checkpoint=request.checkpoint,
    )  # fmt: skip
    protocol = make_protocol(
        plan.persona_id,
        list(request.instruments or case_instruments(settings, request.specialization)),
        mode=request.mode,
        seed=settings.seed if request.seed is None else request.seed,
        samples=request.samples,
    )
    baseline = measure_with_protocol(
        settings, database, protocol, plan.checkpoint_id, llms=llms if llms is not None else {},
        progress=progress,
    )  # fmt: skip
    case = create_case(
        database,
        plan,
        protocol=protocol.as_dict(),
        baseline_runs={instrument: m["run_id"] for instrument, m in baseline.items()},
    )
    record = plain(case)  # the case's record, as a plain mapping whichever form the sessions stage gives
    return CaseOpened(**record, baseline_run_ids=record["baseline_runs"], baseline=baseline)


@dataclass(frozen=True)
class ProtocolView(Result):
    """The protocol as ``case show``/``--json`` print it, or the note of a case opened before protocols."""

    protocol: dict[str, Any] | None
    protocol_note: str


def protocol_view(protocol: Protocol | None) -> ProtocolView:
    if protocol is None:
        return ProtocolView(None, NO_PROTOCOL)
    return ProtocolView(protocol.as_dict(), f"protocol: {protocol.describe()}")


class _PoolLLMs(MutableMapping[Any, Any]):
    """The assessment's (backend, model) cache served by a session model pool, so the web app measures a
    baseline with the model its sessions already loaded instead of loading a second copy."""

    def __init__(self, pool: ModelPool) -> None:
        self.pool = pool

    def _spec(self, key: Any) -> Any:
        from jedi_academy.sessions.models import ModelSpec

        backend, model = key
        return ModelSpec(backend, model, self.pool.settings.base_url)

    def __getitem__(self, key: Any) -> Any:
        return self.pool.get(self._spec(key))

    def __setitem__(self, key: Any, value: Any) -> None:
        self.pool.share(self._spec(key), value)

    def __delitem__(self, key: Any) -> None:
        raise KeyError(key)

    def __contains__(self, key: object) -> bool:
        return True  # the pool loads what it has not loaded yet

    def __iter__(self) -> Iterator[Any]:
        return iter(())

    def __len__(self) -> int:
        return 0


def pool_llms(pool: ModelPool) -> MutableMapping[Any, Any]:
    return _PoolLLMs(pool)
