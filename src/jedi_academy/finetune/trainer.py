"""The local LoRA trainer: one readable loop (after nanoGPT), resumable, seeded, assistant-only loss.

State (adapter weights, optimizer, scheduler, step, history, RNG) is saved atomically every ``save_every``
steps and when interrupted; ``resume=True`` continues from it and reaches the same final adapter as an
uninterrupted run with the same seed. The loss of a step is the mean over all its trained tokens, whatever
micro-batch they fall in (token-weighted across gradient accumulation).
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
from jedi_academy.llm.transformers_backend import pick_device as checked_device

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


def pick_device(device: str) -> torch.device:
    """The training device: refused with a clear error when unknown or when CUDA is named without a GPU."""
    checked_device(device)
    return device_placement(device)


def device_placement(device: str) -> torch.device:
    """``auto`` is the current CUDA device when there is one, else the CPU; ``cuda:N`` is kept as given."""
    if device == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda", torch.cuda.current_device())
        return torch.device("cpu")
    chosen = torch.device(device)
    if chosen.type == "cuda" and chosen.index is None:
        chosen = torch.device("cuda", torch.cuda.current_device() if torch.cuda.is_available() else 0)
    return chosen


def resolve_config(config: TrainingConfig, device: torch.device) -> TrainingConfig:
    bf16 = device.type == "cuda" and torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    return config.for_device(device.type, bf16)


def pick_precision(config: TrainingConfig, device: torch.device) -> torch.dtype:
    return torch.bfloat16 if resolve_config(config, device).precision == "bfloat16" else torch.float32


def uses_gradient_checkpointing(config: TrainingConfig, device: torch.device) -> bool:
    return bool(resolve_config(config, device).gradient_checkpointing)


def quantized_load_kwargs(device: torch.device) -> dict[str, Any]:
    """from_pretrained arguments for 4-bit QLoRA: NF4 with double quantisation, bf16 compute, every weight on
    the chosen GPU (``cuda:N`` means GPU N, not GPU 0)."""
    from transformers import BitsAndBytesConfig

    if device.type != "cuda" or device.index is None:
        raise TrainingError("4-bit QLoRA needs a CUDA GPU", "drop --quantize 4bit on CPU")
    quantization = BitsAndBytesConfig(
        load_in_4bit=True,
        bnb_4bit_quant_type="nf4",
        bnb_4bit_use_double_quant=True,
        bnb_4bit_compute_dtype=torch.bfloat16,
    )
    return {"quantization_config": quantization, "device_map": {"": device.index}, "dtype": torch.bfloat16}


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
    checkpointing = uses_gradient_checkpointing(config, device)
    if config.quantization == "4bit":
        kwargs = quantized_load_kwargs(device)
        try:
            import bitsandbytes  # noqa: F401
        except ImportError as exc:
            raise TrainingError("4-bit QLoRA needs bitsandbytes", "pip install bitsandbytes") from exc
        from peft import prepare_model_for_kbit_training

        model = AutoModelForCausalLM.from_pretrained(str(base_dir), **kwargs)
        return prepare_model_for_kbit_training(
            model,
            use_gradient_checkpointing=checkpointing,
            gradient_checkpointing_kwargs={"use_reentrant": False},
        )
    model = AutoModelForCausalLM.from_pretrained(str(base_dir), dtype=dtype).to(device)
    if checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        model.enable_input_require_grads()
    model.config.use_cache = False  # no KV cache while training (and none with checkpointing)
    return model


def attach_lora(model: Any, config: TrainingConfig, init_adapter: Path | None) -> Any:
    from peft import LoraConfig, PeftModel, get_peft_model

    if init_adapter is not None:
        loaded = PeftModel.from_pretrained(model, str(init_adapter), is_trainable=True)
        # stored adapters name their base by a path-free identity; point PEFT at the real folder, or saving
        # would try to look that name up on the Hub
        loaded.peft_config["default"].base_model_name_or_path = model.config.name_or_path
        found = adapter_lora_settings(loaded.peft_config["default"].to_dict())
        if found != config.lora_settings():
            raise TrainingError(
                f"the adapter in {init_adapter} has LoRA settings {found}, not the requested "
                f"{config.lora_settings()}",
                "train with the adapter's own rank, alpha, dropout and target modules",
            )
        return loaded
    lora = LoraConfig(
        task_type="CAUSAL_LM",
        r=config.lora_rank,
        lora_alpha=config.lora_alpha,
        lora_dropout=config.lora_dropout,
        target_modules=list(config.target_modules),
        bias="none",
    )
    return get_peft_model(model, lora)


def adapter_lora_settings(adapter_config: dict[str, Any]) -> dict[str, Any]:
    """An ``adapter_config.json``'s LoRA settings, named and normalised as in :class:`TrainingConfig`."""
    targets = adapter_config.get("target_modules") or ()
    return {
        "lora_rank": int(adapter_config["r"]),
        "lora_alpha": float(adapter_config["lora_alpha"]),
        "lora_dropout": float(adapter_config.get("lora_dropout") or 0.0),
        "target_modules": tuple(sorted({targets} if isinstance(targets, str) else set(targets))),
    }


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


