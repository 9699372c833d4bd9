"""``academy instruments ...`` (keep imports light: this module loads on every CLI start)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal

import typer

from jedi_academy.cli_kit import JsonFlag
from jedi_academy.cli_kit import print_json as _echo_json
from jedi_academy.cli_kit import settings as _settings
from jedi_academy.hooks import hookimpl

if TYPE_CHECKING:
    from jedi_academy.cli_kit import CommandRegistry

app = typer.Typer(
    help="Validated questionnaires: list, show, validate, import, score, change, PubMed, discover.",
    no_args_is_help=True,
)


@app.command("list")
def list_command(ctx: typer.Context, as_json: JsonFlag = False) -> None:
    """List the shipped instruments with their licence and whether their text is available."""
    from jedi_academy.instruments.api import list_instruments
    from jedi_academy.instruments.render import instrument_summary, list_table

    instruments = list_instruments(_settings(ctx).data_dir)
    if as_json:
        _echo_json([instrument_summary(instrument) for instrument in instruments])
    else:
        typer.echo(list_table(instruments))


@app.command()
def show(
    ctx: typer.Context,
    instrument_id: Annotated[str, typer.Argument(metavar="ID", help="e.g. phq-9")],
    as_json: JsonFlag = False,
) -> None:
    """Show an instrument: citation, licence, items with options and key, scoring rules."""
    from jedi_academy.instruments.api import load_instrument
    from jedi_academy.instruments.render import instrument_detail, show_text

    instrument = load_instrument(instrument_id, _settings(ctx).data_dir)
    if as_json:
        _echo_json(instrument_detail(instrument))
    else:
        typer.echo(show_text(instrument))


@app.command()
def validate(file: Annotated[Path, typer.Argument(help="An instrument definition (YAML).")]) -> None:
    """Check a definition file; every problem is printed with its line and column."""
    from jedi_academy.instruments.loading import load_definition_file
    from jedi_academy.instruments.problems import DefinitionError

    try:
        definition = load_definition_file(file)
    except DefinitionError as exc:
        for problem in exc.problems:
            typer.echo(str(problem), err=True)
        typer.echo(f"{file}: {len(exc.problems)} problem(s)", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"{file}: ok ({definition.id}, {len(definition.items)} items)")


@app.command("import")
def import_command(
    ctx: typer.Context,
    instrument_id: Annotated[str, typer.Argument(metavar="ID", help="e.g. aq-10")],
    items: Annotated[Path, typer.Option("--items", help="YAML/JSON file with the item text.")],
    force: Annotated[
        bool, typer.Option(help="Replace the shipped, validated wording or text imported before.")
    ] = False,
) -> None:
    """Load item text you are licensed to use into the data directory (instruments that do not ship it)."""
    from jedi_academy.errors import AcademyError
    from jedi_academy.instruments.api import load_instrument
    from jedi_academy.instruments.loading import packaged_definition
    from jedi_academy.instruments.text_import import import_text, text_path

    data_dir = _settings(ctx).data_dir
    definition = packaged_definition(instrument_id)
    if not force and load_instrument(instrument_id).text_available:
        raise AcademyError(
            f"{instrument_id} ships its validated item text; imported text would replace it",
            "the shipped wording is the one its validation studies used; pass --force to replace it anyway",
        )
    if not force and text_path(data_dir, instrument_id).is_file():
        raise AcademyError(
            f"{instrument_id}: item text was already imported ({text_path(data_dir, instrument_id)})",
            "pass --force to replace it",
        )
    path = import_text(definition, items, data_dir)
    typer.echo(f"{instrument_id}: item text imported to {path}")


def _parse_responses(text: str) -> list[int | None]:
    from jedi_academy.errors import AcademyError

    answers: list[int | None] = []
    for position, part in enumerate(text.split(","), start=1):
        part = part.strip()
        if part in ("", "-", "na", "NA"):
            answers.append(None)
            continue
        try:
            answers.append(int(part))
        except ValueError:
            raise AcademyError(
                f"answer {position} ({part!r}) is not a whole number",
                "give codes separated by commas, e.g. 1,0,3; leave a missing answer empty",
            ) from None
    return answers


@app.command()
def score(
    instrument_id: Annotated[str, typer.Argument(metavar="ID", help="e.g. phq-9")],
    responses: Annotated[str, typer.Option(help="Answer codes in form order, e.g. 1,0,3 (empty = missing).")],
    as_json: JsonFlag = False,
) -> None:
    """Score one set of answers: total, band, screen, subscales, rule outcomes, safety flags."""
    from jedi_academy.instruments.api import load_instrument
    from jedi_academy.instruments.scoring import score as score_answers

    result = score_answers(load_instrument(instrument_id), _parse_responses(responses))
    data = result.as_dict()
    if as_json:
        _echo_json(data)
        return
    typer.echo(
        f"{instrument_id}: total {data['total'] if result.valid else 'invalid (too many missing answers)'}"
        + (" (prorated)" if result.prorated else "")
    )
    if result.band is not None:
        typer.echo(f"band: {result.band}")
    if result.positive_screen is not None:
        typer.echo(f"screen: {'positive' if result.positive_screen else 'negative'}")
    for name, value in data["subscales"].items():
        typer.echo(f"subscale {name}: {value}")
    for name, value in result.outcomes.items():
        typer.echo(f"outcome {name}: {'undecided' if value is None else str(value).lower()}")
    if result.safety_flags:
        typer.echo(f"SAFETY: follow up item(s) {', '.join(result.safety_flags)}")


@app.command()
def change(
    instrument_id: Annotated[str, typer.Argument(metavar="ID", help="e.g. phq-9")],
    before: Annotated[float, typer.Option(help="Total at the first administration.", min=-1e9, max=1e9)],
    after: Annotated[float, typer.Option(help="Total at the second administration.", min=-1e9, max=1e9)],
    sd: Annotated[
        float | None, typer.Option(help="Reference-sample SD (default: the instrument's).", min=1e-9, max=1e9)
    ] = None,
    reliability: Annotated[
        float | None, typer.Option(help="Reliability r (default: the instrument's).", min=0.0, max=0.9999)
    ] = None,
    method: Annotated[
        Literal["auto", "rci", "fixed_threshold"], typer.Option(help="auto, rci or fixed_threshold.")
    ] = "auto",
    as_json: JsonFlag = False,
) -> None:
    """Reliable change (Jacobson-Truax RCI or the service threshold) and clinically significant change."""
    from jedi_academy.instruments.api import load_instrument
    from jedi_academy.instruments.change import reliable_change

    result = reliable_change(
        load_instrument(instrument_id),
        before,
        after,
        sd=sd,
        reliability=reliability,
        method=method,
    )
    if as_json:
        _echo_json(result.as_dict())
        return
    typer.echo(
        f"{instrument_id}: {before:g} -> {after:g} (change {result.change:+g}): {result.classification}"
        f" [{result.method}]"
    )
    if result.rci is not None:
        typer.echo(
            f"RCI {result.rci:.2f} (S_diff {result.se_diff:.2f}; reliable from a change of "
            f"{result.min_reliable_change:.2f})"
        )
    if result.clinically_significant is not None:
        typer.echo(
            f"clinically significant: {str(result.clinically_significant).lower()} "
            f"(caseness {result.caseness_cutoff:g}+)"
        )


@app.command()
def pubmed(
    ctx: typer.Context,
    specialization: Annotated[
        str | None, typer.Argument(help="autism, narcissism, depression, anxiety, ptsd or adhd.")
    ] = None,
    query: Annotated[
        str | None, typer.Option(help="Your own PubMed query instead of a specialization.")
    ] = None,
    max_results: Annotated[
        int, typer.Option("--max", help="How many articles to fetch.", min=1, max=10_000)
    ] = 10,
    email: Annotated[
        str | None, typer.Option(help="Contact email sent to NCBI (or ACADEMY_NCBI_EMAIL).")
    ] = None,
    api_key: Annotated[str | None, typer.Option(help="NCBI API key (or ACADEMY_NCBI_API_KEY).")] = None,
    tool: Annotated[str | None, typer.Option(help="Tool name sent to NCBI.")] = None,
    eutils_url: Annotated[
        str | None, typer.Option(help="E-utilities base URL (or ACADEMY_EUTILS_URL).")
    ] = None,
    offline: Annotated[bool, typer.Option("--offline", help="Answer only from the cache.")] = False,
    refresh: Annotated[bool, typer.Option("--refresh", help="Ignore and replace cached answers.")] = False,
    as_json: JsonFlag = False,
) -> None:
    """Search PubMed for validation studies of screening instruments (cached in the data directory)."""
    from jedi_academy.cli_errors import usage_error
    from jedi_academy.instruments.pubmed import EntrezClient, build_query, entrez_config, search_pubmed

    if (specialization is None) == (query is None):
        raise usage_error(ctx, "give a specialization or --query (one of them)")
    config = entrez_config(
        _settings(ctx),
        email=email,
        tool=tool,
        api_key=api_key,
        base_url=eutils_url,
        offline=offline,
        refresh=refresh,
    )
    term = build_query(specialization) if specialization is not None else str(query)
    result = search_pubmed(term, EntrezClient(config), max_results)
    if as_json:
        _echo_json(result.as_dict())
        return
    source = "cache" if result.from_cache else "PubMed"
    typer.echo(f"{result.count} hit(s); showing {len(result.articles)} from {source}")
    typer.echo(f"query: {result.query}")
    for article in result.articles:
        named = f"  [{', '.join(article.instruments)}]" if article.instruments else ""
        typer.echo(f"{article.pmid}  {article.year or '----'}  {article.journal}: {article.title}{named}")


@hookimpl
def register_commands(commands: CommandRegistry) -> None:
    commands.group("instruments", app)
