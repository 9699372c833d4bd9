"""Fine-tuning batches, throughput and memory on the shipped sample data.

Conversations are built from the shipped synthetic Reddit sample (``pipeline/data/RC_2015-01-synthetic-
sample.bz2``): one per author of the specializations' subreddits, a persona-card system prompt from their own
sentences, therapist questions, and the author's comments as the patient's answers, so the lengths are the
sample's, not invented ones. Encoded with the real v3 tokenizer, then batched two ways in the same run:

* baseline (what `finetune` did before): whole conversations, 8 per micro-batch, random order;
* now: card-visible examples (one per trained turn) in token-budget micro-batches of similar lengths.

Printed: padding waste (target under 5%), the share of trained tokens that can see the card (must be 100%),
and on CPU the tiny model's tokens/s for both. On a GPU it also trains a Mistral-7B-shaped model (random
weights, bfloat16, gradient checkpointing, LoRA r=64, token-weighted accumulation: `academy finetune`'s
defaults) on the same examples and prints tokens/s and peak memory next to the 5,720 tokens/s per H100 that
Mistral's tooling assumes for 7B LoRA, then the same with 4-bit QLoRA when bitsandbytes is installed.

Run: ``python -m benchmarks.finetune [--steps N] [--dataset FILE.jsonl]``
"""

from __future__ import annotations

import argparse
import bz2
import json
import random
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import torch

MISTRAL_7B_TOKENS_PER_S_H100 = 5720
SPECIALIZATION_SUBREDDITS = {"depression", "Anxiety", "socialanxiety", "ADHD", "autism", "aspergers", "ptsd",
                             "CPTSD", "NPD", "narcissism"}  # fmt: skip
QUESTIONS = [
    "What brings you here today?",
    "How have you been sleeping lately?",
    "Can you tell me about a recent day that was hard?",
    "How do the people around you react when you feel like this?",
    "When did you first notice this?",
    "What do you usually do when it gets bad?",
    "What happened the last time you tried something new?",
    "What would you like to be different a few months from now?",
]
TURNS = 8


def sample_conversations() -> list[list[dict]]:
    from jedi_academy.pipeline.sample_dump import SAMPLE_PATH

    comments: dict[str, list[str]] = defaultdict(list)
    with bz2.open(SAMPLE_PATH, "rt", encoding="utf-8") as handle:
        for line in handle:
            row = json.loads(line)
            body = row["body"].strip()
            if row["subreddit"] in SPECIALIZATION_SUBREDDITS and len(body) >= 40 and body[0] != "[":
                comments[row["author"]].append(body)
    conversations = []
    for number, (_author, bodies) in enumerate(sorted(comments.items())):
        if len(bodies) < 3:
            continue
        sentences = [s.strip() for body in bodies[:4] for s in body.split(".") if len(s.strip()) > 20]
        opening = f"You are patient {number}, a person in psychotherapy. Stay in character."
        card = "\n".join([opening, *(f"- {s[:120]}." for s in sentences[:6])])
        messages = [{"role": "system", "content": card}]
        for turn in range(min(TURNS, len(bodies))):
            messages.append({"role": "user", "content": QUESTIONS[turn % len(QUESTIONS)]})
            messages.append({"role": "assistant", "content": bodies[turn]})
        conversations.append(messages)
    return conversations


def whole_conversation_examples(conversations: list[list[dict]], formatter: Any, max_seq_len: int) -> tuple:
    """The former encoding: one example per conversation; returns examples and the card-visible share."""
    from jedi_academy.finetune.data import IGNORE, Example, card_end

    examples, visible, trained = [], 0, 0
    for messages in conversations:
        ids, mask = formatter.encode_for_training(messages)
        end = card_end(formatter, messages, ids)
        trained += sum(mask)
        visible += sum(1 for i, keep in enumerate(mask) if keep and end is not None and i >= end)
        ids, mask = ids[:max_seq_len], mask[:max_seq_len]
        examples.append(Example(ids, [t if keep else IGNORE for t, keep in zip(ids, mask, strict=True)]))
    return examples, visible / max(1, trained)


def random_batches(count: int, size: int, seed: int = 1) -> list[list[int]]:
    order = list(range(count))
    random.Random(seed).shuffle(order)
    return [order[i : i + size] for i in range(0, count, size)]