def summed_loss(model: Any, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """Sum of the cross-entropy over the batch's trained tokens (divided by the caller)."""
    logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
    targets = batch["labels"][:, 1:]
    return torch.nn.functional.cross_entropy(
        logits[:, :-1].float().reshape(-1, logits.shape[-1]),
        targets.reshape(-1),
        ignore_index=IGNORE,
        reduction="sum",
    )


def accumulate_gradients(
    model: Any, micro_batches: Sequence[Sequence[Example]], pad_id: int, device: torch.device
) -> tuple[float, int]:
    """Backward over one optimizer step's micro-batches; returns the step's loss and its real tokens.

    The loss is the mean over *all* trained tokens of the step: each micro-batch's summed loss is divided by
    the step's total, so a token weighs the same whichever micro-batch holds it (a mean per micro-batch would
    give the tokens of short micro-batches more weight)."""
    step_trained = max(1, sum(trained_token_count(chosen) for chosen in micro_batches))
    step_loss, step_tokens = 0.0, 0
    for chosen in micro_batches:
        batch = collate(chosen, pad_id, device)
        loss = summed_loss(model, batch) / step_trained
        if not torch.isfinite(loss):
            return float(loss.detach()), step_tokens
        loss.backward()
        step_loss += float(loss.detach())
        step_tokens += int(batch["attention_mask"].sum())
    return step_loss, step_tokens


def trained_token_count(examples: Sequence[Example]) -> int:
    """Tokens that carry loss (the label of position 0 is never predicted)."""
    return sum(sum(label != IGNORE for label in e.labels[1:]) for e in examples)


def token_loss(
    model: Any, examples: Sequence[Example], config: TrainingConfig, pad_id: int, device: torch.device
) -> float:
    """Mean loss per trained token over ``examples`` (validation)."""
    total, count = 0.0, 0
    was_training = model.training
    model.eval()
    batch_tokens = int(config.batch_tokens or config.max_seq_len)
    with torch.no_grad():
        for indices in length_grouped_batches(examples, batch_tokens, 0, 0, max_examples=config.batch_size):
            chosen = [examples[i] for i in indices]
            total += float(summed_loss(model, collate(chosen, pad_id, device)))
            count += trained_token_count(chosen)
    model.train(was_training)
    return total / max(1, count)


def peak_memory_bytes(device: torch.device) -> int:
    if device.type == "cuda":
        return int(torch.cuda.max_memory_allocated(device))
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _write_durably(path: Path, text: str) -> None:
    with path.open("w", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())


class _RunState:
    """Resumable state in ``<run_dir>``: every save is a complete folder ``state-<step>-<nonce>``, and the
    small file ``CURRENT`` names the committed one; it is replaced atomically after the new folder is in place
    and older folders are removed only then. A crash at any point leaves the previous or the new state
    readable, never none, so ``--resume`` can never silently start over. Tensors are stored with
    ``torch.save`` and loaded with ``weights_only=True`` (no pickled code runs on load); the rest is JSON."""

    POINTER = "CURRENT"

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = run_dir

    @property
    def path(self) -> Path:
        current = self.current()
        if current is None:
            raise TrainingError(f"no saved training state in {self.run_dir}")
        return current

    def current(self) -> Path | None:
        pointer = self.run_dir / self.POINTER
        if pointer.is_file():
            folder = self.run_dir / pointer.read_text(encoding="utf-8").strip()
            if not (folder / "trainer.json").is_file():
                raise TrainingError(
                    f"{pointer} names {folder.name}, which is missing or incomplete",
                    "use --restart to discard the interrupted run",
                )
            return folder
        # a crash after the first folder was renamed into place but before CURRENT was written: renamed
        # folders are complete, so the newest one is the committed state
        complete = sorted(
            (p for p in self.run_dir.glob("state-*") if p.is_dir() and not p.name.endswith(".saving")),
            key=lambda p: int(p.name.split("-")[1]),
        )
        return complete[-1] if complete else None

    def exists(self) -> bool:
        return self.current() is not None

    def info(self) -> dict[str, Any]:
        return json.loads((self.path / "trainer.json").read_text(encoding="utf-8"))

    def save(self, model: Any, optimizer: Any, scheduler: Any, info: dict[str, Any]) -> Path:
        name = f"state-{info['step']:08d}-{os.urandom(4).hex()}"
        staging = self.run_dir / f"{name}.saving"
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
        _write_durably(staging / "trainer.json", json.dumps({"format": STATE_FORMAT, **info}, indent=1))
        final = self.run_dir / name
        os.replace(staging, final)
        pointer = self.run_dir / f"{self.POINTER}.tmp"
        _write_durably(pointer, name)
        os.replace(pointer, self.run_dir / self.POINTER)
        for stale in self.run_dir.glob("state-*"):
            if stale != final:
                shutil.rmtree(stale, ignore_errors=True)
        return final

    def clear(self) -> None:
        (self.run_dir / self.POINTER).unlink(missing_ok=True)
        for folder in self.run_dir.glob("state-*"):
            shutil.rmtree(folder, ignore_errors=True)

    def restore(self, optimizer: Any, scheduler: Any) -> None:
        saved = torch.load(self.path / "optim.pt", weights_only=True)
        optimizer.load_state_dict(saved["optimizer"])
        scheduler.load_state_dict(saved["scheduler"])
        rng = torch.load(self.path / "rng.pt", weights_only=True)
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
    config = resolve_config(config, target)
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
    optimizer = torch.optim.AdamW(
        trainable, lr=config.learning_rate, weight_decay=config.weight_decay, betas=config.adam_betas
    )
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, cosine_with_warmup(config))
    if resumed_from is not None:
        state.restore(optimizer, scheduler)

    batch_tokens = int(config.batch_tokens or config.max_seq_len)
    stream = batch_stream(train, batch_tokens, config.seed, max_examples=config.batch_size)
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
            micro = [[train[i] for i in next(stream)] for _ in range(config.grad_accumulation)]
            step_loss, step_tokens = accumulate_gradients(model, micro, pad_id, target)
            if not math.isfinite(step_loss):
                optimizer.zero_grad(set_to_none=True)
                snapshot(step)
                raise TrainingError(
                    f"the training loss became {step_loss} at step {step + 1}; the last good state "
                    f"(step {step}) is kept in {state.path}",
                    "lower --lr, check the data, or use float32",
                )
            torch.nn.utils.clip_grad_norm_(trainable, config.max_grad_norm)
            optimizer.step()
            scheduler.step()
            step += 1
            tokens_seen += step_tokens
            history.append(
                {"step": step, "loss": step_loss, "lr": scheduler.get_last_lr()[0], "tokens": step_tokens}
            )
            if validation and (step % config.eval_every == 0 or step == config.max_steps):
                validation_loss = token_loss(model, validation, config, pad_id, target)
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
            f"out of memory at step {step + 1}; the last saved state is kept in {run_dir}",
            "lower --batch-tokens or --max-seq-len, or use --quantize 4bit "
            "(`academy finetune --dry-run` estimates the memory)",
        ) from exc
    finally:
        progress.close()

    elapsed = time.monotonic() - started
    adapter_dir = run_dir / "adapter"
    shutil.rmtree(adapter_dir, ignore_errors=True)
    model.save_pretrained(adapter_dir)
    state.clear()
    batches = length_grouped_batches(train, batch_tokens, config.seed, 0, max_examples=config.batch_size)
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
        "precision": config.precision,
        "gradient_checkpointing": config.gradient_checkpointing,
    }
    return TrainResult(adapter_dir, step, history, validation_history, metrics, resumed_from)


class _Progress:
    """A progress bar with step, loss, tokens/s and ETA (the one progress display, ``jedi_academy.progress``);
    silent when not on a terminal."""

    def __init__(self, total: int, completed: int, *, enabled: bool) -> None:
        from jedi_academy.progress import Progress

        columns = (
            "text:training",
            "bar",
            "text:step {task.completed}/{task.total}",
            "text:loss {task.fields[loss]:.4f}",
            "text:{task.fields[speed]:.0f} tok/s",
            "remaining",
        )
        self.bar = Progress(columns, quiet=not enabled)
        self.task = self.bar.add("train", total=total, completed=completed, loss=float("nan"), speed=0.0)

    def update(self, step: int, loss: float, speed: float) -> None:
        self.bar.update(self.task, completed=step, loss=loss, speed=speed)

    def close(self) -> None:
        self.bar.close()
