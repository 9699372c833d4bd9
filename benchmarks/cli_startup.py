"""``academy --help`` start-up time against a bare ``python -c pass`` measured in the same run.

Target: ``academy --help`` answers in under half a second (heavy libraries load only in the commands
that use them).

Run: ``python -m benchmarks.cli_startup [--repeat 5]``
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time


def best_of(command: list[str], repeat: int) -> float:
    timings = []
    for _ in range(repeat):
        started = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True)
        timings.append(time.perf_counter() - started)
    return min(timings), statistics.median(timings)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)
    bare_best, bare_median = best_of([sys.executable, "-c", "pass"], args.repeat)
    help_best, help_median = best_of([sys.executable, "-m", "jedi_academy.cli", "--help"], args.repeat)
    print(f"python -c pass        best {bare_best:.3f} s  median {bare_median:.3f} s")
    print(f"academy --help        best {help_best:.3f} s  median {help_median:.3f} s  "
          f"({help_median / bare_median:.1f}x bare python; target: under 0.5 s)")  # fmt: skip


if __name__ == "__main__":
    main()
