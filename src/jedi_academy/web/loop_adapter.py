"""The loop's persistent job queue (``jedi_academy.loop``) behind the web app's ``Jobs`` interface. Workers
(``academy worker``, or the one ``academy web --worker`` starts) run the jobs; the web app only submits them
and reads their rows."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from jedi_academy.errors import AcademyError
from jedi_academy.web.jobs import JobView

if TYPE_CHECKING:
    from jedi_academy.config import Settings
    from jedi_academy.loop.jobs import JobRecord
    from jedi_academy.store import Database


def _view(row: JobRecord) -> JobView:
    progress = row.progress or {}
    done, total = progress.get("done"), progress.get("total")
    fraction = None
    if isinstance(done, int | float) and isinstance(total, int | float) and total > 0:
        fraction = max(0.0, min(1.0, done / total))
    if row.status == "done":
        fraction = 1.0
    return JobView(
        id=row.id,
        session_id=(row.args or {}).get("session_id"),
        status=row.status,
        stage=progress.get("step"),
        progress=fraction,
        message=progress.get("message"),
        error=row.error,
        result=row.result,
    )


class LoopJobs:
    def __init__(self, settings: Settings, database: Database, options: dict[str, Any]) -> None:
        self.settings = settings
        self.database = database
        self.options = options

    def start_loop(self, session_id: str) -> JobView:
        from jedi_academy.loop.jobs import enqueue_loop

        return _view(enqueue_loop(self.settings, session_id, self.options))

    def get(self, job_id: str) -> JobView | None:
        from jedi_academy.loop.jobs import job_json

        try:
            return _view(job_json(self.database, job_id))
        except AcademyError:
            return None

    def for_session(self, session_id: str) -> JobView | None:
        """The newest loop job of this session."""
        from jedi_academy.loop.jobs import job_json
        from jedi_academy.store.models import Job

        with self.database.session() as session:
            rows = session.scalars(
                select(Job).where(Job.kind == "loop").order_by(Job.created_at.desc(), Job.id)
            ).all()
            found = next((r.id for r in rows if (r.args or {}).get("session_id") == session_id), None)
        return None if found is None else _view(job_json(self.database, found))
