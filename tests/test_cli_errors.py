"""The ``academy`` entry point, driven as a subprocess the way a user meets it: every bad input is one clean
line (usage errors exit 2, other problems 1, never a traceback) and leaves the store as it was; two writers on
one data directory end with one clean result and a clear message for the other.

Probes run a few at a time (each start-up costs a second or two) and share one real pipeline run.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

PROGRAM = Path(sys.executable).with_name("academy")
ACADEMY = [str(PROGRAM)] if PROGRAM.is_file() else [sys.executable, "-m", "jedi_academy.cli"]
LOCK_FILES = {".academy.lock", ".academy.lock.json"}
BINARY = bytes(range(128, 256)) * 4


def academy(
    *args: str, cwd: Path, env: dict[str, str] | None = None, prefix: Sequence[str] = ()
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*prefix, *ACADEMY, *args],
        cwd=cwd,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=300,
    )


def start(*args: str, cwd: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [*ACADEMY, *args], cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def snapshot(data_dir: Path) -> tuple[list[tuple[str, str]], str]:
    """Every file of the data directory with its content hash, and a dump of the database."""
    files = sorted(
        (str(path.relative_to(data_dir)), hashlib.sha256(path.read_bytes()).hexdigest())
        for path in data_dir.rglob("*")
        if path.is_file() and path.name not in LOCK_FILES
    )
    database = data_dir / "academy.db"
    dump = ""
    if database.is_file():
        with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as connection:
            dump = "\n".join(connection.iterdump())
    return files, hashlib.sha256(dump.encode()).hexdigest()


def table_count(data_dir: Path, table: str) -> int:
    with sqlite3.connect(f"file:{data_dir / 'academy.db'}?mode=ro", uri=True) as connection:
        return connection.execute(f"SELECT count(*) FROM {table}").fetchone()[0]


@dataclass
class Probe:
    args: tuple[str, ...]
    code: int
    expect: str  # text of the one error line
    cwd: Path | None = None
    env: dict[str, str] | None = None


def assert_clean(probe: Probe, result: subprocess.CompletedProcess[str]) -> None:
    where = f"academy {' '.join(probe.args)}\nstdout: {result.stdout}\nstderr: {result.stderr}"
    assert "Traceback" not in result.stdout + result.stderr, where
    assert result.returncode == probe.code, where
    lines = result.stderr.splitlines()
    errors = [line for line in lines if line.startswith("error:")]
    assert len(errors) == 1 and probe.expect in errors[0], where
    if probe.code == 2:  # click's usage line, how to get help, the error
        assert lines[0].startswith("Usage: academy") and len(lines) == 3, where
    else:
        assert all(line.startswith(("error:", "hint:")) for line in lines), where


def run_probes(probes: Sequence[Probe], cwd: Path) -> list[subprocess.CompletedProcess[str]]:
    with ThreadPoolExecutor(max_workers=4) as pool:
        return list(
            pool.map(lambda p: academy(*p.args, cwd=p.cwd or cwd, env=p.env), probes)  # type: ignore[misc]
        )


# ---------------------------------------------------------------- one real pipeline, two runs at once


@dataclass
class PipelineRuns:
    data_dir: Path
    work: Path
    first: subprocess.CompletedProcess[str]
    second: subprocess.CompletedProcess[str]
    first_pid: int


def _small_pipeline(path: Path, tiny_dir: Path) -> Path:
    path.write_text(
        f"""name = "small"
