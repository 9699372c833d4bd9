"""``academy conversations ...`` (keep imports light: this module loads on every CLI start)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from jedi_academy.cli_kit import database as _database
from jedi_academy.cli_kit import print_json
from jedi_academy.cli_kit import settings as _settings
from jedi_academy.hooks import hookimpl
from jedi_academy.limits import MAX_SEED, MAX_TEMPERATURE, MAX_TOKENS

if TYPE_CHECKING:
    from jedi_academy.cli_kit import CommandRegistry
    from jedi_academy.conversations.generate import ConversationReport

app = typer.Typer(help="Therapist/patient conversations: generate, list, show.", no_args_is_help=True)


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
    approach: Annotated[
        list[str] | None,
        typer.Option(
            help="Therapist approach to mix in (intake, cbt, mi, supportive, psychoeducation); repeat."
        ),
    ] = None,
    unhelpful_share: Annotated[
        float, typer.Option(min=0.0, max=1.0, help="Share of therapist turns that are unhelpful moves.")
    ] = 0.15,
    therapist_max_tokens: Annotated[int, typer.Option(min=1, help="Longest therapist turn, in tokens.")] = 96,
    self_cure_judge: Annotated[
        bool, typer.Option(help="Judge (with the model) answers that may claim a sudden recovery.")
    ] = True,
    consistency_sample: Annotated[
        float, typer.Option(min=0.0, max=1.0, help="Share of conversations the consistency judge reviews.")
    ] = 0.2,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Generate conversations: a therapist following a plan, each persona answering in character."""
    from jedi_academy.conversations.generate import APPROACHES, ConversationOptions
    from jedi_academy.conversations.service import generate_for_specialization, require_generated
    from jedi_academy.errors import ConfigError

    unknown = [a for a in approach or () if a not in APPROACHES]
    if unknown:
        raise ConfigError(f"unknown approach {unknown[0]!r}", f"use {', '.join(APPROACHES)}")
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
        approaches=tuple(dict.fromkeys(approach)) if approach else APPROACHES,
        unhelpful_share=unhelpful_share,
        therapist_max_tokens=therapist_max_tokens,
        self_cure_judge=self_cure_judge,
        consistency_sample=consistency_sample,
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
        print_json(report.as_dict())
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
    typer.echo(f"  approaches: {_counts(report.approaches)}; techniques: {_counts(report.techniques)}")
    share = f"{report.unhelpful_turns / report.therapist_turns:.2f}" if report.therapist_turns else "-"
    typer.echo(
        f"  unhelpful therapist turns: {report.unhelpful_turns} of {report.therapist_turns} ({share}); "
        f"risk follow-ups: {report.risk_followups}; "
        f"disclosures kept and flagged: {report.disclosures_flagged}"
    )
    typer.echo(
        f"  self-cure judge asked about {report.self_cure_judged} answer(s); answers leak-checked against "
        f"their author's comments: {report.leak_checked}; consistency judge: {_counts(report.consistency)}"
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

    rows = conversation_rows(_database(ctx), specialization, persona)
    if as_json:
        print_json(rows)
        return
    if not rows:
        typer.echo("no conversations yet (academy conversations generate --specialization ID)")
        return
    width = max(len(str(row["id"])) for row in rows)
    persona_width = max(len(str(row["persona_id"])) for row in rows)
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
    from jedi_academy.store.models import Persona

    with _database(ctx).session() as session:
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
            "approach": provenance.get("approach"),
            "style": provenance.get("style"),
            "turns": [
                {
                    "turn": t.turn,
                    "question": t.question,
                    "answer": t.answer,
                    "technique": detail.get("technique"),
                    "flags": detail.get("flags", []),
                }
                for t, detail in zip(
                    conversation.turns, _details(provenance, len(conversation.turns)), strict=True
                )
            ],
        }
    if as_json:
        print_json(data)
        return
    typer.echo(
        f"conversation {data['id']} · persona {data['persona_id']} ({name}) · {data['specialization']} · "
        f"{data['backend']}/{data['model']} · prompt {data['prompt_version']} · seed {data['seed']}"
    )
    if data["approach"]:
        typer.echo(f"approach: {data['approach']} · style: {data['style']}")
    for turn in data["turns"]:
        tag = f" [{turn['technique']}]" if turn["technique"] else ""
        flags = "  (flagged: " + ", ".join(f"{f['instrument']} {f['where']}" for f in turn["flags"]) + ")"
        typer.echo(
            f"\nTherapist{tag}: {turn['question']}\n{name}: {turn['answer']}{flags if turn['flags'] else ''}"
        )
    if not data["complete"]:
        typer.echo("\n(ended early)")


def _details(provenance: dict[str, Any], count: int) -> list[dict[str, Any]]:
    details = [d if isinstance(d, dict) else {} for d in provenance.get("turns", [])]
    return (details + [{}] * count)[:count]


@hookimpl
def register_commands(commands: CommandRegistry) -> None:
    commands.group("conversations", app)
