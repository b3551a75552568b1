"""Shared pieces of the CLI: the root app, console, common options and helpers."""

from __future__ import annotations

import json
import sys
from datetime import date
from typing import Annotated, Any

import typer
from rich.console import Console

from geozone import vntime
from geozone.boundaries.sets import BoundarySet
from geozone.cli._contributed import CommandGroup

app = typer.Typer(
    cls=CommandGroup,
    help="Border-zone analysis for Vietnamese police coordination clusters.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
console = Console(soft_wrap=True)
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")]
SetOption = Annotated[
    str | None, typer.Option("--set", help="Boundary set id (default: the set in force on --date).")
]
DateOption = Annotated[
    str | None,
    typer.Option("--date", help="Date YYYY-MM-DD picking the set in force (default today)."),
]


def print_json(data: Any) -> None:
    """Write ``data`` as indented UTF-8 JSON on standard output."""
    sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2, default=str) + "\n")


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
