"""``academy keys``, ``academy ledger`` and ``academy portfolio`` (imports stay light)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from jedi_academy.cli_kit import database as _database
from jedi_academy.cli_kit import print_json
from jedi_academy.cli_kit import settings as _settings
from jedi_academy.hooks import hookimpl

if TYPE_CHECKING:
    from jedi_academy.cli_kit import CommandRegistry

keys_app = typer.Typer(help="The academy instance's signing key.", no_args_is_help=True)
ledger_app = typer.Typer(help="The tamper-evident hash chain over the store's records.", no_args_is_help=True)
portfolio_app = typer.Typer(help="Signed, reproducible therapist portfolios.", no_args_is_help=True)

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON.")]


@hookimpl
def register_commands(commands: CommandRegistry) -> None:
    commands.group("keys", keys_app)
    commands.group("ledger", ledger_app)
    commands.group("portfolio", portfolio_app)


@keys_app.command("show")
def keys_show(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """Print the instance's public key (the private key is created on first use, 0600)."""
    from jedi_academy.portfolio.keys import show_key

    shown = show_key(_settings(ctx).data_dir)
    if as_json:
        print_json(shown)
    else:
        typer.echo(f"{shown.public_key}\nfingerprint {shown.fingerprint}")


@keys_app.command("trust")
def keys_trust(
    ctx: typer.Context,
    key: Annotated[str, typer.Argument(help="ed25519:BASE64 (as the academy publishes it) or a file.")],
    name: Annotated[str, typer.Option(help="Who this key belongs to (shown when a portfolio verifies).")],
    as_json: JsonOption = False,
) -> None:
    """Trust an academy instance's public key, obtained from its published page, under a name."""
    from jedi_academy.portfolio.trust import trust_key

    entry = trust_key(_settings(ctx).data_dir, key, name)
    if as_json:
        print_json(entry)
    else:
        typer.echo(f"trusted {entry.fingerprint} as {entry.name}")