[input]
dumps = ["sample"]
specializations = ["depression"]
[teacher]
model = "{tiny_dir}"
[base]
model = "{tiny_dir}"
[personas]
n = 1
max_tokens = 1500
max_trait_chars = 12
max_list_items = 1
grounding = false
first_person = "heuristic"
[conversations]
per_persona = 1
turns = 1
max_tokens = 16
therapist_max_tokens = 16
keep_truncated = true
self_cure_judge = false
[dataset]
validation_fraction = 0
[training]
steps = 2
rank = 4
batch_size = 2
save_every = 1
eval_every = 1
[assessment]
max_personas = 1
""",
        encoding="utf-8",
    )
    return path


def _wait_for_lock_holder(data_dir: Path, pid: int, process: subprocess.Popen[str]) -> None:
    holder = data_dir / ".academy.lock.json"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"academy exited early: {process.communicate()}")
        try:
            if json.loads(holder.read_text())["pid"] == pid:
                return
        except (OSError, ValueError, KeyError):
            pass
        time.sleep(0.05)
    raise AssertionError("the first command never took the data-dir lock")


@contextmanager
def paused_holding_the_lock(process: subprocess.Popen[str], data_dir: Path) -> Iterator[None]:
    """Stop ``process`` (SIGSTOP) once it holds the data-dir lock, so that a second command surely meets the
    lock taken; let it continue afterwards."""
    _wait_for_lock_holder(data_dir, process.pid, process)
    process.send_signal(signal.SIGSTOP)
    try:
        yield
    finally:
        process.send_signal(signal.SIGCONT)


@pytest.fixture(scope="module")
def pipeline_runs(tmp_path_factory: pytest.TempPathFactory, tiny_dir: Path) -> PipelineRuns:
    """Two ``academy run`` on one fresh data directory: the second starts while the first holds the lock."""
    work = tmp_path_factory.mktemp("cli-errors")
    toml = _small_pipeline(work / "small.toml", tiny_dir)
    data_dir = work / "data"
    first = start("--data-dir", str(data_dir), "run", str(toml), cwd=work)
    with paused_holding_the_lock(first, data_dir):
        second = academy("--data-dir", str(data_dir), "run", str(toml), cwd=work)
    out, err = first.communicate(timeout=600)
    return PipelineRuns(
        data_dir, work, subprocess.CompletedProcess(first.args, first.returncode, out, err), second, first.pid
    )


def test_two_runs_on_one_data_dir_give_one_result_and_one_clear_refusal(pipeline_runs: PipelineRuns) -> None:
    first, second = pipeline_runs.first, pipeline_runs.second
    assert first.returncode == 0, first.stderr
    assert "patients score higher than the base model" in first.stdout
    assert_clean(
        Probe(
            ("run",),
            1,
            f"is in use by `academy run` (pid {pipeline_runs.first_pid} on {socket.gethostname()}",
        ),
        second,
    )
    assert "hint: wait for it to finish, or give this command another --data-dir" in second.stderr
    data_dir = pipeline_runs.data_dir
    # One run's worth of everything: nothing doubled by the refused one.
    assert [
        table_count(data_dir, t) for t in ("personas", "conversations", "dataset_versions", "checkpoints")
    ] == [
        1,
        1,
        1,
        1,
    ]
    state = json.loads((data_dir / "runs" / "pipeline" / "small" / "state.json").read_text())
    assert "report" in state["stages"]


def test_two_ingests_into_one_folder(tmp_path: Path) -> None:
    """The second ingest is refused before it creates a run row; a subset ingest afterwards refuses to delete
    the other specializations' data."""
    from jedi_academy.pipeline.sample_dump import SAMPLE_PATH as dump

    data_dir = tmp_path / "data"
    first = start("--data-dir", str(data_dir), "ingest", str(dump), "--json", cwd=tmp_path)
    with paused_holding_the_lock(first, data_dir):
        second = academy("--data-dir", str(data_dir), "ingest", str(dump), cwd=tmp_path)
    out, err = first.communicate(timeout=300)
    assert first.returncode == 0, err
    assert json.loads(out)["kept"] > 0
    assert_clean(Probe(("ingest",), 1, "is in use by `academy ingest`"), second)
    with sqlite3.connect(data_dir / "academy.db") as connection:
        rows = connection.execute("SELECT status FROM ingest_runs").fetchall()
    assert rows == [("completed",)]

    before = snapshot(data_dir)
    probe = Probe(("--data-dir", str(data_dir), "ingest", str(dump), "-s", "adhd,ptsd"), 1, "would delete")
    result = academy(*probe.args, cwd=tmp_path)
    assert_clean(probe, result)
    assert "anxiety, autism, depression, narcissism" in result.stderr and "--replace" in result.stderr
    assert snapshot(data_dir) == before


# ---------------------------------------------------------------- usage errors: exit 2


