"""``academy specializations ...`` (keep imports light: this module loads on every CLI start)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from jedi_academy.cli_kit import JsonFlag, print_json
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


def _load(ctx: typer.Context, dirs: list[Path] | None) -> tuple[Any, Any]:
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
    commands.command("discover", group="instruments")(instruments_discover)


def instruments_discover(
    ctx: typer.Context,
    specialization: Annotated[
        str, typer.Option("--specialization", "-s", help="e.g. depression (`academy specializations list`).")
    ],
    offline: Annotated[
        bool, typer.Option("--offline", help="No network: the last search saved here, or the shipped cache.")
    ] = False,
    max_results: Annotated[
        int, typer.Option("--max", help="Articles per query (by relevance).", min=1, max=200)
    ] = 50,
    email: Annotated[
        str | None, typer.Option(help="Contact email sent to NCBI (or ACADEMY_NCBI_EMAIL).")
    ] = None,
    api_key: Annotated[str | None, typer.Option(help="NCBI API key (or ACADEMY_NCBI_API_KEY).")] = None,
    eutils_url: Annotated[
        str | None, typer.Option(help="E-utilities base URL (or ACADEMY_EUTILS_URL).")
    ] = None,
    refresh: Annotated[bool, typer.Option("--refresh", help="Ignore cached PubMed replies.")] = False,
    as_json: JsonFlag = False,
) -> None:
    """Find the self-report instruments PubMed's validation studies and reviews name for a specialization.

    Ranks them by articles found, lists their PMIDs and marks each shipped, importable or unknown. (Added
    to the instruments group by the specializations stage: the search is per specialization.)"""
    from jedi_academy.instruments.pubmed import EntrezClient, entrez_config
    from jedi_academy.instruments.pubmed.discover import discover as run_discovery
    from jedi_academy.specializations import get_specialization

    settings = _settings(ctx)
    spec = get_specialization(specialization, settings)
    config = entrez_config(
        settings, email=email, api_key=api_key, base_url=eutils_url, offline=offline, refresh=refresh
    )
    result = run_discovery(
        spec.id,
        condition=spec.pubmed.condition if spec.pubmed else None,
        templates=spec.pubmed.queries if spec.pubmed else (),
        configured=spec.instruments,
        client=EntrezClient(config),
        data_dir=settings.data_dir,
        offline=offline,
        per_query=max_results,
        progress=lambda message: typer.echo(message, err=True),
    )
    if as_json:
        print_json([found.as_dict() for found in result.instruments])
        return
    typer.echo(f"{spec.id}: {len(result.records)} article(s) from the {result.source}, made {result.made}")
    if result.how_made:
        typer.echo(f"  ({result.how_made})")
    typer.echo(f"{'ACRONYM':18} {'STATUS':10} {'STUDIES':>7} {'REVIEWS':>7}  NAME; PMIDS")
    for found in result.instruments:
        pmids = ", ".join(found.pmids[:8]) + (f" (+{len(found.pmids) - 8})" if len(found.pmids) > 8 else "")
        counts = f"{found.status:10} {found.studies:7} {found.reviews:7}"
        typer.echo(f"{found.acronym[:18]:18} {counts}  {found.name}; {pmids}")
    if not result.instruments:
        typer.echo("no instruments named in the articles found")
    if result.advice:
        typer.echo(result.advice)
