"""``academy erase``: the right to be forgotten (a thin face over :mod:`jedi_academy.erasure.service`)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from jedi_academy.cli_kit import JsonFlag, echo_lines, print_json
from jedi_academy.cli_kit import database as _database
from jedi_academy.cli_kit import settings as _settings
from jedi_academy.hooks import hookimpl

if TYPE_CHECKING:
    from jedi_academy.cli_kit import CommandRegistry


@hookimpl
def register_commands(commands: CommandRegistry) -> None:
    commands.command("erase")(erase_command)


def erase_command(
    ctx: typer.Context,
    author: Annotated[
        list[str] | None, typer.Option(help="An author's pseudonym (32 hex characters); repeatable.")
    ] = None,
    comment: Annotated[
        list[str] | None,
        typer.Option(help="A comment: its pseudonym, or the Reddit id (t1_ID or ID); repeatable."),
    ] = None,
    from_file: Annotated[
        Path | None,
        typer.Option(help="A removal list: u/USERNAME or t1_ID per line, hashed with the instance's key."),
    ] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show what would go; change nothing.")] = False,
    as_json: JsonFlag = False,
) -> None:
    """Erase authors' or comments' words and everything made from them; retire the checkpoints trained on
    them; close the cases on their personas; leave a tombstone in the ledger."""
    from jedi_academy.cli_errors import usage_error
    from jedi_academy.erasure.keys import instance_keyed
    from jedi_academy.erasure.requests import (
        ErasureRequest,
        author_pseudonym,
        comment_pseudonym,
        read_removal_list,
    )
    from jedi_academy.erasure.service import erase
    from jedi_academy.errors import AcademyError, ConfigError

    if not author and not comment and from_file is None:
        raise usage_error(ctx, "name what to erase: --author, --comment or --from-file")
    settings = _settings(ctx)
    try:  # a malformed --author or --comment is a usage error (exit 2)
        request = ErasureRequest(authors=frozenset(author_pseudonym(a) for a in author or []))
        keyed = instance_keyed(settings) if comment or from_file is not None else None
        if keyed is not None:
            comments = frozenset(comment_pseudonym(c, keyed) for c in comment or [])
            request = request.merged(ErasureRequest(comments=comments))
    except AcademyError as exc:
        if isinstance(exc, ConfigError):
            raise
        raise usage_error(ctx, exc.message) from None
    if from_file is not None and keyed is not None:
        request = request.merged(read_removal_list(from_file, keyed))
    result = erase(settings, _database(ctx), request, dry_run=dry_run)
    if as_json:
        print_json(result.as_dict())
    else:
        echo_lines(result.lines())
