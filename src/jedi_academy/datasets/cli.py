"""``academy dataset build|list|show|export`` (light imports: loaded on every CLI start)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

import typer

from jedi_academy.cli_kit import print_json
from jedi_academy.cli_kit import settings as _settings
from jedi_academy.hooks import hookimpl
from jedi_academy.limits import SEED

if TYPE_CHECKING:
    from jedi_academy.cli_kit import CommandRegistry

app = typer.Typer(help="Dataset versions: build, list, show, export.", no_args_is_help=True)


def _context(ctx: typer.Context) -> tuple[Any, Any, Any]:
    from jedi_academy.store import ArtifactStore, open_database

    settings = _settings(ctx)
    return settings, open_database(settings), ArtifactStore(settings.data_dir)


def _mix(counts: dict[str, Any]) -> str:
    return ", ".join(f"{key} {value}" for key, value in sorted(counts.items())) or "none"


def _print_stats(stats: dict[str, Any]) -> None:
    authors = stats.get("authors", {})
    for split, row in stats.get("splits", {}).items():
        by_author = f"  {authors[split]:4} authors" if split in authors else ""
        typer.echo(
            f"  {split:10} {row['conversations']:6} conversations  {row['personas']:4} personas{by_author}  "
            f"{row['tokens']:9} tokens  max {row['max_tokens']} tokens"
        )
    for specialization, row in sorted(stats.get("by_specialization", {}).items()):
        typer.echo(f"  {specialization:10} {row['conversations']:6} conversations  {row['tokens']:9} tokens")
    diversity = stats.get("diversity")
    if diversity is None:
        return  # a version built before these statistics existed
    typer.echo(
        f"  diversity: distinct-1 {diversity['distinct_1']}, distinct-2 {diversity['distinct_2']} over "
        f"{diversity['answers']} answers; near-duplicate answers {diversity['near_duplicate_answers']}, "
        f"near-duplicate cards {diversity['near_duplicate_cards']}"
    )
    typer.echo(f"  styles: {_mix(stats['styles'])}")
    typer.echo(f"  approaches: {_mix(stats['approaches'])}")
    typer.echo(f"  techniques: {_mix(stats['techniques'])}; unhelpful share {stats['unhelpful_share']}")
    flags = stats["flags"]
    typer.echo(
        f"  flagged disclosures (kept): {flags['answers_flagged']} answer(s); {_mix(flags['by_item'])}"
    )
    typer.echo(f"  excluded at build: {_mix(stats['excluded'])}; ended early: {_mix(stats['ended_early'])}")


@app.command("build")
def build(
    ctx: typer.Context,
    specialization: Annotated[
        list[str], typer.Option(help="Specialization(s) to include; repeat for several.")
    ],
    parent: Annotated[str | None, typer.Option(help="Merge into this version's conversations.")] = None,
    validation_fraction: Annotated[
        float, typer.Option(help="Share of personas held out (0 to 0.9).", min=0.0, max=0.9)
    ] = 0.1,
    seed: Annotated[int, typer.Option(help="Seed of the author split.", **SEED)] = 0,
    drop_contaminated: Annotated[
        bool, typer.Option(help="Leave out conversations with instrument wording instead of refusing.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the version as JSON.")] = False,
) -> None:
    """Freeze the current conversations into a content-addressed dataset version (with its Mistral export)."""
    from jedi_academy.datasets.versions import build_dataset
    _settings, database, store = _context(ctx)
    version, created = build_dataset(  # under the writer lock
        database,
        store,
        specialization,
        parent=parent,
        validation_fraction=validation_fraction,
        seed=seed,
        drop_contaminated=drop_contaminated,
    )
    if as_json:
        print_json({"id": version.id, "created": created, "stats": version.stats})
        return
    typer.echo(f"dataset version {version.id[:12]} {'built' if created else 'already exists'} ({version.id})")
    _print_stats(version.stats)


@app.command("list")
def list_versions(ctx: typer.Context, as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """All dataset versions, oldest first."""
    from jedi_academy.datasets.versions import list_versions as all_versions

    _, database, _ = _context(ctx)
    rows = all_versions(database)
    if as_json:
        print_json(rows)
        return
    if not rows:
        typer.echo("no dataset versions yet (academy dataset build --specialization ID)")
        return
    typer.echo(f"{'VERSION':12}  {'PARENT':19}  {'SPECIALIZATIONS':20}  CONVERSATIONS, CREATED")
    for row in rows:
        parent = (row["parent"] or "-")[:12]
        specializations = ",".join(row["specializations"]) or "-"
        typer.echo(
            f"{row['id'][:12]}  parent={parent:12}  {specializations:20} "
            f"{row['conversations']} conversations  {row['created_at']}"
        )


@app.command("show")
def show(
    ctx: typer.Context,
    version: str,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Statistics of one version: splits, tokens, diversity, style and technique mix, flags, exclusions."""
    from jedi_academy.datasets.export import export_folder

    _, database, store = _context(ctx)
    version_id, folder, stats = export_folder(database, store, version)
    if as_json:
        print_json({"id": version_id, "export_folder": str(folder), "stats": stats})
        return
    typer.echo(f"dataset version {version_id}")
    typer.echo(f"  export folder: {folder}")
    _print_stats(stats)


@app.command("export")
def export(
    ctx: typer.Context,
    version: str,
    out: Annotated[
        Path, typer.Option(help="FILE.jsonl (mistral), a new folder (hf), or FILE for csv, parquet, jsonl.")
    ],
    format: Annotated[
        Literal["mistral", "hf", "csv", "parquet", "jsonl"],
        typer.Option("--format", help="mistral, hf, or csv/parquet/jsonl (one row per turn)."),
    ] = "mistral",
    with_ids: Annotated[
        bool, typer.Option("--with-ids", help="csv/parquet/jsonl: add conversation_id and turn_index.")
    ] = False,
    split: Annotated[
        Literal["all", "train", "validation"], typer.Option(help="csv/parquet/jsonl: which split's rows.")
    ] = "all",
) -> None:
    """Write the version as Mistral fine-tuning JSONL, a Hugging Face datasets folder, or one row per turn."""
    from jedi_academy.datasets.export import export_folder, export_hf, export_mistral
    from jedi_academy.datasets.tabular import TABLE_FORMATS, columns, export_table

    if format not in TABLE_FORMATS and (with_ids or split != "all"):  # before anything opens the data dir
        option = "--with-ids" if with_ids else "--split"
        raise typer.BadParameter(f"applies to csv, parquet and jsonl, not {format}", param_hint=f"'{option}'")
    _, database, store = _context(ctx)
    if format in TABLE_FORMATS:
        version_id, count = export_table(database, version, out, format, split=split, with_ids=with_ids)
        typer.echo(
            f"wrote {out}: {count} rows ({','.join(columns(with_ids))}) of dataset version {version_id[:12]}"
        )
        return
    _, folder, stats = export_folder(database, store, version)
    written = export_mistral(folder, out) if format == "mistral" else export_hf(folder, out)
    for path in written:
        typer.echo(f"wrote {path}")
    _print_stats(stats)


@hookimpl
def register_commands(commands: CommandRegistry) -> None:
    commands.group("dataset", app)
