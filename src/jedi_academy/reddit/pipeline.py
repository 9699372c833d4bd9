"""``academy ingest``: dumps in, pseudonymised and scrubbed comments per specialization out.

The order of work: check every input and option (nothing is written if one is wrong), record the run,
stream each file through the scanner, save checkpoints along the way, then merge the part files, build the
author bundles, write the manifest and close the run record.
"""

from __future__ import annotations

import json
import os
import shutil
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jedi_academy.errors import AcademyError
from jedi_academy.reddit import checkpoint, faults
from jedi_academy.reddit.bundles import build_bundles
from jedi_academy.reddit.counts import IngestCounts
from jedi_academy.reddit.errors import DumpReadError, IngestInterrupted
from jedi_academy.reddit.formats import check_inputs, choose_bz2_decoder, open_dump
from jedi_academy.reddit.layout import (
    BUNDLES,
    COMMENTS,
    DATA_FILE,
    MANIFEST,
    comments_dir,
    default_output_dir,
)
from jedi_academy.reddit.privacy import Pseudonymizer, load_or_create_secret
from jedi_academy.reddit.private import private_dir, write_atomically
from jedi_academy.reddit.progress import NullProgress, ProgressSink
from jedi_academy.reddit.rules import KeepRules
from jedi_academy.reddit.runs import describe_input, finish_run, reopen_run, start_run
from jedi_academy.reddit.scanner import Selector, scan

if TYPE_CHECKING:
    from jedi_academy.config import Settings

DEFAULT_CHECKPOINT_EVERY_S = 60.0
LAYOUT_VERSION = 2  # 2: comment ids are pseudonyms


@dataclass
class IngestOptions:
    paths: Sequence[Path]
    # None: all specializations, or the checkpoint's selection with ``resume``.
    specializations: str | Sequence[str] | None = None
    out_dir: Path | None = None
    workers: int | None = None  # decoder threads; default: every core
    resume: bool = False
    rules: KeepRules | None = None  # None: the defaults, or the checkpoint's rules with ``resume``
    specialization_dirs: Sequence[Path] = ()
    bz2_decoder: str = "auto"
    checkpoint_every_s: float = DEFAULT_CHECKPOINT_EVERY_S


@dataclass
class IngestResult:
    run_id: int
    status: str  # completed | partial
    summary: dict[str, Any]  # the --json object
    out_dir: Path
    resumed: bool
    decoders: list[str] = field(default_factory=list)
    malformed_examples: list[dict[str, Any]] = field(default_factory=list)


class _StopRequested(Exception):
    pass


def default_workers() -> int:
    return max(1, min(os.cpu_count() or 1, 16))


def ingest(
    settings: Settings,
    options: IngestOptions,
    *,
    progress: ProgressSink | None = None,
    stop: threading.Event | None = None,
    warn: Callable[[str], None] | None = None,
) -> IngestResult:
    """Run (or resume) an ingest. Raises :class:`DumpReadError` after saving a partial run when a file is
    truncated or corrupt, and :class:`IngestInterrupted` after saving a checkpoint when ``stop`` is set.
    Under the data directory's writer lock (re-entrant: `academy ingest` takes it before its Ctrl-C
    handler)."""
    from jedi_academy.store import data_dir_lock

    with data_dir_lock(settings.data_dir, "ingest"):
        try:
            run = _Run(settings, options, progress or NullProgress(), stop, warn or (lambda _message: None))
            return run.execute()
        except OSError as exc:
            raise filesystem_error(exc) from exc


def filesystem_error(exc: OSError) -> AcademyError:
    """One line for a folder or file that cannot be created, read or written."""
    where = f"{exc.filename}: " if exc.filename else ""
    return AcademyError(
        f"{where}{exc.strerror or exc}",
        "check that --out and --data-dir name folders you can write to (not files, not read-only places)",
    )


