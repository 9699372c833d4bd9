"""Training hyperparameters. Defaults follow mistral-finetune's 7B example (rank 64, lr 6e-5, 300 steps,
weight decay 0.1, 5% warm-up then cosine decay, gradient clipping at 1.0, LoRA scaling 2.0, AdamW betas
(0.9, 0.95)), with micro-batches sized in tokens rather than conversations so a 7B fits one GPU."""

from __future__ import annotations

import hashlib
import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, model_validator

from jedi_academy.finetune import bounds

LORA_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
DEFAULT_BATCH_TOKENS = bounds.DEFAULT_BATCH_TOKENS
LORA_FIELDS = ("lora_rank", "lora_alpha", "lora_dropout", "target_modules")


class TrainingConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    # defaults and ranges: finetune/bounds.py (the CLI's options are built from the same bounds)
    lora_rank: int = bounds.LORA_RANK.field()
    lora_alpha: float | None = bounds.LORA_ALPHA.field()  # None: 2 x rank (scaling 2.0)
    lora_dropout: float = bounds.LORA_DROPOUT.field()
    target_modules: tuple[str, ...] = LORA_TARGETS  # attention and MLP projections, never lm_head
    learning_rate: float = bounds.LEARNING_RATE.field()
    weight_decay: float = bounds.WEIGHT_DECAY.field()
    adam_betas: tuple[float, float] = (0.9, 0.95)  # mistral-finetune's; torch's default 0.999 adapts slower
    warmup_fraction: float = bounds.WARMUP_FRACTION.field()
    max_steps: int = bounds.MAX_STEPS.field()
    batch_tokens: int | None = bounds.BATCH_TOKENS.field()  # padded tokens per micro-batch
    batch_size: int | None = bounds.BATCH_SIZE.field()  # optional cap on examples per micro-batch
    grad_accumulation: int = bounds.GRAD_ACCUMULATION.field()
    max_seq_len: int = bounds.MAX_SEQ_LEN.field()
    max_grad_norm: float = bounds.MAX_GRAD_NORM.field()
    eval_every: int = bounds.EVAL_EVERY.field()
    save_every: int = bounds.SAVE_EVERY.field()
    seed: int = 0
    precision: Literal["auto", "float32", "bfloat16"] = "auto"
    gradient_checkpointing: bool | None = None  # None: on for CUDA, off on CPU (where it only costs time)
    quantization: Literal["none", "4bit"] = "none"

    @model_validator(mode="after")
    def _canonical(self) -> TrainingConfig:
        # frozen model: set derived values once, without marking them as explicitly given
        if self.lora_alpha is None:
            object.__setattr__(self, "lora_alpha", 2.0 * self.lora_rank)
        object.__setattr__(self, "target_modules", tuple(sorted(set(self.target_modules))))
        if self.batch_tokens is None:
            object.__setattr__(self, "batch_tokens", max(DEFAULT_BATCH_TOKENS, self.max_seq_len))
        elif self.batch_tokens < self.max_seq_len:
            raise ValueError(
                f"batch_tokens ({self.batch_tokens}) must hold one max_seq_len ({self.max_seq_len})"
            )
        return self

    def fingerprint(self) -> str:
        return hashlib.sha256(json.dumps(self.model_dump(mode="json"), sort_keys=True).encode()).hexdigest()

    def for_device(self, device_type: str, bf16_supported: bool) -> TrainingConfig:
        """The config with ``auto`` choices made for the device, so the recorded values are the real ones."""
        updates: dict[str, Any] = {}
        if self.gradient_checkpointing is None:
            updates["gradient_checkpointing"] = device_type == "cuda"
        if self.precision == "auto":
            updates["precision"] = "bfloat16" if device_type == "cuda" and bf16_supported else "float32"
        return self.model_copy(update=updates)

    def lora_settings(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in LORA_FIELDS}
