"""The web-facing commands: ``geozone serve``, ``geozone users`` and ``geozone map``.

They join the core's ``geozone`` app (:mod:`geozone.cli`) through the ``geozone.commands``
entry points in pyproject.toml, which import this module only when one of them is used.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

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
JsonOption = Annotated[
    bool,
    typer.Option(
        "--json", help="Print the result as JSON on stdout (messages and progress: stderr)."
    ),
]


def _print_json(data: object) -> None:
    from geozone.cli._common import print_json

    print_json(data)


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
    as_json: JsonOption = False,
) -> None:
    """Create an API key and print it once (only its SHA-256 is stored)."""
    api_store, store = _api_store(store_url)
    try:
        key = api_store.create_key(name, role, scope or ())
    finally:
        store.close()
    if as_json:
        _print_json({"name": name, "role": role, "scopes": list(scope or ()), "key": key})
    else:
        typer.echo(key)
    limited = f", limited to {', '.join(scope)}" if scope else ""
    typer.echo(f"key for {name} ({role}{limited}); it is shown only now", err=True)


@users_app.command("list")
def list_keys(store_url: StoreOption = None, as_json: JsonOption = False) -> None:
    """List the keys: name, role, created, revoked, scopes ("-": the whole country)."""
    api_store, store = _api_store(store_url)
    try:
        rows = api_store.list_keys()
    finally:
        store.close()
    if as_json:
        _print_json(
            [
                {
                    "name": row["name"],
                    "role": row["role"],
                    "created_at": row["created_at"].isoformat(),
                    "revoked_at": row["revoked_at"].isoformat() if row["revoked_at"] else None,
                    "scopes": list(row["scopes"]),
                }
                for row in rows
            ]
        )
        return
    for row in rows:
        revoked = row["revoked_at"].isoformat() if row["revoked_at"] else "-"
        name = printable(row["name"])  # a name stored by an older version may hold a newline
        scopes = ",".join(row["scopes"]) or "-"
        created = row["created_at"].isoformat()
        typer.echo(f"{name}\t{row['role']}\t{created}\t{revoked}\t{scopes}")


@users_app.command("revoke")
def revoke(name: str, store_url: StoreOption = None, as_json: JsonOption = False) -> None:
    """Revoke the key named NAME."""
    api_store, store = _api_store(store_url)
    try:
        api_store.revoke_key(name)
    finally:
        store.close()
    if as_json:
        _print_json({"revoked": name})
    else:
        typer.echo(f"revoked {name}")


def _with_defined_clusters(
    context: Context, store: IncidentStore, warn: Callable[[str], None] | None = None
) -> Context:
    """Return the context plus the clusters planners defined through the API (stored).

    Each stored cluster that cannot be used is told to ``warn`` (default: a line on stderr).
    """
    from geozone.clusters.registry import ClusterRegistry

    registry = ClusterRegistry(context, PlannerStore(store.engine))
    for problem in registry.problems:
        if warn is None:
            typer.echo(f"warning: {problem}", err=True)
        else:
            warn(str(problem))
    return registry.context


def _reassign_stale(store: IncidentStore, context: Context) -> None:
    """Judge again the stored incidents whose decisions the context has made out of date.

    A map draws stored decisions; one made before a confirmation, a withdrawal or a change
    of rules would be a wrong answer, so those are recomputed first (and said).
    """
    from geozone.incidents.pipeline import assign_stale

    redone = assign_stale(store, context)
    if redone:
        typer.echo(f"reassigned {redone:,} incidents judged under an older context", err=True)


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
        str,
        typer.Option(help="Address to listen on (loopback by default; 0.0.0.0: every one)."),
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port.")] = 8000,
    demo_incidents: Annotated[
        int | None,
        typer.Option(
            help="SYNTHETIC incidents to put in an empty store (default 20,000; 0: none; "
            "refused with --production).",
            show_default=False,
        ),
    ] = None,
    production: Annotated[
        bool,
        typer.Option(
            "--production",
            help="Production: no synthetic data, no admin key minted, JSON logs, the "
            "X-Forwarded-Prefix of the proxy in front trusted.",
        ),
    ] = False,
    workers: Annotated[
        int,
        typer.Option(min=1, max=64, help="Worker processes sharing the store (uvicorn's)."),
    ] = 1,
    root_path: Annotated[
        str | None,
        typer.Option(
            "--root-path",
            help="The sub-path a reverse proxy serves geozone at, e.g. /geozone "
            "(default GEOZONE_ROOT_PATH).",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Run the service: on a workstation with demo data, or in production (``--production``).

    Builds the boundary data if missing, loads the clusters (the five committed ones and any a
    planner defined through the API), assigns incidents not yet assigned, and prints the URL
    of the T11 cluster map.

    Without ``--production`` (a workstation): fills an empty store with SYNTHETIC demo
    incidents (labelled "DỮ LIỆU MÔ PHỎNG / SYNTHETIC" wherever they are shown). Only when the
    store holds no admin key that is not revoked (the first start) does it create one, named
    ``admin``, and print it once to the terminal (stderr, kept out of stdout logs); later
    starts print none and create none. Make keys with ``geozone users add NAME --role ROLE``.

    With ``--production``: no demo data and no key is created (make the first admin key with
    ``geozone users add NAME --role admin``); logs are JSON lines on stderr, one per request
    (``GEOZONE_LOG_FORMAT=json``); the sub-path comes from the proxy's
    ``X-Forwarded-Prefix`` (``GEOZONE_TRUST_FORWARDED_PREFIX``), or ``--root-path``.
    ``--workers N`` starts N processes on the same store (each loads the boundary data).
    A store that cannot be reached ends it at once with one line naming the problem.

    To see incidents on the map in a browser: open the printed map URL; boundaries, border
    zones, junctions and the T11 hotspot show at once, and the "Vụ việc / Incidents" box asks
    for a key. Paste the printed admin key there (any key of the analyst role or higher
    works; make one with ``geozone users add NAME --role analyst``). The page keeps the key
    for that browser tab only (``sessionStorage``, never a cookie or the URL), fetches the
    incidents with it, and the planner page of the same tab uses it to save patrol zones.
    """
    import gc
    import logging.config
    import os
    from datetime import datetime

    import uvicorn

    from api.app import create_app
    from api.logs import LOG_CONFIG
    from api.settings import get_api_settings
    from geozone.boundaries.build import build_set
    from geozone.boundaries.manifest import load_manifest
    from geozone.context import judging_context
    from geozone.incidents.pipeline import assign_stale, link_stored
    from geozone.incidents.synthetic import generate_incidents
    from geozone.store import IncidentQuery
    from geozone.vntime import VIETNAM_TZ

    if production and demo_incidents:
        raise typer.BadParameter(
            "--production stores no synthetic data; leave --demo-incidents out",
            param_hint="--demo-incidents",
        )
    demo = 0 if production else 20_000 if demo_incidents is None else demo_incidents
    # The worker processes read their settings from the environment: put the choices there.
    if production:
        os.environ["GEOZONE_LOG_FORMAT"] = "json"
        os.environ.setdefault("GEOZONE_TRUST_FORWARDED_PREFIX", "true")
    if root_path is not None:
        os.environ["GEOZONE_ROOT_PATH"] = root_path
    get_settings.cache_clear()  # and the web service's (api.settings.get_api_settings)
    settings = get_api_settings()
    if production:
        logging.config.dictConfig(LOG_CONFIG)
    log = logging.getLogger("geozone.serve")

    def say(line: str) -> None:
        if production:
            log.info(line)  # a JSON line, as every other
        else:
            typer.echo(line)

    api_store, store = _api_store(None)  # first: a store out of reach ends it at once
    try:
        for entry in load_manifest(settings.manifest_path).sets.values():
            build_set(
                entry,
                settings.data_dir,
                settings.boundary_cache,
                display_simplify_deg=settings.display_simplify_deg,
            )
        context = judging_context(settings)
        judged = _with_defined_clusters(context, store, log.warning if production else None)
        if demo and store.count(IncidentQuery()) == 0:
            current = context.current
            carried = [t.cluster for t in context.territories if t.bset.id == current.id]
            made = generate_incidents(
                demo,
                0,
                boundaries=current,
                clusters=carried,
                start=datetime(2025, 7, 1, tzinfo=VIETNAM_TZ),
                end=datetime.now(VIETNAM_TZ),
            )
            store.add_incidents(made)
            say(f"stored {len(made):,} SYNTHETIC demo incidents (labelled synthetic)")
        assigned = assign_stale(store, judged)
        if assigned:
            say(f"assigned {assigned:,} incidents to their units and clusters")
        if demo:  # the demo's reports are linked into events, as an import links them
            linked = link_stored(store, judged, include_unfinished=False)
            say(f"linked {linked:,} reports into events")
        key = None if production else _first_admin_key(api_store)
        admins = bool(api_store.active_admins())
    finally:
        store.close()
    shown_host = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    base = f"http://{shown_host}:{port}{settings.root_path}"
    t11 = _t11_cluster(context)
    say(f"geozone is at {base}  (API docs: {base}/docs)")
    say(f"T11 cluster map: {base}/maps/clusters/{t11}")
    say(f"patrol planner:  {base}/maps/planner/{t11}")
    if key is not None:
        typer.echo(f"first admin key, {key[0]!r} (shown only now, keep it): {key[1]}", err=True)
        typer.echo(
            f"to see incidents on the maps, sign in at {base}/login with the key's name and "
            "the key (or paste the key into a map's 'Vụ việc / Incidents' box); API clients "
            "send it as the X-API-Key header; make more keys with: geozone users add NAME "
            "--role analyst|planner|admin",
            err=True,
        )
    elif production and not admins:
        log.warning(
            "no admin key yet (production mode makes none): make the first with "
            "geozone users add NAME --role admin"
        )
    elif not production:
        typer.echo("keys: use an existing one, or make one with geozone users add NAME --role ROLE")
    options: dict[str, Any] = {
        "host": host,
        "port": port,
        "proxy_headers": True,  # X-Forwarded-For/-Proto from FORWARDED_ALLOW_IPS (127.0.0.1)
        "server_header": not production,
    }
    if production:
        options |= {"log_config": LOG_CONFIG, "access_log": False}  # api.logs.RequestLog's
    else:
        options["log_level"] = "info"
    if workers == 1:
        uvicorn.run(create_app(settings, context=context), **options)
        return
    # Each worker loads the data itself (api.app.create_app from the environment's settings).
    del context, judged
    gc.collect()
    uvicorn.run("api.app:create_app", factory=True, workers=workers, **options)


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
    as_json: JsonOption = False,
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
    from geozone.cli._common import check_output, parse_date
    from geozone.context import judging_context
    from geozone.incidents.notices import unfinished_import_notices
    from maps import (
        cluster_layers,
        cluster_on,
        map_of_layers,
        side_names,
        stored_incidents,
        to_html,
    )
    from maps.analytics_layers import cluster_analytics
    from maps.basemap import standalone_basemap
    from maps.incident_table import incident_summary
    from maps.settings import get_map_settings

    day: date = parse_date(on)
    # The default file, ID.html, goes into the working folder.
    check_output(output or Path(f"{cluster_id}.html"), (".html", ".htm"), make_parents=True)
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
            cluster,
            territory.bset,
            zones=territory.zones,
            attribution=territory.attribution,
            names=side_names(territory),
            day=day,
        )
        found = None
        notices: list[str] = []
        if with_incidents and store is not None:
            _reassign_stale(store, context)
            found = stored_incidents(store, territory.cluster.id, limit=limit)
            notices = unfinished_import_notices(store)
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
        notices=notices,
        # GEOZONE_BASEMAP: its tiles over the cluster go inside the file (maps.basemap)
        basemap=standalone_basemap(settings.basemap, layers.units, settings.tiles_attribution),
        tiles=settings.tiles_url,
        tiles_attribution=settings.tiles_attribution,
    )
    path = output or Path(f"{territory.cluster.id}.html")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(to_html(page, inline_assets=True), encoding="utf-8")
    # What the map's legend says (a snapshot drawn for other days, a carried cluster's
    # standing, then an unfinished import): on standard error and in --json too.
    notices = layers.notices_with(notices)
    for notice in notices:
        typer.echo(notice, err=True)
    if as_json:
        _print_json(
            {
                "output": str(path),
                "cluster": territory.cluster.id,
                "set": territory.bset.id,
                "date": day.isoformat(),
                "members": len(cluster.members),
                "incidents": None
                if found is None
                else {
                    "returned": found.returned,
                    "reports": found.reports,
                    "total": found.total,
                    "summary": incident_summary(found.returned, found.total, found.reports),
                    "synthetic": found.layer is not None and bool(found.layer["synthetic"].any()),
                },
                "notices": notices,
            }
        )
        return
    what = (
        f"{territory.cluster.id} on {territory.bset.id} ({len(cluster.members)} members on {day})"
    )
    if found is not None:
        synthetic = found.layer is not None and bool(found.layer["synthetic"].any())
        what += f"; {incident_summary(found.returned, found.total, found.reports)}"
        what += f" ({SYNTHETIC_NOTE})" if synthetic else ""
    typer.echo(f"wrote {path}: {what}")
