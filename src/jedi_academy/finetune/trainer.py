"""The local LoRA trainer: one readable loop (after nanoGPT), resumable, seeded, assistant-only loss.

State (adapter weights, optimizer, scheduler, step, history, RNG) is saved atomically every ``save_every``
steps and when interrupted; ``resume=True`` continues from it and reaches the same final adapter as an
uninterrupted run with the same seed.
"""

from __future__ import annotations

import json
import math
import os
import resource
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from jedi_academy.errors import AcademyError
from jedi_academy.finetune.config import TrainingConfig
from jedi_academy.finetune.data import IGNORE, Example, batch_stream, length_grouped_batches, padding_waste
from jedi_academy.llm.transformers_backend import pick_device

STATE_FORMAT = 1


class TrainingError(AcademyError):
    """Training stopped (NaN loss, out of memory, bad resume); the last good state is kept."""


@dataclass
class TrainResult:
    adapter_dir: Path
    steps: int
    history: list[dict[str, float]]
    validation: list[dict[str, float]]
    metrics: dict[str, Any] = field(default_factory=dict)
    resumed_from: int | None = None


StepCallback = Callable[[int, float], None]


def pick_precision(config: TrainingConfig, device: torch.device) -> torch.dtype:
    if config.precision == "bfloat16":
        return torch.bfloat16
    if config.precision == "auto" and device.type == "cuda" and torch.cuda.is_bf16_supported():
        return torch.bfloat16
    return torch.float32


def cosine_with_warmup(config: TrainingConfig) -> Callable[[int], float]:
    warmup = max(1, round(config.warmup_fraction * config.max_steps)) if config.warmup_fraction > 0 else 0

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        progress = (step - warmup) / max(1, config.max_steps - warmup)
        return 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))

    return factor


def load_base_model(base_dir: Path, config: TrainingConfig, device: torch.device) -> Any:
    from transformers import AutoModelForCausalLM

    from jedi_academy.llm.loading import quiet_hf_libraries

    quiet_hf_libraries()
    dtype = pick_precision(config, device)
    if config.quantization == "4bit":
        if device.type != "cuda":
            raise TrainingError("4-bit QLoRA needs a CUDA GPU", "drop --quantize 4bit on CPU")
        try:
            import bitsandbytes  # noqa: F401
            from transformers import BitsAndBytesConfig
        except ImportError as exc:
            raise TrainingError("4-bit QLoRA needs bitsandbytes", "pip install bitsandbytes") from exc
        from peft import prepare_model_for_kbit_training

        quantized = BitsAndBytesConfig(
            load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_compute_dtype=torch.bfloat16
        )
        model = AutoModelForCausalLM.from_pretrained(
            str(base_dir), quantization_config=quantized, device_map={"": 0}
        )
        return prepare_model_for_kbit_training(
            model, use_gradient_checkpointing=config.gradient_checkpointing
        )
    model = AutoModelForCausalLM.from_pretrained(str(base_dir), dtype=dtype).to(device)
    if config.gradient_checkpointing:
        model.gradient_checkpointing_enable()
        model.enable_input_require_grads()
    return model


def attach_lora(model: Any, config: TrainingConfig, init_adapter: Path | None) -> Any:
    from peft import LoraConfig, PeftModel, get_peft_model

    if init_adapter is not None:
        return PeftModel.from_pretrained(model, str(init_adapter), is_trainable=True)
    lora = LoraConfig(
        task_type="CAUSAL_LM",
        r=config.lora_rank,
        lora_alpha=config.lora_alpha,
        lora_dropout=config.lora_dropout,
        target_modules=list(config.target_modules),
        bias="none",
    )
    return get_peft_model(model, lora)


def collate(examples: Sequence[Example], pad_id: int, device: torch.device) -> dict[str, torch.Tensor]:
    width = max(len(e.input_ids) for e in examples)
    ids = [e.input_ids + [pad_id] * (width - len(e.input_ids)) for e in examples]
    labels = [e.labels + [IGNORE] * (width - len(e.labels)) for e in examples]
    mask = [[1] * len(e.input_ids) + [0] * (width - len(e.input_ids)) for e in examples]
    return {
        "input_ids": torch.tensor(ids, device=device),
        "attention_mask": torch.tensor(mask, device=device),
        "labels": torch.tensor(labels, device=device),
    }


