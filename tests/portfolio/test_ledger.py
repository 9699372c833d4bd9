"""The hash chain in the store: appends with their records, whole-chain and excerpt verification."""

from __future__ import annotations

import itertools
import json

import pytest
from sqlalchemy import select, update

from jedi_academy.cli import main
from jedi_academy.finetune.checkpoints import CheckpointSpec, register_checkpoint
from jedi_academy.store import ArtifactStore, ledger, open_database
from jedi_academy.store.models import Checkpoint, LedgerEntry
from tests.factories import ensure_specialization


def spec(seed: int, parent: str | None = None) -> CheckpointSpec:
    """A remotely fine-tuned checkpoint: no training needed, and each seed gives its own model id."""
    return CheckpointSpec(
        base_model="tiny", kind="remote", specialization_id="depression", dataset_id=None, parent_id=parent,
        hyperparameters={"lr": 0.001}, seed=seed, metrics={"validation_loss": 1.5},
        remote_model_id=f"ft:tiny:{seed}",
    )  # fmt: skip


@pytest.fixture
def database(settings):  # type: ignore[no-untyped-def]
    database = open_database(settings)
    ensure_specialization(database, "depression")
    return database


def checkpoints(settings, database, count: int) -> list[str]:  # type: ignore[no-untyped-def]
    ids: list[str] = []
    for seed in range(count):
        row = register_checkpoint(
            database, ArtifactStore(settings.data_dir), spec(seed, ids[-1] if ids else None)
        )
        ids.append(row.id)
    return ids


def test_records_join_the_chain_in_their_transaction(settings, database) -> None:  # type: ignore[no-untyped-def]
    ids = checkpoints(settings, database, 3)
    with database.session() as session:
        entries = list(session.scalars(select(LedgerEntry).order_by(LedgerEntry.seq)))
        report = ledger.verify_chain(session)
    assert [(e.seq, e.kind, e.subject_id) for e in entries] == [
        (i + 1, "checkpoint", c) for i, c in enumerate(ids)
    ]
    assert entries[0].prev_sha256 == ledger.GENESIS
    assert all(b.prev_sha256 == a.entry_sha256 for a, b in itertools.pairwise(entries))
    assert report.ok and report.entries == 3 and report.head_sha256 == entries[-1].entry_sha256
    # registering the same checkpoint again finds it and appends nothing
    register_checkpoint(database, ArtifactStore(settings.data_dir), spec(0))
    with database.session() as session:
        assert ledger.head(session).seq == 3  # type: ignore[union-attr]


def test_a_failed_transaction_leaves_neither_record_nor_entry(database) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(RuntimeError), database.session() as session:
        row = Checkpoint(id="ck-x", kind="base", base_model="tiny", specialization_id="depression")
        session.add(row)
        ledger.append_record(session, row)
        raise RuntimeError("crash before commit")
    with database.session() as session:
        assert session.get(Checkpoint, "ck-x") is None and ledger.head(session) is None


def test_an_edited_record_or_entry_is_named(settings, database) -> None:  # type: ignore[no-untyped-def]
    ids = checkpoints(settings, database, 3)
    with database.session() as session:
        session.execute(
            update(Checkpoint).where(Checkpoint.id == ids[1]).values(metrics={"validation_loss": 0.1})
        )
    with database.session() as session:
        problems = ledger.verify_chain(session).problems
    assert problems == [f"ledger entry 2 (checkpoint {ids[1]}): the stored record no longer matches its hash"]

    with database.session() as session:
        session.execute(update(LedgerEntry).where(LedgerEntry.seq == 1).values(content_sha256="0" * 64))
        session.execute(
            update(Checkpoint).where(Checkpoint.id == ids[1]).values(metrics={"validation_loss": 1.5})
        )
    with database.session() as session:
        problems = ledger.verify_chain(session).problems
    assert any(p.startswith(f"ledger entry 1 (checkpoint {ids[0]}): body hash") for p in problems)
    assert any(p.startswith(f"ledger entry 1 (checkpoint {ids[0]}): the stored record") for p in problems)


def test_a_removed_entry_breaks_the_links_after_it(settings, database) -> None:  # type: ignore[no-untyped-def]
    ids = checkpoints(settings, database, 3)
    with database.session() as session:
        session.delete(session.get(LedgerEntry, 2))
    with database.session() as session:
        problems = ledger.verify_chain(session).problems
    assert f"ledger entry 3 (checkpoint {ids[2]}): sequence jumps from 1 to 3" in problems
    assert f"ledger entry 3 (checkpoint {ids[2]}): does not link to the entry before it" in problems


