"""Fine-tuning throughput, memory and padding waste.

CPU: the tiny model, length-grouped batches (what `academy finetune` does) against a baseline of randomly
ordered batches measured in the same run. GPU (when present): a Mistral-7B-shaped model with random weights,
LoRA in bfloat16 and 4-bit QLoRA (if bitsandbytes is installed), next to the 5,720 tokens/s per H100 that
Mistral's tooling assumes for 7B LoRA.

Run: ``python -m benchmarks.finetune [--steps N]``
"""

from __future__ import annotations

import argparse
import random
import time
from typing import Any

import torch

MISTRAL_7B_TOKENS_PER_S_H100 = 5720
MISTRAL_7B_SHAPE = {
    "vocab_size": 32768,
    "hidden_size": 4096,
    "intermediate_size": 14336,
    "num_hidden_layers": 32,
    "num_attention_heads": 32,
    "num_key_value_heads": 8,
    "head_dim": 128,
    "max_position_embeddings": 32768,
    "rope_theta": 1e6,
    "sliding_window": None,
}


def synthetic_examples(count: int, low: int, high: int, vocab: int, seed: int = 0) -> list[Any]:
    from jedi_academy.finetune.data import Example

    rng = random.Random(seed)
    examples = []
    for _ in range(count):
        length = rng.randint(low, high)
        ids = [1] + [rng.randrange(5, vocab) for _ in range(length - 1)]
        labels = [-100] * (length // 2) + ids[length // 2 :]
        examples.append(Example(ids, labels))
    return examples


def measure(
    model: Any, examples: list[Any], batches: list[list[int]], device: torch.device
) -> dict[str, float]:
    """Train on ``batches``; returns tokens/s over the real (non-pad) tokens, and peak memory."""
    from jedi_academy.finetune.data import padding_waste
    from jedi_academy.finetune.trainer import collate, peak_memory_bytes

    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=1e-4)
    model.train()
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    warm = collate([examples[i] for i in batches[0]], 0, device)
    model(**warm).loss.backward()
    optimizer.zero_grad(set_to_none=True)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    started, tokens = time.perf_counter(), 0
    for batch in batches[1:]:
        inputs = collate([examples[i] for i in batch], 0, device)
        model(**inputs).loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        tokens += int(inputs["attention_mask"].sum())
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elapsed = time.perf_counter() - started
    return {
        "tokens_per_s": tokens / elapsed,
        "padding_waste": padding_waste(examples, batches[1:]),
        "peak_memory_gib": peak_memory_bytes(device) / 2**30,
    }


def cpu_tiny(steps: int) -> None:
    from transformers import MistralConfig, MistralForCausalLM

    from jedi_academy.finetune.config import TrainingConfig
    from jedi_academy.finetune.data import length_grouped_batches
    from jedi_academy.finetune.trainer import attach_lora
    from jedi_academy.llm.tiny import TINY_CONFIG

    torch.set_num_threads(1)
    device = torch.device("cpu")
    examples = synthetic_examples(steps * 8, 40, 400, TINY_CONFIG["vocab_size"])
    config = TrainingConfig(lora_rank=8, lora_alpha=16)
    results = {}
    for name in ("random order (baseline)", "length-grouped"):
        torch.manual_seed(0)
        model = attach_lora(MistralForCausalLM(MistralConfig(**TINY_CONFIG)), config, None)
        if name.startswith("random"):
            order = list(range(len(examples)))
            random.Random(1).shuffle(order)
            batches = [order[i : i + 8] for i in range(0, len(order), 8)]
        else:
            batches = length_grouped_batches(examples, 8, seed=0, epoch=0)
        results[name] = measure(model, examples, batches[: steps + 1], device)
    print(f"tiny Mistral on CPU, LoRA r=8, batch 8, {steps} steps, 40-400 tokens per conversation")
    for name, row in results.items():
        print(
            f"  {name:24} {row['tokens_per_s']:10.0f} tokens/s  padding waste {row['padding_waste']:6.1%}  "
            f"peak RSS {row['peak_memory_gib']:.2f} GiB"
        )
    ratio = results["length-grouped"]["tokens_per_s"] / results["random order (baseline)"]["tokens_per_s"]
    print(f"  length-grouped / baseline: {ratio:.2f}x (target: padding waste under 5%)")


def gpu_7b(steps: int) -> None:
    from transformers import MistralConfig, MistralForCausalLM

    from jedi_academy.finetune.config import TrainingConfig
    from jedi_academy.finetune.data import length_grouped_batches
    from jedi_academy.finetune.trainer import attach_lora

    device = torch.device("cuda")
    examples = synthetic_examples(steps * 4, 512, 2048, MISTRAL_7B_SHAPE["vocab_size"])
    batches = length_grouped_batches(examples, 4, seed=0, epoch=0)[: steps + 1]
    config = TrainingConfig(lora_rank=64, lora_alpha=128, gradient_checkpointing=True)
    card = torch.cuda.get_device_name(device)
    print(f"Mistral-7B-shaped model (random weights) on {card}, batch 4, {steps} steps")
    with torch.device(device):
        base = MistralForCausalLM(MistralConfig(**MISTRAL_7B_SHAPE)).to(torch.bfloat16)
    base.gradient_checkpointing_enable()
    base.enable_input_require_grads()
    row = measure(attach_lora(base, config, None), examples, batches, device)
    print(
        f"  LoRA r=64 bf16   {row['tokens_per_s']:8.0f} tokens/s  peak {row['peak_memory_gib']:.1f} GiB  "
        f"= {row['tokens_per_s'] / MISTRAL_7B_TOKENS_PER_S_H100:.2f}x Mistral's 5,720 tokens/s per H100"
    )
    del base
    torch.cuda.empty_cache()
    try:
        import bitsandbytes  # noqa: F401
        from peft import prepare_model_for_kbit_training
        from transformers import BitsAndBytesConfig
    except ImportError:
        print("  QLoRA skipped: bitsandbytes is not installed")
        return
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        with torch.device(device):
            MistralForCausalLM(MistralConfig(**MISTRAL_7B_SHAPE)).to(torch.bfloat16).save_pretrained(folder)
        quantized = MistralForCausalLM.from_pretrained(
            folder,
            quantization_config=BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_compute_dtype=torch.bfloat16),
            device_map={"": 0},
        )
    torch.cuda.reset_peak_memory_stats(device)
    model = attach_lora(
        prepare_model_for_kbit_training(quantized, use_gradient_checkpointing=True), config, None
    )
    row = measure(model, examples, batches, device)
    print(
        f"  QLoRA r=64 4-bit {row['tokens_per_s']:8.0f} tokens/s  peak {row['peak_memory_gib']:.1f} GiB  "
        f"= {row['tokens_per_s'] / MISTRAL_7B_TOKENS_PER_S_H100:.2f}x Mistral's 5,720 tokens/s per H100"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=30)
    args = parser.parse_args(argv)
    cpu_tiny(args.steps)
    if torch.cuda.is_available():
        gpu_7b(max(5, args.steps // 3))
    else:
        print("no GPU here: the Mistral-7B-shaped LoRA/QLoRA measurement runs when CUDA is available")


if __name__ == "__main__":
    main()
