from pathlib import Path
from typing import Any, NamedTuple

import pytest

from jedi_academy.finetune.config import LORA_TARGETS, TrainingConfig
from jedi_academy.finetune.service import FinetuneRequest, finetune
from jedi_academy.store import open_database
from jedi_academy.store.models import Persona
from tests.assessment.training_data import attentive_patient, deny_symptoms, endorse_symptoms, write
from tests.factories import add_persona

# The tiny model's frozen output head caps any token's probability near 2%, so an adapter on the attention
# and MLP projections alone can shift which label wins but never put most of the reply on the labels (the
# option_mass gate). Adapting the head too lets the tests build a respondent that answers like a real one.
TRAINING = TrainingConfig(
    lora_rank=8,
    lora_alpha=16,
    learning_rate=5e-3,
    max_steps=60,
    batch_size=8,
    warmup_fraction=0.1,
    target_modules=(*LORA_TARGETS, "lm_head"),
)

# Telling an impossible question from a symptom takes the tiny model longer than finding one option's text
PATIENT_ROWS = 300
PATIENT_TRAINING = TRAINING.model_copy(update={"max_steps": 120})


@pytest.fixture(scope="package")
def trained(tmp_path_factory: pytest.TempPathFactory, tiny_dir: Path):  # type: ignore[no-untyped-def]
    """One data directory with a symptom-endorsing depression checkpoint that reads the question (the
    depression specialization has no personas, so its baseline is taken without a card), a symptom-denying
    checkpoint that reads the options (a valid reference where the random base model is not), a checkpoint
    that picks the most severe option text whatever the question (a careless respondent the attention items
    must catch) and an anxiety persona for the in-character paths."""
    from jedi_academy.config import load_settings

    root = tmp_path_factory.mktemp("assessment")
    settings = load_settings(data_dir=root / "data", model=str(tiny_dir), device="cpu")
    database = open_database(settings)
    add_persona(database, "persona-1", specialization="anxiety", name="Robin")
    add_persona(database, "unused", specialization="depression", name="Sam")
    with database.session() as session:  # the specialization row must exist, its personas must not
        session.delete(session.get(Persona, "unused"))
    symptomatic = write(root / "symptomatic.jsonl", attentive_patient(PATIENT_ROWS))
    quiet = lambda _text: None  # noqa: E731
    patient = finetune(
        settings,
        FinetuneRequest(dataset=str(symptomatic), specialization="depression", show_progress=False),
        PATIENT_TRAINING,
        echo=quiet,
    )
    careless = write(root / "severe.jsonl", endorse_symptoms(200))
    severe = finetune(
        settings,
        FinetuneRequest(dataset=str(careless), show_progress=False),
        TRAINING,
        echo=quiet,
    )
    calm = finetune(
        settings,
        FinetuneRequest(dataset=str(write(root / "calm.jsonl", deny_symptoms(200))), show_progress=False),
        TRAINING,
        echo=quiet,
    )
    return Trained(settings, database, patient.id, calm.id, severe.id)


class Trained(NamedTuple):
    settings: Any
    database: Any
    patient: str
    calm: str
    severe: str  # "Nearly every day" to anything: the most severe option text, the question unread