def measure(
    model: Any, examples: list[Any], batches: list[list[int]], device: torch.device, accumulation: int = 1
) -> dict[str, float]:
    """Train on ``batches`` as `academy finetune` does (token-weighted accumulation, AdamW (0.9, 0.95));
    returns tokens/s over the real (non-pad) tokens and peak memory. The first step is a warm-up."""
    from jedi_academy.finetune.data import padding_waste
    from jedi_academy.finetune.trainer import accumulate_gradients, peak_memory_bytes

    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=1e-4, betas=(0.9, 0.95))
    model.train()
    steps = [batches[i : i + accumulation] for i in range(0, len(batches), accumulation)]
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    started, tokens = 0.0, 0
    for number, step in enumerate(steps):
        if number == 1:
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            started, tokens = time.perf_counter(), 0
        _, real = accumulate_gradients(model, [[examples[i] for i in b] for b in step], 0, device)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        tokens += real
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elapsed = time.perf_counter() - started
    measured = [b for step in steps[1:] for b in step]
    return {
        "tokens_per_s": tokens / elapsed if elapsed > 0 else float("nan"),
        "padding_waste": padding_waste(examples, measured),
        "peak_memory_gib": peak_memory_bytes(device) / 2**30,
    }


def batching_report(conversations: list[list[dict]], batch_tokens: int) -> tuple[list[Any], list[list[int]]]:
    from jedi_academy.finetune.data import encode_examples, length_grouped_batches, padding_waste
    from jedi_academy.llm.chat_format import MistralCommonFormatter
    from jedi_academy.llm.tiny import v3_tokenizer_file

    formatter = MistralCommonFormatter(v3_tokenizer_file())
    whole, whole_share = whole_conversation_examples(conversations, formatter, 2048)
    encoded = encode_examples(conversations, formatter, 2048)
    views = encoded.examples
    lengths = sorted(len(e.input_ids) for e in views)
    print(f"{len(conversations)} conversations from the shipped sample ({TURNS} turns at most), "
          f"{len(views)} card-visible examples of {lengths[0]}-{lengths[-1]} tokens "
          f"(median {lengths[len(lengths) // 2]})")  # fmt: skip
    rows = [
        ("baseline: whole conversations, 8 per batch, random order", whole, random_batches(len(whole), 8),
         whole_share),
        (f"now: card-visible examples, token budget {batch_tokens}", views,
         length_grouped_batches(views, batch_tokens, 0, 0), encoded.card_visible_share),
    ]  # fmt: skip
    for name, examples, batches, share in rows:
        print(f"  {name:68} padding waste {padding_waste(examples, batches):6.1%}  "
              f"card-visible trained tokens {share:6.1%}")  # fmt: skip
    return views, length_grouped_batches(views, batch_tokens, 0, 0)


def cpu_tiny(views: list[Any], steps: int) -> None:
    from transformers import MistralConfig, MistralForCausalLM

    from jedi_academy.finetune.config import TrainingConfig
    from jedi_academy.finetune.data import length_grouped_batches
    from jedi_academy.finetune.trainer import attach_lora
    from jedi_academy.llm.tiny import TINY_CONFIG

    torch.set_num_threads(1)
    device = torch.device("cpu")
    config = TrainingConfig(lora_rank=8)
    budget = 4096  # small micro-batches for the tiny model on CPU
    results = {}
    for name in ("random order, 8 per batch (baseline)", f"token budget {budget}"):
        torch.manual_seed(0)
        model = attach_lora(MistralForCausalLM(MistralConfig(**TINY_CONFIG)), config, None)
        if name.startswith("random"):
            batches = random_batches(len(views), 8)
        else:
            batches = length_grouped_batches(views, budget, seed=0, epoch=0)
        results[name] = measure(model, views, batches[: steps + 1], device)
    print(f"tiny Mistral on CPU, LoRA r=8, {steps} micro-batches of the card-visible examples")
    for name, row in results.items():
        print(f"  {name:40} {row['tokens_per_s']:10.0f} tokens/s  padding waste {row['padding_waste']:6.1%}  "
              f"peak RSS {row['peak_memory_gib']:.2f} GiB")  # fmt: skip
    first, second = results.values()
    print(f"  token budget / baseline: {second['tokens_per_s'] / first['tokens_per_s']:.2f}x")


