"""The persistent job queue: long work (a loop iteration, an experiment) runs in ``academy worker`` processes.

The queue is huey. Its embedded SQLite storage (``<data_dir>/queue/jobs.db``) needs no server; with
``queue_url = "redis://..."`` (and ``pip install redis``) workers on several machines share one Redis queue.
The queue only carries a job id. The ``jobs`` table is the durable record: arguments, status, progress,
result, the worker running it and its heartbeat. A worker runs a job only after claiming it with one
conditional ``UPDATE`` (:func:`claim_job`), so a job runs once however many workers see it, and it runs under
the data directory's writer lock. A worker killed mid-job leaves the row ``running`` under a dead process (or
a heartbeat that stopped); the next worker to start, or any idle worker, puts it back on the queue, and since
every job kind is itself resumable (the loop skips finished steps) it finishes where it stopped.
"""

from __future__ import annotations

import os
import secrets
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select, update

from jedi_academy.errors import AcademyError, ConfigError
from jedi_academy.store import open_database
from jedi_academy.store.models import Job

if TYPE_CHECKING:
    from huey import Huey

    from jedi_academy.config import Settings
    from jedi_academy.store import Database

TASK_NAME = "academy.run_job"
HEARTBEAT_S = 10.0
STALE_AFTER_S = 90.0  # a running job whose heartbeat is older than this lost its worker
JOB_KINDS = ("loop", "experiment")


def _now() -> datetime:
    return datetime.now(UTC)


def _aware(value: datetime | None) -> datetime | None:
    return None if value is None or value.tzinfo is not None else value.replace(tzinfo=UTC)


@dataclass
class JobQueue:
    huey: Huey
    task: Any  # huey's wrapper of the one task: run a job by id

    def put(self, job_id: str) -> None:
        self.huey.enqueue(self.task.s(job_id))


def open_queue(settings: Settings, runner: Callable[[str], None] | None = None) -> JobQueue:
    """The huey queue of these settings, with the one task (run a job by id) registered."""
    from huey import RedisHuey, SqliteHuey

    url = settings.queue_url
    if url and url.startswith(("redis://", "rediss://", "unix://")):
        try:
            queue: Huey = RedisHuey("academy", url=url, results=False)
        except ImportError as exc:  # pragma: no cover - depends on the optional package
            raise ConfigError("a Redis queue needs the redis package", "pip install redis") from exc
    elif url:
        raise ConfigError(f"unsupported queue_url {url!r}", "use redis://host:port/db, or leave it unset")
    else:
        folder = settings.path("queue")
        folder.mkdir(parents=True, exist_ok=True)
        queue = SqliteHuey("academy", filename=str(folder / "jobs.db"), results=False)

    def run_job_task(job_id: str) -> None:
        if runner is not None:
            runner(job_id)

    return JobQueue(queue, queue.task(name=TASK_NAME)(run_job_task))


def submit_job(settings: Settings, kind: str, args: dict[str, Any]) -> dict[str, Any]:
    """Record a job and put it on the queue; a worker runs it."""
    if kind not in JOB_KINDS:
        raise ConfigError(f"unknown job kind {kind!r}", f"use one of {', '.join(JOB_KINDS)}")
    database = open_database(settings)
    job_id = f"j-{secrets.token_hex(5)}"
    with database.session() as session:
        session.add(Job(id=job_id, kind=kind, args=args, status="queued", progress={}, attempts=0))
    open_queue(settings).put(job_id)
    return job_json(database, job_id)


def enqueue_loop(
    settings: Settings, session_id: str, options: dict[str, Any] | None = None
) -> dict[str, Any]:
    from jedi_academy.sessions.records import get_session

    database = open_database(settings)
    with database.session() as session:
        found = get_session(session, session_id).id
    return submit_job(settings, "loop", {"session_id": found, "options": options or {}})


# ---------------------------------------------------------------- the worker


def _worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _process_alive(worker: str | None) -> bool | None:
    """Whether the worker's process is alive; None when it ran on another host (only its heartbeat tells)."""
    if not worker or ":" not in worker:
        return None
    host, _, pid = worker.rpartition(":")
    if host != socket.gethostname():
        return None
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except (PermissionError, ValueError):
        return True
    return True


def claim_job(database: Database, job_id: str, worker: str) -> bool:
    """Take a queued job for ``worker``: one ``UPDATE ... WHERE status = 'queued'``, which exactly one of any
    number of concurrent workers wins (the database serialises the updates). False: another worker has it, or
    it is no longer queued."""
    now = _now()
    with database.session() as session:
        won = session.execute(
            update(Job)
            .where(Job.id == job_id, Job.status == "queued")
            .values(
                status="running",
                worker=worker,
                attempts=Job.attempts + 1,
                started_at=func.coalesce(Job.started_at, now),
                heartbeat_at=now,
            )
            .execution_options(synchronize_session=False)
        )
        return bool(won.rowcount == 1)


