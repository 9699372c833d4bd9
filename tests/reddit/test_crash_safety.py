"""Crash safety: a kill -9 inside any save step, or a second Ctrl-C at any moment, leaves a run that
``--resume`` finishes with exactly the output of an uninterrupted run."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from jedi_academy.cli import main
from jedi_academy.config import Settings
from jedi_academy.reddit import IngestOptions, faults, ingest
from jedi_academy.reddit import scanner as scanner_module
from jedi_academy.reddit.errors import IngestInterrupted
from jedi_academy.reddit.layout import bundles_file
from jedi_academy.store import open_database
from jedi_academy.store.models import IngestRun
from tests.reddit.dumps import write_dump
from tests.reddit.test_ingest import StopAfter, big_comments, comparable, run, table

SPECS = ("adhd", "anxiety", "ptsd")  # the specializations of big_comments' subreddits
# Every step a run saves through; the test fails if one is renamed or no longer reached.
SAVE_STEPS = {
    "manifest.written",
    "output.cleared",
    "writer.part-written",
    "checkpoint.digests-written",
    "checkpoint.committed",
    "checkpoint.cleaned",
    "writer.merged-written",
    "writer.parts-deleted",
    "writer.renamed",
    "bundles.written",
    "run.recorded",
    "checkpoint.removed",
}


@pytest.fixture
def small_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(scanner_module, "CHUNK", 16 << 10)


def dataset(out: Path) -> dict[str, Any]:
    """Everything a run leaves for its readers: comments and bundles of every specialization."""
    return {spec: (table(out, spec), pq.read_table(bundles_file(out, spec)).to_pylist()) for spec in SPECS}


def killed_run(settings: Settings, path: Path, out: Path, target: str) -> int:
    """Run ingest in a forked child that SIGKILLs itself at ``target``; return how the child ended."""
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        try:
            os.environ[faults.ENV] = target
            faults.hits.clear()
            options = IngestOptions(paths=[path], out_dir=out, specializations=SPECS, checkpoint_every_s=0)
            ingest(settings, options)
        finally:
            os._exit(3)
    _, status = os.waitpid(pid, 0)
    return status


@pytest.mark.usefixtures("small_chunks")
def test_a_kill_inside_every_save_step_resumes_to_identical_output(
    settings: Settings, tmp_path: Path
) -> None:
    path = write_dump(tmp_path, big_comments(250))
    faults.hits.clear()
    reference = run(
        settings, [path], out_dir=tmp_path / "reference", specializations=SPECS, checkpoint_every_s=0
    )
    steps = dict(faults.hits)
    assert set(steps) == SAVE_STEPS
    assert steps["checkpoint.committed"] > 3  # several periodic checkpoints, then the final ones
    expected = dataset(reference.out_dir)

    # The first and last time through each step (the middle ones repeat the same periodic save).
    for step, count in sorted(steps.items()):
        for nth in sorted({1, count}):
            out = tmp_path / f"{step}-{nth}"
            status = killed_run(settings, path, out, f"{step}:{nth}")
            assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL, (step, nth, status)
            resumed = run(settings, [path], out_dir=out, specializations=SPECS, resume=True)
            assert comparable(resumed.summary) == comparable(reference.summary), (step, nth)
            assert dataset(out) == expected, (step, nth)
            assert not (out / ".checkpoint").exists()
            leftovers = {p.name for p in (out / "comments").rglob("*") if p.is_file()}
            assert leftovers == {"data.parquet"}, (step, nth)


@pytest.mark.usefixtures("small_chunks")
@pytest.mark.parametrize(
    "step",
    [
        "checkpoint.digests-written",
        "writer.merged-written",
        "writer.parts-deleted",
        "writer.renamed",
        "bundles.written",
        "manifest.written",
    ],
)
def test_a_second_ctrl_c_during_the_final_save_leaves_a_resumable_run(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, step: str
) -> None:
    path = write_dump(tmp_path, big_comments(250))
    reference = run(settings, [path], out_dir=tmp_path / "reference")
    original = faults.step

    def second_ctrl_c(name: str) -> None:
        original(name)
        if name == step and stopper.event.is_set():
            raise KeyboardInterrupt  # what the CLI's handler raises on a second Ctrl-C

    monkeypatch.setattr(faults, "step", second_ctrl_c)
    stopper = StopAfter(3)
    out = tmp_path / "out"
    with pytest.raises(KeyboardInterrupt):
        options = IngestOptions(paths=[path], out_dir=out, checkpoint_every_s=0)
        ingest(settings, options, progress=stopper, stop=stopper.event)
    monkeypatch.setattr(faults, "step", original)
    with open_database(settings).session() as session:
        row = session.query(IngestRun).order_by(IngestRun.id.desc()).first()
        assert row is not None and row.status == "partial" and "interrupted hard" in (row.error or "")
    resumed = run(settings, [path], out_dir=out, resume=True)
    assert resumed.run_id == row.id
    assert comparable(resumed.summary) == comparable(reference.summary)
    assert dataset(out) == dataset(reference.out_dir)


@pytest.mark.usefixtures("small_chunks")
def test_two_real_ctrl_c_signals_then_resume(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The measured failure: Ctrl-C, then Ctrl-C again while the end-of-run save merges the parts."""
    path = write_dump(tmp_path, big_comments(250))
    data = ["--data-dir", str(tmp_path / "data")]
    original_process, original_step = scanner_module.Selector.process, faults.step
    calls = {"chunks": 0}

    def first_ctrl_c(self: Any, *args: Any) -> int:
        calls["chunks"] += 1
        if calls["chunks"] == 3:
            os.kill(os.getpid(), signal.SIGINT)
        return original_process(self, *args)

    def second_ctrl_c(name: str) -> None:
        original_step(name)
        if name == "writer.merged-written":
            os.kill(os.getpid(), signal.SIGINT)

    monkeypatch.setattr(scanner_module.Selector, "process", first_ctrl_c)
    monkeypatch.setattr(faults, "step", second_ctrl_c)
    assert main([*data, "ingest", str(path)]) == 130
    err = capsys.readouterr().err
    assert "Traceback" not in err and "--resume" in err.splitlines()[-1]
    monkeypatch.setattr(scanner_module.Selector, "process", original_process)
    monkeypatch.setattr(faults, "step", original_step)

    assert main([*data, "ingest", str(path), "--resume", "--json"]) == 0
    resumed = json.loads(capsys.readouterr().out)
    assert main([*data, "ingest", str(path), "--json", "--out", str(tmp_path / "full")]) == 0
    assert comparable(resumed) == comparable(json.loads(capsys.readouterr().out))
    assert dataset(tmp_path / "data" / "reddit") == dataset(tmp_path / "full")