def test_existing_records_can_be_appended_once(database) -> None:  # type: ignore[no-untyped-def]
    with database.session() as session:  # made the way a pre-ledger version made them: no entry
        session.add(Checkpoint(id="ck-old", kind="base", base_model="tiny", specialization_id="depression"))
    with database.session() as session:
        assert ledger.verify_chain(session).unsealed_records == ["checkpoint ck-old"]
        assert ledger.append_existing(session) == 1
        assert ledger.append_existing(session) == 0
        entry = ledger.latest_entry(session, "checkpoint", "ck-old")
        assert entry is not None and ledger.verify_chain(session).ok
        # the seal holds: a matching record gives its entry; a changed one is refused, never re-entered
        row = session.get(Checkpoint, "ck-old")
        assert ledger.sealed_entry(session, row)[0].seq == entry.seq
        row.metrics = {"validation_loss": 2.0}
        with pytest.raises(ledger.UnsealedRecord, match=f"ledger entry {entry.seq} \\(checkpoint ck-old\\)"):
            ledger.sealed_entry(session, row)
        assert ledger.append_existing(session) == 0  # backfill does not re-enter a changed record either
        assert ledger.head(session).seq == entry.seq  # type: ignore[union-attr]
        assert not ledger.verify_chain(session).ok


def test_local_paths_are_not_hashed_and_earlier_entries_still_hold(database) -> None:  # type: ignore[no-untyped-def]
    assert ledger.model_name("/home/ada/models/tiny/") == "local:tiny"
    assert ledger.model_name("~/models/mistral") == "local:mistral"
    assert ledger.model_name("mistralai/Mistral-7B-Instruct-v0.3") == "mistralai/Mistral-7B-Instruct-v0.3"
    here = Checkpoint(id="ck-p", kind="base", base_model="/srv/a/models/tiny", specialization_id="depression")
    there = Checkpoint(id="ck-p", kind="base", base_model="/home/b/tiny", specialization_id="depression")
    assert ledger.content_sha256(ledger.checkpoint_content(here)) == ledger.content_sha256(
        ledger.checkpoint_content(there)
    )
    with database.session() as session:  # an entry an earlier version wrote: it hashed the path
        session.add(here)
        session.flush()
        ledger.append(session, "checkpoint", "ck-p", ledger.legacy_checkpoint_content(here))
    with database.session() as session:
        row = session.get(Checkpoint, "ck-p")
        _entry, content = ledger.sealed_entry(session, row)
        assert content["base_model"] == "/srv/a/models/tiny" and ledger.verify_chain(session).ok
        row.seed = 5  # an edit breaks both forms
        with pytest.raises(ledger.UnsealedRecord):
            ledger.sealed_entry(session, row)


def test_machine_details_are_not_hashed(database) -> None:  # type: ignore[no-untyped-def]
    """The same checkpoint made on a fast and a slow machine (or resumed after a crash) has one content."""
    made = {"validation_loss": 1.5, "train_loss_last": 1.2}
    here = {**made, "tokens_per_second": 812.5, "peak_memory_bytes": 2**30, "resumed_from_step": None,
            "device": "cuda:0"}  # fmt: skip
    there = {**made, "tokens_per_second": 40.1, "peak_memory_bytes": 2**20, "resumed_from_step": 3,
             "device": "cpu"}  # fmt: skip
    contents = [
        ledger.checkpoint_content(Checkpoint(id="ck-1", kind="lora", base_model="tiny", metrics=metrics))
        for metrics in (here, there)
    ]
    assert ledger.content_sha256(contents[0]) == ledger.content_sha256(contents[1])
    assert contents[0]["metrics"] == made
    changed = Checkpoint(id="ck-1", kind="lora", base_model="tiny", metrics={**here, "validation_loss": 1.4})
    assert ledger.content_sha256(ledger.checkpoint_content(changed)) != ledger.content_sha256(contents[0])


def test_an_excerpt_verifies_against_the_head(settings, database) -> None:  # type: ignore[no-untyped-def]
    checkpoints(settings, database, 5)
    with database.session() as session:
        head = ledger.head(session)
        prev, links = ledger.chain_excerpt(session, 3, head.seq)  # type: ignore[union-attr]
    assert [link.seq for link in links] == [3, 4, 5]
    assert ledger.verify_links(prev, links, 5, head.entry_sha256) == []  # type: ignore[union-attr]
    swapped = [links[1], links[0], links[2]]
    assert ledger.verify_links(prev, swapped, 5, head.entry_sha256)  # type: ignore[union-attr]
    assert ledger.verify_links(prev, links[:2], 5, head.entry_sha256)  # type: ignore[union-attr]


