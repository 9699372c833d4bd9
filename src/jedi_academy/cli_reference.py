"""The command-line reference (docs/cli.md), generated from the commands themselves so that it cannot drift.

    python -m jedi_academy.cli_reference            # rewrite docs/cli.md
    python -m jedi_academy.cli_reference --check    # exit 1 when docs/cli.md is stale (a test runs this)

Each command's section is its own ``--help`` text, rendered at a fixed width.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from jedi_academy.cli import build_app  # first: it selects typer's plain (non-rich) help before typer loads

WIDTH = 100
DEFAULT_OUT = Path(__file__).resolve().parents[2] / "docs" / "cli.md"

HEADER = """# Command-line reference

Generated from the commands by `python -m jedi_academy.cli_reference`; do not edit by hand (a test fails when
this page and the commands disagree). Global options go before the command:
`academy --data-dir DIR --model tiny chat -m hello`.

Exit status: 0 success; 1 a problem you can fix, printed as one `error:` line and usually a `hint:` line; 2 a
usage error (unknown command or option, a value that does not parse or is out of range), printed after the
command's usage line; 130 interrupted (Ctrl-C; resumable commands say `run again with --resume`).
`academy --debug ...` (or `ACADEMY_DEBUG=1`) shows the full traceback instead.
"""


def _walk(command: Any, ctx: Any) -> Iterator[tuple[str, Any, Any]]:
    from typer._click import Context

    yield ctx.command_path, command, ctx
    for name in getattr(command, "list_commands", lambda _ctx: [])(ctx):
        sub = command.get_command(ctx, name)
        if sub is None or getattr(sub, "hidden", False):
            continue
        child = Context(sub, info_name=name, parent=ctx, terminal_width=WIDTH, max_content_width=WIDTH)
        yield from _walk(sub, child)


def _anchor(path: str) -> str:
    return path.replace(" ", "-")


def render_reference() -> str:
    from typer._click import Context
    from typer.main import get_command

    root = get_command(build_app())
    top = Context(root, info_name="academy", terminal_width=WIDTH, max_content_width=WIDTH)
    entries = list(_walk(root, top))
    lines = [HEADER, "## Commands", ""]
    for path, command, _ in entries:
        depth = path.count(" ")
        summary = command.get_short_help_str(limit=90)
        lines.append(f"{'  ' * max(depth - 1, 0)}- [`{path}`](#{_anchor(path)}): {summary}")
    lines.append("")
    for path, command, ctx in entries:
        lines += [f'<a id="{_anchor(path)}"></a>', "", f"## `{path}`", "", "```text"]
        lines += [line.rstrip() for line in command.get_help(ctx).splitlines()]
        lines += ["```", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m jedi_academy.cli_reference", description=__doc__)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="the page to write or check")
    parser.add_argument("--check", action="store_true", help="exit 1 when the page is stale")
    args = parser.parse_args(argv)
    text = render_reference()
    if args.check:
        current = args.out.read_text(encoding="utf-8") if args.out.is_file() else ""
        if current != text:
            print(f"{args.out} is stale: run python -m jedi_academy.cli_reference", file=sys.stderr)
            return 1
        print(f"{args.out} is current")
        return 0
    args.out.write_text(text, encoding="utf-8")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