def token_loss(
    model: Any, examples: Sequence[Example], batch_size: int, pad_id: int, device: torch.device
) -> float:
    """Mean loss per trained token over ``examples`` (validation)."""
    total, count = 0.0, 0
    was_training = model.training
    model.eval()
    with torch.no_grad():
        for start in range(0, len(examples), batch_size):
            batch = collate(examples[start : start + batch_size], pad_id, device)
            logits = model(
                input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]
            ).logits.float()
            targets = batch["labels"][:, 1:]
            losses = torch.nn.functional.cross_entropy(
                logits[:, :-1].reshape(-1, logits.shape[-1]),
                targets.reshape(-1),
                ignore_index=IGNORE,
                reduction="sum",
            )
            total += float(losses)
            count += int((targets != IGNORE).sum())
    model.train(was_training)
    return total / max(1, count)


def peak_memory_bytes(device: torch.device) -> int:
    if device.type == "cuda":
        return int(torch.cuda.max_memory_allocated(device))
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


class _RunState:
    """Files under ``<run_dir>/state``: written to a sibling folder, then swapped in."""

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = run_dir
        self.path = run_dir / "state"

    def exists(self) -> bool:
        return (self.path / "trainer.json").is_file()

    def info(self) -> dict[str, Any]:
        return json.loads((self.path / "trainer.json").read_text())

    def save(self, model: Any, optimizer: Any, scheduler: Any, info: dict[str, Any]) -> None:
        staging = self.run_dir / "state.saving"
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        model.save_pretrained(staging / "adapter")
        torch.save(
            {"optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict()}, staging / "optim.pt"
        )
        rng = {"torch": torch.get_rng_state()}
        if torch.cuda.is_available():
            rng["cuda"] = torch.cuda.get_rng_state_all()
        torch.save(rng, staging / "rng.pt")
        (staging / "trainer.json").write_text(json.dumps({"format": STATE_FORMAT, **info}, indent=1))
        old = self.run_dir / "state.old"
        shutil.rmtree(old, ignore_errors=True)
        if self.path.exists():
            os.replace(self.path, old)
        os.replace(staging, self.path)
        shutil.rmtree(old, ignore_errors=True)

    def restore(self, optimizer: Any, scheduler: Any) -> None:
        saved = torch.load(self.path / "optim.pt", weights_only=False)
        optimizer.load_state_dict(saved["optimizer"])
        scheduler.load_state_dict(saved["scheduler"])
        rng = torch.load(self.path / "rng.pt", weights_only=False)
        torch.set_rng_state(rng["torch"])
        if "cuda" in rng and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(rng["cuda"])


def train_lora(
    base_dir: Path,
    train: Sequence[Example],
    validation: Sequence[Example],
    config: TrainingConfig,
    run_dir: Path,
    *,
    pad_id: int,
    device: str = "auto",
    resume: bool = False,
    init_adapter: Path | None = None,
    show_progress: bool = True,
    on_step: StepCallback | None = None,
) -> TrainResult:
    if not train:
        raise TrainingError("no training examples with assistant tokens", "check the dataset version")
    target = pick_device(device)
    run_dir.mkdir(parents=True, exist_ok=True)
    state = _RunState(run_dir)
    if state.exists() and not resume:
        raise TrainingError(
            f"an interrupted run with these inputs is at step {state.info()['step']} in {run_dir}",
            "pass --resume to continue it, or --restart to start over",
        )

    torch.manual_seed(config.seed)
    model = load_base_model(base_dir, config, target)
    start_step, history, validation_history, resumed_from = 0, [], [], None
    if resume and state.exists():
        info = state.info()
        if info.get("fingerprint") != config.fingerprint():
            raise TrainingError(
                f"the saved state in {run_dir} was made with other hyperparameters", "use --restart"
            )
        model = attach_lora(model, config, state.path / "adapter")
        start_step, history, validation_history = info["step"], info["history"], info["validation"]
        resumed_from = start_step
    else:
        model = attach_lora(model, config, init_adapter)
    model.train()

    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=config.learning_rate, weight_decay=config.weight_decay)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, cosine_with_warmup(config))
    if resumed_from is not None:
        state.restore(optimizer, scheduler)

    stream = batch_stream(train, config.batch_size, config.seed)
    for _ in range(start_step * config.grad_accumulation):
        next(stream)

    def snapshot(step: int) -> None:
        info = {
            "step": step,
            "history": history,
            "validation": validation_history,
            "fingerprint": config.fingerprint(),
        }
        state.save(model, optimizer, scheduler, info)

    progress = _Progress(config.max_steps, start_step, enabled=show_progress)
    started, tokens_seen = time.monotonic(), 0
    step = start_step
    try:
        while step < config.max_steps:
            optimizer.zero_grad(set_to_none=True)
            step_loss, step_tokens = 0.0, 0
            for _ in range(config.grad_accumulation):
                batch = collate([train[i] for i in next(stream)], pad_id, target)
                loss = model(**batch).loss / config.grad_accumulation
                if not torch.isfinite(loss):
                    snapshot(step)
                    value = float(loss.detach())
                    raise TrainingError(
                        f"the training loss became {value} at step {step + 1}; the last good state "
                        f"(step {step}) is kept in {state.path}",
                        "lower --lr, check the data, or use float32",
                    )
                loss.backward()
                step_loss += float(loss.detach())
                step_tokens += int(batch["attention_mask"].sum())
            torch.nn.utils.clip_grad_norm_(trainable, config.max_grad_norm)
            optimizer.step()
            scheduler.step()
            step += 1
            tokens_seen += step_tokens
            history.append(
                {"step": step, "loss": step_loss, "lr": scheduler.get_last_lr()[0], "tokens": step_tokens}
            )
            if validation and (step % config.eval_every == 0 or step == config.max_steps):
                validation_loss = token_loss(model, validation, config.batch_size, pad_id, target)
                validation_history.append({"step": step, "loss": validation_loss})
            if step % config.save_every == 0 and step < config.max_steps:
                snapshot(step)
            progress.update(step, step_loss, tokens_seen / max(1e-9, time.monotonic() - started))
            if on_step is not None:
                on_step(step, step_loss)
    except KeyboardInterrupt:
        if history and history[-1]["step"] == step:
            snapshot(step)
        raise
    except torch.OutOfMemoryError as exc:
        raise TrainingError(
            f"out of memory at step {step + 1}; the last saved state is kept in {state.path}",
            "lower --batch-size or --max-seq-len, enable --gradient-checkpointing, or use --quantize 4bit",
        ) from exc
    finally:
        progress.close()

    elapsed = time.monotonic() - started
    adapter_dir = run_dir / "adapter"
    shutil.rmtree(adapter_dir, ignore_errors=True)
    model.save_pretrained(adapter_dir)
    shutil.rmtree(state.path, ignore_errors=True)
    batches = length_grouped_batches(train, config.batch_size, config.seed, 0)
    metrics = {
        "train_loss_first": history[0]["loss"] if history else None,
        "train_loss_last": history[-1]["loss"] if history else None,
        "validation_loss": validation_history[-1]["loss"] if validation_history else None,
        "train_examples": len(train),
        "validation_examples": len(validation),
        "trained_tokens_per_epoch": sum(e.trained_tokens for e in train),
        "tokens_per_second": tokens_seen / elapsed if elapsed > 0 else None,
        "padding_waste": padding_waste(train, batches),
        "peak_memory_bytes": peak_memory_bytes(target),
        "device": str(target),
        "precision": str(pick_precision(config, target)).removeprefix("torch."),
    }
    return TrainResult(adapter_dir, step, history, validation_history, metrics, resumed_from)


class _Progress:
    """A rich progress bar with step, loss, tokens/s and ETA; silent when not on a terminal."""

    def __init__(self, total: int, completed: int, *, enabled: bool) -> None:
        import sys

        self.bar = None
        if enabled and sys.stderr.isatty():
            from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

            self.bar = Progress(
                TextColumn("training"),
                BarColumn(),
                TextColumn("step {task.completed}/{task.total}"),
                TextColumn("loss {task.fields[loss]:.4f}"),
                TextColumn("{task.fields[speed]:.0f} tok/s"),
                TimeRemainingColumn(),
                transient=False,
            )
            self.task = self.bar.add_task(
                "train", total=total, completed=completed, loss=float("nan"), speed=0.0
            )
            self.bar.start()

    def update(self, step: int, loss: float, speed: float) -> None:
        if self.bar is not None:
            self.bar.update(self.task, completed=step, loss=loss, speed=speed)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.stop()
