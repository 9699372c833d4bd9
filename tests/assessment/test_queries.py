"""The assessment commands' look-ups, now services (assessment/queries.py): `--all-personas` takes every
persona of the checkpoint's specialization in id order and refuses a checkpoint without one; prefixes
resolve."""

from pathlib import Path

import pytest

from jedi_academy.assessment import queries
from jedi_academy.config import load_settings
from jedi_academy.errors import AcademyError, ConfigError
from jedi_academy.store import open_database
from jedi_academy.store.models import Checkpoint
from tests.factories import add_persona


def test_specialization_personas_and_prefixes(tmp_path: Path) -> None:
    database = open_database(load_settings(data_dir=tmp_path / "data"))
    for persona_id, specialization in (("p-b2", "depression"), ("p-a1", "depression"), ("p-c3", "anxiety")):
        add_persona(database, persona_id, specialization=specialization)
    with database.session() as session:
        session.add(Checkpoint(id="ck-dep", specialization_id="depression", kind="base", base_model="tiny"))
        session.add(Checkpoint(id="ck-none", specialization_id=None, kind="base", base_model="tiny"))

    assert queries.specialization_personas(database, "ck-dep") == ["p-a1", "p-b2"]
    for checkpoint in ("ck-none", None):
        with pytest.raises(ConfigError, match="--all-personas needs a checkpoint that belongs to a spec"):
            queries.specialization_personas(database, checkpoint)
    assert queries.persona_id(database, "p-c") == "p-c3"
    with pytest.raises(AcademyError, match="ambiguous"):
        queries.persona_id(database, "p-")
    assert queries.baseline_checkpoint(database, "ck-d", "depression") == "ck-dep"
    with pytest.raises(ConfigError, match="ck-dep is a depression patient, not anxiety"):
        queries.baseline_checkpoint(database, "ck-dep", "anxiety")
    with pytest.raises(ConfigError, match="unknown specialization 'ptsd'"):
        queries.baseline_checkpoint(database, None, "ptsd")
    assert queries.list_runs(database, checkpoint="ck-dep", instrument=None, persona=None) == []
