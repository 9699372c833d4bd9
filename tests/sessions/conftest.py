"""A data directory with the tiny model, two depression personas, a base-model patient checkpoint, a
therapist and a case; shared by the tests of one module."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from jedi_academy.store import Database, open_database
from jedi_academy.store.models import Checkpoint
from tests.factories import add_persona

BASE_CHECKPOINT = "ck-tinybase0001"
# Short replies keep the tiny model fast; the mechanics do not depend on the length.
FAST = {"max_tokens": 12}


@dataclass
class World:
    settings: Any
    database: Database
    case_id: str
    cli: list[str]


def add_base_checkpoint(database: Database, model: str, specialization: str = "depression") -> str:
    """The base model registered as a patient checkpoint (no adapter): the root a lineage grows from, with its
    ledger entry in the same transaction, as ``register_checkpoint`` makes it."""
    from jedi_academy.store.ledger import append_record

    with database.session() as session:
        row = Checkpoint(
            id=BASE_CHECKPOINT,
            specialization_id=specialization,
            kind="base",
            base_model=model,
            hyperparameters={},
            metrics={},
        )
        session.add(row)
        append_record(session, row)
    return BASE_CHECKPOINT


def make_world(root: Path, tiny_dir: Path) -> World:
    from jedi_academy.config import load_settings
    from jedi_academy.sessions import add_therapist, open_case

    settings = load_settings(data_dir=root / "data", model=str(tiny_dir), device="cpu")
    database = open_database(settings)
    add_persona(database, "p-robin", specialization="depression", name="Robin")
    add_persona(database, "p-sam", specialization="depression", name="Sam")
    add_base_checkpoint(database, str(tiny_dir))
    add_therapist(database, "Ada Lovelace")
    case = open_case(database, "Ada Lovelace", "depression", persona="p-robin", checkpoint=BASE_CHECKPOINT)
    cli = ["--data-dir", str(settings.data_dir), "--model", str(tiny_dir), "--device", "cpu"]
    return World(settings, database, case.id, cli)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, tiny_dir: Path) -> World:
    return make_world(tmp_path_factory.mktemp("sessions"), tiny_dir)


@pytest.fixture(scope="module")
def pool(world: World, tiny_llm: Any) -> Any:
    """A model pool that reuses the session's loaded tiny model for the patient and the teacher."""
    from jedi_academy.sessions import ModelPool, ModelSpec

    pool = ModelPool(world.settings)
    pool.share(ModelSpec("transformers", world.settings.model, None), tiny_llm)
    return pool
