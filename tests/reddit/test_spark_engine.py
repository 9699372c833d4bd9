"""``academy ingest --engine spark`` against the local engine on the same inputs.

The Spark tests share one ``local[2]`` session (a JVM start costs seconds) and are skipped only when no Java
runtime is installed; ``.ci/run`` installs one.
"""

from __future__ import annotations

import bz2
import json
import os
import random
import shutil
import stat
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from jedi_academy.cli import main
from jedi_academy.config import Settings
from jedi_academy.errors import AcademyError
from jedi_academy.reddit import IngestOptions, ingest
from jedi_academy.reddit import spark_engine as spark_engine_module
from jedi_academy.reddit.layout import DATA_FILE, MANIFEST, bundles_file, comments_dir
from jedi_academy.reddit.privacy import load_or_create_secret
from jedi_academy.reddit.spark_engine import spark_ingest
from jedi_academy.reddit.spark_scan import ScanJob, scan_file
from tests.reddit.dumps import LONG_BODY, comment, ndjson, write_dump
from tests.reddit.test_ingest import comparable, mixed_dump

SUBREDDITS = ["ADHD", "Anxiety", "socialanxiety", "depression", "ptsd", "CPTSD", "AskReddit", "adhd", "funny"]
GENERAL_SPEC = (
    "id: general\ndisplay_name: General\ndescription: d\nsubreddits: [ADHD, depression]\n"
    "instruments: [phq-9]\npersona_guidance: g\n"
)


def java_available() -> bool:
    home = os.environ.get("JAVA_HOME")
    return shutil.which("java") is not None or bool(home and (Path(home) / "bin" / "java").exists())


