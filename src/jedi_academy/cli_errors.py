"""The command line's error boundary: every failure becomes one ``error:`` line (and a ``hint:``), never a
traceback, unless ``--debug`` asks for it.

Exit codes: 0 success, 1 a problem the user can fix (bad input, files, database, configuration), 2 a usage
error (unknown command or option, a value that does not parse or is out of range), 130 interrupted (Ctrl-C).

Kept free of heavy imports: SQLAlchemy and pydantic errors are recognised by their module name, so that a
failing ``academy --help`` never pays for loading them.
"""

from __future__ import annotations

import errno
import signal
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import typer
from typer._click.exceptions import ClickException, NoArgsIsHelpError, UsageError

from jedi_academy.errors import AcademyError

EXIT_PROBLEM = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


def _echo(text: str) -> None:
    typer.echo(text, err=True)


def _one_line(text: object) -> str:
    """First line of a message, trimmed: database drivers append SQL and background links after it."""
    lines = [line.strip() for line in str(text).strip().splitlines() if line.strip()]
    return lines[0] if lines else ""


def show_usage_error(exc: UsageError, args: Sequence[str] = ()) -> None:
    """The command's usage line, how to get help, and one ``error:`` line."""
    ctx = exc.ctx
    if ctx is not None:
        _echo(ctx.get_usage())
        if ctx.command.get_help_option(ctx) is not None:
            _echo(f"Try '{ctx.command_path} {ctx.help_option_names[0]}' for help.")
    message = exc.format_message()
    if _not_a_number_given(exc, args):  # the range check's own words ("should be <= 5") would puzzle
        message += " (NaN and infinity are not accepted)"
    _echo(f"error: {message}")


def _not_a_number_given(exc: UsageError, args: Sequence[str]) -> bool:
    opts = getattr(getattr(exc, "param", None), "opts", ())
    for position, token in enumerate(args):
        name, equals, inline = token.partition("=")
        value = inline if equals else (args[position + 1] if position + 1 < len(args) else "")
        if name in opts and value.strip().lower().lstrip("+-") in ("nan", "inf", "infinity"):
            return True
    return False


def describe_os_error(exc: OSError) -> tuple[str, str | None]:
    """An OSError as (message, hint), naming the file it concerns."""
    where = exc.filename if exc.filename is not None else None
    reason = exc.strerror or _one_line(exc) or type(exc).__name__
    message = f"{where}: {reason}" if where is not None else reason
    if exc.errno == errno.EROFS:
        return message, "the file system is read-only; choose a writable --data-dir (or --out)"
    if isinstance(exc, PermissionError):
        return message, "check the permissions of that path, or choose another with --data-dir / --out"
    if isinstance(exc, FileExistsError):
        if where is not None and Path(where).is_file():
            # mkdir on a path that is a file: say so plainly
            return f"{where} is a file, not a folder", "give a folder path (or one that does not exist yet)"
        return message, "choose a path that does not exist yet"
    if isinstance(exc, FileNotFoundError):
        return message, "check the path"
    if isinstance(exc, IsADirectoryError | NotADirectoryError):
        return message, "give a file path where a file is expected, a folder where a folder is expected"
    return message, None


def describe_database_error(exc: BaseException) -> tuple[str, str | None]:
    original = getattr(exc, "orig", None) or exc
    text = _one_line(original)
    lowered = text.lower()
    if "readonly" in lowered or "read-only" in lowered:
        return f"the database is read-only: {text}", "check the permissions of the data directory"
    if "not a database" in lowered or "file is encrypted" in lowered:
        return (
            f"the database file is not an SQLite database: {text}",
            "point --data-dir or --database-url at a real academy database",
        )
    if "unable to open database file" in lowered:
        return f"cannot open the database: {text}", "check --data-dir / --database-url and its permissions"
    if "locked" in lowered:
        return f"the database is busy: {text}", "another academy command is writing; try again when it ends"
    return f"database error: {text}", "run again with --debug for the details"


def describe_validation_error(exc: Any) -> str:
    problems = "; ".join(
        f"{'.'.join(str(p) for p in err.get('loc', ())) or 'value'}: {err.get('msg')}" for err in exc.errors()
    )
    return f"invalid input: {problems}"


def _is_from(exc: BaseException, package: str) -> bool:
    return any(cls.__module__.split(".")[0] == package for cls in type(exc).__mro__)


