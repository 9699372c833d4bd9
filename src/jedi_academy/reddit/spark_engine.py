"""``academy ingest --engine spark``: the same ingest on PySpark, for archives that do not fit one machine.

Plan of a run:

1. The driver checks every input and option exactly as the local engine does, and records the run.
2. One Spark task per input file (:mod:`jedi_academy.reddit.spark_scan`) reads it with the local engine's
   readers, prefilter and per-record functions, and writes the comments that pass the keep rules to a
   staging Parquet file, with the dedupe digest and the position (file, byte offset) of each.
3. Spark drops duplicates per specialization, keeping the first seen (smallest file index, then offset),
   counts what was kept, range-partitions the survivors by (specialization, file, offset), sorts each
   partition and writes it as a Parquet part: memory per task is one partition, never a specialization.
4. The driver joins each specialization's parts in partition order into ``data.parquet`` (one part in
   memory at a time), builds the author bundles, writes the manifest, and closes the run record.

The output folder, its layout, the counts and the Parquet content equal the local engine's on the same
inputs. Input files, the output folder and its staging folder must be visible at the same paths to the
driver and every executor (``local[*]``, or a shared file system on a cluster).
"""

from __future__ import annotations

import json
import math
import os
import shutil
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jedi_academy.errors import AcademyError
from jedi_academy.reddit import checkpoint
from jedi_academy.reddit.counts import IngestCounts
from jedi_academy.reddit.errors import DumpReadError
from jedi_academy.reddit.formats import check_inputs, choose_bz2_decoder
from jedi_academy.reddit.layout import (
    BUNDLES,
    COMMENTS,
    DATA_FILE,
    MANIFEST,
    bundles_file,
    comments_dir,
    default_output_dir,
)
from jedi_academy.reddit.pipeline import (
    LAYOUT_VERSION,
    IngestOptions,
    IngestResult,
    _is_ingest_manifest,
    _make_database_private,
    filesystem_error,
)
from jedi_academy.reddit.privacy import Pseudonymizer, load_or_create_secret
from jedi_academy.reddit.private import private_dir, seal, write_atomically
from jedi_academy.reddit.rules import KeepRules
from jedi_academy.reddit.runs import describe_input, finish_run, start_run
from jedi_academy.reddit.spark_scan import ScanJob, task

if TYPE_CHECKING:
    import pyarrow as pa
    from pyspark.sql import DataFrame, SparkSession

    from jedi_academy.config import Settings

STAGING = "spark-staging"
ROWS_PER_PART = 200_000  # kept rows per output partition: what one task holds while it sorts and writes
PART_RESULT = "spec string, part int, path string"
ENGINE = "spark"


def spark_ingest(
    settings: Settings,
    options: IngestOptions,
    *,
    master: str | None = None,
    spark: SparkSession | None = None,
    warn: Callable[[str], None] | None = None,
) -> IngestResult:
    """:func:`_spark_ingest` under the data directory's writer lock (re-entrant, as for the local engine)."""
    from jedi_academy.store import data_dir_lock

    with data_dir_lock(settings.data_dir, "ingest"):
        return _spark_ingest(settings, options, master=master, spark=spark, warn=warn)


def _spark_ingest(
    settings: Settings,
    options: IngestOptions,
    *,
    master: str | None,
    spark: SparkSession | None,
    warn: Callable[[str], None] | None,
) -> IngestResult:
    """Run an ingest on Spark. ``spark``: an existing session (else the active one, else a new one on
    ``master``, default ``local[*]``; a session started here is stopped at the end). Raises
    :class:`DumpReadError` after saving a partial run when a file is truncated or corrupt, like the local
    engine: what was read before the damage, and nothing from the files after it, is kept."""
    try:
        run = _SparkRun(settings, options, master, warn or (lambda _message: None))
        own_session = False
        if spark is None:
            spark, own_session = open_session(master, run.warn)
        try:
            return run.execute(spark)
        finally:
            if own_session:
                spark.stop()
    except OSError as exc:
        raise filesystem_error(exc) from exc


