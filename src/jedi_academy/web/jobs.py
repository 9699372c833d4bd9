"""The improvement loop as seen by the web app: a small interface the job page is written against.

``LoopJobs`` (over the loop's queue) is what a running server uses; an app built without jobs
(``create_app(..., jobs=None)``, as some tests do) serves sessions, cases and charts and says that the loop is
not available.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from jedi_academy.results import Result

if TYPE_CHECKING:
    from jedi_academy.config import Settings
    from jedi_academy.store import Database


@dataclass(frozen=True)
class JobView(Result):
    """A loop job as its page shows it (``web/loop_adapter.py`` builds it from the queue's ``JobRecord``)."""

    id: str
    session_id: str | None
    status: str  # queued | running | done | failed | cancelled
    stage: str | None  # the step it is in (expansion, merge, fine-tune, assessment ...)
    progress: float | None  # 0..1 when known
    message: str | None
    error: str | None
    result: dict[str, Any] | None

    @property
    def finished(self) -> bool:
        return self.status in ("done", "failed", "cancelled")


class Jobs(Protocol):
    def start_loop(self, session_id: str) -> JobView: ...

    def get(self, job_id: str) -> JobView | None: ...

    def for_session(self, session_id: str) -> JobView | None: ...


def loop_jobs(settings: Settings, database: Database, options: dict[str, Any] | None = None) -> Jobs:
    """The loop's job queue; ``options`` are the loop's options (``LoopOptions`` fields) for every job this
    server submits. The loop is part of the package: a broken installation fails here, loudly."""
    from jedi_academy.web.loop_adapter import LoopJobs

    return LoopJobs(settings, database, options or {})
