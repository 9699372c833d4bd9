"""Loop step 3, re-fine-tune: a child checkpoint of the session's checkpoint on the merged dataset.

Strategy ``continue`` (the default) continues the parent's LoRA adapter on the merged version, which replays
the parent's whole dataset alongside the new conversations, for a few steps; ``retrain`` trains a fresh
adapter from the base model on the merged version. A parent without an adapter (a base-model checkpoint)
can only be retrained from base. See docs/loop.md for why ``continue`` is the default.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from jedi_academy.errors import ConfigError
from jedi_academy.store.models import Checkpoint

if TYPE_CHECKING:
    from jedi_academy.config import Settings
    from jedi_academy.store import Database

STRATEGIES = ("continue", "retrain")


def training_config(parent: dict[str, Any], steps: int | None, overrides: dict[str, Any], seed: int) -> Any:
    from jedi_academy.finetune.config import TrainingConfig

    fields = set(TrainingConfig.model_fields)
    inherited = {k: v for k, v in parent.get("hyperparameters", {}).items() if k in fields}
    if isinstance(inherited.get("target_modules"), list):
        inherited["target_modules"] = tuple(inherited["target_modules"])
    parent_steps = int(inherited.get("max_steps", 40))
    chosen = steps if steps is not None else max(1, parent_steps // 4)
    values = {**inherited, **{k: v for k, v in overrides.items() if v is not None}}
    values.update(max_steps=chosen, seed=seed)
    values["eval_every"] = min(int(values.get("eval_every", chosen)), chosen)
    values["save_every"] = min(int(values.get("save_every", chosen)), chosen)
    return TrainingConfig(**values)


def refine_checkpoint(
    settings: Settings,
    database: Database,
    parent_id: str,
    dataset_id: str,
    specialization: str,
    *,
    strategy: str,
    steps: int | None,
    overrides: dict[str, Any],
    seed: int,
    echo: Any = None,
    role: str = "patient",
) -> dict[str, Any]:
    from jedi_academy.finetune.service import FinetuneRequest, finetune

    if strategy not in STRATEGIES:
        raise ConfigError(f"unknown re-fine-tuning strategy {strategy!r}", "use continue or retrain")
    with database.session() as session:
        parent = session.get(Checkpoint, parent_id)
        assert parent is not None  # the session's checkpoint
        info = {"hyperparameters": dict(parent.hyperparameters), "adapter": parent.adapter_sha256}
        base_model, kind = parent.base_model, parent.kind
    if kind == "remote":
        raise ConfigError(
            f"checkpoint {parent_id} is a remote fine-tune; the loop re-fine-tunes local adapters",
            "open the case on a local checkpoint",
        )
    chosen = strategy if info["adapter"] is not None else "retrain"
    # retraining uses the parent's settings too (rank, learning rate, batch), from the base model's weights
    config = training_config(info, steps, overrides, seed)
    request = FinetuneRequest(
        dataset=dataset_id,
        base_model=None if chosen == "continue" else base_model,
        parent=parent_id if chosen == "continue" else None,
        specialization=specialization,
        resume=True,  # a killed run continues from the trainer's last saved state
        show_progress=False,
        role=role,  # "control": the loop's no-therapist child (loop/control.py)
    )
    every = max(1, config.max_steps // 10)  # about ten progress lines however long the training

    def on_step(step: int, loss: float) -> None:
        if echo is not None and (step % every == 0 or step == config.max_steps):
            echo(f"training step {step}/{config.max_steps}, loss {loss:.4f}")

    child = finetune(settings, request, config, on_step=on_step, echo=echo or (lambda _text: None))
    return {
        "checkpoint_id": child.id,
        "strategy": chosen,
        "requested_strategy": strategy,
        "lineage_parent": parent_id,  # the checkpoint row's parent_id is None when retrained from base
        "config": config.model_dump(mode="json"),
        "metrics": {k: v for k, v in child.metrics.items() if not isinstance(v, list)},
    }