@pytest.fixture(scope="session")
def spark() -> Iterator[Any]:
    if not java_available():
        pytest.skip("no Java runtime: Spark needs Java 17+ (.ci/run installs openjdk-17-jre-headless)")
    from pyspark.sql import SparkSession

    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    session = (
        SparkSession.builder.master("local[2]")
        .appName("academy-tests")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.shuffle.partitions", "4")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


def archive_comments(n: int, seed: int, first_id: int) -> list[dict[str, Any]]:
    """Comments over many subreddits, with bodies drawn from a small pool (duplicates within and across
    files, some differing only in whitespace), identifiers to scrub, deleted authors, and timestamps out of
    order (bundles sort by time)."""
    rng = random.Random(seed)
    extras = ["", " mail me at someone@example.com", " see https://example.org/x", " ask u/someone_else"]
    out = []
    for i in range(first_id, first_id + n):
        pool = rng.randrange(300)
        body = f"{LONG_BODY} variant {pool}{extras[pool % 4]}"
        if rng.random() < 0.1:
            body = "  " + body.replace(" ", "  ") + "\n"
        out.append(
            comment(
                i,
                subreddit=rng.choice(SUBREDDITS),
                author=rng.choice([f"user{rng.randrange(60)}", "[deleted]", "AutoModerator"]),
                body=rng.choice([body] * 12 + ["[deleted]", "[removed]", "short"]),
                created_utc=str(1420070400 + rng.randrange(86400 * 30)),
                score=rng.randrange(-5, 50),
            )
        )
    return out


def options(paths: list[Path], out: Path, specs: Path, **extra: Any) -> IngestOptions:
    return IngestOptions(
        paths=paths,
        out_dir=out,
        specializations="adhd,anxiety,depression,ptsd,general",
        specialization_dirs=[specs],
        **extra,
    )


def general_spec(tmp_path: Path) -> Path:
    folder = tmp_path / "specs"
    folder.mkdir()
    (folder / "general.yaml").write_text(GENERAL_SPEC)
    return folder


def assert_same_dataset(local_out: Path, spark_out: Path, spec_ids: list[str]) -> None:
    for spec_id in spec_ids:
        local = pq.read_table(comments_dir(local_out, spec_id) / DATA_FILE)
        remote = pq.read_table(comments_dir(spark_out, spec_id) / DATA_FILE)
        assert remote.schema == local.schema
        assert remote.equals(local), spec_id
        assert pq.read_table(bundles_file(spark_out, spec_id)).equals(
            pq.read_table(bundles_file(local_out, spec_id))
        ), spec_id
    local_files = json.loads((local_out / MANIFEST).read_text())["files"]
    spark_files = json.loads((spark_out / MANIFEST).read_text())["files"]
    drop_decoder = [{k: v for k, v in f.items() if k != "decoder"} for f in local_files]
    assert [{k: v for k, v in f.items() if k != "decoder"} for f in spark_files] == drop_decoder


def test_spark_equals_local_on_multistream_bz2_zst_and_plain(
    spark: Any, settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    specs = general_spec(tmp_path)
    paths = [
        write_dump(tmp_path, archive_comments(1200, 1, 0), fmt="bz2-multi", name="RC_2015-01"),
        write_dump(tmp_path, archive_comments(1200, 2, 2000), fmt="zst", name="RC_2015-02"),
        write_dump(tmp_path, [*mixed_dump(), *archive_comments(300, 3, 4000)], name="RC_2015-03"),
    ]
    local = ingest(settings, options(paths, tmp_path / "local", specs, bz2_decoder="python"))
    # Small output partitions, so rows of one specialization come from several sorted partitions.
    monkeypatch.setattr(spark_engine_module, "ROWS_PER_PART", 400)
    remote = spark_ingest(
        settings, options(paths, tmp_path / "spark", specs, bz2_decoder="python"), spark=spark
    )

    assert comparable(remote.summary) == comparable(local.summary)
    summary = local.summary
    assert summary["dropped"]["duplicate"] > 100 and summary["malformed"] == 2
    assert summary["by_specialization"]["general"] > summary["by_specialization"]["depression"] > 0
    assert_same_dataset(local.out_dir, remote.out_dir, ["adhd", "anxiety", "depression", "ptsd", "general"])
    rows = pq.read_table(comments_dir(remote.out_dir, "general") / DATA_FILE).to_pylist()
    assert any("[EMAIL]" in r["body"] for r in rows) and not any("@example.com" in r["body"] for r in rows)
    assert remote.status == "completed" and remote.run_id != local.run_id
    assert not (remote.out_dir / spark_engine_module.STAGING).exists()
    assert json.loads((remote.out_dir / MANIFEST).read_text())["engine"] == "spark"
    for private in (comments_dir(remote.out_dir, "adhd") / DATA_FILE, bundles_file(remote.out_dir, "adhd")):
        assert stat.S_IMODE(private.stat().st_mode) == 0o600
        assert stat.S_IMODE(private.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE((remote.out_dir / MANIFEST).stat().st_mode) == 0o600


def test_cli_spark_engine_on_a_truncated_file_matches_local(
    spark: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The second of three files is cut in half: both engines keep what was read before the damage and
    nothing after it, report the same counts, and exit 1 with one error line."""
    rng = random.Random(5)
    noisy = [{**c, "body": c["body"] + rng.randbytes(600).hex()} for c in archive_comments(500, 4, 9000)]
    whole = bz2.compress(ndjson(noisy), 1)
    first = write_dump(tmp_path, archive_comments(400, 6, 0), name="RC_2015-01")
    cut = tmp_path / "RC_2015-02.bz2"
    cut.write_bytes(whole[: len(whole) // 2])
    last = write_dump(tmp_path, archive_comments(400, 7, 20000), fmt="zst", name="RC_2015-03")
    results = {}
    for engine in ("local", "spark"):
        args = ["--data-dir", str(tmp_path / "data"), "ingest", str(first), str(cut), str(last)]
        args += ["--out", str(tmp_path / engine), "-s", "adhd,anxiety", "--bz2-decoder", "python", "--json"]
        if engine == "spark":
            args += ["--engine", "spark", "--master", "local[2]"]
        assert main(args) == 1
        out, err = capsys.readouterr()
        results[engine] = json.loads(out)
        assert "RC_2015-02.bz2: compressed data ends early" in err and "Traceback" not in err
    assert comparable(results["spark"]) == comparable(results["local"])
    assert 400 < results["spark"]["lines_read"] < 900
    assert_same_dataset(tmp_path / "local", tmp_path / "spark", ["adhd", "anxiety"])
    assert json.loads((tmp_path / "spark" / MANIFEST).read_text())["status"] == "partial"


def test_scan_task_positions_are_byte_offsets_of_lines(settings: Settings, tmp_path: Path) -> None:
    """No JVM: the per-file task on its own. Positions order comments exactly as lines are read."""
    comments = [comment(i, subreddit="ADHD" if i % 3 else "funny") for i in range(50)]
    data = ndjson(comments)
    path = write_dump(tmp_path, comments, fmt="zst")
    job = ScanJob(
        key=load_or_create_secret(settings),
        rules={},
        sub_to_specs={"adhd": ("adhd",)},
        staging=str(tmp_path),
    )
    result = scan_file(job, 3, str(path))
    rows = pq.read_table(result["candidates"]).to_pylist()
    starts = [0, *[i + 1 for i, byte in enumerate(data) if byte == ord("\n")]][:50]
    assert [r["offset"] for r in rows] == [starts[i] for i in range(50) if i % 3]
    assert {r["file_index"] for r in rows} == {3} and rows[0]["digest"] is not None
    assert result["counts"]["lines_read"] == 50 and result["file"]["complete"] is True


@pytest.mark.parametrize(
    ("args", "status", "message"),
    [
        (["--engine", "spark", "--resume"], 1, "error: --resume works with the local engine only"),
        (["--engine", "dask"], 2, "error: Invalid value for '--engine': Value error, 'dask' is not one of"),
        (["--master", "local[2]"], 2, "error: Invalid value for '--master': needs --engine spark"),
    ],
)
def test_engine_option_errors_are_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], status: int, message: str
) -> None:
    path = write_dump(tmp_path, [comment(1)])
    assert main(["--data-dir", str(tmp_path / "data"), "ingest", str(path), *args]) == status
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_spark_engine_checks_inputs_and_output_before_starting_spark(
    settings: Settings, tmp_path: Path
) -> None:
    with pytest.raises(AcademyError, match="no such file"):
        spark_ingest(settings, IngestOptions(paths=[tmp_path / "missing.zst"]))
    foreign = tmp_path / "theirs"
    (foreign / "comments").mkdir(parents=True)
    (foreign / "comments" / "keep.txt").write_text("not ours")
    path = write_dump(tmp_path, [comment(1)])
    with pytest.raises(AcademyError, match="ingest did not write them and will not delete them"):
        spark_ingest(settings, IngestOptions(paths=[path], out_dir=foreign))
    assert (foreign / "comments" / "keep.txt").read_text() == "not ours"
