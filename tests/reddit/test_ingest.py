from __future__ import annotations

import bz2
import hashlib
import random
import threading
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from jedi_academy.config import Settings
from jedi_academy.errors import AcademyError
from jedi_academy.reddit import AuthorBundle, IngestOptions, KeepRules, ingest, load_author_bundles
from jedi_academy.reddit import scanner as scanner_module
from jedi_academy.reddit.errors import DumpReadError, IngestInterrupted
from jedi_academy.reddit.layout import comments_dir
from jedi_academy.reddit.privacy import Pseudonymizer, load_or_create_secret
from jedi_academy.reddit.progress import NullProgress
from jedi_academy.store import open_database
from jedi_academy.store.models import IngestRun
from jedi_academy.store.models import Specialization as SpecializationRow
from tests.reddit.conftest import bz2_decoders
from tests.reddit.dumps import LONG_BODY, comment, ndjson, write_dump

SUMMARY_KEYS = {
    "lines_read",
    "malformed",
    "matched",
    "kept",
    "dropped",
    "by_subreddit",
    "by_specialization",
    "authors",
    "seconds",
}


def mixed_dump() -> list[Any]:
    """One line for every rule, plus noise. Comments 1-3 and 20-21 are kept."""
    return [
        comment(1, author="Alice"),
        comment(2, author="Bob", subreddit="adhd", created_utc=1420070400 + 7200),  # integer created_utc
        comment(3, author="[deleted]", body="My email is me@example.com and I am u/alice on here, hi!"),
        comment(4, body="[deleted]", author="[deleted]"),
        comment(5, body="[removed]"),
        comment(6, body="   "),
        comment(7, author="AutoModerator"),
        comment(8, distinguished="moderator"),
        comment(9, body="short"),
        comment(10, body="  " + LONG_BODY.replace(" ", "   ") + " (1)\n"),  # duplicate of comment 1
        comment(11, body=None),
        comment(20, subreddit="Anxiety", author="Alice"),
        comment(21, subreddit="socialanxiety", author="Carol"),
        comment(30, subreddit="AskReddit"),
        comment(31, subreddit="ADHD_Memes"),
        '{"subreddit":"ADHD","body":"cut off',  # candidate, not JSON: malformed
        '[{"subreddit":"ADHD"}]',  # candidate, JSON but not an object: malformed
        "garbage that names no subreddit",  # never parsed, so not counted as malformed
        comment(32, subreddit="funny"),
    ]


def run(settings: Settings, paths: list[Path], **kwargs: Any):  # type: ignore[no-untyped-def]
    return ingest(settings, IngestOptions(paths=paths, **kwargs))


def table(out: Path, spec_id: str) -> list[dict[str, Any]]:
    return pq.read_table(comments_dir(out, spec_id) / "data.parquet").to_pylist()


def ids(settings: Settings, *numbers: int) -> list[str]:
    """The stored (pseudonymised) ids of the test comments with these numbers."""
    pseudo = Pseudonymizer(load_or_create_secret(settings))
    return [pseudo.comment_id(f"cn{n:05d}") for n in numbers]


def comparable(summary: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in summary.items() if k != "seconds"}


def test_summary_counts_every_rule(settings: Settings, tmp_path: Path) -> None:
    path = write_dump(tmp_path, mixed_dump())
    result = run(settings, [path], specializations="adhd,anxiety")
    s = result.summary
    assert set(s) == SUMMARY_KEYS
    assert s["lines_read"] == 19
    assert s["malformed"] == 2
    assert s["matched"] == 13
    assert s["kept"] == 5
    assert s["dropped"] == {
        "invalid_record": 1,
        "deleted_body": 1,
        "removed_body": 1,
        "empty_body": 1,
        "excluded_author": 1,
        "distinguished": 1,
        "too_short": 1,
        "duplicate": 1,
    }
    assert s["kept"] + sum(s["dropped"].values()) == s["matched"]
    assert s["by_subreddit"] == {"adhd": 3, "anxiety": 1, "socialanxiety": 1}
    assert s["by_specialization"] == {"adhd": 3, "anxiety": 2}
    assert s["authors"] == 3  # Alice (in both), Bob, Carol; the deleted author is not one
    assert s["seconds"] > 0
    assert [e["line"] for e in result.malformed_examples] == [16, 17]