def test_usage_errors_print_the_usage_and_one_error_line(tmp_path: Path) -> None:
    existing = tmp_path / "a-file"
    existing.write_text("x")
    huge = "99999999999999999999999"
    probes = [
        Probe(("nosuchcommand",), 2, "No such command 'nosuchcommand'"),
        Probe(("--bogus-flag", "config", "show"), 2, "No such option: --bogus-flag"),
        Probe(("ingest",), 2, "Missing argument"),
        Probe(("finetune", "--dataset", "x", "--steps", "abc"), 2, "'--steps'"),
        Probe(("compare", "abc", "9"), 2, "'run_a'"),
        Probe(("chat", "-m", "hi", "--temperature", "nan"), 2, "'--temperature'"),
        Probe(("chat", "-m", "hi", "--temperature=-inf"), 2, "NaN and infinity are not accepted"),
        Probe(("chat", "-m", "hi", "--seed", huge), 2, "'--seed'"),
        Probe(("serve", "--port", huge), 2, "'--port'"),
        Probe(("assess", "--instrument", "phq-9", "--model", "tiny", "--samples", "0"), 2, "'--samples'"),
        Probe(("assess", "--model", "tiny"), 2, "Missing option '--instrument'"),
        Probe(("baseline", "--specialization", "depression", "--max-personas", "-1"), 2, "'--max-personas'"),
        Probe(("dataset", "build", "--specialization", "x", "--validation-fraction", "2"), 2, "fraction"),
        Probe(("ingest", "x.ndjson", "--out", str(existing)), 2, "exists and is not a folder"),
        Probe(("session", "stats"), 2, "give exactly one of --case and --specialization"),
        Probe(("assess", "--instrument", "phq-9"), 2, "give exactly one of --checkpoint and --model"),
        Probe(("instruments", "pubmed"), 2, "give a specialization or --query"),
        Probe(("case", "branch", "c-1"), 2, "give exactly one of --at CHECKPOINT or --after-session N"),
        Probe(("dataset", "export", "v", "--out", "x.jsonl", "--with-ids"), 2, "'--with-ids'"),
    ]
    for probe, result in zip(probes, run_probes(probes, tmp_path), strict=True):
        assert_clean(probe, result)
    assert not (tmp_path / "academy-data").exists()  # nothing was created by a refused command

    bare = academy(cwd=tmp_path)
    assert bare.returncode == 2 and "Usage: academy [OPTIONS] COMMAND" in bare.stderr + bare.stdout
    assert "Traceback" not in bare.stderr
    version = academy("--version", cwd=tmp_path)
    assert version.returncode == 0 and version.stdout.startswith("academy ")


# ---------------------------------------------------------------- problems: exit 1, store unchanged