def recover_jobs(database: Database, queue: JobQueue) -> list[str]:
    """Put back on the queue every running job whose worker's heartbeat has stopped (its process is gone, or
    its heartbeat is older than ``STALE_AFTER_S``), and every queued job that the queue lost (older than
    ``STALE_AFTER_S`` and not on the queue: a crash between recording and queueing it). A job whose worker
    is alive is never touched; each re-queue is one conditional ``UPDATE`` that one recovering worker wins,
    and the atomic claim makes a job that is on the queue twice run once anyway."""
    pending = {task.args[0] for task in queue.huey.pending() if task.args}
    stale_before = _now() - timedelta(seconds=STALE_AFTER_S)
    recovered = []
    with database.session() as session:
        rows = [
            (job.id, job.status, job.worker, _aware(job.heartbeat_at), _aware(job.created_at))
            for job in session.scalars(select(Job).where(Job.status.in_(("queued", "running"))))
        ]
    for job_id, status, worker, heartbeat, created in rows:
        if status == "queued":
            if job_id not in pending and created is not None and created < stale_before:
                recovered.append(job_id)
            continue
        alive = _process_alive(worker)
        stopped = alive is False or (alive is None and (heartbeat is None or heartbeat < stale_before))
        if stopped and _requeue(database, job_id, worker):
            recovered.append(job_id)
    for job_id in recovered:
        queue.put(job_id)
    return recovered


def _requeue(database: Database, job_id: str, worker: str | None) -> bool:
    """Back to ``queued``, unless another recovering worker (or the job's own) changed it meanwhile."""
    with database.session() as session:
        job = session.get(Job, job_id)
        progress = job.progress if job is not None else {}
        message = {**progress, "message": f"requeued: worker {worker} stopped"}
        done = session.execute(
            update(Job)
            .where(Job.id == job_id, Job.status == "running", Job.worker == worker)
            .values(status="queued", worker=None, progress=message)
            .execution_options(synchronize_session=False)
        )
        return bool(done.rowcount == 1)


class _Heartbeat:
    def __init__(self, database: Database, job_id: str) -> None:
        self.database, self.job_id = database, job_id
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._beat, daemon=True)

    def _beat(self) -> None:
        while not self.stop.wait(HEARTBEAT_S):
            with self.database.session() as session:
                job = session.get(Job, self.job_id)
                if job is not None:
                    job.heartbeat_at = _now()

    def __enter__(self) -> _Heartbeat:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join()


def set_progress(database: Database, job_id: str, **progress: Any) -> None:
    with database.session() as session:
        job = session.get(Job, job_id)
        if job is not None:
            job.progress = {**job.progress, **progress}
            job.heartbeat_at = _now()


def execute_job(settings: Settings, job_id: str, *, context: Any = None) -> dict[str, Any]:
    """Claim a queued job and run it in this process, under the data directory's writer lock: do the work,
    commit the result or the error. A job another worker has claimed is left alone (its view is returned)."""
    from jedi_academy.store import data_dir_lock

    database = open_database(settings)
    job_json(database, job_id)  # a clear error for an unknown id
    with data_dir_lock(settings.data_dir, "worker"):
        if not claim_job(database, job_id, _worker_name()):
            return job_json(database, job_id)
        return _run_claimed(settings, database, job_id, context)


