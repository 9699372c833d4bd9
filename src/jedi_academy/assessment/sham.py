"""The sham control: a checkpoint fine-tuned like the patient (same base model, hyperparameters and data
volume) on non-clinical conversations, so that a verdict can tell symptom-specific training apart from "any
fine-tune shifts the answers".

The conversations are built from ``data/sham_topics.yaml`` (everyday small talk written for this project).
Volume is matched per conversation: as many conversations as the patient's training split, each with the
same number of turns, each answer filled with sentences until it is about as long as the patient's answer at
that turn.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING, Any

import yaml

from jedi_academy.errors import AcademyError

if TYPE_CHECKING:
    from collections.abc import Callable

    from jedi_academy.config import Settings
    from jedi_academy.store import Database


@dataclass(frozen=True)
class Topic:
    name: str
    questions: tuple[str, ...]
    answers: tuple[str, ...]


@cache
def topics() -> tuple[Topic, ...]:
    text = resources.files("jedi_academy.assessment").joinpath("data/sham_topics.yaml").read_text("utf-8")
    raw = yaml.safe_load(text)["topics"]
    return tuple(Topic(name, tuple(body["questions"]), tuple(body["answers"])) for name, body in raw.items())


def _answer(rng: random.Random, topic: Topic, length: int) -> str:
    sentences = [rng.choice(topic.answers)]
    while sum(len(s) + 1 for s in sentences) < length and len(sentences) < 2 * len(topic.answers):
        sentences.append(rng.choice(topic.answers))
    return " ".join(sentences)


def sham_conversations(shape: list[list[int]], seed: int = 0) -> list[dict[str, Any]]:
    """One non-clinical conversation per entry of ``shape``: a list of answer lengths (characters), one per
    turn."""
    rng = random.Random(seed)
    rows = []
    for lengths in shape:
        topic = rng.choice(topics())
        messages: list[dict[str, str]] = []
        for length in lengths:
            messages.append({"role": "user", "content": rng.choice(topic.questions)})
            messages.append({"role": "assistant", "content": _answer(rng, topic, length)})
        rows.append({"messages": messages})
    return rows


def conversation_shape(conversations: list[list[dict]]) -> list[list[int]]:
    """Answer lengths per conversation of a training set (what the sham's volume is matched to)."""
    return [
        [len(m.get("content") or "") for m in conversation if m.get("role") == "assistant"]
        for conversation in conversations
    ]


def train_sham(
    settings: Settings, database: Database, patient_id: str, *, echo: Callable[[str], None] = print
) -> str:
    """Fine-tune (or find, when it was trained before: the run is keyed by content) the sham checkpoint that
    matches ``patient_id``; returns its id."""
    from jedi_academy.finetune.checkpoints import get_checkpoint
    from jedi_academy.finetune.config import TrainingConfig
    from jedi_academy.finetune.datasets import load_training_data
    from jedi_academy.finetune.service import FinetuneRequest, finetune
    from jedi_academy.store import ArtifactStore

    with database.session() as session:
        patient = get_checkpoint(session, patient_id)
        if patient.kind != "lora" or patient.dataset_id is None:
            raise AcademyError(
                f"checkpoint {patient.id} is not a local LoRA fine-tune with a dataset version",
                "a sham control can only be trained for local patient checkpoints; pass --sham ID instead",
            )
        base_model, dataset_id, patient_ref = patient.base_model, patient.dataset_id, patient.id
        config = TrainingConfig(**patient.hyperparameters)
    data = load_training_data(database, ArtifactStore(settings.data_dir), dataset_id)
    rows = sham_conversations(conversation_shape(data.train), seed=config.seed)
    path = settings.path("datasets", "sham", f"sham-{patient_ref}.jsonl")
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    partial.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    partial.replace(path)
    echo(f"sham control: {len(rows)} non-clinical conversations, training like {patient_ref}")
    checkpoint = finetune(
        settings,
        FinetuneRequest(dataset=str(path), base_model=base_model, show_progress=False),
        config,
        echo=echo,
    )
    return checkpoint.id
