"""Training hyperparameters. Defaults follow mistral-finetune's 7B example (rank 64, lr 6e-5, 300 steps,
weight decay 0.1, 5% warm-up then cosine decay, gradient clipping at 1.0, LoRA scaling 2.0, AdamW betas
(0.9, 0.95)), with micro-batches sized in tokens rather than conversations so a 7B fits one GPU."""

from __future__ import annotations

import hashlib
import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

LORA_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
DEFAULT_BATCH_TOKENS = 16384
LORA_FIELDS = ("lora_rank", "lora_alpha", "lora_dropout", "target_modules")


class TrainingConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    lora_rank: int = Field(64, ge=1, le=512)
    lora_alpha: float | None = Field(None, gt=0)  # None: 2 x rank (scaling 2.0)
    lora_dropout: float = Field(0.0, ge=0, lt=1)
    target_modules: tuple[str, ...] = LORA_TARGETS  # attention and MLP projections, never lm_head
    learning_rate: float = Field(6e-5, gt=0, le=1)
    weight_decay: float = Field(0.1, ge=0, le=1)
    adam_betas: tuple[float, float] = (0.9, 0.95)  # mistral-finetune's; torch's default 0.999 adapts slower
    warmup_fraction: float = Field(0.05, ge=0, le=1)
    max_steps: int = Field(300, ge=1)
    batch_tokens: int | None = Field(None, ge=16)  # padded tokens per micro-batch (None: 16384 or more)
    batch_size: int | None = Field(None, ge=1)  # optional cap on examples per micro-batch
    grad_accumulation: int = Field(2, ge=1)
    max_seq_len: int = Field(2048, ge=16)
    max_grad_norm: float = Field(1.0, gt=0)
    eval_every: int = Field(100, ge=1)
    save_every: int = Field(50, ge=1)
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