def _run_claimed(
    settings: Settings,
    database: Database,
    job_id: str,
    context: Any,
    echo: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Run a claimed job; ``echo`` (the worker's) also gets its progress, as the jobs table does."""
    with database.session() as session:
        job = session.get(Job, job_id)
        assert job is not None
        kind, args = job.kind, dict(job.args)
    try:
        with _Heartbeat(database, job_id):
            result = _RUNNERS[kind](settings, database, job_id, args, context, echo or (lambda _text: None))
    except AcademyError as exc:
        _finish(database, job_id, "failed", error=str(exc))
        return job_json(database, job_id)
    except KeyboardInterrupt:
        with database.session() as session:  # stopped on purpose: back on the queue for the next worker
            job = session.get(Job, job_id)
            if job is not None:
                job.status, job.worker = "queued", None
        open_queue(settings).put(job_id)
        raise
    except Exception as exc:  # a bug in a job must not kill the worker or print a traceback per job
        _finish(database, job_id, "failed", error=f"unexpected {type(exc).__name__}: {exc}".splitlines()[0])
        return job_json(database, job_id)
    _finish(database, job_id, "done", result=result)
    return job_json(database, job_id)


def _finish(database: Database, job_id: str, status: str, **values: Any) -> None:
    with database.session() as session:
        job = session.get(Job, job_id)
        if job is not None:
            job.status, job.finished_at = status, _now()
            for name, value in values.items():
                setattr(job, name, value)


def _run_loop_job(
    settings: Settings,
    database: Database,
    job_id: str,
    args: dict[str, Any],
    context: Any,
    echo: Callable[[str], None],
) -> dict[str, Any]:
    from jedi_academy.loop.run import STEPS, LoopContext, LoopOptions, run_loop, stage_line

    def on_stage(step: str, state: str, message: str) -> None:
        done = STEPS.index(step) + (state != "start")
        set_progress(database, job_id, step=step, state=state, done=done, total=len(STEPS), message=message)
        echo(f"job {job_id}: {stage_line(step, state, message)}")

    def inner(text: str) -> None:  # training steps, assessment items: the worker is not silent for minutes
        echo(f"job {job_id}:     {text}")

    return run_loop(
        context or LoopContext(settings, database),
        args["session_id"],
        LoopOptions.from_dict(args.get("options") or {}),
        on_stage=on_stage,
        echo=inner,
    ).as_dict()  # the job's stored result


def _run_experiment_job(
    settings: Settings,
    database: Database,
    job_id: str,
    args: dict[str, Any],
    context: Any,
    echo: Callable[[str], None],
) -> dict[str, Any]:
    from jedi_academy.loop.experiment import run_experiment

    def progress(done: int, total: int, message: str) -> None:
        set_progress(database, job_id, done=done, total=total, message=message)
        echo(f"job {job_id}: [{done}/{total}] {message}")

    return run_experiment(settings, progress=progress, **args)


_RUNNERS: dict[str, Callable[..., dict[str, Any]]] = {
    "loop": _run_loop_job,
    "experiment": _run_experiment_job,
}


def run_worker(
    settings: Settings,
    *,
    burst: bool = False,
    poll_s: float = 1.0,
    echo: Callable[[str], None] = print,
) -> int:
    """Execute queued jobs until stopped (Ctrl-C), or with ``burst`` until none is left; returns how many
    ran. Each job runs under the data directory's writer lock: while another command holds it, the worker
    waits its turn (it says so once) rather than dropping the job."""
    from jedi_academy.loop.run import LoopContext

    database = open_database(settings)
    queue = open_queue(settings)
    context: LoopContext | None = None  # models stay loaded from job to job
    ran = 0
    for job_id in recover_jobs(database, queue):
        echo(f"job {job_id}: its worker stopped; queued again")
    while True:
        task = queue.huey.dequeue()
        if task is None:
            if recover_jobs(database, queue):
                continue
            if burst:
                return ran
            time.sleep(poll_s)
            continue
        job_id = str(task.args[0])
        with _turn_of(settings, poll_s, echo):
            if not claim_job(database, job_id, _worker_name()):
                echo(f"job {job_id}: taken by another worker (or no longer queued); skipped")
                continue
            context = context or LoopContext(settings, database)
            echo(f"job {job_id}: started")
            job = _run_claimed(settings, database, job_id, context, echo)
        echo(f"job {job_id}: {job['status']}" + (f" ({job['error']})" if job["error"] else ""))
        ran += 1


@contextmanager
def _turn_of(settings: Settings, poll_s: float, echo: Callable[[str], None]) -> Iterator[None]:
    """Hold the data directory's writer lock, waiting (and saying so once) while another command has it."""
    from jedi_academy.store import DataDirBusyError, data_dir_lock

    said = False
    while True:
        lock = data_dir_lock(settings.data_dir, "worker", wait_s=poll_s)
        try:
            lock.acquire()
        except DataDirBusyError as busy:
            if not said:
                echo(f"waiting: {busy.message}")
                said = True
            continue
        try:
            yield
        finally:
            lock.release()
        return


# ---------------------------------------------------------------- views


def job_json(database: Database, job_id: str) -> dict[str, Any]:
    with database.session() as session:
        job = session.get(Job, job_id)
        if job is None:
            raise AcademyError(f"no job {job_id}", "see `academy jobs`")
        return _job_view(job)


def _job_view(job: Job) -> dict[str, Any]:
    def iso(value: datetime | None) -> str | None:
        return value.isoformat() if value else None

    return {
        "id": job.id,
        "kind": job.kind,
        "args": job.args,
        "status": job.status,
        "progress": job.progress,
        "result": job.result,
        "error": job.error,
        "worker": job.worker,
        "attempts": job.attempts,
        "created_at": iso(job.created_at),
        "started_at": iso(job.started_at),
        "heartbeat_at": iso(job.heartbeat_at),
        "finished_at": iso(job.finished_at),
    }


def list_jobs(database: Database, status: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
    with database.session() as session:
        query = select(Job).order_by(Job.created_at.desc(), Job.id).limit(limit)
        if status is not None:
            query = query.where(Job.status == status)
        return [_job_view(j) for j in session.scalars(query)]
