"""``geozone users``: manage API keys (the lead registers :data:`users_app` in the CLI)."""

from __future__ import annotations

from typing import Annotated

import typer

from geozone.settings import get_settings
from geozone.store import IncidentStore, open_store
from geozone.store.api_tables import ROLES, ApiStore

users_app = typer.Typer(help="API keys: add, list, revoke.", no_args_is_help=True)

StoreOption = Annotated[
    str | None, typer.Option("--store", help="Store URL (default: GEOZONE_STORE_URL).")
]


def _api_store(url: str | None) -> tuple[ApiStore, IncidentStore]:
    store = open_store(url or get_settings().store_url)
    return ApiStore(store.engine), store  # type: ignore[attr-defined]


@users_app.command("add")
def add(
    name: Annotated[str, typer.Argument(help="Who the key is for.")],
    role: Annotated[str, typer.Option("--role", help=f"One of {', '.join(ROLES)}.")],
    store_url: StoreOption = None,
) -> None:
    """Create an API key and print it once (only its SHA-256 is stored)."""
    api_store, store = _api_store(store_url)
    try:
        key = api_store.create_key(name, role)
    finally:
        store.close()
    typer.echo(key)
    typer.echo(f"key for {name} ({role}); it is shown only now", err=True)


@users_app.command("list")
def list_keys(store_url: StoreOption = None) -> None:
    """List the keys: name, role, created, revoked."""
    api_store, store = _api_store(store_url)
    try:
        rows = api_store.list_keys()
    finally:
        store.close()
    for row in rows:
        revoked = row["revoked_at"].isoformat() if row["revoked_at"] else "-"
        typer.echo(f"{row['name']}\t{row['role']}\t{row['created_at'].isoformat()}\t{revoked}")


@users_app.command("revoke")
def revoke(name: str, store_url: StoreOption = None) -> None:
    """Revoke the key named NAME."""
    api_store, store = _api_store(store_url)
    try:
        api_store.revoke_key(name)
    finally:
        store.close()
    typer.echo(f"revoked {name}")