@ledger_app.command("verify")
def ledger_verify(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """Walk the whole chain: every link, every record, and every head signed into the heads file."""
    from jedi_academy.portfolio.heads import check_ledger

    settings = _settings(ctx)
    with _database(ctx).session() as session:
        report = check_ledger(session, settings.data_dir)
    if as_json:
        print_json(report)
    else:
        for problem in report.problems:
            typer.echo(f"FAIL {problem}")
        for missing in report.missing_records:
            typer.echo(f"note {missing}: the record has since been deleted")
        for erased in report.erased_records:
            typer.echo(f"erased {erased}")
        if report.unsealed_records and not report.heads_checked:
            typer.echo(
                f"note {len(report.unsealed_records)} record(s) have no entry "
                f"({', '.join(report.unsealed_records[:5])}); `academy ledger backfill` enters them"
            )
        verdict = "intact" if report.ok else f"BROKEN ({len(report.problems)} problem(s))"
        typer.echo(
            f"ledger: {report.entries} entries, head {report.head_seq} {report.head_sha256[:16]}, "
            f"{report.heads_checked} signed head(s) checked: {verdict}"
        )
    if not report.ok:
        raise typer.Exit(1)


@ledger_app.command("head")
def ledger_head(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """Sign the current head and append it to the heads file outside the database (publish it)."""
    from jedi_academy.portfolio.heads import heads_path, seal_head

    settings = _settings(ctx)
    with _database(ctx).session() as session:
        head = seal_head(session, settings.data_dir)
    if as_json:
        print_json(head)
    else:
        typer.echo(f"head {head.seq} {head.entry_sha256}")
        typer.echo(f"signed {head.signed_at} by {head.public_key}: {head.signature}")
        typer.echo(f"appended to {heads_path(settings.data_dir).name} in the data directory")


@ledger_app.command("backfill")
def ledger_backfill(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """Enter records that never had an entry (made before the ledger existed); refused after a signed head."""
    from jedi_academy.portfolio.heads import backfill

    added = backfill(_database(ctx), _settings(ctx).data_dir)
    if as_json:
        typer.echo(json.dumps(added.as_dict()))  # one line, as before
    else:
        typer.echo(f"appended {added.appended} entries")


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
    built = build_portfolio(database, settings.data_dir, request, out, settings.instance)
    if as_json:
        print_json(built)
    else:
        typer.echo(
            f"portfolio of {request.therapist_name}: {len(built.cases)} case(s) -> {out / 'index.html'}"
        )
        for left in built.left_out:
            typer.echo(f"left out {left.case}: {left.reason}")
        if built.reference_missing:
            typer.echo(f"reference class missing: {built.reference_missing}")


@portfolio_app.command("verifier")
def portfolio_verifier(
    ctx: typer.Context,
    out: Annotated[Path, typer.Option(help="The HTML file to write (publish it next to the public key).")],
    as_json: JsonOption = False,
) -> None:
    """Write a self-contained verifier page with this instance's key and name built in, for browsers."""
    from jedi_academy.portfolio.keys import write_verifier

    settings = _settings(ctx)
    written = write_verifier(settings.data_dir, out, settings.instance.name, settings.instance.url)
    if as_json:
        print_json(written)
    else:
        typer.echo(f"verifier for {written.fingerprint} -> {written.out}")


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
    against: Annotated[
        Path | None,
        typer.Option(help="Another portfolio of the same instance: check one chain extends the other."),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Check the signature, every record against the hash chain, and that every figure follows from them.

    Exit 0: verified and signed by a pinned (--public-key) or trusted (`academy keys trust`) key; 1: a check
    failed; 3: every check passed but the signer is not trusted, which proves nothing about who made it."""
    from jedi_academy.errors import AcademyError
    from jedi_academy.portfolio.build import PORTFOLIO_FILE
    from jedi_academy.portfolio.trust import trusted_keys
    from jedi_academy.portfolio.verify import compare_bundles, verify_bundle

    for given in (folder, against):
        if given is None:
            continue
        if not given.exists():
            raise AcademyError(
                f"portfolio folder {given} does not exist", "give the folder `academy portfolio build` wrote"
            )
        if not (given / PORTFOLIO_FILE).is_file():
            raise AcademyError(
                f"{given} is not a portfolio folder (no {PORTFOLIO_FILE} in it)",
                "give the folder `academy portfolio build` wrote",
            )
    trusted = trusted_keys(_settings(ctx).data_dir) if public_key is None else None
    report = verify_bundle(folder, public_key=public_key, trusted=trusted)
    if against is not None:
        other = verify_bundle(against, public_key=public_key or report.public_key)
        report.problems.extend(f"--against {against}: {p}" for p in other.problems)
        if report.ok:
            report.problems.extend(compare_bundles(folder, against))
        report.checked["compared_portfolios"] = 1
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
        print_json(report)
    else:
        for problem in report.problems:
            typer.echo(f"FAIL {problem}")
        for erasure in report.erasures:
            typer.echo(f"erasure {erasure}: a tombstone in the chain, not a tamper")
        checked = ", ".join(f"{v} {k.replace('_', ' ')}" for k, v in report.checked.items())
        if not report.ok:
            verdict = f"NOT VERIFIED ({len(report.problems)} problem(s))"
        elif not report.trusted:
            verdict = f"{UNTRUSTED} (give --public-key or `academy keys trust` the academy's published key)"
        else:
            verdict = f"VERIFIED (signer trusted as {report.trusted_as})"
        typer.echo(f"{folder}: {verdict}; signer {report.signer}; checked {checked}")
    if not report.ok:
        raise typer.Exit(1)
    if not report.trusted:
        raise typer.Exit(3)


UNTRUSTED = "signature valid, but the signer is not trusted: this proves nothing about who made it"
