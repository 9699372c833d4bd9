"""How much GPU memory a LoRA/QLoRA run needs, before renting the GPU (``academy finetune --dry-run``).

Parameter counts are exact for Mistral/Llama-shaped decoders (tested against the real modules). Memory is an
estimate: weights, LoRA weights with their gradients and AdamW moments (PEFT keeps adapters in float32 on a
bfloat16 base), and activations for one micro-batch of ``batch_tokens`` padded tokens. With gradient
checkpointing only each layer's input is kept, plus one layer's activations while it is recomputed; without it
every layer's activations are kept. The logits (vocabulary x tokens, upcast to float32 for the loss, and its
gradient) are counted separately because for a 32k vocabulary they rival all the layers together. CUDA's own
context and the allocator's slack come on top (about 1-2 GiB).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jedi_academy.errors import ConfigError
from jedi_academy.finetune.config import TrainingConfig

if TYPE_CHECKING:
    from jedi_academy.config import Settings

GIB = 2**30
GPU_SIZES_GIB = {"24 GiB (RTX 4090, L4)": 24, "40 GiB (A100-40G)": 40, "48 GiB (L40S, A6000)": 48,
                 "80 GiB (A100-80G, H100)": 80, "141 GiB (H200)": 141}  # fmt: skip
OVERHEAD_BYTES = 1.5 * GIB  # CUDA context and allocator slack
NF4_BYTES_PER_PARAM = 0.5 + 0.127 / 8  # 4-bit weights plus double-quantised block scales

MISTRAL_7B_V03 = {
    "vocab_size": 32768, "hidden_size": 4096, "intermediate_size": 14336, "num_hidden_layers": 32,
    "num_attention_heads": 32, "num_key_value_heads": 8, "head_dim": 128, "tie_word_embeddings": False,
}  # fmt: skip
KNOWN_SHAPES = {
    "mistralai/Mistral-7B-v0.3": MISTRAL_7B_V03,
    "mistralai/Mistral-7B-Instruct-v0.3": MISTRAL_7B_V03,
}


@dataclass(frozen=True)
class ModelShape:
    vocab_size: int
    hidden_size: int
    intermediate_size: int
    num_hidden_layers: int
    num_attention_heads: int
    num_key_value_heads: int
    head_dim: int
    tie_word_embeddings: bool = False

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> ModelShape:
        try:
            heads = int(config["num_attention_heads"])
            return cls(
                vocab_size=int(config["vocab_size"]),
                hidden_size=int(config["hidden_size"]),
                intermediate_size=int(config["intermediate_size"]),
                num_hidden_layers=int(config["num_hidden_layers"]),
                num_attention_heads=heads,
                num_key_value_heads=int(config.get("num_key_value_heads") or heads),
                head_dim=int(config.get("head_dim") or int(config["hidden_size"]) // heads),
                tie_word_embeddings=bool(config.get("tie_word_embeddings", False)),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ConfigError(f"model config lacks a decoder shape field ({exc})") from exc

    def projections(self) -> dict[str, tuple[int, int]]:
        """(in, out) features of each linear layer in one decoder layer."""
        h, i = self.hidden_size, self.intermediate_size
        q, kv = self.num_attention_heads * self.head_dim, self.num_key_value_heads * self.head_dim
        return {"q_proj": (h, q), "k_proj": (h, kv), "v_proj": (h, kv), "o_proj": (q, h),
                "gate_proj": (h, i), "up_proj": (h, i), "down_proj": (i, h)}  # fmt: skip

    def linear_parameters(self) -> int:
        return self.num_hidden_layers * sum(a * b for a, b in self.projections().values())

    def other_parameters(self) -> int:
        """Embeddings, output head and RMSNorm weights (never quantised)."""
        embeddings = self.vocab_size * self.hidden_size
        head = 0 if self.tie_word_embeddings else embeddings
        norms = (2 * self.num_hidden_layers + 1) * self.hidden_size
        return embeddings + head + norms

    def base_parameters(self) -> int:
        return self.linear_parameters() + self.other_parameters()

    def lora_parameters(self, rank: int, targets: tuple[str, ...]) -> int:
        shapes = self.projections()
        unknown = sorted(set(targets) - set(shapes))
        if unknown:
            raise ConfigError(f"unknown LoRA target modules {unknown}", f"use some of {sorted(shapes)}")
        return self.num_hidden_layers * sum(rank * sum(shapes[name]) for name in targets)


@dataclass(frozen=True)
class MemoryEstimate:
    shape: ModelShape
    config: TrainingConfig
    base_parameters: int
    lora_parameters: int
    weights_bytes: float
    lora_bytes: float  # adapter weights + gradients + AdamW moments
    layer_activation_bytes: float
    logits_bytes: float

    @property
    def total_bytes(self) -> float:
        return (
            self.weights_bytes
            + self.lora_bytes
            + self.layer_activation_bytes
            + self.logits_bytes
            + OVERHEAD_BYTES
        )

    def fits(self) -> dict[str, bool]:
        return {name: self.total_bytes <= size * GIB for name, size in GPU_SIZES_GIB.items()}

    def as_dict(self) -> dict[str, Any]:
        return {
            "shape": self.shape.__dict__,
            "base_parameters": self.base_parameters,
            "lora_parameters": self.lora_parameters,
            "lora_rank": self.config.lora_rank,
            "precision": self.config.precision,
            "quantization": self.config.quantization,
            "gradient_checkpointing": self.config.gradient_checkpointing,
            "batch_tokens": self.config.batch_tokens,
            "gib": {
                "weights": self.weights_bytes / GIB,
                "lora_weights_gradients_optimizer": self.lora_bytes / GIB,
                "layer_activations": self.layer_activation_bytes / GIB,
                "logits": self.logits_bytes / GIB,
                "cuda_overhead": OVERHEAD_BYTES / GIB,
                "total": self.total_bytes / GIB,
            },
            "fits": self.fits(),
        }


def estimate_memory(shape: ModelShape, config: TrainingConfig) -> MemoryEstimate:
    """``config`` should be resolved for the device (precision and gradient checkpointing not ``auto``)."""
    compute_bytes = 4 if config.precision == "float32" and config.quantization == "none" else 2
    base = shape.base_parameters()
    lora = shape.lora_parameters(config.lora_rank, config.target_modules)
    if config.quantization == "4bit":
        weights = shape.linear_parameters() * NF4_BYTES_PER_PARAM + shape.other_parameters() * 2
    else:
        weights = base * compute_bytes
    lora_bytes = lora * (4 + 4 + 8)  # float32 weights, gradients, AdamW's two moments
    tokens = int(config.batch_tokens or config.max_seq_len)
    h, i = shape.hidden_size, shape.intermediate_size
    q = shape.num_attention_heads * shape.head_dim
    kv = shape.num_key_value_heads * shape.head_dim
    # saved for backward in one layer, per token: norm outputs, q/k/v before and after rotary, attention
    # output, MLP gate/up/activation/product, float32 RMSNorm internals, LoRA's rank-sized intermediates
    # (and dropout masks when dropout is on)
    per_layer = compute_bytes * (3 * h + 2 * q + q + 4 * kv + 4 * i) + 2 * 4 * h
    per_layer += compute_bytes * config.lora_rank * len(config.target_modules)
    if config.lora_dropout > 0:
        per_layer += sum(shape.projections()[name][0] for name in config.target_modules)
    if config.gradient_checkpointing:
        layers = tokens * (shape.num_hidden_layers * h * compute_bytes + per_layer)
    else:
        layers = tokens * shape.num_hidden_layers * per_layer
    logits = tokens * shape.vocab_size * (compute_bytes + 4 + 4)  # logits, float32 copy, its gradient
    return MemoryEstimate(shape, config, base, lora, weights, lora_bytes, layers, logits)


def model_shape(name: str, settings: Settings) -> ModelShape:
    """The decoder shape of a base model without loading (or downloading) its weights."""
    from jedi_academy.llm.tiny import TINY_CONFIG, is_tiny_model

    if is_tiny_model(name) and not Path(name).is_dir():
        return ModelShape.from_config(TINY_CONFIG)
    path = Path(name).expanduser()
    if path.is_dir():
        config_file = path / "config.json"
        try:
            return ModelShape.from_config(json.loads(config_file.read_text(encoding="utf-8")))
        except (OSError, ValueError) as exc:
            raise ConfigError(f"cannot read the model shape from {config_file} ({exc})") from exc
    if name in KNOWN_SHAPES:
        return ModelShape.from_config(KNOWN_SHAPES[name])
    try:
        from huggingface_hub import try_to_load_from_cache

        cached = try_to_load_from_cache(name, "config.json")
    except Exception:  # an id the Hub library rejects is simply not cached
        cached = None
    if isinstance(cached, str):
        return ModelShape.from_config(json.loads(Path(cached).read_text(encoding="utf-8")))
    raise ConfigError(
        f"the shape of {name!r} is not known here",
        f"pass a local model folder to --base, or one of {sorted(KNOWN_SHAPES)}",
    )


def format_estimate(name: str, estimate: MemoryEstimate) -> str:
    c = estimate.config
    lines = [
        f"{name}: {estimate.base_parameters / 1e9:.2f} B parameters; LoRA r={c.lora_rank} on "
        f"{len(c.target_modules)} projections: {estimate.lora_parameters / 1e6:.1f} M trainable",
        f"precision {c.precision}, quantization {c.quantization}, gradient checkpointing "
        f"{'on' if c.gradient_checkpointing else 'off'}, {c.batch_tokens} tokens per micro-batch "
        f"x {c.grad_accumulation} accumulation (max_seq_len {c.max_seq_len})",
        f"  weights                         {estimate.weights_bytes / GIB:8.1f} GiB",
        f"  LoRA weights + grads + AdamW    {estimate.lora_bytes / GIB:8.1f} GiB",
        f"  layer activations               {estimate.layer_activation_bytes / GIB:8.1f} GiB",
        f"  logits (float32 loss)           {estimate.logits_bytes / GIB:8.1f} GiB",
        f"  CUDA context and slack          {OVERHEAD_BYTES / GIB:8.1f} GiB",
        f"  total (estimate)                {estimate.total_bytes / GIB:8.1f} GiB",
    ]
    for gpu, ok in estimate.fits().items():
        lines.append(f"  {'fits' if ok else 'too big for':12} {gpu}")
    return "\n".join(lines)