def open_session(master: str | None, warn: Callable[[str], None]) -> tuple[SparkSession, bool]:
    """The active session, or a new one; the flag says whether it is new (and so ours to stop)."""
    try:
        from pyspark.sql import SparkSession
    except ImportError as exc:
        raise AcademyError(
            "pyspark is not installed", 'install the spark extra: pip install "jedi-academy[spark]"'
        ) from exc
    active = SparkSession.getActiveSession()
    if active is not None:
        running = active.sparkContext.master
        if master is not None and master != running:
            warn(f"using the running Spark session on {running}, not {master}")
        return active, False
    builder = SparkSession.builder.appName("academy-ingest")
    if master is not None:
        builder = builder.master(master)
    try:
        from pyspark import SparkConf

        # Under spark-submit the master comes from its configuration; without one, Spark runs local[*].
        if (master or SparkConf().get("spark.master", "local")).startswith("local"):
            # Local executors must run this interpreter (the one with jedi_academy installed); on a
            # cluster, spark.pyspark.python decides.
            os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
        return builder.getOrCreate(), True
    except Exception as exc:  # pyspark reports a missing Java or a bad master URL in many ways
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise AcademyError(
            f"cannot start Spark{f' on {master}' if master else ''}: {detail}",
            "Spark needs Java 17 or later (apt-get install openjdk-17-jre-headless, or set JAVA_HOME) "
            "and a reachable master URL",
        ) from exc


