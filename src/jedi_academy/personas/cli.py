"""``academy personas ...`` (keep imports light: this module loads on every CLI start).

Nothing printed here shows an author pseudonym, a comment id or a subreddit name: those stay in the
provenance columns of the database.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from jedi_academy.cli_kit import database as _database
from jedi_academy.cli_kit import print_json
from jedi_academy.cli_kit import settings as _settings
from jedi_academy.hooks import hookimpl
from jedi_academy.limits import MAX_SEED, MAX_TEMPERATURE, MAX_TOKENS

if TYPE_CHECKING:
    from jedi_academy.cli_kit import CommandRegistry
    from jedi_academy.personas.generate import PersonaReport

app = typer.Typer(help="Grounded persona cards: generate, list, show.", no_args_is_help=True)


@app.command("generate")
def generate(
    ctx: typer.Context,
    specialization: Annotated[str, typer.Option("--specialization", "-s", help="Specialization id.")],
    n: Annotated[int, typer.Option("--n", min=0, help="Personas to add.")] = 10,
    seed: Annotated[
        int | None,
        typer.Option(min=0, max=MAX_SEED, help="Seed of author order and sampling (default: settings)."),
    ] = None,
    backend: Annotated[str | None, typer.Option(help="LLM backend (overrides academy --backend).")] = None,
    model: Annotated[str | None, typer.Option(help="Model (overrides academy --model).")] = None,
    reddit_dir: Annotated[
        Path | None, typer.Option(help="Ingest output folder (default <data-dir>/reddit).")
    ] = None,
    min_comments: Annotated[int, typer.Option(min=1, help="Comments an author needs.")] = 3,
    min_words: Annotated[int, typer.Option(min=0, help="Words an author needs across them.")] = 150,
    max_comments: Annotated[int, typer.Option(min=1, help="Comments shown to the model per persona.")] = 20,
    max_attempts: Annotated[int, typer.Option(min=1, help="Replies per author before skipping it.")] = 3,
    max_candidates: Annotated[
        int | None, typer.Option(min=1, help="Authors tried at most (default 3 x n).")
    ] = None,
    temperature: Annotated[
        float, typer.Option(min=0.0, max=MAX_TEMPERATURE, help="Sampling temperature.")
    ] = 0.7,
    max_tokens: Annotated[int, typer.Option(min=1, max=MAX_TOKENS, help="Longest card, in tokens.")] = 2048,
    max_common_run: Annotated[
        int, typer.Option(min=0, help="Longest word run a card may share with its sources.")
    ] = 7,
    max_shingle_share: Annotated[
        float, typer.Option(min=0.0, max=1.0, help="Share of 8-word shingles allowed.")
    ] = 0.05,
    duplicate_threshold: Annotated[
        float,
        typer.Option(min=0.0, max=1.0, help="Card similarity from which a persona is a near-duplicate."),
    ] = 0.5,
    max_trait_chars: Annotated[
        int | None, typer.Option(min=3, help="Longest trait text (default: the card's 240).")
    ] = None,
    max_list_items: Annotated[
        int | None, typer.Option(min=1, help="Most traits per list (default: the card's own limits).")
    ] = None,
    grounding: Annotated[
        bool, typer.Option(help="Judge (with the model) whether each cited comment supports its trait.")
    ] = True,
    first_person: Annotated[
        str, typer.Option(help="Keep authors who write about themselves: judge, heuristic or off.")
    ] = "judge",
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Generate persona cards (schema v2) grounded in the ingested comments of individual authors."""
    from jedi_academy.errors import ConfigError
    from jedi_academy.personas.generate import FIRST_PERSON_MODES, PersonaOptions
    from jedi_academy.personas.privacy import LeakLimits
    from jedi_academy.personas.schema import CardLimits
    from jedi_academy.personas.selection import SelectionRules
    from jedi_academy.personas.service import generate_for_specialization, require_generated

    if first_person not in FIRST_PERSON_MODES:
        raise ConfigError(
            f"--first-person {first_person!r} is not a mode", f"use {', '.join(FIRST_PERSON_MODES)}"
        )
    settings = _settings(ctx)
    options = PersonaOptions(
        n=n,
        seed=settings.seed if seed is None else seed,
        max_attempts=max_attempts,
        max_candidates=max_candidates,
        temperature=temperature,
        max_tokens=max_tokens,
        selection=SelectionRules(min_comments=min_comments, min_words=min_words, max_comments=max_comments),
        limits=CardLimits(text_max_chars=max_trait_chars, max_items=max_list_items),
        leak=LeakLimits(max_common_run=max_common_run, max_shingle_share=max_shingle_share),
        duplicate_threshold=duplicate_threshold,
        grounding=grounding,
        first_person=first_person,
    )
    report = generate_for_specialization(
        settings,
        specialization,
        options,
        backend=backend,
        model=model,
        reddit_dir=reddit_dir,
        progress=None if as_json else lambda message: typer.echo(message, err=True),
    )
    if as_json:
        print_json(report.as_dict())
    else:
        _print_report(report)
    require_generated(report, options)


