"""``academy conversations ...`` (keep imports light: this module loads on every CLI start)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated, Any

import typer

from jedi_academy.limits import MAX_SEED, MAX_TEMPERATURE, MAX_TOKENS

if TYPE_CHECKING:
    from jedi_academy.config import Settings
    from jedi_academy.conversations.generate import ConversationReport

app = typer.Typer(help="Therapist/patient conversations: generate, list, show.", no_args_is_help=True)


def _settings(ctx: typer.Context) -> Settings:
    from jedi_academy.config import settings_from_context

    return settings_from_context(ctx)


@app.command("generate")
def generate(
    ctx: typer.Context,
    specialization: Annotated[str, typer.Option("--specialization", "-s", help="Specialization id.")],
    per_persona: Annotated[int, typer.Option(min=1, help="Conversations per persona.")] = 2,
    turns: Annotated[int, typer.Option(min=1, help="Therapist questions per conversation.")] = 8,
    persona: Annotated[
        list[str] | None, typer.Option(help="Only this persona (id or prefix); repeat for several.")
    ] = None,
    seed: Annotated[
        int | None,
        typer.Option(min=0, max=MAX_SEED, help="Seed of questions and sampling (default: settings)."),
    ] = None,
    backend: Annotated[str | None, typer.Option(help="LLM backend (overrides academy --backend).")] = None,
    model: Annotated[str | None, typer.Option(help="Model (overrides academy --model).")] = None,
    max_attempts: Annotated[
        int, typer.Option(min=1, help="Replies per turn before the conversation ends.")
    ] = 3,
    min_turns: Annotated[int, typer.Option(min=1, help="Shorter conversations are dropped.")] = 2,
    temperature: Annotated[
        float, typer.Option(min=0.0, max=MAX_TEMPERATURE, help="Sampling temperature.")
    ] = 0.8,
    max_tokens: Annotated[int, typer.Option(min=1, max=MAX_TOKENS, help="Longest answer, in tokens.")] = 256,
    keep_truncated: Annotated[
        bool, typer.Option(help="Keep answers cut at the token limit that hold no full sentence.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Generate multi-turn conversations in which each persona answers a therapist's questions."""
    from jedi_academy.conversations.generate import ConversationOptions
    from jedi_academy.conversations.service import generate_for_specialization, require_generated

    settings = _settings(ctx)
    options = ConversationOptions(
        per_persona=per_persona,
        turns=turns,
        seed=settings.seed if seed is None else seed,
        max_attempts=max_attempts,
        min_turns=min_turns,
        temperature=temperature,
        max_tokens=max_tokens,
        keep_truncated=keep_truncated,
    )
    report = generate_for_specialization(
        settings,
        specialization,
        options,
        persona_ids=persona or (),
        backend=backend,
        model=model,
        progress=None if as_json else lambda message: typer.echo(message, err=True),
    )
    if as_json:
        typer.echo(json.dumps(report.as_dict(), indent=2))
    else:
        _print_report(report)
    require_generated(report)


def _counts(counter: Any) -> str:
    return ", ".join(f"{reason} {count}" for reason, count in sorted(counter.items())) or "none"


def _print_report(report: ConversationReport) -> None:
    typer.echo(
        f"{report.generated} conversation(s) generated for {report.specialization} from {report.personas} "
        f"persona(s) ({report.backend}/{report.model}, prompt {report.prompt_version}, seed {report.seed})"
    )
    typer.echo(
        f"  {report.complete} complete, {report.incomplete} ended early ({_counts(report.ended_early)}), "
        f"{report.existing} already stored, dropped: {_counts(report.dropped)}"
    )
    typer.echo(
        f"  turns stored: {report.turns}; replies: {report.replies}, rejected: {_counts(report.rejected)}; "
        f"trimmed to a full sentence: {report.trimmed}; kept truncated: {report.kept_truncated}"
    )
    checked = ", ".join(report.instruments_checked) or "none"
    typer.echo(
        f"  contamination guard: instrument wording checked for {checked}; "
        f"{report.questions_excluded} bank question(s) excluded"
    )
    if report.instruments_unchecked:
        typer.echo(
            f"  warning: no item text for {', '.join(report.instruments_unchecked)}; import it "
            "(academy instruments import) so the guard can check it",
            err=True,
        )
    if not report.specific_bank:
        typer.echo(f"  note: no question bank for {report.specialization}; shared questions used", err=True)


@app.command("list")
def list_command(
    ctx: typer.Context,
    specialization: Annotated[
        str | None, typer.Option("--specialization", "-s", help="Only this one.")
    ] = None,
    persona: Annotated[str | None, typer.Option(help="Only this persona (id or prefix).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Stored conversations: id, persona, specialization, number of turns."""
    from jedi_academy.conversations.records import conversation_rows
    from jedi_academy.store import open_database

    rows = conversation_rows(open_database(_settings(ctx)), specialization, persona)
    if as_json:
        typer.echo(json.dumps(rows, indent=2, ensure_ascii=False))
        return
    if not rows:
        typer.echo("no conversations yet (academy conversations generate --specialization ID)")
        return
    width = max(len(row["id"]) for row in rows)
    persona_width = max(len(row["persona_id"]) for row in rows)
    typer.echo(f"{'ID':{width}}  {'SPECIALIZATION':14} {'PERSONA':{persona_width}}  {'NAME':14} TURNS")
    for row in rows:
        status = "" if row["complete"] else "  (ended early)"
        typer.echo(
            f"{row['id']:{width}}  {row['specialization']:14} {row['persona_id']:{persona_width}}  "
            f"{row['persona_name']!s:14} "
            f"{row['turns']:3} turns{status}"
        )


@app.command("show")
def show(
    ctx: typer.Context,
    conversation_id: Annotated[str, typer.Argument(help="Conversation id or unique prefix.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """One conversation, turn by turn."""
    from jedi_academy.conversations.records import get_conversation
    from jedi_academy.store import open_database
    from jedi_academy.store.models import Persona

    with open_database(_settings(ctx)).session() as session:
        conversation = get_conversation(session, conversation_id)
        persona = session.get(Persona, conversation.persona_id)
        name = (persona.card.get("name") if persona else None) or "Patient"
        provenance = conversation.provenance
        data = {
            "id": conversation.id,
            "persona_id": conversation.persona_id,
            "specialization": conversation.specialization_id,
            "origin": conversation.origin,
            "backend": provenance.get("backend"),
            "model": provenance.get("model"),
            "seed": provenance.get("seed"),
            "prompt_version": provenance.get("prompt_version"),
            "complete": provenance.get("complete", True),
            "turns": [
                {"turn": t.turn, "question": t.question, "answer": t.answer} for t in conversation.turns
            ],
        }
    if as_json:
        typer.echo(json.dumps(data, indent=2, ensure_ascii=False))
        return
    typer.echo(
        f"conversation {data['id']} · persona {data['persona_id']} ({name}) · {data['specialization']} · "
        f"{data['backend']}/{data['model']} · prompt {data['prompt_version']} · seed {data['seed']}"
    )
    for turn in data["turns"]:
        typer.echo(f"\nTherapist: {turn['question']}\n{name}: {turn['answer']}")
    if not data["complete"]:
        typer.echo("\n(ended early)")