def test_rows_are_pseudonymised_scrubbed_and_normalised(settings: Settings, tmp_path: Path) -> None:
    path = write_dump(tmp_path, mixed_dump())
    out = run(settings, [path], specializations="adhd").out_dir
    pseudo = Pseudonymizer(load_or_create_secret(settings))
    by_original = {pseudo.comment_id(f"cn{n:05d}"): f"cn{n:05d}" for n in range(1, 12)}
    rows = {by_original[r["id"]]: r for r in table(out, "adhd")}
    assert list(rows) == ["cn00001", "cn00002", "cn00003"]
    assert rows["cn00001"]["author"] == pseudo.author("Alice") != "Alice"
    assert rows["cn00003"]["author"] is None
    assert rows["cn00003"]["body"] == "My email is [EMAIL] and I am [USER] on here, hi!"
    assert rows["cn00001"]["created_utc"].timestamp() == 1420070400 + 60
    assert rows["cn00002"]["created_utc"].timestamp() == 1420070400 + 7200
    assert rows["cn00002"]["subreddit"] == "adhd"
    assert rows["cn00001"]["score"] == 3
    assert set(rows["cn00001"]) == {"id", "author", "subreddit", "created_utc", "score", "body"}
    raw = (comments_dir(out, "adhd") / "data.parquet").read_bytes()
    assert b"Diagnosed 2012" not in raw and b"Alice" not in raw  # no flair, no usernames
    assert b"cn0000" not in raw  # no Reddit comment ids: one lookup would name the author


def test_author_bundles_are_ordered_by_time(settings: Settings, tmp_path: Path) -> None:
    comments = [
        comment(5, author="Dana", created_utc="1420079000"),
        comment(6, author="Eve"),
        comment(7, author="Dana", created_utc="1420071000"),
        comment(8, author="Dana", created_utc=1420075000),
        comment(9, author="[deleted]"),
    ]
    out = run(settings, [write_dump(tmp_path, comments)], specializations="adhd").out_dir
    bundles = load_author_bundles(settings, "adhd", out_dir=out)
    assert all(isinstance(b, AuthorBundle) for b in bundles)
    assert [b.n_comments for b in bundles] == [3, 1]  # the deleted author has no bundle
    dana = bundles[0]
    assert dana.comment_ids == ids(settings, 7, 8, 5)
    assert [c.created.timestamp() for c in dana.comments] == [1420071000, 1420075000, 1420079000]
    assert dana.comments[0].subreddit == "ADHD" and dana.comments[0].body.startswith("I have been")
    assert load_author_bundles(settings, "adhd", out_dir=out, min_comments=2) == [dana]
    assert load_author_bundles(settings, "adhd", out_dir=out, limit=1) == [dana]


def test_bundles_default_to_the_data_dir(settings: Settings, tmp_path: Path) -> None:
    run(settings, [write_dump(tmp_path, [comment(1)])], specializations="adhd")
    assert len(load_author_bundles(settings, "adhd")) == 1
    with pytest.raises(AcademyError, match="no ingested Reddit data for specialization 'ptsd'"):
        load_author_bundles(settings, "ptsd")


def test_duplicates_are_dropped_within_a_specialization_only(settings: Settings, tmp_path: Path) -> None:
    extra = tmp_path / "specs"
    extra.mkdir()
    (extra / "general.yaml").write_text(
        "id: general\ndisplay_name: General\ndescription: d\nsubreddits: [ADHD, depression]\n"
        "instruments: [phq-9]\npersona_guidance: g\n"
    )
    same = "The same words, posted in more than one place."
    comments = [
        comment(1, body=same),
        comment(2, body=same, subreddit="depression"),
        comment(3, body=same + "  "),
    ]
    result = run(
        settings,
        [write_dump(tmp_path, comments)],
        specializations="adhd,depression,general",
        specialization_dirs=[extra],
    )
    assert result.summary["by_specialization"] == {"adhd": 1, "depression": 1, "general": 1}
    assert result.summary["kept"] == 2 and result.summary["dropped"]["duplicate"] == 1
    assert [r["id"] for r in table(result.out_dir, "general")] == ids(settings, 1)
    assert [r["id"] for r in table(result.out_dir, "depression")] == ids(settings, 2)


