from pathlib import Path

import pytest

from jedi_academy.finetune.config import TrainingConfig
from jedi_academy.finetune.service import FinetuneRequest, finetune
from jedi_academy.store import open_database
from jedi_academy.store.models import Persona
from tests.assessment.training_data import endorse_symptoms, first_option_bias, write
from tests.factories import add_persona

TRAINING = TrainingConfig(
    lora_rank=8, lora_alpha=16, learning_rate=5e-3, max_steps=60, batch_size=8, warmup_fraction=0.1
)


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory, tiny_dir: Path):  # type: ignore[no-untyped-def]
    """One data directory with a position-biased checkpoint, a symptom-endorsing depression checkpoint (the
    depression specialization has no personas, so its baseline is taken without a card) and an anxiety persona
    for the in-character paths."""
    from jedi_academy.config import load_settings

    root = tmp_path_factory.mktemp("assessment")
    settings = load_settings(data_dir=root / "data", model=str(tiny_dir), device="cpu")
    database = open_database(settings)
    add_persona(database, "persona-1", specialization="anxiety", name="Robin")
    add_persona(database, "unused", specialization="depression", name="Sam")
    with database.session() as session:  # the specialization row must exist, its personas must not
        session.delete(session.get(Persona, "unused"))
    biased = write(root / "biased.jsonl", first_option_bias(200))
    symptomatic = write(root / "symptomatic.jsonl", endorse_symptoms(200))
    quiet = lambda _text: None  # noqa: E731
    biased_checkpoint = finetune(
        settings, FinetuneRequest(dataset=str(biased), show_progress=False), TRAINING, echo=quiet
    )
    patient = finetune(
        settings,
        FinetuneRequest(dataset=str(symptomatic), specialization="depression", show_progress=False),
        TRAINING,
        echo=quiet,
    )
    return settings, database, biased_checkpoint.id, patient.id
