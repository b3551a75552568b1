"""The web-facing commands: ``geozone serve``, ``geozone users`` and ``geozone map``.

They join the core's ``geozone`` app (:mod:`geozone.cli`) through the ``geozone.commands``
entry points in pyproject.toml, which import this module only when one of them is used.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from api.auth_store import ROLES, KeyStore, printable
from geozone.labels import SYNTHETIC_NOTE
from geozone.settings import get_settings
from geozone.store import IncidentStore, open_store
from geozone.store.planner import PlannerStore

if TYPE_CHECKING:
    from geozone.context import Context

users_app = typer.Typer(help="API keys: add, list, revoke.", no_args_is_help=True)
map_app = typer.Typer(
    help="Maps as standalone HTML files (Leaflet embedded: they open offline from disk).",
    no_args_is_help=True,
)


@map_app.callback()
def map_group() -> None:
    """Write maps as standalone HTML files (Leaflet embedded: they open offline from disk)."""


StoreOption = Annotated[
    str | None, typer.Option("--store", help="Store URL (default: GEOZONE_STORE_URL).")
]


def _api_store(url: str | None) -> tuple[KeyStore, IncidentStore]:
    store = open_store(url or get_settings().store_url)
    return KeyStore(store.engine), store


@users_app.command("add")
def add(
    name: Annotated[str, typer.Argument(help="Who the key is for.")],
    role: Annotated[str, typer.Option("--role", help=f"One of {', '.join(ROLES)}.")],
    scope: Annotated[
        list[str] | None,
        typer.Option(
            "--scope",
            help="unit:CODE, cluster:ID or province:CODE (repeatable): the key reads only "
            "these (a legacy unit also covers its successors); none: the whole country.",
        ),
    ] = None,
    store_url: StoreOption = None,
) -> None:
    """Create an API key and print it once (only its SHA-256 is stored)."""
    api_store, store = _api_store(store_url)
    try:
        key = api_store.create_key(name, role, scope or ())
    finally:
        store.close()
    typer.echo(key)
    limited = f", limited to {', '.join(scope)}" if scope else ""
    typer.echo(f"key for {name} ({role}{limited}); it is shown only now", err=True)


@users_app.command("list")
def list_keys(store_url: StoreOption = None) -> None:
    """List the keys: name, role, created, revoked, scopes ("-": the whole country)."""
    api_store, store = _api_store(store_url)
    try:
        rows = api_store.list_keys()
    finally:
        store.close()
    for row in rows:
        revoked = row["revoked_at"].isoformat() if row["revoked_at"] else "-"
        name = printable(row["name"])  # a name stored by an older version may hold a newline
        scopes = ",".join(row["scopes"]) or "-"
        created = row["created_at"].isoformat()
        typer.echo(f"{name}\t{row['role']}\t{created}\t{revoked}\t{scopes}")


@users_app.command("revoke")
def revoke(name: str, store_url: StoreOption = None) -> None:
    """Revoke the key named NAME."""
    api_store, store = _api_store(store_url)
    try:
        api_store.revoke_key(name)
    finally:
        store.close()
    typer.echo(f"revoked {name}")


def _with_defined_clusters(context: Context, store: IncidentStore) -> Context:
    """Return the context plus the clusters planners defined through the API (stored)."""
    from geozone.clusters.registry import ClusterRegistry

    registry = ClusterRegistry(context, PlannerStore(store.engine))
    for problem in registry.problems:
        typer.echo(f"warning: {problem}", err=True)
    return registry.context


def _first_admin_key(api_store: KeyStore) -> tuple[str, str] | None:
    """Create an admin key when the store has none that works; return (name, key) or None."""
    if api_store.active_admins():
        return None
    taken = {row["name"] for row in api_store.list_keys()}
    name = next(n for n in ("admin", *(f"admin-{i}" for i in range(2, 10_000))) if n not in taken)
    return name, api_store.create_key(name, "admin")


def _t11_cluster(context: Context) -> str:
    """Return the id of the T11 (Hoa–Đô–Phúc–Vị) cluster as drawn on the current units."""
    current = context.current.id
    for territory in context.territories:
        cluster = territory.cluster
        if territory.bset.id == current and "hoa-do-phuc-vi" in (cluster.id, cluster.carried_from):
            return cluster.id
    return "hoa-do-phuc-vi-vn2025"


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

    Builds the boundary data if missing, loads the clusters (the five committed ones and any a
    planner defined through the API), fills an empty store with SYNTHETIC demo incidents
    (labelled "DỮ LIỆU MÔ PHỎNG / SYNTHETIC" wherever they are shown) and prints the URL of
    the T11 cluster map. Only when the store holds no admin key that is not revoked (the
    first start) does it create one, named ``admin``, and print it once to the terminal
    (stderr, kept out of stdout logs); later starts print none and create none. Make keys
    with ``geozone users add NAME --role ROLE``.

    To see incidents on the map in a browser: open the printed map URL; boundaries, border
    zones, junctions and the T11 hotspot show at once, and the "Vụ việc / Incidents" box asks
    for a key. Paste the printed admin key there (any key of the analyst role or higher
    works; make one with ``geozone users add NAME --role analyst``). The page keeps the key
    for that browser tab only (``sessionStorage``, never a cookie or the URL), fetches the
    incidents with it, and the planner page of the same tab uses it to save patrol zones.
    """
    from datetime import datetime

    import uvicorn

    from api.app import create_app
    from api.settings import get_api_settings
    from geozone.boundaries.build import build_set
    from geozone.boundaries.manifest import load_manifest
    from geozone.context import judging_context
    from geozone.incidents.pipeline import assign_stale
    from geozone.incidents.synthetic import generate_incidents
    from geozone.store import IncidentQuery
    from geozone.vntime import VIETNAM_TZ

    settings = get_api_settings()
    for entry in load_manifest(settings.manifest_path).sets.values():
        build_set(
            entry,
            settings.data_dir,
            settings.boundary_cache,
            display_simplify_deg=settings.display_simplify_deg,
        )
    context = judging_context(settings)
    api_store, store = _api_store(None)
    try:
        judged = _with_defined_clusters(context, store)
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
            typer.echo(f"stored {len(demo):,} SYNTHETIC demo incidents (labelled synthetic)")
        assigned = assign_stale(store, judged)
        if assigned:
            typer.echo(f"assigned {assigned:,} incidents to their units and clusters")
        key = _first_admin_key(api_store)
    finally:
        store.close()
    base = f"http://{host}:{port}"
    t11 = _t11_cluster(context)
    typer.echo(f"geozone is at {base}  (API docs: {base}/docs)")
    typer.echo(f"T11 cluster map: {base}/maps/clusters/{t11}")
    typer.echo(f"patrol planner:  {base}/maps/planner/{t11}")
    if key is not None:
        typer.echo(f"first admin key, {key[0]!r} (shown only now, keep it): {key[1]}", err=True)
        typer.echo(
            "to see incidents on the map, paste a key into its 'Vụ việc / Incidents' box (kept "
            "for that browser tab only); API clients send it as the X-API-Key header; make "
            "more keys with: geozone users add NAME --role analyst|planner|admin",
            err=True,
        )
    else:
        typer.echo("keys: use an existing one, or make one with geozone users add NAME --role ROLE")
    uvicorn.run(create_app(settings, context=context), host=host, port=port, log_level="info")


