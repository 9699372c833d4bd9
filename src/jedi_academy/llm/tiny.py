"""The tiny Mistral-architecture model used by tests and the offline demo.

Random weights from a fixed seed, the real Mistral v3 tokenizer from ``mistral-common``'s package data,
saved in Hugging Face format, and loaded through the same code path as any real model folder. Its text is
gibberish; its mechanics (formatting, log-probs, LoRA, checkpoints) are real.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from jedi_academy.config import Settings

TINY_NAME = "tiny"
TINY_SEED = 1234
TINY_MARKER = "academy-tiny.json"
V3_TOKENIZER = "mistral_instruct_tokenizer_240323.model.v3"

TINY_CONFIG = {
    "vocab_size": 32768,
    "hidden_size": 64,
    "intermediate_size": 128,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "head_dim": 16,
    "max_position_embeddings": 4096,
    "rope_theta": 1e6,
    "sliding_window": None,
    "tie_word_embeddings": False,
    "bos_token_id": 1,
    "eos_token_id": 2,
    "pad_token_id": 0,
    # Wider than transformers' default 0.02: with 0.02 the random logits span only about +-1.3, so no LoRA
    # adapter (lm_head and norms stay frozen) could make an answer clearly more likely, and the score shifts
    # that fine-tuning tests must show would be invisible.
    "initializer_range": 0.1,
}


def tiny_model_dir(settings: Settings) -> Path:
    return settings.path("models", TINY_NAME)


def is_tiny_model(name: str) -> bool:
    """``tiny`` itself, or a folder built by :func:`build_tiny_model`."""
    return name == TINY_NAME or (Path(name) / TINY_MARKER).is_file()


def v3_tokenizer_file() -> Path:
    import mistral_common

    return Path(mistral_common.__file__).parent / "data" / V3_TOKENIZER


def build_tiny_model(target: Path, *, force: bool = False) -> Path:
    """Write the tiny model to ``target`` (atomically: a half-written folder never appears there)."""
    target = Path(target)
    if (target / TINY_MARKER).is_file() and not force:
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    # An unwritable target fails here, before the seconds spent importing torch and building the weights.
    staging = Path(tempfile.mkdtemp(prefix=".tiny-", dir=target.parent))
    try:
        import torch
        from transformers import MistralConfig, MistralForCausalLM

        from jedi_academy.llm.loading import quiet_hf_libraries

        quiet_hf_libraries()
        torch.manual_seed(TINY_SEED)
        model = MistralForCausalLM(MistralConfig(**TINY_CONFIG))
        model.generation_config.pad_token_id = 0
        model.save_pretrained(staging)
        shutil.copyfile(v3_tokenizer_file(), staging / "tokenizer.model.v3")
        (staging / TINY_MARKER).write_text(
            json.dumps({"seed": TINY_SEED, "config": TINY_CONFIG, "tokenizer": V3_TOKENIZER}, indent=2)
        )
        if target.exists():
            shutil.rmtree(target)
        os.replace(staging, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target
