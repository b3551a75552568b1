"""``geozone db``: set up the store's database (PostGIS and the schema).

``geozone db init`` connects with the store URL (``--store`` or ``GEOZONE_STORE_URL``),
enables PostGIS when it is missing (PostgreSQL), runs the schema's migrations, and says
what it found and did; ``--json`` prints the same as one JSON object. Run it once after the
DBA made the database and role (``deploy/postgis-roles.sql``), and after each upgrade,
before the service starts. A connection or permission problem ends it with one line naming
the problem and exit code 2 (see :func:`geozone.store._engine.describe_store_error`).
"""

from __future__ import annotations

from typing import Annotated

import typer

from geozone.cli._common import JsonOption, print_json
from geozone.settings import get_settings

db_app = typer.Typer(
    help="The store's database: create or check PostGIS and the schema.", no_args_is_help=True
)


@db_app.command("init")
def db_init(
    store_url: Annotated[
        str | None, typer.Option("--store", help="Store URL (default: GEOZONE_STORE_URL).")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Create or check PostGIS and the store's schema, and say what was done.

    Safe to run again: an up-to-date store is only checked. The role needs the right to
    create tables in its schema; enabling PostGIS needs a superuser, so a least-privilege
    role finds it enabled by the DBA (``deploy/postgis-roles.sql``).
    """
    from geozone.store._engine import init_store

    settings = get_settings()
    done = init_store(store_url or settings.store_url, busy_timeout_s=settings.store_busy_timeout_s)
    if as_json:
        print_json(done.as_dict())
        return
    for line in done.summary():
        typer.echo(line)