@map_app.command("cluster")
def map_cluster(
    cluster_id: Annotated[
        str, typer.Argument(help="Cluster id, e.g. hoa-do-phuc-vi or hoa-do-phuc-vi-vn2025.")
    ],
    output: Annotated[
        Path | None,
        typer.Option("-o", "--output", help="The HTML file to write (default: ID.html)."),
    ] = None,
    on: Annotated[
        str | None,
        typer.Option(
            "--date",
            help="YYYY-MM-DD: draw the cluster on the units in force that day, with its "
            "members of that day (default today).",
        ),
    ] = None,
    with_incidents: Annotated[
        bool,
        typer.Option(
            "--with-incidents",
            help="Draw the cluster's newest stored incidents with their stored decisions.",
        ),
    ] = False,
    limit: Annotated[
        int, typer.Option(min=1, max=50_000, help="Most incidents drawn (the newest).")
    ] = 20_000,
    store_url: StoreOption = None,
) -> None:
    """Write the map of a cluster as one standalone HTML file (opens offline, no server).

    Members, shared boundaries, border zones, junctions, named hotspots, the legend and the
    boundary data's attribution; with ``--with-incidents`` also the stored incidents
    (clustered markers whose popups explain the lead unit, and a heat layer). Synthetic
    incidents are labelled "DỮ LIỆU MÔ PHỎNG / SYNTHETIC" on the map and in each popup.
    Leaflet and its plugins are embedded, so the file needs no network. With
    ``GEOZONE_BASEMAP`` the archive's tiles over the cluster are embedded too (inline: a file
    opened from disk cannot read one beside it), up to 30 MB, the deepest zooms left out
    beyond; without it the map has no basemap, as before.
    """
    from geozone.cli._common import parse_date
    from geozone.context import judging_context
    from maps import cluster_layers, cluster_on, map_of_layers, stored_incidents, to_html
    from maps.analytics_layers import cluster_analytics
    from maps.basemap import standalone_basemap
    from maps.settings import get_map_settings

    day: date = parse_date(on)
    settings = get_map_settings()
    context = judging_context(settings)
    known = {t.cluster.id for t in context.territories} | set(context.clusters)
    store: IncidentStore | None = None
    try:
        if with_incidents or store_url or cluster_id not in known:
            store = open_store(store_url or settings.store_url, settings=settings)
            context = _with_defined_clusters(context, store)
        territory, cluster = cluster_on(context, cluster_id, day)
        layers = cluster_layers(
            cluster, territory.bset, zones=territory.zones, attribution=territory.attribution
        )
        found = (
            stored_incidents(store, territory.cluster.id, limit=limit, territory=territory)
            if with_incidents and store is not None
            else None
        )
        analytics = (
            cluster_analytics(store, context, territory.cluster.id)
            if with_incidents and store is not None
            else None
        )
    finally:
        if store is not None:
            store.close()
    title = layers.title if on is None else f"{layers.title} — {day.isoformat()}"
    page = map_of_layers(
        layers,
        title=title,
        incidents=found.layer if found is not None else None,
        inline_assets=True,
        analytics=analytics,
        # GEOZONE_BASEMAP: its tiles over the cluster go inside the file (maps.basemap)
        basemap=standalone_basemap(settings.basemap, layers.units, settings.tiles_attribution),
        tiles=settings.tiles_url,
        tiles_attribution=settings.tiles_attribution,
    )
    path = output or Path(f"{territory.cluster.id}.html")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(to_html(page, inline_assets=True), encoding="utf-8")
    what = (
        f"{territory.cluster.id} on {territory.bset.id} ({len(cluster.members)} members on {day})"
    )
    if found is not None:
        synthetic = found.layer is not None and bool(found.layer["synthetic"].any())
        what += f", {found.returned:,} of {found.total:,} stored incidents"
        what += f" ({SYNTHETIC_NOTE})" if synthetic else ""
    typer.echo(f"wrote {path}: {what}")
