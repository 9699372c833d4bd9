"""Rows of long-running work (``status = "running"``) record the process that runs them (``owner_pid``,
``owner_host``). A run whose process is gone (killed, crashed, machine rebooted) would otherwise stay
``running`` forever; :func:`mark_orphaned_runs` marks it ``failed`` with the reason.

Every table with the columns ``status``, ``owner_pid`` and ``owner_host`` takes part, so later stages (the
loop, workers) get the same treatment by adding the columns. Only rows owned by this host are judged: a
process on another machine sharing a PostgreSQL database cannot be checked from here.
"""

from __future__ import annotations

import os
import socket
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from sqlalchemy import Table, select, update

from jedi_academy.store.models import Base

if TYPE_CHECKING:
    from jedi_academy.store.db import Database

OWNED_COLUMNS = ("status", "owner_pid", "owner_host")


def process_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by another user
    return True


def owned_tables() -> list[Table]:
    return [t for t in Base.metadata.sorted_tables if all(c in t.columns for c in OWNED_COLUMNS)]


def mark_orphaned_runs(database: Database) -> list[tuple[str, object]]:
    """Mark the ``running`` rows whose process on this host is gone as ``failed``; returns (table, key)."""
    host = socket.gethostname()
    marked: list[tuple[str, object]] = []
    with database.session() as session:
        for table in owned_tables():
            key = next(iter(table.primary_key.columns))
            query = select(key, table.c.owner_pid).where(
                table.c.status == "running", table.c.owner_host == host, table.c.owner_pid.is_not(None)
            )
            for row_key, pid in session.execute(query).all():
                if process_alive(pid):
                    continue
                values: dict[str, object] = {"status": "failed", "owner_pid": pid, "owner_host": host}
                if "error" in table.columns:
                    values["error"] = f"process {pid} on {host} ended without finishing the run"
                if "finished_at" in table.columns:
                    values["finished_at"] = datetime.now(UTC)
                session.execute(update(table).where(key == row_key).values(**values))
                marked.append((table.name, row_key))
    return marked
