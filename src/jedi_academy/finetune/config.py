"""Training hyperparameters. Defaults follow mistral-finetune's 7B example (rank 64, lr 6e-5, 300 steps,
weight decay 0.1, 5% warm-up then cosine decay, gradient clipping at 1.0, LoRA scaling 2.0)."""

from __future__ import annotations

import hashlib
import json
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

LORA_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


class TrainingConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    lora_rank: int = Field(64, ge=1, le=512)
    lora_alpha: float = Field(128.0, gt=0)  # scaling alpha/rank = 2.0, as in mistral-finetune
    lora_dropout: float = Field(0.0, ge=0, lt=1)
    target_modules: tuple[str, ...] = LORA_TARGETS  # attention and MLP projections, never lm_head
    learning_rate: float = Field(6e-5, gt=0, le=1)
    weight_decay: float = Field(0.1, ge=0, le=1)
    warmup_fraction: float = Field(0.05, ge=0, le=1)
    max_steps: int = Field(300, ge=1)
    batch_size: int = Field(8, ge=1)
    grad_accumulation: int = Field(1, ge=1)
    max_seq_len: int = Field(2048, ge=16)
    max_grad_norm: float = Field(1.0, gt=0)
    eval_every: int = Field(100, ge=1)
    save_every: int = Field(50, ge=1)
    seed: int = 0
    precision: Literal["auto", "float32", "bfloat16"] = "auto"
    gradient_checkpointing: bool = False
    quantization: Literal["none", "4bit"] = "none"

    def fingerprint(self) -> str:
        return hashlib.sha256(json.dumps(self.model_dump(mode="json"), sort_keys=True).encode()).hexdigest()
