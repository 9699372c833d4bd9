"""Spark ingest: the per-core rate of one file task, a whole ``--engine spark`` run on ``local[N]`` against
the local engine on the same files, and what that means for the whole Pushshift archive.

(a) per-core rate: the Spark engine's per-file task (:func:`jedi_academy.reddit.spark_scan.scan_file`) run
    in this process on one synthetic month, once as zst and once as bz2 (stdlib decoder, one thread); CPU
    seconds (this process and its children) so that a loaded machine does not distort it;
(b) the whole run: ``spark_ingest`` on ``local[CORES]`` over FILES zst months, wall time, against the local
    engine (``ingest``) on the same files in the same round;
(c) the archive estimate: 2.5 TB of zst at the measured per-core rate, on N cores.

Run: ``python -m benchmarks.spark_ingest [--lines N] [--files F] [--cores C]`` (needs Java 17+ and pyspark).
"""

from __future__ import annotations

import argparse
import bz2
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.ingest import _cpu_seconds, make_dump

ARCHIVE_ZST_BYTES = 2.5e12  # the Pushshift comment archive 2005-2023 as zst (issue 20)
# zstd -19 --long=31 on 2015-schema text (reference §6: 124.2 MB -> 23.0 MB); the real ratio is unmeasured.
ARCHIVE_ZST_RATIO = 5.4
MONTHS = 217  # 2005-12 to 2023-12: one task per monthly file
# The largest monthly files (2021 to 2023) as zst: an estimate, unmeasured; one task reads a whole file.
LARGEST_MONTH_ZST_BYTES = 30e9


def to_zst(source: Path, target: Path) -> None:
    import zstandard

    if target.exists():
        return
    params = zstandard.ZstdCompressionParameters.from_level(10, window_log=31, enable_ldm=True)
    with bz2.open(source, "rb") as raw, target.open("wb") as out:
        zstandard.ZstdCompressor(compression_params=params).copy_stream(raw, out)


def per_core(path: Path, decoder: str, settings_dir: Path) -> tuple[float, int, int]:
    """(CPU seconds, lines, decompressed bytes) of one file task in this process."""
    from jedi_academy.config import load_settings
    from jedi_academy.reddit.privacy import load_or_create_secret
    from jedi_academy.reddit.spark_scan import ScanJob, scan_file
    from jedi_academy.specializations.loading import load_specializations

    settings = load_settings(data_dir=settings_dir)
    sub_to_specs: dict[str, tuple[str, ...]] = {}
    for spec in load_specializations(settings).values():
        for key in spec.subreddit_keys:
            sub_to_specs[key] = (*sub_to_specs.get(key, ()), spec.id)
    staging = settings_dir / "scan"
    staging.mkdir(parents=True, exist_ok=True)
    job = ScanJob(load_or_create_secret(settings), {}, sub_to_specs, str(staging), bz2_decoder=decoder)
    cpu = _cpu_seconds()
    result = scan_file(job, 0, str(path))
    return _cpu_seconds() - cpu, result["file"]["lines"], result["file"]["decompressed_bytes"]


def whole_runs(paths: list[Path], cores: int, scratch: Path) -> tuple[float, float, int]:
    """Wall seconds of the Spark engine on local[cores] and of the local engine; lines read."""
    from jedi_academy.config import load_settings
    from jedi_academy.reddit import IngestOptions, ingest
    from jedi_academy.reddit.spark_engine import open_session, spark_ingest

    settings = load_settings(data_dir=scratch / "data")
    spark, _ = open_session(f"local[{cores}]", print)
    spark.sparkContext.setLogLevel("ERROR")
    try:
        spark_ingest(settings, IngestOptions(paths=paths[:1], out_dir=scratch / "warm-up"), spark=spark)
        start = time.perf_counter()
        remote = spark_ingest(settings, IngestOptions(paths=paths, out_dir=scratch / "spark"), spark=spark)
        spark_s = time.perf_counter() - start
    finally:
        spark.stop()
    start = time.perf_counter()
    local = ingest(settings, IngestOptions(paths=paths, out_dir=scratch / "local"))
    local_s = time.perf_counter() - start
    assert remote.summary["kept"] == local.summary["kept"]
    return spark_s, local_s, local.summary["lines_read"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.spark_ingest", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--lines", type=int, default=200_000, help="lines per synthetic month (200,000)")
    parser.add_argument("--files", type=int, default=4, help="months in the whole run (4)")
    parser.add_argument("--cores", type=int, default=os.cpu_count() or 2, help="local[N] for the whole run")
    parser.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "academy-bench-ingest")
    args = parser.parse_args(argv)
    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        print("skipped: no Java runtime (Spark needs Java 17+)")
        return 0
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    args.cache.mkdir(parents=True, exist_ok=True)
    months = []
    for seed in range(args.files):
        bz2_path, raw_bytes, _ = make_dump(args.cache, args.lines, 2015 + seed, args.cores)
        zst_path = bz2_path.with_suffix(".zst")
        to_zst(bz2_path, zst_path)
        months.append((bz2_path, zst_path, raw_bytes))
    bz2_path, zst_path, raw_bytes = months[0]
    print(
        f"month: {args.lines:,} lines, {raw_bytes / 1e6:.1f} MB; bz2 {bz2_path.stat().st_size / 1e6:.1f} MB, "
        f"zst {zst_path.stat().st_size / 1e6:.1f} MB; {os.cpu_count()} cores; load average "
        f"{os.getloadavg()[0]:.1f}",
        flush=True,
    )
    with tempfile.TemporaryDirectory(prefix="academy-bench-spark-") as scratch_name:
        scratch = Path(scratch_name)
        rates = {}
        for label, path, decoder in (("zst", zst_path, "auto"), ("bz2", bz2_path, "python")):
            cpu, lines, size = per_core(path, decoder, scratch / f"per-core-{label}")
            rates[label] = size / cpu
            print(
                f"(a) one file task, {label}: {lines / cpu:,.0f} lines per CPU second, "
                f"{size / cpu / 1e6:.1f} MB/s of JSON per core ({cpu:.2f} CPU s)",
                flush=True,
            )
        spark_s, local_s, lines = whole_runs([zst for _, zst, _ in months], args.cores, scratch)
        print(
            f"(b) {len(months)} zst months, {lines:,} lines: spark local[{args.cores}] {spark_s:.1f} s "
            f"({lines / spark_s:,.0f} lines/s), local engine {local_s:.1f} s "
            f"({lines / local_s:,.0f} lines/s); "
            f"spark/local time {spark_s / local_s:.2f}",
            flush=True,
        )
    raw = ARCHIVE_ZST_BYTES * ARCHIVE_ZST_RATIO
    core_hours = raw / rates["zst"] / 3600
    print(
        f"(c) archive: {ARCHIVE_ZST_BYTES / 1e12:.1f} TB zst ~ {raw / 1e12:.1f} TB of JSON (ratio "
        f"{ARCHIVE_ZST_RATIO}, assumed) = {core_hours:,.0f} core-hours at the zst rate of (a)"
    )
    largest_h = LARGEST_MONTH_ZST_BYTES * ARCHIVE_ZST_RATIO / rates["zst"] / 3600
    print(
        f"    the largest month (~{LARGEST_MONTH_ZST_BYTES / 1e9:.0f} GB zst, estimate) takes "
        f"{largest_h:.2f} h in its one task: no run is shorter"
    )
    for cores in (16, 64, 256):
        hours = max(core_hours / min(cores, MONTHS), largest_h)
        print(f"    on {cores} cores: about {hours:,.1f} h")
    return 0


if __name__ == "__main__":
    sys.exit(main())