def test_bad_files_settings_and_databases_are_one_line_and_change_nothing(
    tmp_path: Path, pipeline_runs: PipelineRuns, tiny_dir: Path
) -> None:
    import torch

    data_dir = tmp_path / "data"
    shutil.copytree(pipeline_runs.data_dir, data_dir)
    checkpoint = json.loads(
        academy("--data-dir", str(data_dir), "checkpoints", "list", "--json", cwd=tmp_path).stdout
    )[0]["id"]
    binary = tmp_path / "garbage"
    binary.write_bytes(BINARY)
    for name in ("garbage.jsonl", "garbage.toml"):
        (tmp_path / name).write_bytes(BINARY)
    binary_config = tmp_path / "binary-config"
    binary_config.mkdir()
    (binary_config / "academy.toml").write_bytes(BINARY)
    garbage_db = tmp_path / "garbage-db"
    garbage_db.mkdir()
    (garbage_db / "academy.db").write_bytes(BINARY * 20)
    folder_db = tmp_path / "folder-db"
    (folder_db / "academy.db").mkdir(parents=True)
    existing = tmp_path / "a-file"
    existing.write_text("x")
    items = tmp_path / "items.yaml"
    items.write_text(
        "items:\n" + "".join(f"  {n}: Replaced wording {n}\n" for n in range(1, 10)), encoding="utf-8"
    )
    d = ("--data-dir", str(data_dir))
    tiny = ("--model", str(tiny_dir))
    cuda = "cuda" if not torch.cuda.is_available() else "cuda:99"
    no_folder = "sqlite:////nonexistent/dir/x.db"
    ck = checkpoint
    probes = [
        Probe(("config", "show"), 1, "academy.toml: not UTF-8 text", cwd=binary_config),
        Probe(
            ("--config", "/nonexistent/a.toml", "config", "show"),
            1,
            "config file /nonexistent/a.toml does not",
        ),
        Probe((*d, "ingest", "x.ndjson", "--rules", str(binary)), 1, f"cannot read the rules file {binary}"),
        Probe((*d, "finetune", "--dataset", str(tmp_path / "garbage.jsonl")), 1, "garbage.jsonl: not UTF-8"),
        Probe((*d, "run", str(tmp_path / "garbage.toml")), 1, "garbage.toml: not UTF-8 text"),
        Probe(("instruments", "validate", str(binary)), 1, f"{binary}: not UTF-8 text"),
        Probe(("--data-dir", str(garbage_db), "personas", "list"), 1, "is not an academy database"),
        Probe(("--data-dir", str(folder_db), "personas", "list"), 1, "cannot open the database"),
        Probe(("--database-url", "foo://x", "personas", "list"), 1, "unsupported database URL 'foo://x'"),
        Probe(("--database-url", no_folder, "personas", "list"), 1, "folder /nonexistent/dir does not exist"),
        Probe((*d, "--device", "banana", "config", "show"), 1, "unknown device 'banana'"),
        Probe(
            (*d, "checkpoints", "delete", ck), 1, f"checkpoint {ck} is still referred to by 1 assessment run"
        ),
        Probe(
            (*d, "assess", "--instrument", "phq-9", "--checkpoint", ck, "--persona", "p-no"), 1, "'p-no' does"
        ),
        Probe(
            (*d, "baseline", "--specialization", "anxiety", "--checkpoint", ck), 1, "depression patient, not"
        ),
        Probe((*d, "instruments", "import", "phq-9", "--items", str(items)), 1, "phq-9 ships its validated"),
        Probe((*d, "compare", "1", "999"), 1, "no assessment run 999"),
        Probe((*d, "checkpoints", "export", ck, "--out", str(existing)), 1, "Not a directory"),
        Probe((*d, "model", "init-tiny", "--out", "/proc/x"), 1, "No such file or directory"),
        Probe(
            (*d, *tiny, "--device", cuda, "chat", "-m", "hi"),
            1,
            "CUDA is not available" if cuda == "cuda" else cuda,
        ),
    ]
    before = snapshot(data_dir)
    for probe, result in zip(probes, run_probes(probes, tmp_path), strict=True):
        assert_clean(probe, result)
    assert snapshot(data_dir) == before
    assert not Path("/nonexistent").exists()

    shown = academy(
        "--database-url", "postgresql+psycopg://me:s3cret@db.example/academy", "config", "show", cwd=tmp_path
    )
    assert shown.returncode == 0 and "s3cret" not in shown.stdout
    assert json.loads(shown.stdout)["database_url"] == "postgresql+psycopg://me:***@db.example/academy"

    persona = json.loads(academy(*d, "personas", "list", "--json", cwd=tmp_path).stdout)[0]["id"]
    wanted = ("--instrument", "phq-9", "--checkpoint", ck[:6], "--persona", persona[:5])
    assessed = academy(*d, "assess", *wanted, "--json", cwd=tmp_path)
    assert assessed.returncode == 0, assessed.stderr
    assert json.loads(assessed.stdout)["persona"] == persona  # the prefix was resolved before the run

    deleted = academy(*d, "checkpoints", "delete", checkpoint[:8], "--cascade", cwd=tmp_path)
    assert deleted.returncode == 0 and f"deleted {checkpoint}" in deleted.stdout
    assert table_count(data_dir, "checkpoints") == 0
    assert table_count(data_dir, "assessment_runs") == 1  # the base model's run is kept


def test_a_read_only_data_dir_is_one_line(tmp_path: Path, pipeline_runs: PipelineRuns) -> None:
    data_dir = tmp_path / "data"
    shutil.copytree(pipeline_runs.data_dir, data_dir)
    prefix = _read_only_prefix(data_dir)
    items = tmp_path / "asrs.yaml"
    items.write_text("items:\n" + "".join(f"  {n}: Item {n}\n" for n in range(1, 7)), encoding="utf-8")
    d = ("--data-dir", str(data_dir))
    probes = [
        Probe((*d, "checkpoints", "delete", "ck-", "--force", "--cascade"), 1, "read-only"),
        Probe((*d, "dataset", "build", "--specialization", "depression"), 1, ".academy.lock"),
        Probe((*d, "ingest", "x.ndjson"), 1, ".academy.lock"),
        Probe((*d, "compare", "1", "2"), 1, "compare-1-2.html"),
        Probe(
            (*d, "instruments", "import", "asrs-v1.1-a", "--items", str(items)), 1, "Read-only file system"
        ),
    ]
    before = snapshot(data_dir)
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda p: academy(*p.args, cwd=tmp_path, prefix=prefix), probes))
    for probe, result in zip(probes, results, strict=True):
        assert_clean(probe, result)
    listed = academy(*d, "personas", "list", cwd=tmp_path, prefix=prefix)
    assert listed.returncode == 0 and listed.stdout.startswith("ID ")  # reading still works, with a header
    assert snapshot(data_dir) == before