def gpu_7b(views: list[Any], steps: int) -> None:
    from transformers import MistralConfig, MistralForCausalLM

    from jedi_academy.finetune.config import TrainingConfig
    from jedi_academy.finetune.data import length_grouped_batches
    from jedi_academy.finetune.memory import MISTRAL_7B_V03, ModelShape, estimate_memory
    from jedi_academy.finetune.trainer import attach_lora, quantized_load_kwargs

    device = torch.device("cuda", torch.cuda.current_device())
    config = TrainingConfig().for_device("cuda", bf16_supported=True)  # the defaults: r=64, 16384 x 2, GC on
    batches = length_grouped_batches(views, int(config.batch_tokens or 16384), seed=0, epoch=0)
    while len(batches) < (steps + 1) * config.grad_accumulation:
        batches += batches
    batches = batches[: (steps + 1) * config.grad_accumulation]
    estimate = estimate_memory(ModelShape.from_config(MISTRAL_7B_V03), config).total_bytes / 2**30
    card = torch.cuda.get_device_name(device)
    print(
        f"Mistral-7B-shaped model (random weights) on {card}: {steps} steps of {config.batch_tokens} "
        f"tokens x {config.grad_accumulation}, gradient checkpointing, estimate {estimate:.1f} GiB"
    )
    shape = {**MISTRAL_7B_V03, "max_position_embeddings": 32768, "rope_theta": 1e6, "sliding_window": None}
    with torch.device(device):
        base = MistralForCausalLM(MistralConfig(**shape)).to(torch.bfloat16)
    base.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    base.enable_input_require_grads()
    base.config.use_cache = False
    row = measure(attach_lora(base, config, None), views, batches, device, config.grad_accumulation)
    print(f"  LoRA r=64 bf16   {row['tokens_per_s']:8.0f} tokens/s  peak {row['peak_memory_gib']:.1f} GiB  "
          f"padding {row['padding_waste']:.1%}  = {row['tokens_per_s'] / MISTRAL_7B_TOKENS_PER_S_H100:.2f}x "
          "Mistral's 5,720 tokens/s per H100")  # fmt: skip
    del base
    torch.cuda.empty_cache()
    try:
        import bitsandbytes  # noqa: F401
        from peft import prepare_model_for_kbit_training
    except ImportError:
        print("  QLoRA skipped: bitsandbytes is not installed")
        return
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        with torch.device(device):
            MistralForCausalLM(MistralConfig(**shape)).to(torch.bfloat16).save_pretrained(folder)
        torch.cuda.empty_cache()
        quantized = MistralForCausalLM.from_pretrained(folder, **quantized_load_kwargs(device))
    torch.cuda.reset_peak_memory_stats(device)
    model = attach_lora(
        prepare_model_for_kbit_training(
            quantized, use_gradient_checkpointing=True, gradient_checkpointing_kwargs={"use_reentrant": False}
        ),
        config,
        None,
    )
    row = measure(model, views, batches, device, config.grad_accumulation)
    ratio = row["tokens_per_s"] / MISTRAL_7B_TOKENS_PER_S_H100
    print(f"  QLoRA r=64 4-bit {row['tokens_per_s']:8.0f} tokens/s  peak {row['peak_memory_gib']:.1f} GiB  "
          f"= {ratio:.2f}x Mistral's 5,720 tokens/s per H100")  # fmt: skip


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--dataset", type=Path, help="a Mistral-format .jsonl instead of the shipped sample")
    parser.add_argument("--batch-tokens", type=int, default=16384)
    args = parser.parse_args(argv)
    from jedi_academy.llm.loading import quiet_hf_libraries

    quiet_hf_libraries()
    if args.dataset:
        from jedi_academy.finetune.data import read_conversations

        conversations = read_conversations(args.dataset)
    else:
        conversations = sample_conversations()
    views, _ = batching_report(conversations, args.batch_tokens)
    cpu_tiny(views, args.steps)
    if torch.cuda.is_available():
        gpu_7b(views, max(5, args.steps // 3))
    else:
        print("no GPU here: the Mistral-7B-shaped LoRA/QLoRA measurement runs when CUDA is available")


if __name__ == "__main__":
    main()
