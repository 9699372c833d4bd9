"""Checkpoints to serve, shared by the serving tests."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def trained(tiny_dir, tmp_path_factory):  # type: ignore[no-untyped-def]
    """Two LoRA checkpoints of different ranks on the tiny model, made by the real fine-tuning code."""
    from jedi_academy.config import load_settings
    from jedi_academy.finetune.config import TrainingConfig
    from jedi_academy.finetune.service import FinetuneRequest, finetune
    from tests.finetune.conftest import conversation, write_jsonl

    root = tmp_path_factory.mktemp("served")
    settings = load_settings(data_dir=root / "data", model=str(tiny_dir), device="cpu")
    train = write_jsonl(root / "train.jsonl", [conversation(i) for i in range(8)])
    ids = []
    for rank, rate in ((4, 5e-3), (16, 1e-2)):
        config = TrainingConfig(
            lora_rank=rank, lora_alpha=2 * rank, learning_rate=rate, max_steps=2, batch_size=4, eval_every=2,
            save_every=2,
        )  # fmt: skip
        request = FinetuneRequest(dataset=str(train), show_progress=False)
        ids.append(finetune(settings, request, config, echo=lambda _: None).id)
    return settings, ids
