"""The improvement loop after a therapy session (expansion, merge, re-fine-tune, re-assess), the persistent
job queue that runs it, the case's trajectory and branches, and the scripted-therapist experiment.

Public API (imported lazily, so the CLI stays fast)::

    LoopContext(settings, database), LoopOptions(...)
    run_loop(context, session_id, options=None, on_stage=None) -> LoopView  # `academy loop --session ID`
    loop_json(database, loop_id) -> LoopView, loop_for_session(database, session_id)
    enqueue_loop(settings, session_id, options=None) -> JobRecord            # a queued job
    run_worker(settings, burst=False), list_jobs(database) -> list[JobRecord]
    case_trajectory(database, case_id, data_dir=None) -> CaseTrajectory, case_tree(...) -> CaseTree
    loop.branches.branch_case(...)
    write_case_report(database, case_id, path)
    run_experiment(settings, specialization, sessions=..., personas=...) -> ExperimentReport
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from jedi_academy.lazy import lazy_exports

if TYPE_CHECKING:
    from jedi_academy.loop.run import LoopContext, LoopOptions, loop_for_session, loop_json, run_loop

_LAZY = {
    "LoopContext": "run",
    "LoopOptions": "run",
    "loop_for_session": "run",
    "loop_json": "run",
    "run_loop": "run",
}

__all__ = ["LoopContext", "LoopOptions", "loop_for_session", "loop_json", "run_loop"]

__getattr__ = lazy_exports(__name__, _LAZY)
