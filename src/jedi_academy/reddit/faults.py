"""Named save steps where a test can kill the process, to prove every step leaves a resumable run.

Each save step calls :func:`step` with its name. Normally that only counts the call. When the environment
variable ``ACADEMY_INGEST_KILL_AT`` is ``NAME`` or ``NAME:N``, the N-th call (default the first) of step
``NAME`` kills the process with SIGKILL on the spot: nothing is flushed, no handler runs, exactly as a
power cut or ``kill -9`` would leave the files. ``hits`` tells a test which steps a run passes through.
"""

from __future__ import annotations

import os
import signal
from collections import Counter

ENV = "ACADEMY_INGEST_KILL_AT"

hits: Counter[str] = Counter()


def step(name: str) -> None:
    hits[name] += 1
    target = os.environ.get(ENV)
    if not target:
        return
    wanted, _, nth = target.partition(":")
    if wanted == name and hits[name] == int(nth or 1):
        os.kill(os.getpid(), signal.SIGKILL)
