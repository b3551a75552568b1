"""Shared pieces of the CLI: the root app, consoles, common options and helpers.

Results go to standard output (:data:`console`, :func:`print_json`); progress, status and
warnings go to standard error (:data:`err_console`), so ``--json`` output and ``-o -`` data
can be piped. Piped, the consoles do not cut tables at 80 columns (:func:`piped_width`).
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Collection
from datetime import date
from pathlib import Path
from typing import IO, Annotated, Any

import typer
from rich.console import Console
from typer.core import TyperOption

from geozone import vntime
from geozone.boundaries.sets import BoundarySet
from geozone.cli._contributed import CommandGroup

#: Width of a console that writes to a pipe or a file: wide enough that no table is cut.
PIPED_WIDTH = 1_000


def piped_width(stream: IO[str]) -> int | None:
    """Return the console width for ``stream``: None (the terminal's) on a terminal.

    Rich gives a console that is not a terminal 80 columns, which folds table cells; piped
    output is for other programs and files, so it gets :data:`PIPED_WIDTH` unless
    ``COLUMNS`` says otherwise.
    """
    if os.environ.get("COLUMNS", "").isdigit():
        return None
    try:
        terminal = stream.isatty()
    except ValueError:  # a closed stream
        terminal = False
    return None if terminal else PIPED_WIDTH


def _flag_display_type(self: TyperOption, ctx: Any) -> str | None:
    """Return the type column of an option's help: none for a flag (it takes no value)."""
    if self.is_flag and not self.count:
        return None
    return _typer_display_type(self, ctx)


# Typer 0.29 shows every flag (--json, --force/--no-force, --help) with a "<bool>" type as
# if it took a value; a flag shows none. Set once, for the core's commands and the
# contributed ones alike (they are TyperOptions too).
_typer_display_type = TyperOption.display_type_rich
TyperOption.display_type_rich = _flag_display_type  # type: ignore[method-assign]

app = typer.Typer(
    cls=CommandGroup,
    help="Border-zone analysis for Vietnamese police coordination clusters.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
#: Results (text, tables) on standard output.
console = Console(soft_wrap=True, width=piped_width(sys.stdout))
#: Progress, status lines and warnings on standard error.
err_console = Console(stderr=True, soft_wrap=True, width=piped_width(sys.stderr))
JsonOption = Annotated[
    bool,
    typer.Option(
        "--json", help="Print the result as JSON on stdout (messages and progress: stderr)."
    ),
]
SetOption = Annotated[
    str | None, typer.Option("--set", help="Boundary set id (default: the set in force on --date).")
]
DateOption = Annotated[
    str | None,
    typer.Option("--date", help="Date YYYY-MM-DD picking the set in force (default today)."),
]


def print_json(data: Any) -> None:
    """Write ``data`` as indented UTF-8 JSON on standard output.

    Values are made JSON-ready as the API makes them (:func:`geozone.assignment.points
    .jsonable`): times in ISO 8601 ("2025-08-01T21:00:00+07:00"), NaT, NaN and NA as null.
    """
    from geozone.assignment.points import jsonable

    text = json.dumps(jsonable(data), ensure_ascii=False, indent=2, default=str)
    sys.stdout.write(text + "\n")


def parse_date(text: str | None) -> date:
    """Parse YYYY-MM-DD (today when None), or fail as a bad parameter."""
    if text is None:
        return vntime.today()
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(f"{text!r} is not a date in the form YYYY-MM-DD") from None


def boundary_set(set_id: str | None, day: str | None) -> BoundarySet:
    """Load the set named by ``--set``, else the set in force on ``--date`` (today)."""
    if set_id:
        return BoundarySet.load(set_id)
    return BoundarySet.for_date(parse_date(day))


def check_output(
    path: Path,
    suffixes: Collection[str] = (),
    *,
    option: str = "--output",
    folder: bool = False,
    make_parents: bool = False,
) -> Path:
    """Check, before any work, that ``path`` can be written; return it.

    Parameters
    ----------
    path
        The output file (or folder, with ``folder``).
    suffixes
        The suffixes the command writes (lower case, with the dot); empty: any.
    option
        The option named in the error.
    folder
        The output may be a folder (an existing one is kept: its files are written in it).
    make_parents
        The command creates missing parent folders: the nearest existing one must be
        writable.

    Raises
    ------
    typer.BadParameter
        The suffix is not one of ``suffixes``; the path is a folder (unless ``folder``); its
        folder does not exist (unless ``make_parents``), is not a folder or is not writable;
        the file exists and is not writable.
    """
    if path.is_dir() and not folder:
        raise typer.BadParameter(f"{path} is a folder; give a file name", param_hint=option)
    if suffixes and not (folder and path.is_dir()) and path.suffix.lower() not in suffixes:
        raise typer.BadParameter(
            f"cannot write {path.name!r}: use {', '.join(sorted(suffixes))}", param_hint=option
        )
    parent = path.absolute().parent
    if make_parents:
        while not parent.exists() and parent != parent.parent:
            parent = parent.parent
    if not parent.exists():
        raise typer.BadParameter(f"folder {parent} does not exist", param_hint=option)
    if not parent.is_dir():
        raise typer.BadParameter(f"{parent} is not a folder", param_hint=option)
    if not os.access(parent, os.W_OK | os.X_OK):
        raise typer.BadParameter(f"folder {parent} is not writable", param_hint=option)
    if path.is_file() and not os.access(path, os.W_OK):
        raise typer.BadParameter(f"{path} exists and is not writable", param_hint=option)
    return path