def test_out_of_range_integers_are_invalid_records_not_a_crash(settings: Settings, tmp_path: Path) -> None:
    comments = [
        comment(1),
        comment(2, created_utc="99999999999999999999"),
        comment(3, score=2**63),
        '{"subreddit":"ADHD","id":"x","body":"' + LONG_BODY + '","created_utc":99999999999999999999}',
        comment(4),
    ]
    result = run(settings, [write_dump(tmp_path, comments)], specializations="adhd")
    assert result.summary["dropped"]["invalid_record"] == 3
    assert table(result.out_dir, "adhd") and result.summary["kept"] == 2


def test_duplicates_are_found_after_unescaping_normalising_and_case_folding(
    settings: Settings, tmp_path: Path
) -> None:
    comments = [
        comment(1, body="Me &amp; my therapist agreed on a plan today"),
        comment(2, body="me & my THERAPIST agreed on a plan today"),
        comment(3, body="Me & my therapist agreed on a plan today!"),
    ]
    result = run(settings, [write_dump(tmp_path, comments)], specializations="adhd")
    assert result.summary["dropped"]["duplicate"] == 1
    bodies = [r["body"] for r in table(result.out_dir, "adhd")]
    assert bodies == ["Me & my therapist agreed on a plan today", "Me & my therapist agreed on a plan today!"]


def test_keep_rules_can_be_changed(settings: Settings, tmp_path: Path) -> None:
    path = write_dump(tmp_path, [comment(1, body="tiny"), comment(2), comment(3, body=comment(2)["body"])])
    rules = KeepRules(min_body_chars=1, dedupe_bodies=False)
    result = run(settings, [path], specializations="adhd", rules=rules)
    assert result.summary["kept"] == 3


def test_run_is_recorded_in_the_database(settings: Settings, tmp_path: Path) -> None:
    path = write_dump(tmp_path, mixed_dump())
    result = run(settings, [path], specializations="adhd")
    with open_database(settings).session() as session:
        row = session.get(IngestRun, result.run_id)
        assert row is not None
        assert row.status == "completed" and row.error is None
        assert row.specializations == ["adhd"]
        assert row.rules["min_body_chars"] == 20 and row.rules["excluded_authors"] == ["AutoModerator"]
        [record] = row.inputs
        assert record["size"] == path.stat().st_size
        assert record["head_sha256"] == hashlib.sha256(path.read_bytes()[: 1 << 20]).hexdigest()
        assert {k: row.counts[k] for k in SUMMARY_KEYS - {"seconds"}} == comparable(result.summary)
        assert row.duration_s is not None and row.duration_s > 0
        assert row.output_dir == str(result.out_dir)
        assert session.get(SpecializationRow, "adhd") is not None


FORMATS = ["plain", "gz", "xz", "zst", *bz2_decoders("bz2:"), "bz2-multi:python"]


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_format_gives_the_same_dataset(settings: Settings, tmp_path: Path, fmt: str) -> None:
    codec, _, decoder = fmt.partition(":")
    reference = run(settings, [write_dump(tmp_path, mixed_dump())], out_dir=tmp_path / "ref")
    path = write_dump(tmp_path, mixed_dump(), fmt=codec, name="other")
    result = run(settings, [path], out_dir=tmp_path / "out", bz2_decoder=decoder or "auto")
    assert comparable(result.summary) == comparable(reference.summary)
    assert table(result.out_dir, "adhd") == table(reference.out_dir, "adhd")


def big_comments(n: int) -> list[dict[str, Any]]:
    subs = ["ADHD", "AskReddit", "ptsd", "funny", "Anxiety"]
    return [
        comment(i, subreddit=subs[i % 5], author=f"u{i % 37}", body=f"{LONG_BODY} {i} " + "word " * (i % 90))
        for i in range(n)
    ]


