"""One data directory with a tiny-model patient: a baseline and two post-session assessments of one persona,
plus a second persona's case that the therapist leaves out."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from jedi_academy.finetune.config import TrainingConfig
from jedi_academy.finetune.service import FinetuneRequest, finetune
from jedi_academy.store import Database, open_database
from tests.assessment.training_data import endorse_symptoms, write
from tests.factories import add_persona

QUICK = TrainingConfig(
    lora_rank=4, lora_alpha=8, learning_rate=5e-3, max_steps=4, batch_size=4, warmup_fraction=0.0
)


@dataclass
class World:
    settings: object
    database: Database
    checkpoint_id: str
    baseline: int
    after_session_1: int
    after_session_2: int
    other_baseline: int
    other_after: int


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, tiny_dir: Path) -> World:
    from jedi_academy.assessment.runner import assess, checkpoint_target, model_target
    from jedi_academy.config import load_settings

    root = tmp_path_factory.mktemp("portfolio")
    settings = load_settings(data_dir=root / "data", model=str(tiny_dir), device="cpu")
    database = open_database(settings)
    add_persona(database, "p-robin", specialization="depression", name="Robin Quillfeather")
    add_persona(database, "p-sam", specialization="depression", name="Sam Ottersby")
    data = write(root / "patient.jsonl", endorse_symptoms(16))
    checkpoint = finetune(
        settings,
        FinetuneRequest(dataset=str(data), specialization="depression", show_progress=False),
        QUICK,
        echo=lambda _text: None,
    )
    llms: dict = {}
    base = model_target(settings, settings.model, llms)
    patient = checkpoint_target(settings, database, checkpoint.id, llms)
    runs = [
        assess(settings, database, base, "phq-9", persona_id="p-robin"),
        assess(settings, database, patient, "phq-9", persona_id="p-robin"),
        assess(settings, database, patient, "phq-9", persona_id="p-robin", seed=7),
        assess(settings, database, base, "phq-9", persona_id="p-sam"),
        assess(settings, database, patient, "phq-9", persona_id="p-sam"),
    ]
    return World(settings, database, checkpoint.id, *(r.id for r in runs))
