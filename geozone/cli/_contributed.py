"""Commands of the ``geozone`` app that live outside the core: the ``geozone.commands`` group.

The core never imports the web service or the maps (``lint-imports`` checks it). The
commands that need them are declared in ``pyproject.toml``::

    [project.entry-points."geozone.commands"]
    api = "api.commands:COMMANDS"

Each entry point names a mapping of command name → Typer app (a command group) or function
(one command), in the order ``geozone --help`` lists them after the core's commands (plain
commands before groups, as Typer orders them). :class:`CommandGroup`, the class of the root
app, imports them only when a name that is not a core command is asked for, or when the
commands are listed (``--help``, completion), so ``geozone locate`` starts without them. The
modules named must import cheaply, with no web or map library at their top: those are
imported by the commands when they run.

A command whose library is not installed (a core-only install, ``pip install geozone``)
ends with a message naming the extra to install, e.g. ``pip install 'geozone[api]'`` (see
:func:`missing_extra`).

Run from a checkout, geozone reads its own entry points and extras from the checkout's
``pyproject.toml``, not from installed metadata that may come from an older checkout.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from functools import cache
from importlib.metadata import EntryPoint, PackageNotFoundError, entry_points, requires
from typing import TYPE_CHECKING, Any

import typer
from typer.core import TyperGroup

from geozone.resources import source_checkout

if TYPE_CHECKING:
    from typer._click import Command, Context

#: The entry-point group of the contributed commands.
GROUP = "geozone.commands"
#: The distribution geozone is installed as.
DISTRIBUTION = "geozone"
# A requirement's name, and the extra of a Requires-Dist line (``fastapi>=0.115; extra == "api"``).
_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")
_EXTRA = re.compile(r""";.*\bextra\s*==\s*['"]([^'"]+)['"]""")


@cache
def _checkout_project() -> dict[str, Any] | None:
    """Return the ``[project]`` table of the checkout's pyproject.toml (None when installed)."""
    checkout = source_checkout()
    if checkout is None:
        return None
    import tomllib  # here: only a contributed command or a missing library reads it

    with (checkout / "pyproject.toml").open("rb") as file:
        project: dict[str, Any] = tomllib.load(file).get("project", {})
    return project


def contributed_entry_points() -> list[EntryPoint]:
    """Return the entry points of the ``geozone.commands`` group: geozone's own first."""
    installed = list(entry_points(group=GROUP))
    project = _checkout_project()
    if project is None:
        return sorted(installed, key=lambda entry: _distribution(entry) != DISTRIBUTION)
    own = project.get("entry-points", {}).get(GROUP, {})
    others = [entry for entry in installed if _distribution(entry) != DISTRIBUTION]
    return [EntryPoint(name, value, GROUP) for name, value in own.items()] + others


def _distribution(entry: EntryPoint) -> str | None:
    return entry.dist.name if entry.dist is not None else None


def load_commands() -> dict[str, Command]:
    """Import the contributed commands; return them as click commands, in order."""
    commands: dict[str, Command] = {}
    for entry in contributed_entry_points():
        table: Mapping[str, typer.Typer | Callable[..., Any]] = entry.load()
        for name, target in table.items():
            commands.setdefault(name, _command(name, target))
    return commands


def _command(name: str, target: typer.Typer | Callable[..., Any]) -> Command:
    """Return the click command of a Typer app (a group) or of a function (one command)."""
    if isinstance(target, typer.Typer):
        command: Command = typer.main.get_group(target)
    else:
        single = typer.Typer(add_completion=False)
        single.command(name)(target)
        command = typer.main.get_command(single)
    command.name = name
    return command


def missing_extra(error: ModuleNotFoundError) -> str | None:
    """Return the extra of geozone that installs the module ``error`` names, if any."""
    module = (error.name or "").partition(".")[0].lower()
    for requirement, extra in _extra_requirements():
        found = _NAME.match(requirement)
        if found and re.sub(r"[-.]", "_", found[1].lower()) == module:
            return extra
    return None


def _extra_requirements() -> list[tuple[str, str]]:
    """Return (requirement, extra) for every requirement of an extra of geozone."""
    project = _checkout_project()
    if project is not None:
        extras: dict[str, list[str]] = project.get("optional-dependencies", {})
        return [(line, extra) for extra, lines in extras.items() for line in lines]
    try:
        lines = requires(DISTRIBUTION) or []
    except PackageNotFoundError:
        return []
    marked = ((line, _EXTRA.search(line)) for line in lines)
    return [(line, found[1]) for line, found in marked if found is not None]


def missing_extra_message(error: ModuleNotFoundError, extra: str) -> str:
    """Return the one-line message for a command whose optional library is missing."""
    return (
        f"{error.name} is not installed; this command needs geozone's {extra!r} extra: "
        f"pip install 'geozone[{extra}]'"
    )


class CommandGroup(TyperGroup):
    """The root group: the core's commands, then the contributed ones, imported on demand."""

    _loaded = False

    def _load(self) -> None:
        if not self._loaded:
            self._loaded = True
            for name, command in load_commands().items():
                self.commands.setdefault(name, command)

    def get_command(self, ctx: Context, cmd_name: str) -> Command | None:
        """Return the command ``cmd_name``, importing the contributed ones when it is none."""
        if cmd_name not in self.commands:
            self._load()
        return super().get_command(ctx, cmd_name)

    def list_commands(self, ctx: Context) -> list[str]:
        """Return every command name: the core's and the contributed ones, groups last."""
        self._load()
        names = super().list_commands(ctx)
        return sorted(names, key=lambda name: isinstance(self.commands[name], TyperGroup))