class _SparkRun:
    def __init__(
        self, settings: Settings, options: IngestOptions, master: str | None, warn: Callable[[str], None]
    ) -> None:
        from jedi_academy.specializations.loading import load_specializations, select_specializations

        if options.resume:
            raise AcademyError(
                "--resume works with the local engine only",
                "Spark retries failed tasks itself; run the command again without --resume to start over",
            )
        self.settings = settings
        self.options = options
        self.master = master
        self.warn = warn
        self.out = (options.out_dir or default_output_dir(settings)).resolve()
        self.paths = [Path(p) for p in options.paths]
        self.formats = check_inputs(self.paths)
        self.workers = options.workers if options.workers is not None else 1
        if self.workers < 1:
            raise AcademyError(f"--workers must be at least 1, not {self.workers}")
        if "bz2" in self.formats:
            choose_bz2_decoder(options.bz2_decoder)
        available = load_specializations(settings, options.specialization_dirs)
        self.specs = select_specializations(options.specializations, available)
        self.rules = options.rules or KeepRules()
        self.staging = self.out / STAGING
        self._check_output_dir()  # before Spark starts: a JVM takes seconds to say nothing useful

    # ------------------------------------------------------------------ the run

    def execute(self, spark: SparkSession) -> IngestResult:
        from jedi_academy.specializations.sync import sync_specializations
        from jedi_academy.store import open_database

        self.started = time.monotonic()
        self.inputs = [describe_input(p, f) for p, f in zip(self.paths, self.formats, strict=True)]
        key = load_or_create_secret(self.settings)
        self.key_fingerprint = Pseudonymizer(key).fingerprint()
        self.database = open_database(self.settings)
        _make_database_private(self.settings)
        sync_specializations(self.database, self.specs)
        self.run_id: int | None = None
        self._clear_output()
        self.run_id = start_run(
            self.database,
            inputs=self.inputs,
            specializations=[s.id for s in self.specs],
            rules=self.rules.model_dump(mode="json"),
            output_dir=self.out,
        )
        self.master_used = spark.sparkContext.master
        try:
            scanned = self._scan_files(spark, key)
            read_error = self._first_error(scanned)
            scanned = [r for r in scanned if read_error is None or r["file_index"] <= read_error[0]]
            self.counts = _merge_counts(scanned)
            for example in self.counts.malformed_examples:
                self.warn(
                    f"{example['file']}: line {example['line']:,} is not valid JSON ({example['error']})"
                )
            files = [r["candidates"] for r in scanned if r["rows"]]
            authors = self._dedupe_and_write(spark, files, sum(r["rows"] for r in scanned))
        except BaseException as exc:
            self._record("failed", error=f"{type(exc).__name__}: {exc}")
            raise
        finally:
            shutil.rmtree(self.staging, ignore_errors=True)
        summary = self._summary(authors)
        if read_error is not None:
            error = read_error[1]
            self._write_manifest("partial", summary, error.message)
            self._record("partial", error=error.message, summary=summary)
            error.summary = summary
            raise error
        self._write_manifest("completed", summary, None)
        self._record("completed", summary=summary)
        return IngestResult(
            run_id=self.run_id,
            status="completed",
            summary=summary,
            out_dir=self.out,
            resumed=False,
            decoders=[f["decoder"] for f in self.counts.files],
            malformed_examples=list(self.counts.malformed_examples),
        )

    def _check_output_dir(self) -> None:
        """As the local engine: the output folder can be created and holds nothing ingest did not write."""
        if self.out.exists() and not self.out.is_dir():
            raise AcademyError(f"--out {self.out} is a file, not a folder", "choose a folder for the output")
        private_dir(self.out, tighten=False)
        foreign = [name for name in (COMMENTS, BUNDLES) if (self.out / name).exists()]
        if foreign and not _is_ingest_manifest(self.out / MANIFEST) and not checkpoint.exists(self.out):
            raise AcademyError(
                f"{self.out} holds {' and '.join(name + '/' for name in foreign)} without ingest's "
                f"{MANIFEST}: ingest did not write them and will not delete them",
                "choose another --out, or move those folders away",
            )

    def _clear_output(self) -> None:
        """Replace the dataset in the output folder, manifest first (it marks the folder as ingest's); a
        local run's resume state goes too, since it is for another dataset now."""
        self._write_manifest("running", None, None)
        checkpoint.remove(self.out)
        for name in (COMMENTS, BUNDLES, STAGING):
            shutil.rmtree(self.out / name, ignore_errors=True)
        private_dir(self.staging / "scan")
        private_dir(self.staging / "parts")

    def _scan_files(self, spark: SparkSession, key: bytes) -> list[dict[str, Any]]:
        """Stage 1: one task per file; only the small per-file results come back to the driver."""
        sub_to_specs: dict[str, tuple[str, ...]] = {}
        for spec in self.specs:
            for subreddit in spec.subreddit_keys:
                sub_to_specs[subreddit] = (*sub_to_specs.get(subreddit, ()), spec.id)
        job = ScanJob(
            key=key,
            rules=self.rules.model_dump(mode="json"),
            sub_to_specs=sub_to_specs,
            staging=str(self.staging / "scan"),
            bz2_decoder=self.options.bz2_decoder,
            workers=self.workers,
        )
        items = [(i, str(path.resolve())) for i, path in enumerate(self.paths)]
        # Largest files first (Spark starts the tasks of a stage in partition order), so that a big month
        # does not start last and run alone; results are put back in input order, which decides dedupe.
        items.sort(key=lambda item: -self.paths[item[0]].stat().st_size)
        context = spark.sparkContext
        context.setJobDescription(f"academy ingest: scan {len(items)} file(s)")
        results = context.parallelize(items, len(items)).map(task(job)).collect()
        return sorted(results, key=lambda r: r["file_index"])

    def _first_error(self, scanned: list[dict[str, Any]]) -> tuple[int, DumpReadError] | None:
        """The first damaged file, in input order; an input that is not a dump at all fails the run."""
        for result in scanned:
            error = result["error"]
            if error is None:
                continue
            if error["kind"] != "read":
                raise AcademyError(error["message"], error["hint"])
            detail = error["detail"]
            exc = DumpReadError(
                detail["path"],
                detail["reason"],
                decompressed_offset=detail["decompressed_offset"],
                compressed_offset=detail["compressed_offset"],
                compressed_size=detail["compressed_size"],
            )
            if detail["line"] is not None:
                exc.at_line(detail["line"])
            return result["file_index"], exc
        return None

    # ------------------------------------------------------------------ stage 2

    def _dedupe_and_write(self, spark: SparkSession, candidate_files: list[str], candidates: int) -> int:
        """Drop duplicates, count, and write the kept rows and the author bundles; return the number of
        distinct authors. Shuffles get one partition per ``ROWS_PER_PART`` candidates (Spark's default of
        200 costs more than the work on a month's few thousand)."""
        from jedi_academy.reddit.schema import BUNDLE_SCHEMA, COMMENT_SCHEMA

        spec_ids = [s.id for s in self.specs]
        parts: dict[str, dict[str, list[tuple[int, str]]]] = {
            kind: {spec_id: [] for spec_id in spec_ids} for kind in ("comments", "bundles")
        }
        authors = 0
        if candidate_files:
            from pyspark import StorageLevel

            shuffle_setting = "spark.sql.shuffle.partitions"
            previous = spark.conf.get(shuffle_setting)
            spark.conf.set(shuffle_setting, str(max(1, math.ceil(candidates / ROWS_PER_PART))))
            ranked = self._ranked(spark.read.parquet(*candidate_files)).persist(StorageLevel.MEMORY_AND_DISK)
            try:
                total = self._count(ranked)
                authors = ranked.where("first AND author IS NOT NULL").select("author").distinct().count()
                kept = ranked.where("first").select("spec", "file_index", "offset", *COMMENT_SCHEMA.names)
                partitions = max(1, math.ceil(total / ROWS_PER_PART))
                jobs = (
                    ("comments", kept, ("spec", "file_index", "offset"), ()),
                    ("bundles", kept.where("author IS NOT NULL"), ("spec", "author"), ("created_utc", "id")),
                )
                for kind, rows, keys, then in jobs:
                    # Range partitions: partition i holds only rows that sort before those of i + 1.
                    ordered = rows.repartitionByRange(partitions, *keys).sortWithinPartitions(*keys, *then)
                    writer = partition_writer(str(self.staging / "parts"), kind)
                    for row in ordered.mapInArrow(writer, PART_RESULT).collect():
                        parts[kind][row["spec"]].append((row["part"], row["path"]))
            finally:
                ranked.unpersist()
                spark.conf.set(shuffle_setting, previous)
        for spec_id in spec_ids:
            comments = [path for _, path in sorted(parts["comments"][spec_id])]
            _join_parts(comments, comments_dir(self.out, spec_id) / DATA_FILE, COMMENT_SCHEMA)
            bundles = [path for _, path in sorted(parts["bundles"][spec_id])]
            _join_parts(bundles, bundles_file(self.out, spec_id), BUNDLE_SCHEMA)
        return authors

    def _ranked(self, candidates: DataFrame) -> DataFrame:
        """Every candidate with ``first``: whether it is the first of its body in its specialization."""
        from pyspark.sql import Window
        from pyspark.sql import functions as F

        if not self.rules.dedupe_bodies:
            return candidates.withColumn("first", F.lit(True))
        order = Window.partitionBy("spec", "digest").orderBy("file_index", "offset")
        return candidates.withColumn("first", F.row_number().over(order) == 1)

    def _count(self, ranked: DataFrame) -> int:
        """Fill the counts the dedupe decides (one small result per subreddit); return the number of kept
        rows over all specializations."""
        from pyspark.sql import functions as F

        spec_ids = [s.id for s in self.specs]
        firsts = [
            F.sum(F.when(F.col("first") & (F.col("spec") == spec_id), 1).otherwise(0)).alias(f"n{i}")
            for i, spec_id in enumerate(spec_ids)
        ]
        per_comment = ranked.groupBy("file_index", "offset", "subreddit_key").agg(
            F.max(F.col("first").cast("int")).alias("kept"), *firsts
        )
        totals = per_comment.groupBy("subreddit_key", "kept").agg(
            F.count(F.lit(1)).alias("comments"),
            *[F.sum(f"n{i}").alias(f"n{i}") for i in range(len(spec_ids))],
        )
        counts = self.counts
        for row in totals.collect():
            if row["kept"]:
                counts.kept += row["comments"]
                counts.by_subreddit[row["subreddit_key"]] += row["comments"]
            else:
                counts.dropped["duplicate"] += row["comments"]
            for i, spec_id in enumerate(spec_ids):
                counts.by_specialization[spec_id] += row[f"n{i}"]
        return sum(counts.by_specialization.values())

    # ------------------------------------------------------------------ finishing

    def _elapsed(self) -> float:
        return time.monotonic() - self.started

    def _summary(self, authors: int) -> dict[str, Any]:
        subreddits = sorted({key for spec in self.specs for key in spec.subreddit_keys})
        return self.counts.summary([s.id for s in self.specs], subreddits, authors, self._elapsed())

    def _details(self) -> dict[str, Any]:
        counts = getattr(self, "counts", IngestCounts())
        return {
            "prefilter_false_positives": counts.prefilter_false_positives,
            "malformed_examples": counts.malformed_examples,
            "files": counts.files,
            "workers": self.workers,
            "engine": ENGINE,
            "spark_master": getattr(self, "master_used", self.master),
        }

    def _record(
        self, status: str, *, error: str | None = None, summary: dict[str, Any] | None = None
    ) -> None:
        """Update the run row; when recording a failure fails too, the original error is what counts."""
        if self.run_id is None:
            return
        try:
            finish_run(
                self.database,
                self.run_id,
                status=status,
                counts={**(summary or {}), **self._details()},
                duration_s=self._elapsed(),
                error=error,
            )
        except Exception as exc:
            if status == "completed" and error is None:
                raise
            self.warn(f"could not record the run's status ({status}): {type(exc).__name__}: {exc}")

    def _write_manifest(self, status: str, summary: dict[str, Any] | None, error: str | None) -> None:
        manifest = {
            "layout_version": LAYOUT_VERSION,
            "run_id": self.run_id,
            "status": status,
            "error": error,
            "written_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "inputs": self.inputs,
            "specializations": [s.id for s in self.specs],
            "rules": self.rules.model_dump(mode="json"),
            "key_fingerprint": self.key_fingerprint,
            "summary": summary,
            **(self._details() if summary is not None else {}),
        }
        write_atomically(self.out / MANIFEST, json.dumps(manifest, indent=2).encode("utf-8"))