class _Run:
    def __init__(
        self,
        settings: Settings,
        options: IngestOptions,
        progress: ProgressSink,
        stop: threading.Event | None,
        warn: Callable[[str], None],
    ) -> None:
        self.settings = settings
        self.options = options
        self.progress = progress
        self.stop = stop
        self.warn = warn
        self.out = (options.out_dir or default_output_dir(settings)).resolve()
        self.paths = [Path(p) for p in options.paths]
        self.formats = check_inputs(self.paths)
        self.workers = options.workers if options.workers is not None else default_workers()
        if self.workers < 1:
            raise AcademyError(f"--workers must be at least 1, not {self.workers}")
        if "bz2" in self.formats:
            choose_bz2_decoder(options.bz2_decoder)  # an unavailable decoder fails before any work
        from jedi_academy.specializations.loading import load_specializations

        self.available = load_specializations(settings, options.specialization_dirs)
        self.decoders: list[str] = []

    # ------------------------------------------------------------------ set-up

    def execute(self) -> IngestResult:
        from jedi_academy.specializations.sync import sync_specializations
        from jedi_academy.store import open_database

        inputs = [describe_input(p, f) for p, f in zip(self.paths, self.formats, strict=True)]
        pseudonymizer = Pseudonymizer(load_or_create_secret(self.settings))
        state, seen, resumed = self._initial_state(inputs, pseudonymizer)
        self._check_output_dir(resumed)
        self.specs = [self.available[spec_id] for spec_id in state.specializations]
        self.rules = KeepRules.model_validate(state.rules)
        self.state = state
        self.resumed = resumed

        database = open_database(self.settings)
        _make_database_private(self.settings)
        sync_specializations(database, self.specs)
        fresh: dict[str, Any] = {  # the run's description, as started or as reopened
            "inputs": inputs,
            "specializations": state.specializations,
            "rules": state.rules,
            "output_dir": self.out,
        }
        if resumed:
            state.run_id = reopen_run(database, state.run_id, **fresh)
        else:
            self._clear_output()
            state.run_id = start_run(database, **fresh)
        self.database = database

        from jedi_academy.reddit.writer import CommentWriter

        self.counts = IngestCounts.from_state(state.counts) if state.counts else IngestCounts()
        try:
            self.writer = CommentWriter(self.out, state.specializations, state.parts)
        except BaseException as exc:
            self._record("failed", error=str(exc))
            raise
        self.seen = seen
        self.selector = Selector(
            self.specs, self.rules, pseudonymizer, self.writer, self.counts, seen, self.warn
        )
        self.started = time.monotonic()
        return self._process()

    def _initial_state(
        self, inputs: list[dict[str, Any]], pseudonymizer: Pseudonymizer
    ) -> tuple[checkpoint.Checkpoint, dict[str, set[bytes]], bool]:
        from jedi_academy.specializations.loading import select_specializations

        options = self.options
        checkpoint.remove_leftovers(self.out)
        has_checkpoint = checkpoint.exists(self.out)
        if options.resume and has_checkpoint:
            try:
                state, seen = checkpoint.load(self.out)
            except (OSError, ValueError, TypeError, KeyError) as exc:
                raise AcademyError(
                    f"the checkpoint in {self.out} cannot be read: {exc}",
                    "run without --resume to start over",
                ) from exc
            self._check_resumable(state, inputs, pseudonymizer)
            state.inputs = inputs
            return state, seen, True
        if options.resume:
            self.warn(f"nothing to resume in {self.out}: starting from the beginning")
        elif has_checkpoint:
            self.warn(
                f"discarding the checkpoint of an unfinished run in {self.out} (--resume continues one)"
            )
        specs = select_specializations(options.specializations, self.available)
        rules = options.rules or KeepRules()
        state = checkpoint.Checkpoint(
            run_id=None,
            inputs=inputs,
            specializations=[s.id for s in specs],
            rules=rules.model_dump(mode="json"),
            key_fingerprint=pseudonymizer.fingerprint(),
        )
        return state, {s.id: set() for s in specs}, False

    def _check_resumable(
        self, state: checkpoint.Checkpoint, inputs: list[dict[str, Any]], pseudonymizer: Pseudonymizer
    ) -> None:
        hint = "run without --resume to start over"
        then = [(i["name"], i["head_sha256"]) for i in state.inputs]
        now = [(i["name"], i["head_sha256"]) for i in inputs]
        if then != now:
            listed = ", ".join(name for name, _ in then)
            raise AcademyError(f"the checkpoint in {self.out} is for other input files ({listed})", hint)
        options = self.options
        if options.specializations is not None:
            from jedi_academy.specializations.loading import select_specializations

            wanted = {s.id for s in select_specializations(options.specializations, self.available)}
            if wanted != set(state.specializations):
                raise AcademyError(
                    f"the checkpoint was made for specializations {','.join(state.specializations)}", hint
                )
        missing = [s for s in state.specializations if s not in self.available]
        if missing:
            raise AcademyError(
                f"the checkpoint needs specializations that are gone: {', '.join(missing)}", hint
            )
        if options.rules is not None and options.rules.model_dump(mode="json") != state.rules:
            raise AcademyError("the checkpoint was made with other keep rules", hint)
        if state.key_fingerprint != pseudonymizer.fingerprint():
            raise AcademyError(
                "the pseudonymisation key changed since the checkpoint; pseudonyms would not match", hint
            )

    def _check_output_dir(self, resumed: bool) -> None:
        """Before any work: the output folder can be created, and holds nothing ingest did not write."""
        if self.out.exists() and not self.out.is_dir():
            raise AcademyError(f"--out {self.out} is a file, not a folder", "choose a folder for the output")
        private_dir(self.out, tighten=False)
        if resumed:
            return
        foreign = [name for name in (COMMENTS, BUNDLES) if (self.out / name).exists()]
        if foreign and not _is_ingest_manifest(self.out / MANIFEST) and not checkpoint.exists(self.out):
            raise AcademyError(
                f"{self.out} holds {' and '.join(name + '/' for name in foreign)} without ingest's "
                f"{MANIFEST}: ingest did not write them and will not delete them",
                "choose another --out, or move those folders away",
            )

    def _clear_output(self) -> None:
        """A fresh run replaces the dataset in the output folder (only the paths ingest owns). The new
        manifest comes first, so the folder is marked as ingest's before anything else is written."""
        private_dir(self.out, tighten=False)
        self._write_manifest("running", None, None)
        checkpoint.remove(self.out)  # first: a checkpoint must never outlive the files it names
        for name in (COMMENTS, BUNDLES):
            shutil.rmtree(self.out / name, ignore_errors=True)
        faults.step("output.cleared")

    # ------------------------------------------------------------------ the work

    def _process(self) -> IngestResult:
        try:
            try:
                for index in range(self.state.file_index, len(self.paths)):
                    self._scan_file(index)
            except DumpReadError as exc:
                exc.summary = self._save_partial(exc.message)
                raise
            except _StopRequested:
                interrupted = IngestInterrupted(
                    f"interrupted after {self.counts.lines_read:,} lines; the checkpoint is in {self.out}",
                    "run the same command with --resume to continue",
                )
                interrupted.summary = self._save_partial("interrupted")
                raise interrupted from None
            return self._finish("completed")
        except (DumpReadError, IngestInterrupted):
            raise
        except KeyboardInterrupt:
            # A second Ctrl-C, at any moment: every save step leaves the last committed checkpoint usable.
            self._record("partial", error="interrupted hard: --resume continues from the last checkpoint")
            raise
        except AcademyError as exc:
            self._record("failed", error=exc.message)
            raise
        except BaseException as exc:
            # A bug or a full disk: the last committed checkpoint still allows --resume.
            self._record("failed", error=f"{type(exc).__name__}: {exc}")
            raise

    def _scan_file(self, index: int) -> None:
        path = self.paths[index]
        state = self.state
        resuming = index == state.file_index and state.offset > 0
        with open_dump(path, workers=self.workers, bz2_decoder=self.options.bz2_decoder) as reader:
            self.decoders.append(reader.decoder)
            line = state.line if resuming else 0
            if resuming:
                reader.skip(state.offset)
            self.progress.start_file(
                path.name, reader.compressed_size, reader.decoder, completed=reader.compressed_pos, lines=line
            )
            self._file_line = line
            next_save = time.monotonic() + self.options.checkpoint_every_s

            def on_chunk(offset: int, lines: int) -> None:
                nonlocal next_save
                self.counts.lines_read += lines - self._file_line
                self._file_line = lines
                state.offset, state.line = offset, lines
                self.progress.update(reader.compressed_pos, lines)
                if self.stop is not None and self.stop.is_set():
                    raise _StopRequested
                if time.monotonic() >= next_save:
                    self._save_checkpoint()
                    next_save = time.monotonic() + self.options.checkpoint_every_s

            try:
                offset, lines = scan(reader, self.selector, path=str(path), line=line, on_chunk=on_chunk)
            except (DumpReadError, _StopRequested):
                self._file_record(index, reader.decoder, complete=False)
                raise
            self.progress.finish_file()
        self._file_record(index, reader.decoder, complete=True, offset=offset, lines=lines)
        state.file_index, state.offset, state.line = index + 1, 0, 0

    def _file_record(
        self, index: int, decoder: str, *, complete: bool, offset: int | None = None, lines: int | None = None
    ) -> None:
        record = {
            "name": self.paths[index].name,
            "decoder": decoder,
            "lines": self.state.line if lines is None else lines,
            "decompressed_bytes": self.state.offset if offset is None else offset,
            "complete": complete,
        }
        files = [f for f in self.counts.files if f["name"] != record["name"]]
        self.counts.files = [*files, record]

    # ------------------------------------------------------------------ saving

    def _elapsed(self) -> float:
        return self.state.elapsed_s + (time.monotonic() - self.started)

    def _save_checkpoint(self) -> None:
        """One atomic commit: parts written so far, position, counts and duplicate digests together."""
        self.writer.flush()
        state = self.state
        state.counts = self.counts.to_state()
        state.parts = {k: [dict(entry) for entry in v] for k, v in self.writer.parts.items()}
        elapsed_before = state.elapsed_s
        state.elapsed_s = self._elapsed()
        try:
            checkpoint.save(self.out, state, self.seen)
        finally:
            state.elapsed_s = elapsed_before

    def _finalise_outputs(self) -> int:
        """Compact the parts into one file per specialization (a checkpoint after each step), build the
        bundles, and count distinct authors."""
        import pyarrow.compute as pc
        import pyarrow.parquet as pq

        self.writer.compact(self._save_checkpoint)
        authors: set[str] = set()
        for spec in self.specs:
            build_bundles(self.out, spec.id)
            faults.step("bundles.written")
            column = pq.read_table(comments_dir(self.out, spec.id) / DATA_FILE, columns=["author"])["author"]
            authors.update(pc.unique(column.drop_null()).to_pylist())
        return len(authors)

    def _summary(self, authors: int) -> dict[str, Any]:
        subreddits = sorted({key for spec in self.specs for key in spec.subreddit_keys})
        return self.counts.summary([s.id for s in self.specs], subreddits, authors, self._elapsed())

    def _save_partial(self, error: str) -> dict[str, Any]:
        """Keep everything read so far usable (compacted, bundled) and resumable (checkpoint)."""
        authors = self._finalise_outputs()
        summary = self._summary(authors)
        self._write_manifest("partial", summary, error)
        self._record("partial", error=error, summary=summary)
        return summary

    def _finish(self, status: str) -> IngestResult:
        """The output first, then the manifest, then the run record, and only then the checkpoint goes:
        until the record says ``completed``, ``--resume`` can redo any of these steps."""
        authors = self._finalise_outputs()
        summary = self._summary(authors)
        self._write_manifest(status, summary, None)
        self._record(status, summary=summary)
        faults.step("run.recorded")
        try:
            checkpoint.remove(self.out)
        except OSError as exc:
            problem = f"the run completed but its checkpoint could not be removed: {exc}"
            self._record(status, summary=summary, error=problem)
            self.warn(problem)
        assert self.state.run_id is not None
        return IngestResult(
            run_id=self.state.run_id,
            status=status,
            summary=summary,
            out_dir=self.out,
            resumed=self.resumed,
            decoders=self.decoders,
            malformed_examples=list(self.counts.malformed_examples),
        )

    def _record(
        self, status: str, *, error: str | None = None, summary: dict[str, Any] | None = None
    ) -> None:
        """Update the run row. When recording a failure fails too (the database is gone), the original
        error is what the user must see, so this one only becomes a warning."""
        if self.state.run_id is None:
            return
        counts = {**(summary or {}), **self._details()}
        try:
            finish_run(
                self.database,
                self.state.run_id,
                status=status,
                counts=counts,
                duration_s=self._elapsed(),
                error=error,
            )
        except Exception as exc:
            if status == "completed" and error is None:
                raise
            self.warn(f"could not record the run's status ({status}): {type(exc).__name__}: {exc}")

    def _details(self) -> dict[str, Any]:
        return {
            "prefilter_false_positives": self.counts.prefilter_false_positives,
            "malformed_examples": self.counts.malformed_examples,
            "files": self.counts.files,
            "workers": self.workers,
        }

    def _write_manifest(self, status: str, summary: dict[str, Any] | None, error: str | None) -> None:
        manifest = {
            "layout_version": LAYOUT_VERSION,
            "run_id": self.state.run_id,
            "status": status,
            "error": error,
            "written_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "inputs": self.state.inputs,
            "specializations": self.state.specializations,
            "rules": self.state.rules,
            "key_fingerprint": self.state.key_fingerprint,
            "summary": summary,
            **(self._details() if summary is not None else {}),
        }
        write_atomically(self.out / MANIFEST, json.dumps(manifest, indent=2).encode("utf-8"))
        faults.step("manifest.written")


def _is_ingest_manifest(path: Path) -> bool:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(data, dict) and {"layout_version", "key_fingerprint", "run_id"} <= data.keys()


def _make_database_private(settings: Settings) -> None:
    """The SQLite database records the inputs and counts of every run: owner-only, like the output."""
    from sqlalchemy.engine import make_url

    url = make_url(settings.resolved_database_url)
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return
    for suffix in ("", "-journal", "-wal", "-shm"):
        path = Path(url.database + suffix)
        if path.exists() and path.stat().st_mode & 0o077:
            os.chmod(path, 0o600)
