"""``academy finetune``: from a dataset version to a registered checkpoint (local LoRA or the Mistral API)."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jedi_academy.errors import AcademyError, ConfigError
from jedi_academy.finetune.checkpoints import (
    CheckpointSpec,
    adapter_path,
    get_checkpoint,
    register_checkpoint,
)
from jedi_academy.finetune.config import TrainingConfig
from jedi_academy.finetune.datasets import TRAIN_FILE, VALIDATION_FILE, load_training_data
from jedi_academy.store import ArtifactStore, open_database
from jedi_academy.store.models import Checkpoint

if TYPE_CHECKING:
    from jedi_academy.config import Settings
    from jedi_academy.finetune.trainer import StepCallback


@dataclass(frozen=True)
class FinetuneRequest:
    dataset: str
    base_model: str | None = None
    parent: str | None = None
    specialization: str | None = None
    validation_file: Path | None = None
    backend: str = "local"  # local | mistral-api
    resume: bool = False
    restart: bool = False
    show_progress: bool = True
    role: str = "patient"  # "control": the loop's no-therapist child (never offered as a patient model)


def run_key(base_model: str, dataset_id: str, parent: str | None, config: TrainingConfig) -> str:
    key = json.dumps([base_model, dataset_id, parent, config.fingerprint()])
    return hashlib.sha256(key.encode()).hexdigest()[:16]


def finetune(
    settings: Settings,
    request: FinetuneRequest,
    config: TrainingConfig,
    *,
    on_step: StepCallback | None = None,
    echo: Callable[[str], None] = print,
) -> Checkpoint:
    """Train and register a checkpoint, under the data directory's writer lock (re-entrant: the loop and
    `academy run`, which hold it already, call this)."""
    from jedi_academy.store import data_dir_lock

    with data_dir_lock(settings.data_dir, "finetune"):
        return _finetune(settings, request, config, on_step=on_step, echo=echo)


def _finetune(
    settings: Settings,
    request: FinetuneRequest,
    config: TrainingConfig,
    *,
    on_step: StepCallback | None,
    echo: Callable[[str], None],
) -> Checkpoint:
    check_request(request)  # before anything is imported or written
    database = open_database(settings)
    store = ArtifactStore(settings.data_dir)
    data = load_training_data(
        database,
        store,
        request.dataset,
        validation_file=request.validation_file,
        specialization=request.specialization,
    )
    if request.backend == "mistral-api":
        assert request.base_model is not None  # checked above
        return _finetune_remote(settings, database, store, data, request.base_model, config, echo)

    parent_adapter: Path | None = None
    parent_id: str | None = None
    base_model = request.base_model or settings.model
    if request.parent:
        with database.session() as session:
            parent = get_checkpoint(session, request.parent)
            if request.base_model and request.base_model != parent.base_model:
                raise ConfigError(
                    f"--from {parent.id} was trained on {parent.base_model}, not {request.base_model}",
                    "drop --base when continuing from a checkpoint",
                )
            base_model = parent.base_model
            parent_adapter = adapter_path(session, store, parent)  # verified
            parent_id = parent.id
            if parent_adapter is None:
                raise AcademyError(f"checkpoint {parent.id} has no local adapter to continue from")
        config = inherit_lora_settings(config, parent_adapter, parent_id)

    from jedi_academy.finetune.data import encode_examples
    from jedi_academy.finetune.trainer import pick_device, resolve_config, train_lora
    from jedi_academy.llm.chat_format import load_formatter
    from jedi_academy.llm.loading import resolve_model_dir

    config = resolve_config(config, pick_device(settings.device))  # record the real choices, not "auto"
    base_dir = resolve_model_dir(base_model, settings)
    formatter = load_formatter(base_dir)
    train = encode_examples(data.train, formatter, config.max_seq_len, source="train.jsonl")
    validation = encode_examples(data.validation, formatter, config.max_seq_len, source="validation.jsonl")
    run_dir = settings.path("runs", "finetune", run_key(base_model, data.dataset_id, parent_id, config))
    if request.restart:
        shutil.rmtree(run_dir, ignore_errors=True)
    echo(
        f"training {base_model} on dataset {data.dataset_id[:12]} ({train.conversations} train / "
        f"{validation.conversations} validation conversations as {len(train.examples)} / "
        f"{len(validation.examples)} card-visible examples, {config.max_steps} steps), run folder {run_dir}"
    )
    result = train_lora(
        base_dir,
        train.examples,
        validation.examples,
        config,
        run_dir,
        pad_id=formatter.pad_id,
        device=settings.device,
        resume=request.resume,
        init_adapter=parent_adapter,
        show_progress=request.show_progress,
        on_step=on_step,
    )
    metrics = {
        **result.metrics,
        "history": result.history,
        "validation_history": result.validation,
        "train_conversations": train.conversations,
        "trained_tokens_card_visible_share": train.card_visible_share,
        "truncated_examples": train.truncated + validation.truncated,
        "dropped_turns": train.dropped + validation.dropped,
        "resumed_from_step": result.resumed_from,
    }
    spec = CheckpointSpec(
        base_model=base_model,
        kind="lora",
        specialization_id=data.specialization_id,
        dataset_id=data.dataset_id,
        parent_id=parent_id,
        hyperparameters=config.model_dump(mode="json"),
        seed=config.seed,
        metrics=metrics,
        adapter_dir=result.adapter_dir,
        role=request.role,
    )
    checkpoint = register_checkpoint(database, store, spec)
    shutil.rmtree(run_dir, ignore_errors=True)
    return checkpoint


def check_request(request: FinetuneRequest) -> None:
    if request.backend not in ("local", "mistral-api"):
        raise ConfigError(f"unknown fine-tuning backend {request.backend!r}", "use local or mistral-api")
    if request.backend == "mistral-api":
        if request.parent:
            raise ConfigError(
                "the mistral-api backend cannot continue from a checkpoint (--from): Mistral trains its own "
                "copy of the base model and never sees the local adapter",
                "drop --from, or use --backend local",
            )
        if not request.base_model:
            raise ConfigError(
                "the mistral-api backend needs an explicit base model", "pass --base, e.g. open-mistral-7b"
            )


FLAG_NAMES = {"lora_rank": "--rank", "lora_alpha": "--alpha", "lora_dropout": "--dropout",
              "target_modules": "target modules"}  # fmt: skip


def inherit_lora_settings(config: TrainingConfig, adapter_dir: Path, parent_id: str) -> TrainingConfig:
    """Continuing from a checkpoint trains *its* adapter, so the LoRA settings are the adapter's own: given
    flags that disagree are refused, the others are taken from the adapter (and recorded as such)."""
    from jedi_academy.finetune.trainer import adapter_lora_settings

    try:
        adapter_config = json.loads((adapter_dir / "adapter_config.json").read_text(encoding="utf-8"))
        actual = adapter_lora_settings(adapter_config)
    except (OSError, ValueError, KeyError) as exc:
        raise AcademyError(f"cannot read the LoRA settings of checkpoint {parent_id} ({exc})") from exc
    conflicts = [
        f"{FLAG_NAMES[name]} {getattr(config, name)} (its adapter has {actual[name]})"
        for name in actual
        if name in config.model_fields_set and getattr(config, name) != actual[name]
    ]
    if conflicts:
        raise ConfigError(
            f"--from {parent_id} continues its adapter, which conflicts with " + "; ".join(conflicts),
            "drop those options to keep the adapter's own settings, or train from the base without --from",
        )
    return config.model_copy(update=actual)


def _finetune_remote(
    settings: Settings,
    database: Any,
    store: ArtifactStore,
    data: Any,
    base_model: str,
    config: TrainingConfig,
    echo: Callable[[str], None],
) -> Checkpoint:
    from jedi_academy.finetune.mistral_api import MistralFineTuning, RemoteFineTuneError, api_hyperparameters
    from jedi_academy.llm.mistral_backend import MISTRAL_API_URL

    key = settings.api_key.get_secret_value() if settings.api_key else os.environ.get("MISTRAL_API_KEY")
    if not key:
        raise ConfigError(
            "the mistral-api backend needs an API key", "set MISTRAL_API_KEY or ACADEMY_API_KEY"
        )
    api = MistralFineTuning(settings.base_url or MISTRAL_API_URL, key, timeout_s=settings.request_timeout_s)
    with tempfile.TemporaryDirectory() as folder:
        # the same card-visible views as local training: one record per trained assistant turn
        training_file = api.upload(write_card_visible_jsonl(data.train, Path(folder) / TRAIN_FILE))
        validation_id = None
        if data.validation:
            validation_path = write_card_visible_jsonl(data.validation, Path(folder) / VALIDATION_FILE)
            validation_id = api.upload(validation_path)["id"]
    hyperparameters = api_hyperparameters(
        config.max_steps, config.learning_rate, config.weight_decay, config.warmup_fraction
    )
    job = api.create_job(
        base_model, training_file["id"], validation_id, hyperparameters, suffix=data.dataset_id[:8]
    )
    echo(f"created Mistral fine-tuning job {job['id']} ({job['status']})")
    final = api.wait(job["id"], on_status=lambda j: echo(f"job {j['id']}: {j['status']}"))
    if final["status"] != "SUCCESS" or not final.get("fine_tuned_model"):
        raise RemoteFineTuneError(f"fine-tuning job {final['id']} ended {final['status']}")
    metrics = {
        "job_id": final["id"],
        "status": final["status"],
        "events": final.get("events", []),
        "job_checkpoints": final.get("checkpoints", []),
        "trained_tokens": final.get("trained_tokens"),
        "cost": (final.get("metadata") or {}).get("cost"),
        "cost_currency": (final.get("metadata") or {}).get("cost_currency"),
        "card_visible_records": card_visible_count(data.train),
    }
    spec = CheckpointSpec(
        base_model=base_model,
        kind="remote",
        specialization_id=data.specialization_id,
        dataset_id=data.dataset_id,
        parent_id=None,
        hyperparameters=hyperparameters,
        seed=config.seed,
        metrics=metrics,
        remote_model_id=final["fine_tuned_model"],
    )
    return register_checkpoint(database, store, spec)


def write_card_visible_jsonl(conversations: list[list[dict]], path: Path) -> Path:
    from jedi_academy.datasets.mistral_format import card_visible_views

    with path.open("w", encoding="utf-8") as handle:
        for messages in conversations:
            for view in card_visible_views(messages):
                handle.write(json.dumps({"messages": view}, ensure_ascii=False) + "\n")
    return path


def card_visible_count(conversations: list[list[dict]]) -> int:
    from jedi_academy.datasets.mistral_format import card_visible_views

    return sum(len(card_visible_views(messages)) for messages in conversations)