def _read_only_prefix(data_dir: Path) -> list[str]:
    """A command prefix under which ``data_dir`` cannot be written: file modes for a normal user; for root,
    whom modes do not stop, a read-only bind mount in a private mount namespace."""
    if os.geteuid() != 0:
        for path in [data_dir, *data_dir.rglob("*")]:
            path.chmod(path.stat().st_mode & ~0o222)
        return []
    script = 'mount --bind "$0" "$0" && mount -o remount,bind,ro "$0" "$0" && exec "$@"'
    prefix = ["unshare", "--mount", "sh", "-c", script, str(data_dir)]
    probe = subprocess.run([*prefix, "touch", str(data_dir / "probe")], capture_output=True, text=True)
    if probe.returncode == 0 or "Read-only file system" not in probe.stderr:
        pytest.skip(f"cannot make a folder read-only for root here: {probe.stderr.strip()}")
    return prefix


# ---------------------------------------------------------------- interruptions and stale runs


def test_ctrl_c_says_how_to_continue(tmp_path: Path, pipeline_runs: PipelineRuns) -> None:
    data_dir = tmp_path / "data"
    shutil.copytree(pipeline_runs.data_dir, data_dir)
    toml = pipeline_runs.work / "small.toml"
    process = start(
        "--data-dir", str(data_dir), "run", str(toml), "--specializations", "anxiety", cwd=tmp_path
    )
    # SIGINT while it is stopped holding the lock: delivered on SIGCONT, so it always lands mid-run (a run
    # whose stages are all done could otherwise finish before the signal arrives)
    with paused_holding_the_lock(process, data_dir):
        process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=120)
    assert process.returncode == 130, err
    assert err.splitlines()[-1] == "interrupted: run again with --resume" and "Traceback" not in err


def test_a_running_row_whose_process_died_is_marked_failed(settings) -> None:  # type: ignore[no-untyped-def]
    from jedi_academy.store import open_database
    from jedi_academy.store.models import IngestRun

    finished = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    dead_pid = int(finished.stdout)
    database = open_database(settings)
    with database.session() as session:
        session.add(IngestRun(status="running", owner_pid=dead_pid, owner_host=socket.gethostname()))
        session.add(IngestRun(status="running"))  # this process: alive
        session.add(IngestRun(status="running", owner_pid=dead_pid, owner_host="another-machine"))
    database = open_database(settings)
    with database.session() as session:
        rows = {row.id: row for row in session.query(IngestRun)}
    assert rows[1].status == "failed" and f"process {dead_pid}" in (rows[1].error or "")
    assert rows[1].owner_pid == dead_pid
    assert rows[2].status == "running" and rows[2].owner_pid == os.getpid()
    assert rows[3].status == "running"  # another host's process cannot be checked from here


# ---------------------------------------------------------------- listings, docs, the package


def test_assess_list_and_table_headers(pipeline_runs: PipelineRuns) -> None:
    d = ("--data-dir", str(pipeline_runs.data_dir))
    tables = ("personas", "conversations", "checkpoints", "dataset")
    commands = [("assess", "list", "--json"), ("assess", "list"), *((name, "list") for name in tables)]
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda args: academy(*d, *args, cwd=pipeline_runs.work), commands))
    listed, text_result, *tables_listed = results
    runs = json.loads(listed.stdout)
    assert listed.returncode == 0 and len(runs) == table_count(pipeline_runs.data_dir, "assessment_runs") == 2
    assert {run["instrument"] for run in runs} == {"phq-9"} and runs[0]["run"] < runs[1]["run"]
    text = text_result.stdout.splitlines()
    assert text[0].split()[:4] == ["RUN", "INSTRUMENT", "MODE", "VALIDITY"] and len(text) == 3
    for command, result in zip(tables, tables_listed, strict=True):
        lines = result.stdout.splitlines()
        header = "VERSION" if command == "dataset" else "ID"
        assert lines[0].startswith(header) and len(lines) == 2, (command, lines)


def test_cli_reference_is_current() -> None:
    from jedi_academy.cli_reference import DEFAULT_OUT, render_reference

    assert DEFAULT_OUT.read_text(encoding="utf-8") == render_reference(), (
        "docs/cli.md is stale: run python -m jedi_academy.cli_reference"
    )