def test_ledger_cli(settings, database, capsys) -> None:  # type: ignore[no-untyped-def]
    ids = checkpoints(settings, database, 2)
    base = ["--data-dir", str(settings.data_dir)]
    assert main([*base, "ledger", "verify"]) == 0
    assert "2 entries" in capsys.readouterr().out
    with database.session() as session:
        session.add(Checkpoint(id="ck-old", kind="base", base_model="tiny", specialization_id="depression"))
    assert main([*base, "ledger", "verify"]) == 0
    assert "1 record(s) have no entry (checkpoint ck-old)" in capsys.readouterr().out
    assert main([*base, "ledger", "backfill", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {"appended": 1}
    with database.session() as session:
        session.execute(update(Checkpoint).where(Checkpoint.id == ids[0]).values(seed=99))
    assert main([*base, "ledger", "verify", "--json"]) == 1
    out = capsys.readouterr().out
    assert f"ledger entry 1 (checkpoint {ids[0]})" in out and '"ok": false' in out
    # a broken chain gets no signed head
    assert main([*base, "ledger", "head"]) == 1
    assert "the ledger is BROKEN" in capsys.readouterr().err


def _heads(settings, database, count: int, capsys) -> list[str]:  # type: ignore[no-untyped-def]
    """``count`` checkpoints, and a head signed with `academy ledger head` after the first two."""
    ids = checkpoints(settings, database, 2)
    assert main(["--data-dir", str(settings.data_dir), "ledger", "head", "--json"]) == 0
    signed = json.loads(capsys.readouterr().out)
    assert signed["seq"] == 2 and signed["public_key"].startswith("ed25519:")
    for seed in range(2, count):
        ids.append(register_checkpoint(database, ArtifactStore(settings.data_dir), spec(seed, ids[-1])).id)
    return ids


def test_a_deleted_tail_is_broken_against_the_heads_file(settings, database, capsys) -> None:  # type: ignore[no-untyped-def]
    from jedi_academy.portfolio.heads import heads_path

    ids = _heads(settings, database, 4, capsys)
    base = ["--data-dir", str(settings.data_dir)]
    assert main([*base, "ledger", "head"]) == 0  # a second head, at entry 4
    capsys.readouterr()
    assert len(heads_path(settings.data_dir).read_text().splitlines()) == 2
    assert main([*base, "ledger", "verify"]) == 0
    assert "2 signed head(s) checked: intact" in capsys.readouterr().out
    with database.session() as session:  # delete the tail and edit a record it covered
        session.execute(LedgerEntry.__table__.delete().where(LedgerEntry.seq >= 3))
        session.execute(update(Checkpoint).where(Checkpoint.id == ids[3]).values(seed=77))
    assert main([*base, "ledger", "verify"]) == 1
    out = capsys.readouterr().out
    assert "signed head 4" in out and "the chain ends at entry 2, so entries after it were removed" in out
    assert f"checkpoint {ids[3]}: has no ledger entry" in out and "BROKEN" in out
    # backfill would re-enter the edited records: refused once a head is signed
    assert main([*base, "ledger", "backfill"]) == 1
    assert "backfill is refused" in capsys.readouterr().err
    with database.session() as session:
        assert ledger.head(session).seq == 2  # type: ignore[union-attr]


def test_a_rewritten_chain_does_not_extend_the_signed_head(settings, database, capsys) -> None:  # type: ignore[no-untyped-def]
    from jedi_academy.portfolio.heads import heads_path

    checkpoints_before = _heads(settings, database, 3, capsys)
    base = ["--data-dir", str(settings.data_dir)]
    with database.session() as session:  # rebuild entries 2.. over an edited record: links are consistent
        session.execute(LedgerEntry.__table__.delete().where(LedgerEntry.seq >= 2))
        session.execute(
            update(Checkpoint).where(Checkpoint.id == checkpoints_before[1]).values(seed=55)
        )
    with database.session() as session:
        ledger.append_existing(session)
        assert ledger.verify_chain(session).ok  # consistent on its own ...
    assert main([*base, "ledger", "verify"]) == 1  # ... but not with the head signed before
    assert "entry 2 of the chain has another hash" in capsys.readouterr().out
    assert main([*base, "ledger", "head"]) == 1  # and the instance will not sign the rewritten history
    capsys.readouterr()
    lines = heads_path(settings.data_dir).read_text().splitlines()
    forged = json.loads(lines[0])
    forged["seq"] = 1
    heads_path(settings.data_dir).write_text(json.dumps(forged) + "\n")
    assert main([*base, "ledger", "verify"]) == 1
    assert "line 1: head 1 is not signed by this instance" in capsys.readouterr().out


def _race(database) -> None:  # type: ignore[no-untyped-def]
    """Four writers append five records each at the same time: all succeed, the chain has no fork."""
    import threading

    ensure_specialization(database, "depression")
    errors: list[BaseException] = []

    def writer(index: int) -> None:
        try:
            for step in range(5):
                with database.session() as session:
                    row = Checkpoint(id=f"ck-{index}-{step}", kind="base", base_model="tiny")
                    session.add(row)
                    ledger.append_record(session, row)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    with database.session() as session:
        report = ledger.verify_chain(session)
    assert report.ok and report.entries == 20


def test_concurrent_appends_queue_on_sqlite(database) -> None:  # type: ignore[no-untyped-def]
    _race(database)


@pytest.mark.postgres
def test_concurrent_appends_queue_on_postgresql(postgres_url: str) -> None:
    from jedi_academy.store import Database

    database = Database(postgres_url)
    database.migrate()
    _race(database)
    database.dispose()