def _merge_counts(scanned: list[dict[str, Any]]) -> IngestCounts:
    """The per-file counts added up in input order (the malformed examples are the first ones read)."""
    from jedi_academy.reddit.counts import MALFORMED_EXAMPLES

    total = IngestCounts()
    for result in scanned:
        part = IngestCounts.from_state(result["counts"])
        total.lines_read += part.lines_read
        total.malformed += part.malformed
        total.matched += part.matched
        total.dropped.update(part.dropped)
        total.prefilter_false_positives += part.prefilter_false_positives
        room = MALFORMED_EXAMPLES - len(total.malformed_examples)
        total.malformed_examples.extend(part.malformed_examples[:room])
        total.files.append(result["file"])
    return total


def partition_writer(
    folder: str, kind: str
) -> Callable[[Iterator[pa.RecordBatch]], Iterator[pa.RecordBatch]]:
    """The ``mapInArrow`` function that writes one sorted partition as one Parquet file per specialization
    in it, named after the partition and the attempt: ``comments`` rows as they come, ``bundles`` grouped
    per author (the partition's rows of a specialization in memory: range partitions keep that bounded)."""

    def write(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        import pyarrow as pa
        import pyarrow.compute as pc
        import pyarrow.parquet as pq
        from pyspark import TaskContext

        from jedi_academy.reddit.bundles import _group
        from jedi_academy.reddit.schema import BUNDLE_SCHEMA, COMMENT_SCHEMA

        context = TaskContext.get()
        part = context.partitionId() if context is not None else 0
        attempt = context.attemptNumber() if context is not None else 0
        schema = COMMENT_SCHEMA if kind == "comments" else BUNDLE_SCHEMA
        writers: dict[str, tuple[pq.ParquetWriter, Path]] = {}
        held: dict[str, list[pa.Table]] = {}

        def output(spec_id: str, table: pa.Table) -> None:
            if spec_id not in writers:
                target = Path(folder) / f"{kind}-{spec_id}-part-{part:05d}-attempt-{attempt}.parquet"
                writers[spec_id] = (pq.ParquetWriter(target, schema, compression="zstd"), target)
            writers[spec_id][0].write_table(table)

        for batch in batches:
            table = pa.Table.from_batches([batch])
            for spec_id in pc.unique(table["spec"]).to_pylist():
                rows = table.filter(pc.equal(table["spec"], spec_id))
                arrays = [rows[field.name].cast(field.type) for field in COMMENT_SCHEMA]
                comments = pa.Table.from_arrays(arrays, schema=COMMENT_SCHEMA)
                if kind == "comments":
                    output(spec_id, comments)
                else:
                    held.setdefault(spec_id, []).append(comments)
        for spec_id, tables in held.items():
            output(spec_id, _group(pa.concat_tables(tables), BUNDLE_SCHEMA))
        for spec_id, (writer, target) in writers.items():
            writer.close()
            yield pa.RecordBatch.from_pydict(
                {"spec": [spec_id], "part": [part], "path": [str(target)]},
                schema=pa.schema([("spec", pa.string()), ("part", pa.int32()), ("path", pa.string())]),
            )

    return write


def _join_parts(sources: list[str], target: Path, schema: pa.Schema) -> None:
    """One file from the parts in order (written even when empty), one part in memory at a time."""
    import pyarrow.parquet as pq

    private_dir(target.parent.parent)
    private_dir(target.parent)
    tmp = target.with_name(target.name + ".tmp")
    with pq.ParquetWriter(tmp, schema, compression="zstd") as writer:
        for source in sources:
            writer.write_table(pq.read_table(source, schema=schema))
    seal(tmp, target)