def _print_report(report: PersonaReport) -> None:
    typer.echo(
        f"{report.generated} of {report.requested} persona(s) generated for {report.specialization} "
        f"({report.backend}/{report.model}, prompt {report.prompt_version}, seed {report.seed})"
    )
    typer.echo(
        f"  authors: {report.authors} read, {report.eligible} eligible, {report.already_used} already used, "
        f"{report.tried} tried"
    )
    typer.echo(f"  replies: {report.replies}, rejected: {_counts(report.rejected)}")
    typer.echo(
        f"  skipped authors: {_counts(report.skipped)}; near-duplicates dropped: {report.near_duplicates}"
    )
    typer.echo(f"  authors not writing about themselves: {report.not_first_person}")
    g = report.grounding
    if g["cards"]:
        typer.echo(
            f"  grounding judge: {g['supported']} of {g['checked']} cited traits supported "
            f"(rate {report.grounding_rate}), {g['dropped']} dropped, {g['judge_failed']} unreadable verdicts"
        )
    typer.echo(f"  conversational styles assigned: {_counts(report.styles)}")
    checked = ", ".join(report.instruments_checked) or "none"
    typer.echo(f"  instrument wording checked for: {checked}")
    if report.instruments_unchecked:
        typer.echo(
            f"  warning: no item text for {', '.join(report.instruments_unchecked)}; import it "
            "(academy instruments import) so cards can be checked against it",
            err=True,
        )
    for persona_id in report.persona_ids:
        typer.echo(f"  {persona_id}")


def _counts(counter: Any) -> str:
    return ", ".join(f"{reason} {count}" for reason, count in sorted(counter.items())) or "none"


@app.command("list")
def list_command(
    ctx: typer.Context,
    specialization: Annotated[
        str | None, typer.Option("--specialization", "-s", help="Only this one.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Stored personas: id, specialization, name, age band and main presenting problem."""
    from jedi_academy.personas.records import list_personas

    rows = []
    for persona in list_personas(_database(ctx), specialization):
        card = persona.card
        problems = card.get("presenting_problems") or [{}]
        holder = card.get("demographics") or card.get("context") or {}
        rows.append(
            {
                "id": persona.id,
                "specialization": persona.specialization_id,
                "name": card.get("name"),
                "age_band": holder.get("age_band"),
                "card_schema": card.get("schema_version", 1),
                "style": card.get("conversational_style"),
                "presenting_problem": problems[0].get("text"),
                "backend": persona.backend,
                "model": persona.model,
                "created_at": persona.created_at.isoformat(),
            }
        )
    if as_json:
        print_json(rows)
        return
    if not rows:
        typer.echo("no personas yet (academy personas generate --specialization ID)")
        return
    width = max(len(row["id"]) for row in rows)
    typer.echo(f"{'ID':{width}}  {'SPECIALIZATION':14} {'NAME':14} {'AGE':8} PRESENTING PROBLEM")
    for row in rows:
        problem = (row["presenting_problem"] or "")[:60]
        typer.echo(
            f"{row['id']:{width}}  {row['specialization']:14} {row['name']!s:14} {row['age_band']!s:8} "
            f"{problem}"
        )


@app.command("show")
def show(
    ctx: typer.Context,
    persona_id: Annotated[str, typer.Argument(help="Persona id or unique prefix.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """One persona as a readable card (source ids and provenance hidden)."""
    from jedi_academy.personas.card import read_card, render_card
    from jedi_academy.personas.records import get_persona, public_card

    with _database(ctx).session() as session:
        persona = get_persona(session, persona_id)
        card = read_card(persona.card)
        about = {
            "id": persona.id,
            "specialization": persona.specialization_id,
            "backend": persona.backend,
            "model": persona.model,
            "prompt_version": persona.prompt_version,
            "seed": persona.seed,
            "created_at": persona.created_at.isoformat(),
            "privacy": persona.metrics.get("privacy", {}),
            "grounding": persona.metrics.get("grounding"),
        }
    if as_json:
        print_json({**about, "card": public_card(card)})
        return
    typer.echo(render_card(card))
    typer.echo("")
    typer.echo(
        f"[{about['id']} · {about['specialization']} · {about['backend']}/{about['model']} · "
        f"prompt {about['prompt_version']} · seed {about['seed']}]"
    )
    privacy = about["privacy"]
    if privacy:
        typer.echo(
            f"[longest word run shared with sources: {privacy.get('longest_common_run')} words; "
            f"{privacy.get('shingle_size')}-word shingles shared: {privacy.get('shingle_share')}]"
        )
    grounding = about["grounding"]
    if grounding:
        typer.echo(
            f"[grounding judge: {grounding['supported']} of {grounding['checked']} cited traits supported; "
            f"{len(grounding['dropped'])} dropped]"
        )


@hookimpl
def register_commands(commands: CommandRegistry) -> None:
    commands.group("personas", app)
