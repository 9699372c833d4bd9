"""``academy finetune`` and ``academy checkpoints ...`` (light imports: loaded on every CLI start)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

import typer

from jedi_academy.cli_kit import database as _database
from jedi_academy.cli_kit import print_json
from jedi_academy.cli_kit import settings as _settings
from jedi_academy.finetune import bounds as B
from jedi_academy.hooks import hookimpl
from jedi_academy.limits import SEED

if TYPE_CHECKING:
    from jedi_academy.cli_kit import CommandRegistry

def _option(flag: str, help: str, bound: B.Bound) -> Any:
    """A training option whose help shows the range ``bound`` enforces (a usage error, exit 2)."""
    return typer.Option(flag, help=B.range_help(help, bound), **bound.option(flag))


checkpoints_app = typer.Typer(
    help="The checkpoint lineage: list, show, tree, export, delete.", no_args_is_help=True
)


def finetune_command(
    ctx: typer.Context,
    dataset: Annotated[
        str | None, typer.Option(help="Dataset version id (or prefix), or a Mistral-format .jsonl file.")
    ] = None,
    base: Annotated[str | None, typer.Option(help="Base model (default: --model, e.g. tiny).")] = None,
    from_checkpoint: Annotated[
        str | None,
        typer.Option("--from", help="Continue from this checkpoint's adapter (keeps its LoRA settings)."),
    ] = None,
    backend: Annotated[Literal["local", "mistral-api"], typer.Option(help="local or mistral-api.")] = "local",
    specialization: Annotated[
        str | None, typer.Option(help="Specialization the checkpoint belongs to.")
    ] = None,
    validation: Annotated[
        Path | None, typer.Option(help="Validation .jsonl (with a .jsonl --dataset).")
    ] = None,
    # every default and range below comes from finetune/bounds.py, which TrainingConfig also uses
    steps: Annotated[int, _option("--steps", "Optimizer steps.", B.MAX_STEPS)] = B.MAX_STEPS.default,
    lr: Annotated[float, _option("--lr", "Peak learning rate.", B.LEARNING_RATE)] = B.LEARNING_RATE.default,
    rank: Annotated[
        int | None, _option("--rank", f"LoRA rank (default {B.LORA_RANK.default}).", B.LORA_RANK)
    ] = None,
    alpha: Annotated[float | None, _option("--alpha", "LoRA alpha (default 2 x rank).", B.LORA_ALPHA)] = None,
    dropout: Annotated[
        float | None,
        _option("--dropout", f"LoRA dropout (default {B.LORA_DROPOUT.default:g}).", B.LORA_DROPOUT),
    ] = None,
    batch_tokens: Annotated[
        int | None,
        _option(
            "--batch-tokens",
            f"Padded tokens per micro-batch (default {B.DEFAULT_BATCH_TOKENS}, or --max-seq-len if larger).",
            B.BATCH_TOKENS,
        ),
    ] = None,
    batch_size: Annotated[
        int | None,
        _option("--batch-size", "At most this many examples per micro-batch (no cap by default).",
                B.BATCH_SIZE),
    ] = None,
    grad_accum: Annotated[
        int | None,
        _option(
            "--grad-accum",
            f"Micro-batches per step (default {B.GRAD_ACCUMULATION.default}).",
            B.GRAD_ACCUMULATION,
        ),
    ] = None,
    max_seq_len: Annotated[
        int,
        _option("--max-seq-len", "Longest example in tokens (earlier turns are cut first).", B.MAX_SEQ_LEN),
    ] = B.MAX_SEQ_LEN.default,
    warmup: Annotated[
        float, _option("--warmup", "Warm-up fraction of the steps.", B.WARMUP_FRACTION)
    ] = B.WARMUP_FRACTION.default,
    weight_decay: Annotated[
        float, _option("--weight-decay", "AdamW weight decay.", B.WEIGHT_DECAY)
    ] = B.WEIGHT_DECAY.default,
    eval_every: Annotated[
        int, _option("--eval-every", "Validation loss every N steps.", B.EVAL_EVERY)
    ] = B.EVAL_EVERY.default,
    save_every: Annotated[
        int, _option("--save-every", "Save resumable state every N steps.", B.SAVE_EVERY)
    ] = B.SAVE_EVERY.default,
    seed: Annotated[int | None, typer.Option(help="Seed (default: settings seed).", **SEED)] = None,
    precision: Annotated[
        Literal["auto", "float32", "bfloat16"], typer.Option(help="auto, float32 or bfloat16.")
    ] = "auto",
    gradient_checkpointing: Annotated[
        bool | None,
        typer.Option(
            "--gradient-checkpointing/--no-gradient-checkpointing",
            help="Trade compute for memory (default: on for CUDA, off on CPU).",
        ),
    ] = None,
    quantize: Annotated[
        Literal["none", "4bit"], typer.Option(help="none or 4bit (QLoRA, needs CUDA and bitsandbytes).")
    ] = "none",
    resume: Annotated[bool, typer.Option(help="Continue an interrupted run with the same inputs.")] = False,
    restart: Annotated[bool, typer.Option(help="Discard an interrupted run and start over.")] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print parameters and GPU memory for these settings only.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the checkpoint as JSON.")] = False,
) -> None:
    """Fine-tune a patient model (LoRA) on a dataset version and register the checkpoint."""
    from pydantic import ValidationError

    from jedi_academy.errors import ConfigError
    from jedi_academy.finetune.checkpoints import checkpoint_summary
    from jedi_academy.finetune.config import TrainingConfig
    from jedi_academy.finetune.service import FinetuneRequest, finetune

    settings = _settings(ctx)
    optional = {"lora_rank": rank, "lora_alpha": alpha, "lora_dropout": dropout, "batch_tokens": batch_tokens,
                "batch_size": batch_size, "grad_accumulation": grad_accum,
                "gradient_checkpointing": gradient_checkpointing}  # fmt: skip
    try:
        config = TrainingConfig(
            learning_rate=lr,
            weight_decay=weight_decay,
            warmup_fraction=warmup,
            max_steps=steps,
            max_seq_len=max_seq_len,
            eval_every=eval_every,
            save_every=save_every,
            seed=settings.seed if seed is None else seed,
            precision=precision,
            quantization=quantize,
            **{name: value for name, value in optional.items() if value is not None},
        )
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise ConfigError(f"invalid training options: {problems}") from exc
    if dry_run:
        _print_memory_estimate(settings, base, config, as_json)
        return
    if dataset is None:
        raise ConfigError("missing option --dataset", "give a dataset version id or a .jsonl file")
    request = FinetuneRequest(
        dataset=dataset,
        base_model=base,
        parent=from_checkpoint,
        specialization=specialization,
        validation_file=validation,
        backend=backend,
        resume=resume,
        restart=restart,
        show_progress=not as_json,
    )
    echo = (lambda _: None) if as_json else (lambda text: typer.echo(text, err=True))
    checkpoint = finetune(settings, request, config, echo=echo)  # under the writer lock
    summary = checkpoint_summary(checkpoint)
    if as_json:
        summary["metrics"] = {k: v for k, v in summary["metrics"].items() if "history" not in k}
        print_json(summary)
        return
    metrics = checkpoint.metrics
    typer.echo(f"checkpoint {checkpoint.id} registered ({checkpoint.kind}, base {checkpoint.base_model})")
    for key in (
        "train_loss_first",
        "train_loss_last",
        "validation_loss",
        "tokens_per_second",
        "padding_waste",
        "trained_tokens_card_visible_share",
    ):
        if metrics.get(key) is not None:
            typer.echo(f"  {key}: {metrics[key]:.4f}")


def _print_memory_estimate(settings: Any, base: str | None, config: Any, as_json: bool) -> None:
    """``--dry-run``: the estimate for a CUDA run (unless --device cpu), from the model's shape alone."""
    from jedi_academy.finetune.memory import estimate_memory, format_estimate, model_shape

    name = base or settings.model
    device_type = "cpu" if settings.device == "cpu" else "cuda"
    resolved = config.for_device(device_type, bf16_supported=True)
    estimate = estimate_memory(model_shape(name, settings), resolved)
    if as_json:
        print_json({"model": name, **estimate.as_dict()})
    else:
        typer.echo(format_estimate(name, estimate))