def noisy_comments(n: int) -> list[dict[str, Any]]:
    """Bodies that barely compress: the truncated half of the file must still hold its first MiB, as the
    first MiB identifies an input on --resume."""
    rng = random.Random(1)
    return [{**c, "body": c["body"] + rng.randbytes(1100).hex()} for c in big_comments(n)]


def test_truncated_file_keeps_what_was_read_and_records_a_partial_run(
    settings: Settings, tmp_path: Path
) -> None:
    comments = noisy_comments(2000)
    whole = bz2.compress(ndjson(comments), 1)
    assert len(whole) // 2 > 1 << 20
    path = tmp_path / "RC_2015-01.bz2"
    path.write_bytes(whole[: len(whole) // 2])
    with pytest.raises(DumpReadError) as info:
        run(settings, [path], specializations="adhd", bz2_decoder="python")
    error = info.value
    assert "RC_2015-01.bz2" in error.message and "truncated" in error.message
    assert error.line is not None and f"line {error.line:,}" in error.message
    assert f"{error.decompressed_offset:,}" in error.message
    assert error.summary is not None and 0 < error.summary["lines_read"] < 2000
    out = settings.path("reddit")
    kept = table(out, "adhd")
    assert 0 < len(kept) == error.summary["by_specialization"]["adhd"] < 400
    assert load_author_bundles(settings, "adhd")
    with open_database(settings).session() as session:
        row = session.query(IngestRun).one()
        assert row.status == "partial" and "truncated" in (row.error or "")
        assert row.counts["lines_read"] == error.summary["lines_read"]

    # The same file, complete this time: --resume continues where reading stopped.
    path.write_bytes(whole)
    resumed = run(settings, [path], resume=True, bz2_decoder="python")
    full = run(
        settings,
        [write_dump(tmp_path, comments, name="full")],
        specializations="adhd",
        out_dir=tmp_path / "full",
    )
    assert resumed.resumed and resumed.run_id == row.id
    assert comparable(resumed.summary) == comparable(full.summary)
    assert table(out, "adhd") == table(full.out_dir, "adhd")


class StopAfter(NullProgress):
    """A progress sink that presses Ctrl-C (sets the stop event) after ``n`` chunks."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.event = threading.Event()

    def update(self, compressed_pos: int, lines: int) -> None:
        self.n -= 1
        if self.n == 0:
            self.event.set()


class StartRecorder(NullProgress):
    def __init__(self) -> None:
        self.starts: list[tuple[int, int]] = []

    def start_file(self, name: str, total: int, decoder: str, *, completed: int = 0, lines: int = 0) -> None:
        self.starts.append((completed, lines))


class CrashAfter(NullProgress):
    def __init__(self, n: int) -> None:
        self.n = n

    def update(self, compressed_pos: int, lines: int) -> None:
        self.n -= 1
        if self.n == 0:
            raise RuntimeError("simulated crash")


@pytest.fixture
def small_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(scanner_module, "CHUNK", 16 << 10)


@pytest.mark.usefixtures("small_chunks")
@pytest.mark.parametrize("fmt", ["plain", "zst", "bz2"])
def test_interrupt_then_resume_equals_an_uninterrupted_run(
    settings: Settings, tmp_path: Path, fmt: str
) -> None:
    comments = big_comments(1500)
    path = write_dump(tmp_path, comments, fmt=fmt)
    stopper = StopAfter(5)
    with pytest.raises(IngestInterrupted, match="--resume"):
        ingest(
            settings, IngestOptions(paths=[path], bz2_decoder="python"), progress=stopper, stop=stopper.event
        )
    out = settings.path("reddit")
    assert (out / ".checkpoint" / "state.json").exists()
    with open_database(settings).session() as session:
        assert session.query(IngestRun).one().status == "partial"

    recorder = StartRecorder()
    resumed = ingest(
        settings, IngestOptions(paths=[path], resume=True, bz2_decoder="python"), progress=recorder
    )
    full = run(settings, [write_dump(tmp_path, comments, name="full")], out_dir=tmp_path / "full")
    assert resumed.resumed
    [(compressed, lines)] = recorder.starts
    assert 0 < lines < 1500 and compressed > 0  # it continued from the checkpoint, not from line 1
    assert comparable(resumed.summary) == comparable(full.summary)
    for spec_id in ("adhd", "ptsd", "anxiety"):
        assert table(out, spec_id) == table(full.out_dir, spec_id)
    assert not (out / ".checkpoint").exists()
    with open_database(settings).session() as session:
        assert [r.status for r in session.query(IngestRun).all()] == ["completed", "completed"]


@pytest.mark.usefixtures("small_chunks")
def test_resume_after_a_crash_uses_the_last_periodic_checkpoint(settings: Settings, tmp_path: Path) -> None:
    comments = big_comments(1500)
    path = write_dump(tmp_path, comments)
    with pytest.raises(RuntimeError, match="simulated crash"):
        ingest(settings, IngestOptions(paths=[path], checkpoint_every_s=0), progress=CrashAfter(7))
    with open_database(settings).session() as session:
        assert session.query(IngestRun).one().status == "failed"
    resumed = run(settings, [path], resume=True)
    full = run(settings, [write_dump(tmp_path, comments, name="full")], out_dir=tmp_path / "full")
    assert comparable(resumed.summary) == comparable(full.summary)
    assert table(settings.path("reddit"), "adhd") == table(full.out_dir, "adhd")


@pytest.mark.usefixtures("small_chunks")
def test_resume_checks_the_inputs(settings: Settings, tmp_path: Path) -> None:
    path = write_dump(tmp_path, big_comments(1500))
    stopper = StopAfter(3)
    with pytest.raises(IngestInterrupted):
        ingest(settings, IngestOptions(paths=[path]), progress=stopper, stop=stopper.event)
    other = write_dump(tmp_path, [comment(1)], name="RC_2015-02")
    with pytest.raises(AcademyError, match="other input files"):
        run(settings, [other], resume=True)
    with pytest.raises(AcademyError, match="made for specializations"):
        run(settings, [path], resume=True, specializations="adhd")


def test_resume_without_a_checkpoint_starts_over(settings: Settings, tmp_path: Path) -> None:
    messages: list[str] = []
    path = write_dump(tmp_path, [comment(1)])
    result = ingest(settings, IngestOptions(paths=[path], resume=True), warn=messages.append)
    assert result.summary["kept"] == 1 and not result.resumed
    assert any("nothing to resume" in m for m in messages)


def test_a_fresh_run_replaces_the_previous_dataset(settings: Settings, tmp_path: Path) -> None:
    run(settings, [write_dump(tmp_path, [comment(1), comment(2)], name="a")])
    result = run(settings, [write_dump(tmp_path, [comment(3)], name="b")])
    assert [r["id"] for r in table(result.out_dir, "adhd")] == ids(settings, 3)


def test_several_files_make_one_dataset(settings: Settings, tmp_path: Path) -> None:
    first = write_dump(tmp_path, [comment(1), comment(2, subreddit="funny")], name="RC_2015-01", fmt="gz")
    second = write_dump(
        tmp_path, [comment(3, body=comment(1)["body"]), comment(4)], name="RC_2015-02", fmt="xz"
    )
    result = run(settings, [first, second], specializations="adhd")
    assert result.summary["lines_read"] == 4
    assert result.summary["dropped"]["duplicate"] == 1  # duplicates are found across files too
    assert [r["id"] for r in table(result.out_dir, "adhd")] == ids(settings, 1, 4)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"specializations": "adhd,nope"}, "unknown specialization 'nope'"),
        ({"workers": 0}, "at least 1"),
        ({"paths": []}, "no input files"),
    ],
)
def test_bad_options_fail_before_any_output(
    settings: Settings, tmp_path: Path, kwargs: dict[str, Any], message: str
) -> None:
    options: dict[str, Any] = {"paths": [write_dump(tmp_path, [comment(1)])], **kwargs}
    with pytest.raises(AcademyError, match=message):
        ingest(settings, IngestOptions(**options))
    assert not settings.path("reddit").exists()
