"""The improvement loop as seen by the web app: a small interface the job page is written against.

``LoopJobs`` is what a running server uses when the loop package (``jedi_academy.loop``) is installed; the app
works without it (sessions, cases and charts) and then says that the loop is not available.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from jedi_academy.config import Settings
    from jedi_academy.store import Database


@dataclass(frozen=True)
class JobView:
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


def loop_jobs(settings: Settings, database: Database, options: dict[str, Any] | None = None) -> Jobs | None:
    """The loop's job queue when the loop package is present, else None. ``options`` are the loop's options
    (``LoopOptions`` fields) for every job this server submits."""
    try:
        from jedi_academy.loop.jobs import enqueue_loop  # noqa: F401  (the queue this server submits to)
    except ImportError:
        return None
    from jedi_academy.web.loop_adapter import LoopJobs

    return LoopJobs(settings, database, options or {})
