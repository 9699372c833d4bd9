"""The registry through which stages contribute to each other: pluggy hooks, in the style of datasette's
``register_commands`` / ``register_routes``.

A stage never edits another stage's commands, and a lower stage never imports a higher one. Instead:

- every stage adds its commands with ``register_commands`` (into its own groups, or into a group another stage
  declares, such as ``case`` or ``checkpoints``);
- a stage that owns a command exposes *extension points* (``command_options``, ``session_ended``,
  ``session_sections``, ``case_sections``, ``therapist_add_check``, ``therapist_added``) and a higher stage
  implements them (the loop adds MITI feedback and ``--refine`` to ``session end``; the web stage adds
  ``--email`` to ``therapist add``);
- the web stage builds its app from ``register_routes``.

Light on purpose: this module loads on every CLI start (pluggy only; the stage modules it names are imported
when the plugin manager is first asked for, and they keep their own heavy imports inside functions).
"""

from __future__ import annotations

import importlib
import inspect
from dataclasses import dataclass, field
from functools import cache
from typing import TYPE_CHECKING, Any

import pluggy

from jedi_academy.errors import ConfigError

if TYPE_CHECKING:
    from jedi_academy.cli_kit import CommandRegistry

PROJECT = "jedi_academy"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)

# The modules that implement hooks. `academy --help` lists commands in this order, and hooks run in it (each
# extension after the stage it extends). Adding a stage means adding its modules here (docs/contributing.md).
PLUGINS: tuple[str, ...] = (
    "jedi_academy.instruments.cli",
    "jedi_academy.specializations.cli",
    "jedi_academy.pipeline.cli",
    "jedi_academy.reddit.cli",
    "jedi_academy.personas.cli",
    "jedi_academy.conversations.cli",
    "jedi_academy.datasets.cli",
    "jedi_academy.finetune.cli",
    "jedi_academy.serving.cli",
    "jedi_academy.assessment.cli",
    "jedi_academy.feedback.cli",
    "jedi_academy.sessions.cli",
    "jedi_academy.web.cli",
    "jedi_academy.loop.cli",
    "jedi_academy.loop.hooks",
    "jedi_academy.portfolio.cli",
    "jedi_academy.erasure.cli",
)

# The web app's route modules: they import FastAPI and friends, so they join the plugin manager only when an
# app is built (``route_hook``), never on a CLI start.
ROUTE_PLUGINS: tuple[str, ...] = (
    "jedi_academy.web.routes.accounts",
    "jedi_academy.web.routes.cases",
    "jedi_academy.web.routes.sessions",
    "jedi_academy.web.routes.portfolio",
    "jedi_academy.web.routes.jobs",
)


@dataclass
class Section:
    """What an extension adds to a command's result: ``fields`` join its ``--json`` object, ``lines`` are
    printed after the owner's own text."""

    fields: dict[str, Any] = field(default_factory=dict)
    lines: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class ExtraOption:
    """A command-line option a stage adds to another stage's command: ``annotation`` is the
    ``Annotated[type, typer.Option(...)]`` the option would have in the command's own signature."""

    name: str
    annotation: Any
    default: Any

    def parameter(self) -> inspect.Parameter:
        return inspect.Parameter(
            self.name, inspect.Parameter.KEYWORD_ONLY, default=self.default, annotation=self.annotation
        )


class Specs:
    """The hook specifications (each stage implements the ones it needs with ``@hookimpl``)."""

    @hookspec
    def register_commands(self, commands: CommandRegistry) -> None:
        """Add this stage's commands and groups (``commands.command``, ``commands.group``)."""

    @hookspec
    def register_routes(self, routes: Any) -> None:
        """Add routes to the web app (``create_app`` calls it with ``web.app.Routes``: the app and the
        plumbing its routes share)."""

    @hookspec
    def command_options(self, command: str) -> list[ExtraOption] | None:
        """Options this stage adds to another stage's command, named by its path (``"session end"``)."""

    @hookspec
    def session_ended(
        self, settings: Any, database: Any, pool: Any, record: Any, options: dict[str, Any], progress: Any
    ) -> Section | None:
        """Runs once a session has ended (CLI ``session end|replay``, the interactive ``/end``, the web app);
        ``record`` is the session (``sessions.views.SessionView``), ``options`` holds the values of the
        options this stage added (absent ones take their defaults)."""

    @hookspec
    def session_sections(self, database: Any, record: Any) -> Section | None:
        """What this stage shows about a session (``sessions.views.SessionView``) in ``session show`` and
        after ``session end``."""

    @hookspec(firstresult=True)
    def turn_codes(self, database: Any, session_id: str) -> dict[int, Any] | None:
        """Codes per turn index to print beside a transcript (the loop: the stored MITI codes), or None."""

    @hookspec
    def case_sections(self, settings: Any, database: Any, case: Any) -> Section | None:
        """What this stage shows about a case (``sessions.views.CaseDetail``) in ``case show`` (the loop: the
        trajectory)."""

    @hookspec
    def therapist_add_check(self, database: Any, options: dict[str, Any]) -> None:
        """Refuse ``therapist add`` (raise an AcademyError) before anything is written."""

    @hookspec
    def therapist_added(
        self, settings: Any, database: Any, therapist: Any, options: dict[str, Any]
    ) -> Section | None:
        """Runs after ``therapist add`` wrote the therapist (``sessions.views.TherapistView``)."""


@cache
def plugin_manager() -> pluggy.PluginManager:
    """The one plugin manager, with every module of ``PLUGINS``. A module that cannot be imported is a broken
    installation: start-up fails with one line naming it, rather than running without the stage."""
    manager = pluggy.PluginManager(PROJECT)
    manager.add_hookspecs(Specs)
    _register(manager, PLUGINS)
    return manager


def _register(manager: pluggy.PluginManager, names: tuple[str, ...]) -> None:
    # pluggy calls implementations last-registered first: register in reverse to run them in list order
    for name in reversed(names):
        if manager.has_plugin(name):
            continue
        try:
            module = importlib.import_module(name)
        except ImportError as exc:
            raise ConfigError(
                f"the stage module {name} cannot be loaded: {exc}",
                "the installation is incomplete; reinstall the package (make install)",
            ) from exc
        manager.register(module, name=name)


def hook() -> Any:
    return plugin_manager().hook


def route_hook() -> Any:
    """The hooks with the web app's route modules registered too (``create_app`` calls ``register_routes``
    through it)."""
    manager = plugin_manager()
    _register(manager, ROUTE_PLUGINS)
    return manager.hook


def extra_options(command: str) -> list[ExtraOption]:
    """Every option the stages add to ``command``; two stages adding one name is an error at start-up."""
    options: list[ExtraOption] = []
    for contributed in hook().command_options(command=command):
        options.extend(contributed or [])
    names = [option.name for option in options]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise ConfigError(f"two stages add the option {duplicates[0]} to `academy {command}`")
    return options


def option_defaults(command: str) -> dict[str, Any]:
    """The extension options of ``command`` at their defaults (for callers that are not the CLI: the web app,
    the interactive ``/end``)."""
    return {option.name: option.default for option in extra_options(command)}
