"""What every stage's ``cli.py`` shares: the settings and database of a command, ``--json`` printing, and the
registry through which stages add their commands (``hooks.register_commands``).

Light imports only (typer): this module loads on every CLI start.
"""

from __future__ import annotations

import functools
import inspect
import json
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Any

import typer

from jedi_academy.errors import ConfigError

if TYPE_CHECKING:
    from jedi_academy.config import Settings
    from jedi_academy.store import Database

JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON.")]

_DATABASE = "_database"  # where the root context keeps the open database (one per command)


_NEW_DATA_DIR = "_new_data_dir"  # the data directory, when it did not exist as the command started


def settings(ctx: typer.Context) -> Settings:
    """The settings of a command: academy.toml, the environment and the root command's flags. A data
    directory the command creates on the way is named once on stderr (:func:`announce_created_data_dir`)."""
    from jedi_academy.config import settings_from_context

    found = settings_from_context(ctx)
    root = ctx.find_root()
    if _NEW_DATA_DIR not in root.meta:
        missing = not found.data_dir.exists()
        root.meta[_NEW_DATA_DIR] = found.data_dir if missing else None
        if missing:  # whatever creates it (the database, a lock, a key), the command says so as it ends
            root.call_on_close(lambda: announce_created_data_dir(root))
    return found


def announce_created_data_dir(ctx: Any) -> None:  # a typer or click context
    """One line to stderr, once, when the command created the data directory without being asked to. Not when
    the command is failing: a failure is one `error:` line and its hint, nothing else."""
    failing = sys.exc_info()[1]  # the exception unwinding through the context as it closes, if any
    if failing is not None and not (isinstance(failing, typer.Exit) and failing.exit_code == 0):
        return
    root = ctx.find_root()
    created = root.meta.get(_NEW_DATA_DIR)
    if created is not None and created.exists():
        root.meta[_NEW_DATA_DIR] = None
        typer.echo(f"created data directory {created}", err=True)


def database(ctx: typer.Context) -> Database:
    """The database of a command, opened (and migrated) once however often a command asks for it."""
    from jedi_academy.store import open_database

    root = ctx.find_root()
    if root.meta.get(_DATABASE) is None:
        root.meta[_DATABASE] = open_database(settings(ctx))
    return root.meta[_DATABASE]


def print_json(data: Any) -> None:
    """``data`` as indented JSON; service results (``results.Result``), alone or in lists, print their
    ``as_dict()``."""
    from jedi_academy.results import plain

    typer.echo(json.dumps(plain(data), indent=2, ensure_ascii=False, default=str))


def echo_lines(lines: list[str]) -> None:
    for line in lines:
        typer.echo(line)


class CommandRegistry:
    """Collects the commands of every stage, then attaches them to the ``academy`` application.

    A stage declares the groups it owns (``group``) and adds commands to the top level or to any declared
    group (``command``). Commands are attached in ``finish``, so the order in which stages register does not
    matter; a command added twice, or to a group no stage declares, stops the CLI at start-up with one line.
    """

    def __init__(self, app: typer.Typer) -> None:
        self.app = app
        self._groups: dict[str, typer.Typer] = {}
        self._commands: list[tuple[str | None, str, Callable[..., Any], bool]] = []

    def group(self, name: str, group: typer.Typer | None = None, *, help: str = "") -> typer.Typer:
        """Declare the group ``academy NAME`` (a new one, or ``group`` with its own commands)."""
        if name in self._groups:
            raise ConfigError(f"two stages declare the command group `academy {name}`")
        group = group or typer.Typer(help=help, no_args_is_help=True)
        self._groups[name] = group
        self.app.add_typer(group, name=name)
        return group

    def command(
        self, name: str, *, group: str | None = None, extensible: bool = False
    ) -> Callable[[Callable[..., Any]], Any]:
        """Decorator: add ``function`` as ``academy [GROUP] NAME``. An ``extensible`` command takes the
        options other stages add to it (``hooks.command_options``) and receives their values as
        ``extensions``."""

        def add(function: Callable[..., Any]) -> Callable[..., Any]:
            self._commands.append((group, name, function, extensible))
            return function

        return add

    def finish(self) -> None:
        seen: set[tuple[str | None, str]] = set()
        for group, name, command, extend in self._commands:
            where = f"academy {group} {name}" if group else f"academy {name}"
            function = with_extensions(where.removeprefix("academy "), command) if extend else command
            if (group, name) in seen or name in (self._groups if group is None else ()):
                raise ConfigError(f"two stages add the command `{where}`")
            seen.add((group, name))
            if group is None:
                self.app.command(name)(function)
            elif group in self._groups:
                self._groups[group].command(name)(function)
            else:
                raise ConfigError(f"`{where}` is added to a group no stage declares")
        for group_name, typer_group in self._groups.items():
            names = [
                c.name or (c.callback.__name__.replace("_", "-") if c.callback else "")
                for c in typer_group.registered_commands
            ]
            if len(names) != len(set(names)):
                raise ConfigError(f"two commands share a name in `academy {group_name}`")


def with_extensions(command: str, function: Callable[..., Any]) -> Callable[..., Any]:
    """``function`` with the options other stages add to ``command`` (``hooks.command_options``) joined to its
    signature (so its ``--help`` lists them and typer parses them); their values reach it as one
    ``extensions`` dict, to hand on to the extension hooks."""
    from jedi_academy.hooks import extra_options

    extras = extra_options(command)
    signature = inspect.signature(function, eval_str=True)
    own = [p for p in signature.parameters.values() if p.name != "extensions"]
    clash = {p.name for p in own} & {o.name for o in extras}
    if clash:
        raise ConfigError(f"a stage adds the option {sorted(clash)[0]} that `academy {command}` has")
    extra_names = [o.name for o in extras]

    @functools.wraps(function)
    def run(*args: Any, **kwargs: Any) -> Any:
        extensions = {name: kwargs.pop(name) for name in extra_names}
        return function(*args, extensions=extensions, **kwargs)

    # typer passes every parameter by keyword: keyword-only, the added ones may follow any own parameter
    parameters = [p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for p in own]
    parameters += [o.parameter() for o in extras]
    run.__signature__ = signature.replace(parameters=parameters)  # type: ignore[attr-defined]
    run.__annotations__ = {p.name: p.annotation for p in parameters}
    del run.__wrapped__  # typer must read the new signature, not the original's
    return run
