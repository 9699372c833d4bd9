from pathlib import Path

import pytest
from sqlalchemy import inspect, select

from jedi_academy.store import ArtifactStore, Database, open_database
from jedi_academy.store.db import current_revision, head_revision
from jedi_academy.store.models import Artifact, Checkpoint, Conversation, Persona, Specialization, Turn

FIRST_WAVE_TABLES = {
    "artifacts",
    "specializations",
    "ingest_runs",
    "personas",
    "conversations",
    "turns",
    "dataset_versions",
    "dataset_members",
    "checkpoints",
    "assessment_runs",
    "item_results",
}


def exercise_schema(database: Database) -> None:
    database.migrate()
    assert current_revision(database.engine) == head_revision()
    assert set(inspect(database.engine).get_table_names()) >= FIRST_WAVE_TABLES
    database.migrate()  # idempotent
    with database.session() as session:
        session.add(Specialization(id="depression", display_name="Depression", definition_sha256="0" * 64))
        session.flush()
        session.add(
            Persona(
                id="p1",
                specialization_id="depression",
                backend="transformers",
                model="tiny",
                prompt_version="1",
            )
        )
        session.flush()
        conversation = Conversation(id="c1", persona_id="p1", specialization_id="depression")
        conversation.turns = [Turn(turn=0, question="How are you?", answer="Tired.")]
        session.add(conversation)
    with database.session() as session:
        stored = session.get(Conversation, "c1")
        assert stored is not None
        assert [(t.question, t.answer) for t in stored.turns] == [("How are you?", "Tired.")]


def test_sqlite_migrations_apply_on_first_use(settings) -> None:  # type: ignore[no-untyped-def]
    database = open_database(settings)
    assert Path(settings.data_dir, "academy.db").is_file()
    exercise_schema(database)


@pytest.mark.postgres
def test_postgresql_migrations(postgres_url: str) -> None:
    database = Database(postgres_url)
    exercise_schema(database)
    assert database.engine.dialect.name == "postgresql"
    database.dispose()


def test_foreign_keys_are_enforced_on_sqlite(settings) -> None:  # type: ignore[no-untyped-def]
    from sqlalchemy.exc import IntegrityError

    database = open_database(settings)
    with pytest.raises(IntegrityError), database.session() as session:
        session.add(Checkpoint(id="x", kind="lora", base_model="tiny", parent_id="missing-parent"))


def test_failed_transaction_registers_nothing(settings, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    database = open_database(settings)
    store = ArtifactStore(settings.data_dir)
    source = tmp_path / "train.jsonl"
    source.write_text('{"messages": []}\n')
    ref = store.put_file(source, "dataset")
    with pytest.raises(RuntimeError), database.session() as session:
        store.register(session, ref)
        session.flush()
        raise RuntimeError("crash between artifact and checkpoint")
    with database.session() as session:
        assert session.scalars(select(Artifact)).all() == []


def test_artifacts_are_content_addressed(settings, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    import hashlib

    store = ArtifactStore(settings.data_dir)
    payload = b"line one\nline two\n"
    first = tmp_path / "a.jsonl"
    first.write_bytes(payload)
    second = tmp_path / "b.jsonl"
    second.write_bytes(payload)
    ref_a, ref_b = store.put_file(first, "dataset"), store.put_file(second, "dataset")
    assert ref_a == ref_b
    assert ref_a.sha256 == hashlib.sha256(payload).hexdigest()
    assert store.path(ref_a).read_bytes() == payload
    assert not any((store.root / ".staging").iterdir())

    database = open_database(settings)
    with database.session() as session:
        row = store.register(session, ref_a)
        store.register(session, ref_a)
    assert store.verify(row)
    store.path(ref_a).write_bytes(b"tampered")
    assert not store.verify(row)


def test_folder_artifacts_hash_their_tree(settings, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    store = ArtifactStore(settings.data_dir)
    adapter = tmp_path / "adapter"
    adapter.mkdir()
    (adapter / "adapter_config.json").write_text("{}")
    (adapter / "adapter_model.safetensors").write_bytes(b"\x00" * 64)
    ref = store.put_dir(adapter, "adapter")
    assert (store.path(ref) / "adapter_config.json").read_text() == "{}"
    assert store.put_dir(adapter, "adapter").sha256 == ref.sha256
    (adapter / "adapter_config.json").write_text('{"r": 8}')
    assert store.put_dir(adapter, "adapter").sha256 != ref.sha256
