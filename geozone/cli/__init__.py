"""The ``geozone`` command line: one Typer app, :data:`app`, run by :func:`main`.

Every command takes ``--json`` for machine-readable output on stdout (messages and progress
go to stderr); long work shows a counted progress bar with an ETA; the incident commands take
``-`` for standard input and output (:mod:`geozone.cli._io`). geozone's own errors end the
command with a one-line message and exit code 2. The commands that need the web service or
the maps (``serve``, ``report``, ``users``, ``map``) are contributed from ``api/`` through the
``geozone.commands`` entry points and imported only when used (:mod:`geozone.cli._contributed`).
"""

from __future__ import annotations

from typing import NoReturn

from rich.console import Console

import geozone.cli._address  # registers the address command
import geozone.cli._boundaries  # noqa: F401  (registers the boundary commands)
from geozone.cli._clusters import clusters_app
from geozone.cli._common import app
from geozone.cli._contributed import missing_extra, missing_extra_message
from geozone.cli._db import db_app
from geozone.cli._incidents import incidents_app
from geozone.cli._patrol import patrol_app
from geozone.errors import GeozoneError

app.add_typer(clusters_app, name="clusters")
app.add_typer(incidents_app, name="incidents")
app.add_typer(patrol_app, name="patrol")
app.add_typer(db_app, name="db")

__all__ = ["app", "main"]


def main() -> None:
    """Run the CLI, turning geozone's own errors into a clear message and exit code 2.

    A command that needs a library of an extra that is not installed (``geozone serve``
    without ``geozone[api]``) says which extra to install, and also exits with code 2; so
    does a store that cannot be reached or whose role lacks a right, in one line naming it
    (:func:`geozone.store._engine.describe_store_error`).
    """
    try:
        app()
    except GeozoneError as exc:
        _fail(str(exc))
    except ModuleNotFoundError as exc:
        extra = missing_extra(exc)
        if extra is None:
            raise
        _fail(missing_extra_message(exc, extra), markup=False)  # "[api]" is no markup
    except Exception as exc:  # a database driver's error: one line naming the problem
        line = _store_problem(exc)
        if line is None:
            raise
        _fail(line, markup=False)


def _store_problem(exc: Exception) -> str | None:
    """Return one line naming a store connection or permission problem, or None."""
    if not type(exc).__module__.startswith("sqlalchemy"):
        return None
    from geozone.store._engine import describe_store_error

    return describe_store_error(exc, None)


def _fail(message: str, *, markup: bool = True) -> NoReturn:
    console = Console(stderr=True, soft_wrap=True)
    console.print(f"error: {message}", style="red", highlight=False, markup=markup)
    raise SystemExit(2) from None