def test_a_checkpoint_whose_part_was_changed_is_refused(settings: Settings, tmp_path: Path) -> None:
    path = write_dump(tmp_path, big_comments(300))
    stopper = StopAfter(1)
    with pytest.raises(IngestInterrupted):
        ingest(settings, IngestOptions(paths=[path]), progress=stopper, stop=stopper.event)
    data_file = settings.path("reddit", "comments", "specialization=adhd", "data.parquet")
    data_file.write_bytes(data_file.read_bytes()[:-10])
    with pytest.raises(Exception, match="missing or was changed"):
        run(settings, [path], resume=True)


def test_failures_in_the_final_bookkeeping_are_recorded_on_the_run(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from jedi_academy.reddit import checkpoint as checkpoint_module
    from jedi_academy.reddit import pipeline as pipeline_module

    path = write_dump(tmp_path, big_comments(100))
    real_write = pipeline_module.write_atomically

    def full_disk(target: Path, data: bytes) -> None:
        if target.name == "manifest.json" and b'"completed"' in data:
            raise OSError(28, "No space left on device", str(target))
        real_write(target, data)

    monkeypatch.setattr(pipeline_module, "write_atomically", full_disk)
    with pytest.raises(Exception, match="No space left on device"):
        run(settings, [path], specializations=SPECS)
    with open_database(settings).session() as session:
        row = session.query(IngestRun).one()
        assert row.status == "failed" and "No space left" in (row.error or "")
    monkeypatch.setattr(pipeline_module, "write_atomically", real_write)

    def cannot_remove(out: Path) -> None:
        raise PermissionError(13, "Permission denied", str(out / ".checkpoint"))

    monkeypatch.setattr(checkpoint_module, "remove", cannot_remove)
    resumed = run(settings, [path], specializations=SPECS, resume=True)
    assert resumed.resumed and resumed.status == "completed"
    with open_database(settings).session() as session:
        row = session.query(IngestRun).one()
        assert row.status == "completed" and "checkpoint could not be removed" in (row.error or "")


@pytest.mark.usefixtures("small_chunks")
@pytest.mark.parametrize("step", ["manifest.written", "checkpoint.removed", "output.cleared"])
def test_a_kill_while_a_fresh_run_clears_an_unfinished_one_still_resumes(
    settings: Settings, tmp_path: Path, step: str
) -> None:
    path = write_dump(tmp_path, big_comments(250))
    out = tmp_path / "out"
    stopper = StopAfter(3)
    with pytest.raises(IngestInterrupted):
        options = IngestOptions(paths=[path], out_dir=out, specializations=SPECS, checkpoint_every_s=0)
        ingest(settings, options, progress=stopper, stop=stopper.event)
    assert (out / ".checkpoint" / "state.json").exists()
    status = killed_run(settings, path, out, f"{step}:1")  # a new run, not --resume, killed at once
    assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL
    resumed = run(settings, [path], out_dir=out, specializations=SPECS, resume=True)
    reference = run(settings, [path], out_dir=tmp_path / "reference", specializations=SPECS)
    assert comparable(resumed.summary) == comparable(reference.summary)
    assert dataset(out) == dataset(reference.out_dir)
