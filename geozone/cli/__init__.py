"""The ``geozone`` command line.

Every query command takes ``--json`` for machine-readable output; long work shows a
progress bar. geozone's own errors end the command with a one-line message and exit code 2.
"""

from __future__ import annotations

from rich.console import Console

import geozone.cli._address  # registers the address command
import geozone.cli._boundaries  # noqa: F401  (registers the boundary commands)
from geozone.cli._clusters import clusters_app
from geozone.cli._common import app
from geozone.cli._incidents import incidents_app
from geozone.errors import GeozoneError

app.add_typer(clusters_app, name="clusters")
app.add_typer(incidents_app, name="incidents")

__all__ = ["app", "main"]


def main() -> None:
    """Run the CLI, turning geozone's own errors into a clear message and exit code 2."""
    try:
        app()
    except GeozoneError as exc:
        Console(stderr=True, soft_wrap=True).print(f"error: {exc}", style="red", highlight=False)
        raise SystemExit(2) from None
