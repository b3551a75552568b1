"""The commands ``api/`` gives the ``geozone`` app: ``serve``, ``report``, ``users``, ``map``.

Named by the ``geozone.commands`` entry point in pyproject.toml, which the core CLI
(:mod:`geozone.cli`) reads when one of these is run or the commands are listed. Importing
this module stays cheap and needs no web or map library: the commands import FastAPI,
uvicorn and Folium when they run, so a core-only install still lists them and says which
extra to install.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import typer

from api.cli import map_app, serve, users_app
from api.cli_report import report

#: Command name → function (one command) or Typer app (a group), in the order listed.
COMMANDS: dict[str, Callable[..., Any] | typer.Typer] = {
    "serve": serve,
    "report": report,
    "users": users_app,
    "map": map_app,
}