def run_with_error_boundary(
    invoke: Callable[[], Any], *, debug: bool, resumable: Callable[[], bool], args: Sequence[str] = ()
) -> int:
    """Call ``invoke`` (the click application) and turn whatever escapes it into an exit status."""
    with _ctrl_c_watch() as interrupted:
        return _run(invoke, debug=debug, resumable=resumable, interrupted=interrupted, args=args)


def _run(
    invoke: Callable[[], Any],
    *,
    debug: bool,
    resumable: Callable[[], bool],
    interrupted: threading.Event,
    args: Sequence[str],
) -> int:
    try:
        result = invoke()
    except typer.Exit as exc:
        if interrupted.is_set():
            _echo(_interrupted(resumable))
        return exc.exit_code
    except NoArgsIsHelpError as exc:
        exc.show()  # a bare group: its help, as click does
        return exc.exit_code
    except UsageError as exc:
        show_usage_error(exc, args)
        return exc.exit_code
    except ClickException as exc:
        _echo(f"error: {exc.format_message()}")
        return exc.exit_code
    except (typer.Abort, KeyboardInterrupt):
        _echo(_interrupted(resumable))
        return EXIT_INTERRUPTED
    except Exception as exc:
        if debug:
            raise
        message, hint = describe_exception(exc)
        _echo(f"error: {message}")
        if hint:
            _echo(f"hint: {hint}")
        return EXIT_PROBLEM
    if interrupted.is_set():  # typer turns Ctrl-C into a silent exit status 130
        _echo(_interrupted(resumable))
        return EXIT_INTERRUPTED
    return result if isinstance(result, int) else 0


@contextmanager
def _ctrl_c_watch() -> Iterator[threading.Event]:
    """Note a Ctrl-C on its way to becoming KeyboardInterrupt, which typer swallows into exit status 130.
    Commands with their own SIGINT handling (ingest's graceful stop) replace this while they run."""
    seen = threading.Event()
    previous = signal.getsignal(signal.SIGINT)
    if (
        threading.current_thread() is not threading.main_thread()
        or previous is not signal.default_int_handler
    ):
        yield seen  # ignored (a background job) or handled by an embedding program: leave it
        return

    def on_ctrl_c(signum: int, frame: Any) -> None:
        seen.set()
        signal.default_int_handler(signum, frame)

    signal.signal(signal.SIGINT, on_ctrl_c)
    try:
        yield seen
    finally:
        signal.signal(signal.SIGINT, previous)


def _interrupted(resumable: Callable[[], bool]) -> str:
    return "interrupted: run again with --resume" if resumable() else "interrupted"


def describe_exception(exc: Exception) -> tuple[str, str | None]:
    """(message, hint) for anything a command raised."""
    if isinstance(exc, AcademyError):
        return exc.message, exc.hint
    if isinstance(exc, UnicodeDecodeError):
        return (
            f"a file is not UTF-8 text (byte {exc.start}: {exc.reason})",
            "check that the file given is the right one and is text, not binary data",
        )
    if isinstance(exc, OSError):
        return describe_os_error(exc)
    if _is_from(exc, "sqlalchemy"):
        return describe_database_error(exc)
    if _is_from(exc, "pydantic_core") or _is_from(exc, "pydantic"):
        return describe_validation_error(exc), None
    if isinstance(exc, OverflowError | RecursionError | MemoryError):
        return f"{type(exc).__name__}: {_one_line(exc)}", "a value is too large; check the numbers given"
    return (
        f"unexpected {type(exc).__name__}: {_one_line(exc)}",
        "this is a bug; run again with --debug for the traceback and report it",
    )


def invoked_command(root: Any, args: list[str]) -> Any:
    """The click command that ``args`` name (the deepest group or command reached), without running it."""
    command = root
    for token in args:
        if token.startswith("-"):
            continue
        sub = getattr(command, "commands", {}).get(token)
        if sub is None:
            if hasattr(command, "commands"):
                continue  # an option's value on a group
            break
        command = sub
    return command


def accepts_option(command: Any, name: str) -> bool:
    return any(name in getattr(param, "opts", ()) for param in getattr(command, "params", ()))


def debug_requested(args: list[str]) -> bool:
    import os

    return "--debug" in args or os.environ.get("ACADEMY_DEBUG") == "1"


def usage_error(ctx: typer.Context | None, message: str) -> UsageError:
    """A usage error for ``raise``: exit 2, the command's usage line and one ``error:`` line.

    For option combinations click cannot express (exactly one of two options, not both)."""
    return UsageError(message, ctx=ctx)