def test_sample_dump_help_writes_nothing_into_the_package(tmp_path: Path) -> None:
    from jedi_academy.pipeline.sample_dump import SAMPLE_PATH

    before = (SAMPLE_PATH.stat().st_mtime_ns, hashlib.sha256(SAMPLE_PATH.read_bytes()).hexdigest())
    result = subprocess.run(
        [sys.executable, "-m", "jedi_academy.pipeline.sample_dump", "--help"], capture_output=True, text=True
    )
    assert result.returncode == 0 and "OUT" in result.stdout.upper()
    assert (SAMPLE_PATH.stat().st_mtime_ns, hashlib.sha256(SAMPLE_PATH.read_bytes()).hexdigest()) == before


def test_data_dir_lock_names_its_holder_and_can_wait(tmp_path: Path) -> None:
    from jedi_academy.store import DataDirBusyError, data_dir_lock
    from tests.processes import lock_held_elsewhere

    with lock_held_elsewhere(tmp_path, "loop") as pid:
        started = time.monotonic()
        with pytest.raises(DataDirBusyError) as refused, data_dir_lock(tmp_path, "worker", wait_s=0.3):
            pass
        assert time.monotonic() - started >= 0.3
        assert f"`academy loop` (pid {pid} on {socket.gethostname()}" in refused.value.message
    with data_dir_lock(tmp_path, "worker"):  # released when the holder ended
        assert json.loads((tmp_path / ".academy.lock.json").read_text())["command"] == "worker"
        with data_dir_lock(tmp_path, "loop"):  # re-entrant within one thread (a service calling another)
            pass
        refused_in_thread: list[BaseException] = []

        def other_thread() -> None:
            try:
                data_dir_lock(tmp_path, "portfolio build").acquire()
            except DataDirBusyError as exc:
                refused_in_thread.append(exc)

        thread = threading.Thread(target=other_thread)
        thread.start()
        thread.join()
        assert len(refused_in_thread) == 1  # another thread of this process is another writer
        assert json.loads((tmp_path / ".academy.lock.json").read_text())["command"] == "worker"


def test_case_lock_refuses_a_second_writer_of_the_case_only(tmp_path: Path) -> None:
    from jedi_academy.store import DataDirBusyError, case_lock, data_dir_lock
    from tests.processes import lock_held_elsewhere

    with lock_held_elsewhere(tmp_path, "session end", case_id="k-1"):
        with pytest.raises(DataDirBusyError) as refused, case_lock(tmp_path, "k-1", "session end"):
            pass
        assert refused.value.message.startswith("case k-1 is in use by `academy session end`")
        with case_lock(tmp_path, "k-2", "session end"), data_dir_lock(tmp_path, "loop"):
            pass  # another case, and the data-directory lock, are free


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql+psycopg://me:pa@ss@db:5432/academy", "postgresql+psycopg://me:***@db:5432/academy"),
        ("postgresql://me@db/academy", "postgresql://me@db/academy"),
        ("sqlite:////srv/academy.db", "sqlite:////srv/academy.db"),
    ],
)
def test_database_passwords_are_masked(url: str, shown: str) -> None:
    from jedi_academy.config import load_settings, mask_url

    assert mask_url(url) == shown
    settings = load_settings(database_url=url, api_key="sk-secret")
    data = settings.shown()
    assert data["database_url"] == data["resolved_database_url"] == shown and data["api_key"] == "***"


def test_ledger_backfill_and_portfolio_build_wait_for_no_other_writer(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Both take the data directory's writer lock inside their service: refused in one line, exit 1."""
    from jedi_academy.cli import main
    from jedi_academy.config import load_settings
    from jedi_academy.sessions import add_therapist
    from jedi_academy.store import open_database
    from tests.processes import lock_held_elsewhere

    data = tmp_path / "data"
    add_therapist(open_database(load_settings(data_dir=data)), "Ada Lovelace")
    out = tmp_path / "portfolio"
    build = ["portfolio", "build", "--therapist", "Ada Lovelace", "--out", str(out)]
    with lock_held_elsewhere(data, "loop"):
        for args in (["ledger", "backfill"], build):
            capsys.readouterr()
            assert main(["--data-dir", str(data), *args]) == 1
            err = capsys.readouterr().err
            assert err.startswith(f"error: data directory {data} is in use by `academy loop`"), err
            assert len(err.splitlines()) == 2 and err.splitlines()[1].startswith("hint: ")
    assert not out.exists()
    assert main(["--data-dir", str(data), "ledger", "backfill"]) == 0  # free again