@checkpoints_app.command("list")
def checkpoints_list(
    ctx: typer.Context,
    specialization: Annotated[str | None, typer.Option(help="Only this specialization.")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """All checkpoints, oldest first."""
    from jedi_academy.finetune.checkpoints import checkpoint_summary, list_checkpoints

    with _database(ctx).session() as session:
        rows = [checkpoint_summary(c) for c in list_checkpoints(session, specialization)]
    if as_json:
        print_json(rows)
        return
    if not rows:
        typer.echo("no checkpoints yet (academy finetune --dataset VERSION)")
        return
    width = max(len(row["id"]) for row in rows)
    typer.echo(f"{'ID':{width}}  {'KIND':6}  {'SPECIALIZATION':14}  BASE, PARENT, VALIDATION LOSS")
    for row in rows:
        loss = row["metrics"].get("validation_loss")
        loss_text = f"{loss:.4f}" if isinstance(loss, int | float) else "-"
        typer.echo(
            f"{row['id']:{width}}  {row['kind']:6}  {row['specialization'] or '-':14}  "
            f"base={row['base_model']}  parent={row['parent'] or '-'}  val_loss={loss_text}"
            + (f"  RETIRED by {row['retired']}" if row["retired"] else "")
        )


@checkpoints_app.command("show")
def checkpoints_show(ctx: typer.Context, checkpoint: str) -> None:
    """Everything recorded about one checkpoint (JSON)."""
    from jedi_academy.finetune.checkpoints import checkpoint_summary, get_checkpoint

    with _database(ctx).session() as session:
        summary = checkpoint_summary(get_checkpoint(session, checkpoint))
    summary["metrics"] = {k: v for k, v in summary["metrics"].items() if "history" not in k}
    print_json(summary)


@checkpoints_app.command("tree")
def checkpoints_tree(
    ctx: typer.Context,
    specialization: Annotated[str | None, typer.Option(help="Only this specialization.")] = None,
) -> None:
    """The lineage per specialization."""
    from jedi_academy.finetune.checkpoints import lineage_tree, list_checkpoints

    with _database(ctx).session() as session:
        typer.echo(lineage_tree(list_checkpoints(session, specialization)) or "no checkpoints yet")


@checkpoints_app.command("export")
def checkpoints_export(
    ctx: typer.Context, checkpoint: str, out: Annotated[Path, typer.Option(help="New folder to write.")]
) -> None:
    """Copy the adapter (PEFT format, for vLLM --lora-modules or transformers) and its metadata."""
    from jedi_academy.finetune.checkpoints import export_checkpoint, get_checkpoint
    from jedi_academy.store import ArtifactStore, open_database

    settings = _settings(ctx)
    with open_database(settings).session() as session:
        folder = export_checkpoint(
            session, ArtifactStore(settings.data_dir), get_checkpoint(session, checkpoint), out
        )
    typer.echo(f"exported to {folder}")


@checkpoints_app.command("delete")
def checkpoints_delete(
    ctx: typer.Context,
    checkpoint: str,
    force: Annotated[bool, typer.Option(help="Also delete its descendants.")] = False,
    cascade: Annotated[
        bool, typer.Option(help="Also delete the assessment runs of what is deleted.")
    ] = False,
) -> None:
    """Delete a checkpoint; refused while it has children (unless --force) or assessment runs (--cascade)."""
    from jedi_academy.finetune.checkpoints import delete_checkpoint

    database = _database(ctx)
    for deleted in delete_checkpoint(database, checkpoint, force=force, cascade=cascade):
        typer.echo(f"deleted {deleted}")


@hookimpl
def register_commands(commands: CommandRegistry) -> None:
    commands.command("finetune")(finetune_command)
    commands.group("checkpoints", checkpoints_app)
