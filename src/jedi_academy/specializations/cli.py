"""``academy specializations ...`` (keep imports light: this module loads on every CLI start)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from jedi_academy.cli_kit import print_json
from jedi_academy.cli_kit import settings as _settings
from jedi_academy.hooks import hookimpl

if TYPE_CHECKING:
    from jedi_academy.cli_kit import CommandRegistry

app = typer.Typer(help="Specializations: list, show and sync to the database.", no_args_is_help=True)

DirsOption = Annotated[
    list[Path] | None,
    typer.Option(
        "--dir",
        help="Extra folder of specialization YAML files (repeatable; also $ACADEMY_SPECIALIZATIONS_DIR).",
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON.")]


def _load(ctx: typer.Context, dirs: list[Path] | None):  # type: ignore[no-untyped-def]
    from jedi_academy.specializations.loading import load_specializations

    settings = _settings(ctx)
    return settings, load_specializations(settings, dirs or ())


@app.command("list")
def list_specializations(ctx: typer.Context, dirs: DirsOption = None, as_json: JsonOption = False) -> None:
    """List the specializations: id, name, subreddits, instruments."""
    _, specs = _load(ctx, dirs)
    if as_json:
        print_json([{**s.definition(), "source": s.source} for s in specs.values()])
        return
    width = max(len(spec_id) for spec_id in specs)
    for spec in specs.values():
        subs = ", ".join(f"r/{name}" for name in spec.subreddits)
        origin = "" if spec.source == "package" else f"  [{spec.source}]"
        typer.echo(f"{spec.id:<{width}}  {spec.display_name}: {subs}; {', '.join(spec.instruments)}{origin}")


@app.command("show")
def show_specialization(
    ctx: typer.Context,
    spec_id: Annotated[str, typer.Argument(metavar="ID", help="Specialization id, e.g. autism.")],
    dirs: DirsOption = None,
    as_json: JsonOption = False,
) -> None:
    """Show one specialization in full."""
    from jedi_academy.specializations.loading import get_specialization

    settings, _ = _load(ctx, dirs)
    spec = get_specialization(spec_id, settings, dirs or ())
    if as_json:
        print_json({**spec.definition(), "source": spec.source})
        return
    import textwrap

    typer.echo(f"{spec.id}: {spec.display_name}  (from {spec.source})")
    typer.echo(f"subreddits:  {', '.join(f'r/{name}' for name in spec.subreddits)}")
    typer.echo(f"instruments: {', '.join(spec.instruments)}")
    typer.echo("\n" + textwrap.fill(spec.description, 100))
    typer.echo("\npersona guidance:\n" + textwrap.fill(spec.persona_guidance, 100))


@app.command("sync")
def sync(ctx: typer.Context, dirs: DirsOption = None) -> None:
    """Store the definitions in the database (ingest does this too)."""
    from jedi_academy.specializations.sync import sync_specializations
    from jedi_academy.store import open_database

    settings, specs = _load(ctx, dirs)
    result = sync_specializations(open_database(settings), specs.values())
    typer.echo(
        f"specializations: {len(result.added)} added, {len(result.updated)} updated, "
        f"{len(result.unchanged)} unchanged"
    )


@hookimpl
def register_commands(commands: CommandRegistry) -> None:
    commands.group("specializations", app)
