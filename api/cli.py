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


def serve(
    host: Annotated[
        str, typer.Option(help="Address to listen on (loopback by default).")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port.")] = 8000,
    demo_incidents: Annotated[
        int, typer.Option(help="SYNTHETIC incidents to put in an empty store (0: none).")
    ] = 20_000,
) -> None:
    """Run the service on loopback with the data built and demo incidents in place.

    Builds the boundary data if missing, loads the clusters, fills an empty store with
    SYNTHETIC demo incidents, prints the URLs and a one-time admin key.
    """
    import secrets
    from datetime import datetime

    import uvicorn

    from api.app import create_app
    from geozone.build import build_set
    from geozone.context import load_context
    from geozone.incidents import VIETNAM_TZ
    from geozone.manifest import load_manifest
    from geozone.pipeline import assign_stale
    from geozone.store import IncidentQuery
    from geozone.synthetic import generate_incidents

    settings = get_settings()
    for entry in load_manifest(settings.manifest_path).sets.values():
        build_set(
            entry,
            settings.data_dir,
            settings.boundary_cache,
            display_simplify_deg=settings.display_simplify_deg,
        )
    context = load_context(settings)
    api_store, store = _api_store(None)
    try:
        if demo_incidents and store.count(IncidentQuery()) == 0:
            current = context.current
            carried = [t.cluster for t in context.territories if t.bset.id == current.id]
            demo = generate_incidents(
                demo_incidents,
                0,
                boundaries=current,
                clusters=carried,
                start=datetime(2025, 7, 1, tzinfo=VIETNAM_TZ),
                end=datetime.now(VIETNAM_TZ),
            )
            store.add_incidents(demo)
            assign_stale(store, context)
            typer.echo(f"stored {len(demo):,} SYNTHETIC demo incidents (labelled synthetic)")
        key = api_store.create_key(f"admin-{secrets.token_hex(3)}", "admin")
    finally:
        store.close()
    base = f"http://{host}:{port}"
    typer.echo(f"geozone is at {base}  (API docs: {base}/docs)")
    typer.echo(f"T11 cluster map: {base}/maps/clusters/hoa-do-phuc-vi-vn2025")
    typer.echo(f"one-time admin key (shown only now): {key}")
    uvicorn.run(create_app(settings, context=context), host=host, port=port, log_level="info")


def main() -> None:
    """Run the ``geozone`` command: the core commands plus ``serve`` and ``users``."""
    from geozone.cli import app
    from geozone.cli import main as run

    app.add_typer(users_app, name="users")
    app.command("serve")(serve)
    run()
