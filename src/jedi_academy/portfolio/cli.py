"""``academy keys``, ``academy ledger`` and ``academy portfolio`` (imports stay light)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from jedi_academy.config import Settings

keys_app = typer.Typer(help="The academy instance's signing key.", no_args_is_help=True)
ledger_app = typer.Typer(help="The tamper-evident hash chain over the store's records.", no_args_is_help=True)
portfolio_app = typer.Typer(help="Signed, reproducible therapist portfolios.", no_args_is_help=True)

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON.")]


def _settings(ctx: typer.Context) -> Settings:
    from jedi_academy.config import settings_from_context

    return settings_from_context(ctx)


def register(app: typer.Typer) -> None:
    app.add_typer(keys_app, name="keys")
    app.add_typer(ledger_app, name="ledger")
    app.add_typer(portfolio_app, name="portfolio")


@keys_app.command("show")
def keys_show(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """Print the instance's public key (the private key is created on first use, 0600)."""
    from jedi_academy.portfolio.keys import fingerprint, instance_key, key_path, public_key_text

    settings = _settings(ctx)
    public = public_key_text(instance_key(settings.data_dir))
    shown = {
        "public_key": public,
        "fingerprint": fingerprint(public),
        "private_key_file": str(key_path(settings.data_dir)),
    }
    typer.echo(json.dumps(shown, indent=2) if as_json else f"{public}\nfingerprint {shown['fingerprint']}")


@ledger_app.command("verify")
def ledger_verify(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """Walk the whole chain and check every link and every record still covered by it."""
    from jedi_academy.store import open_database
    from jedi_academy.store.ledger import verify_chain

    with open_database(_settings(ctx)).session() as session:
        report = verify_chain(session)
    if as_json:
        typer.echo(json.dumps(report.as_dict(), indent=2))
    else:
        for problem in report.problems:
            typer.echo(f"FAIL {problem}")
        for missing in report.missing_records:
            typer.echo(f"note {missing}: the record has since been deleted")
        verdict = "intact" if report.ok else f"BROKEN ({len(report.problems)} problem(s))"
        typer.echo(
            f"ledger: {report.entries} entries, head {report.head_seq} {report.head_sha256[:16]}: {verdict}"
        )
    if not report.ok:
        raise typer.Exit(1)


@ledger_app.command("backfill")
def ledger_backfill(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """Append entries for records made before the ledger existed (idempotent)."""
    from jedi_academy.store import open_database
    from jedi_academy.store.ledger import append_existing

    with open_database(_settings(ctx)).session() as session:
        added = append_existing(session)
    typer.echo(json.dumps({"appended": added}) if as_json else f"appended {added} entries")


@portfolio_app.command("build")
def portfolio_build(
    ctx: typer.Context,
    therapist: Annotated[str, typer.Option(help="Therapist name or id.")],
    out: Annotated[Path, typer.Option(help="Folder to write (new or empty).")],
    cases: Annotated[
        list[str] | None, typer.Option("--cases", help="Include only these case ids (repeat; default: all).")
    ] = None,
    exclude: Annotated[list[str] | None, typer.Option("--exclude", help="Leave these case ids out.")] = None,
    with_adapters: Annotated[
        bool, typer.Option("--with-adapters", help="Copy the adapters so others can --recompute.")
    ] = False,
    reference: Annotated[
        list[str] | None,
        typer.Option(
            "--reference",
            help="LABEL=THERAPIST for the reference class (default: therapists named 'scripted placebo' "
            "and 'scripted skilled').",
        ),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Build a signed portfolio: portfolio.json and a static index.html with the trajectory charts."""
    from jedi_academy.portfolio.build import build_portfolio
    from jedi_academy.portfolio.source import portfolio_request
    from jedi_academy.store import open_database

    settings = _settings(ctx)
    database = open_database(settings)
    request = portfolio_request(
        database, therapist, include=cases, exclude=exclude, with_adapters=with_adapters
    )
    document = build_portfolio(database, settings.data_dir, request, out)
    body = document["body"]
    summary = {
        "out": str(out),
        "cases": [c["case"] for c in body["cases"]],
        "records": len(body["records"]),
        "head": body["chain"]["head"],
        "signer": body["instance"]["fingerprint"],
        "reference_missing": body["reference"]["missing"],
    }
    if as_json:
        typer.echo(json.dumps(summary, indent=2))
    else:
        typer.echo(
            f"portfolio of {body['therapist']['name']}: {len(body['cases'])} case(s) -> {out / 'index.html'}"
        )
        if body["reference"]["missing"]:
            typer.echo(f"reference class missing: {body['reference']['missing']}")


@portfolio_app.command("verify")
def portfolio_verify(
    ctx: typer.Context,
    folder: Annotated[Path, typer.Argument(help="The portfolio folder.")],
    public_key: Annotated[
        str | None,
        typer.Option(help="Require this signer (ed25519:BASE64 from `academy keys show`, or a file)."),
    ] = None,
    recompute: Annotated[
        bool, typer.Option("--recompute", help="Re-run the assessments from the adapters and compare.")
    ] = False,
    model: Annotated[
        str | None, typer.Option(help="With --recompute: the base model to load (default: the recorded one).")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Check the signature, every record against the hash chain, and that every figure follows from them."""
    from jedi_academy.errors import AcademyError
    from jedi_academy.portfolio.build import PORTFOLIO_FILE
    from jedi_academy.portfolio.verify import verify_bundle

    if not folder.exists():
        raise AcademyError(
            f"portfolio folder {folder} does not exist", "give the folder `academy portfolio build` wrote"
        )
    if not (folder / PORTFOLIO_FILE).is_file():
        raise AcademyError(
            f"{folder} is not a portfolio folder (no {PORTFOLIO_FILE} in it)",
            "give the folder `academy portfolio build` wrote",
        )
    report = verify_bundle(folder, public_key=public_key)
    if recompute and report.ok:
        from jedi_academy.portfolio.recompute import RecomputeOptions, recompute_problems
        from jedi_academy.store import open_database

        settings = _settings(ctx)
        body = json.loads((folder / PORTFOLIO_FILE).read_text(encoding="utf-8"))["body"]
        echo = None if as_json else typer.echo
        problems, runs = recompute_problems(
            settings, open_database(settings), folder, body, RecomputeOptions(model=model), progress=echo
        )
        report.problems.extend(problems)
        report.checked["recomputed_runs"] = runs
    if as_json:
        typer.echo(json.dumps(report.as_dict(), indent=2))
    else:
        for problem in report.problems:
            typer.echo(f"FAIL {problem}")
        checked = ", ".join(f"{v} {k.replace('_', ' ')}" for k, v in report.checked.items())
        verdict = "VERIFIED" if report.ok else f"NOT VERIFIED ({len(report.problems)} problem(s))"
        typer.echo(f"{folder}: {verdict}; signer {report.signer}; checked {checked}")
    if not report.ok:
        raise typer.Exit(1)
