"""`academy erase` (issue 29 point 4): the removal list, and one end-to-end erasure after `academy run` on the
shipped sample."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import select

from jedi_academy.erasure.requests import comment_pseudonym, read_removal_list
from jedi_academy.errors import AcademyError
from jedi_academy.reddit.privacy import Pseudonymizer
from tests.erasure.conftest import RunWorld

KEY = Pseudonymizer(bytes.fromhex("5e" * 32))


def test_removal_list_is_hashed_on_the_way_in_and_a_bad_line_is_named(tmp_path: Path) -> None:
    good = tmp_path / "removals.txt"
    good.write_text(
        "# Reddit's notice of 2026-12-01\nu/Some_User\n/u/other-one  # asked by mail\n\nt1_CNAS8ZV\n"
    )
    request = read_removal_list(good, KEY)
    assert request.authors == {KEY.author("some_user"), KEY.author("other-one")}
    assert request.comments == {KEY.comment_id("cnas8zv")}
    assert "Some_User" not in repr(request) and "cnas8zv" not in repr(request)

    bad = tmp_path / "bad.txt"
    bad.write_text("u/fine\nt1_ok1\njust_a_name\n")
    with pytest.raises(AcademyError, match=r"bad\.txt:3: 'just_a_name' is neither u/USERNAME nor t1_ID"):
        read_removal_list(bad, KEY)
    empty = tmp_path / "empty.txt"
    empty.write_text("# nothing\n")
    with pytest.raises(AcademyError, match="has no entries"):
        read_removal_list(empty, KEY)


def test_a_comment_is_named_by_pseudonym_or_by_its_reddit_id() -> None:
    stored = KEY.comment_id("cnas8zv")
    assert comment_pseudonym(stored, KEY) == stored
    assert comment_pseudonym("t1_cnas8zv", KEY) == stored == comment_pseudonym("cnas8zv", KEY)
    with pytest.raises(AcademyError, match="neither a comment pseudonym"):
        comment_pseudonym("not an id!", KEY)


def _comment_authors(data: Path) -> tuple[set[str], set[str]]:
    import pyarrow.parquet as pq

    comments = {
        a
        for f in data.glob("reddit/*/comments/*/data.parquet")
        for a in pq.read_table(f)["author"].to_pylist()
    }
    bundles = {
        a
        for f in data.glob("reddit/*/bundles/*/bundles.parquet")
        for a in pq.read_table(f)["author"].to_pylist()
    }
    return comments, bundles


def _texts(folder: Path) -> str:
    return (
        "\n".join(p.read_text(encoding="utf-8") for p in folder.rglob("*.jsonl")) if folder.is_dir() else ""
    )


def test_erasing_an_author_after_academy_run(run_world: RunWorld, capsys: pytest.CaptureFixture[str]) -> None:
    from jedi_academy.cli import main
    from jedi_academy.llm.targets import resolve_checkpoint
    from jedi_academy.sessions import add_therapist, open_case
    from jedi_academy.store import open_database
    from jedi_academy.store.models import Case, Checkpoint, Conversation, Erasure, Persona

    database = open_database(run_world.settings)
    with database.session() as session:
        personas = list(session.scalars(select(Persona).order_by(Persona.id)))
        assert len(personas) == 2
        gone, stays = personas
        author = gone.source_author_hash
        assert author is not None
        said = [
            t.answer
            for c in session.scalars(select(Conversation).where(Conversation.persona_id == gone.id))
            for t in c.turns
        ]
        checkpoint = session.scalars(select(Checkpoint)).one().id
    assert said and all(said)
    add_therapist(database, "Ada Lovelace")
    case = open_case(database, "Ada Lovelace", "anxiety", persona=gone.id, checkpoint=checkpoint)
    assert author in _comment_authors(run_world.data_dir)[0]
    assert any(text in _texts(run_world.data_dir / "exports") for text in said)

    # the dry run says what would go and changes nothing
    assert main([*run_world.cli, "erase", "--author", author, "--dry-run", "--json"]) == 0
    planned = json.loads(capsys.readouterr().out)
    assert planned["dry_run"] and planned["erasure_id"] is None and planned["comments"] > 0
    assert planned["personas_kept_erased"] == [gone.id] and planned["checkpoints_retired"] == [checkpoint]
    assert planned["cases_closed"] == [case.id]
    with database.session() as session:
        assert session.get(Persona, gone.id).source_author_hash == author
        assert session.get(Checkpoint, checkpoint).retired_at is None

    assert main([*run_world.cli, "erase", "--author", author, "--json"]) == 0
    done = json.loads(capsys.readouterr().out)
    assert done["erasure_id"].startswith("erasure-") and done["comments"] == planned["comments"]
    assert done["checkpoints_retired"] == [checkpoint] and len(done["new_dataset_versions"]) == 1

    # nothing of the author is left: comments, bundles, personas, conversations, exports
    comments, bundles = _comment_authors(run_world.data_dir)
    assert author not in comments and author not in bundles and comments  # the other authors stay
    with database.session() as session:
        assert not list(session.scalars(select(Persona).where(Persona.source_author_hash == author)))
        assert not list(session.scalars(select(Conversation).where(Conversation.persona_id == gone.id)))
        assert list(session.scalars(select(Conversation).where(Conversation.persona_id == stays.id)))
        kept = session.get(Persona, gone.id)  # the case names it: emptied, marked, kept
        assert kept.card == {} and kept.source_comment_ids == [] and kept.erased_at is not None
        closed = session.get(Case, case.id)
        assert closed.status == "closed" and done["erasure_id"] in closed.closure["note"]
        tombstone = session.get(Erasure, done["erasure_id"])
        assert author not in json.dumps(tombstone.summary)
    exported = _texts(run_world.data_dir / "exports") + _texts(run_world.data_dir / "artifacts")
    assert exported and not any(text in exported for text in said)

    # the checkpoint is retired: kept in the lineage, refused for new cases and loading, with one line
    with pytest.raises(AcademyError, match=f"checkpoint {checkpoint} is retired"):
        open_case(database, "Ada Lovelace", "anxiety", persona=stays.id, checkpoint=checkpoint)
    with database.session() as session, pytest.raises(AcademyError, match="is retired"):
        resolve_checkpoint(session, run_world.settings, checkpoint)

    old_version = planned["dataset_versions"][0]
    out = run_world.data_dir.parent / "old.jsonl"
    assert main([*run_world.cli, "dataset", "export", old_version[:12], "--out", str(out)]) == 1
    assert f"{done['erasure_id']} deleted its export" in capsys.readouterr().err and not out.exists()
    assert main([*run_world.cli, "case", "show", case.id]) == 0
    assert f"closed by erasure {done['erasure_id']}" in capsys.readouterr().out
    assert main([*run_world.cli, "checkpoints", "list"]) == 0
    assert f"RETIRED by {done['erasure_id']}" in capsys.readouterr().out

    # the ledger tells the erasure from a tamper
    assert main([*run_world.cli, "ledger", "verify"]) == 0
    verified = capsys.readouterr().out
    assert "erased (tombstone at entry" in verified and "intact" in verified
    assert main([*run_world.cli, "erase", "--author", author]) == 0  # a re-run finds nothing
    assert "nothing to erase" in capsys.readouterr().out
    with database.session() as session:
        row = session.get(Erasure, done["erasure_id"])
        row.summary = {**row.summary, "deleted_records": {"assessment_run": []}}
    assert main([*run_world.cli, "ledger", "verify"]) == 1
    broken = capsys.readouterr().out
    assert "no longer matches its hash" in broken and "has since been deleted" in broken


def test_erase_usage_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from jedi_academy.cli import main

    cli = ["--data-dir", str(tmp_path / "data")]
    assert main([*cli, "erase"]) == 2
    assert "--author, --comment or --from-file" in capsys.readouterr().err
    assert main([*cli, "erase", "--author", "someone"]) == 2
    assert "not an author pseudonym" in capsys.readouterr().err


def test_a_portfolio_accounts_for_an_erasure_by_its_tombstone_and_catches_an_edited_one() -> None:
    from jedi_academy.portfolio.verify import VerifyReport, _check_erasures
    from jedi_academy.store import ledger

    content = {"id": "erasure-1", "summary": {"counts": {"conversations": 2, "personas": 1}}}
    body_hash = ledger.body_sha256(3, "erasure", "erasure-1", ledger.content_sha256(content))
    body = {
        "chain": {"links": [[1, "a" * 64], [2, "b" * 64], [3, body_hash]]},
        "erasures": [{"seq": 3, "subject_id": "erasure-1", "content": content}],
    }
    report = VerifyReport("p")
    _check_erasures(body, report)
    assert report.ok and report.erasures == ["entry 3: erasure-1 (2 conversations, 1 personas)"]

    body["erasures"][0]["content"] = {**content, "summary": {"counts": {"conversations": 0}}}
    report = VerifyReport("p")
    _check_erasures(body, report)
    assert report.problems == ["ledger entry 3 (erasure erasure-1): does not match the hash chain"]
