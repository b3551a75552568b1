"""CLI commands on clusters: list, show, migrate into the current units."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from geozone.boundaries.sets import BoundarySet
from geozone.cli._common import (
    JsonOption,
    check_output,
    console,
    parse_date,
    print_json,
)
from geozone.clusters.files import load_clusters, validate_cluster
from geozone.clusters.model import Cluster
from geozone.errors import GeozoneError, NoGeometryError, UnknownClusterError

if TYPE_CHECKING:
    from geozone.assignment import ClusterTerritory
    from geozone.context import Context

clusters_app = typer.Typer(help="Coordination clusters (cụm liên kết).", no_args_is_help=True)
ClusterArg = Annotated[str, typer.Argument(help="Cluster id, e.g. hoa-do-phuc-vi.")]


def _cluster(cluster_id: str) -> Cluster:
    clusters = load_clusters()
    if cluster_id not in clusters:
        raise typer.BadParameter(f"no cluster {cluster_id!r}; known: {', '.join(sorted(clusters))}")
    return clusters[cluster_id]


@clusters_app.command("list")
def clusters_list(as_json: JsonOption = False) -> None:
    """List the committed clusters with their level, set and period."""
    clusters = load_clusters()
    if as_json:
        print_json([cluster.to_dict() for cluster in clusters.values()])
        return
    table = Table("id", "name", "level", "set", "members", "period")
    for cluster in clusters.values():
        period = f"{cluster.period.start or '?'} – {cluster.period.end or 'open'}"
        table.add_row(
            cluster.id,
            cluster.name,
            cluster.level,
            cluster.boundary_set,
            str(len(cluster.members)),
            period,
        )
    console.print(table)


@clusters_app.command("show")
def clusters_show(
    cluster_id: ClusterArg,
    on: Annotated[str | None, typer.Option("--date", help="Members on this date.")] = None,
    as_json: JsonOption = False,
) -> None:
    """Show a cluster (committed, or carried: ``<id>-vn2025``), its standing, members and rule."""
    from geozone.context import judging_context

    context = judging_context()
    cluster, placed = resolve_cluster(context, cluster_id)
    check = validate_cluster(cluster, context.boundary_set(cluster.boundary_set))
    day = parse_date(on) if on else None
    members = cluster.members_on(day) if day else cluster.members
    standing = cluster_standing(cluster)
    if as_json:
        print_json(
            {
                "cluster": cluster.to_dict(),
                "standing": standing,
                "check": check.to_dict(),
                "members_on": [m.id for m in members],
            }
        )
        return
    console.print(
        f"[bold]{cluster.name}[/bold] ({cluster.id}), {cluster.level} level, "
        f"named in {cluster.boundary_set}; zone width {cluster.effective_zone_width_m:g} m",
        highlight=False,
    )
    console.print(f"period: {standing['period']}; {standing['text_en']}", highlight=False)
    if placed is not None and placed.geometric and placed.sides.carried:
        console.print(f"border zone: {placed.sides.basis_en.strip()}", highlight=False)
    table = Table("member", "kind", "code", "name", "joined", "left")
    for member in members:
        joined = "planned (date unknown)" if member.planned else str(member.joined or "")
        table.add_row(
            member.id,
            f"{member.kind} (partial)" if member.partial else member.kind,
            member.unit_code or "",
            member.name,
            joined,
            str(member.left or ""),
        )
    console.print(table)
    if any(member.partial for member in members):
        console.print(
            "partial: only part of the unit's territory comes from a unit that signed; its "
            "decisions are reviewed (the point may lie outside that part).",
            highlight=False,
        )
    for clause in cluster.lead_rule:
        console.print(f"• {clause.vi}\n  {clause.en}", highlight=False)


def cluster_standing(cluster: Cluster) -> dict[str, str | None]:
    """Return how a cluster stands: its period (inferred dates marked), its carry status."""
    period = f"{cluster.period.start or 'start unknown'} – {cluster.period.end or 'open'}"
    texts = {
        None: "an original cluster, in force within its period",
        "proposed": "carried into the new units: a proposal until a planner confirms it "
        "(geozone clusters confirm)",
        "confirmed": f"carried and confirmed from {cluster.confirmed_from}"
        + (f" by {cluster.confirmed_by}" if cluster.confirmed_by else ""),
        "lapsed": "carried, but the original had ended before the reform: no decisions until "
        "a planner confirms it (geozone clusters confirm)",
    }
    return {
        "period": period,
        "carry_status": cluster.carry_status,
        "carried_from": cluster.carried_from,
        "confirmed_from": cluster.confirmed_from.isoformat() if cluster.confirmed_from else None,
        "text_en": texts[cluster.carry_status],
    }


def _drawn_zone(path: Path) -> str:
    """Read a drawn border zone: the union of a file's polygons, as WKT in EPSG:4326."""
    import geopandas as gpd
    import shapely

    try:
        frame = gpd.read_file(path)
    except Exception as exc:  # pyogrio raises several types; all mean "cannot read"
        raise typer.BadParameter(f"--zone {path}: cannot read it ({exc})") from None
    if frame.crs is None:
        raise typer.BadParameter(f"--zone {path}: the file has no CRS")
    shape = shapely.union_all(frame.to_crs(4326).geometry.to_numpy())
    if shape.geom_type not in ("Polygon", "MultiPolygon") or not shape.is_valid:
        raise typer.BadParameter(f"--zone {path}: not a valid polygon ({shape.geom_type})")
    return str(shape.wkt)


def resolve_cluster(context: Context, cluster_id: str) -> tuple[Cluster, ClusterTerritory | None]:
    """Return the cluster an id names and its placed territory (None if it has none).

    The one resolver of ``clusters show`` and ``clusters zones``: a committed cluster by
    its id, or a carried one by ``<id>-<set>`` (``gia-lam-vn2025``), as the judging context
    places them.

    Raises
    ------
    UnknownClusterError
        No committed or carried cluster has the id (the error lists the known ones).
    """
    placed = {t.cluster.id: t for t in context.territories}
    if cluster_id in context.clusters:
        return context.clusters[cluster_id], placed.get(cluster_id)
    if cluster_id in placed:
        return placed[cluster_id].cluster, placed[cluster_id]
    known = sorted(set(context.clusters) | set(placed))
    raise UnknownClusterError(f"no cluster {cluster_id!r}; known: {', '.join(known)}")


@clusters_app.command("confirm")
def clusters_confirm(
    cluster_id: Annotated[str, typer.Argument(help="A carried cluster's id, e.g. gia-lam-vn2025.")],
    from_date: Annotated[
        str | None,
        typer.Option("--from", help="First day it applies, YYYY-MM-DD (not before the reform)."),
    ] = None,
    by: Annotated[str | None, typer.Option(help="Who confirms it (name or unit).")] = None,
    note: Annotated[str | None, typer.Option(help="A note kept with the confirmation.")] = None,
    zone: Annotated[
        Path | None,
        typer.Option(
            help="A file (GeoJSON, GeoPackage…) with the border zone drawn instead of the "
            "derived one: its polygons, in any CRS."
        ),
    ] = None,
    withdraw: Annotated[
        bool, typer.Option("--withdraw", help="Withdraw the confirmation instead.")
    ] = False,
    store_url: Annotated[
        str | None, typer.Option("--store", help="Store URL (GEOZONE_STORE_URL).")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Confirm that a carried cluster applies from a date (or withdraw it); reassign incidents.

    A carried cluster is a proposal (its decisions say so and are flagged for review) or, when
    its original had ended before the reform, lapsed (no decisions), until it is confirmed.
    """
    from geozone.cli._incidents import row_progress
    from geozone.clusters.registry import carried_cluster, confirmation_of
    from geozone.context import load_context
    from geozone.incidents.pipeline import assign_stale
    from geozone.store import open_store

    base = load_context()
    try:
        carried_cluster(base, cluster_id)
    except GeozoneError as exc:
        raise typer.BadParameter(str(exc)) from None
    with open_store(store_url) as store:
        if withdraw:
            found = store.withdraw_confirmation(cluster_id)
            message = "withdrawn" if found else "had no confirmation"
        else:
            if from_date is None:
                raise typer.BadParameter("give --from YYYY-MM-DD (or --withdraw)")
            day = parse_date(from_date)
            drawn = _drawn_zone(zone) if zone is not None else None
            try:
                confirmation = confirmation_of(base, cluster_id, day, by, note, drawn)
            except GeozoneError as exc:
                raise typer.BadParameter(str(exc), param_hint="--from") from None
            store.confirm_cluster(confirmation)
            message = f"confirmed from {day}" + (
                " with the zone drawn in " + str(zone) if zone else ""
            )
        context = load_context(confirmations=store.confirmations())
        with row_progress() as progress:
            task = progress.add_task(f"reassigning the incidents of {cluster_id}", total=None)
            reassigned = assign_stale(
                store,
                context,
                on_progress=lambda done, total: progress.update(task, completed=done, total=total),
            )
    summary = {"cluster": cluster_id, "result": message, "reassigned": reassigned}
    if as_json:
        print_json(summary)
        return
    console.print(
        f"{cluster_id}: {message}; {reassigned:,} stored incidents reassigned", highlight=False
    )


@clusters_app.command("migrate")
def clusters_migrate(
    cluster_id: ClusterArg,
    target: Annotated[
        str, typer.Option("--to", help="Boundary set to carry the cluster into.")
    ] = "vn2025",
    as_json: JsonOption = False,
) -> None:
    """Carry a cluster into the current units: which new units each member became, in what share."""
    from geozone.clusters.migrate import migrate_cluster

    cluster = _cluster(cluster_id)
    migration = migrate_cluster(
        cluster, BoundarySet.load(cluster.boundary_set), BoundarySet.load(target)
    )
    if as_json:
        print_json(migration.to_dict())
        return
    table = Table("old", "→ new", "share of old", "share of new", "split", "partial", "basis")
    for row in migration.rows:
        table.add_row(
            f"{row.old_name} ({row.old_code})",
            f"{row.new_name} ({row.new_code})",
            _share(row.share_of_old),
            _share(row.share_of_new),
            "yes" if row.split else "",
            "yes" if row.partial else "",
            row.basis,
        )
    console.print(table)
    for note in migration.notes:
        console.print(f"note: {note}", style="dim", highlight=False)


@clusters_app.command("zones")
def clusters_zones(
    cluster_id: ClusterArg,
    output: Annotated[
        Path | None, typer.Option("-o", "--output", help="Export to .geojson or .gpkg (QGIS).")
    ] = None,
    width: Annotated[
        float | None, typer.Option(help="Band width W in metres (default: the cluster's).")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Border zones of a cluster: bands along shared member boundaries and junction discs."""
    from geozone.context import judging_context
    from geozone.report.exports import FORMATS, write_layers

    if output is not None:
        check_output(output, FORMATS)
    territory = _territory(judging_context(), cluster_id)
    zones = territory.zones if width is None else territory.zones_of_width(width)
    if output is not None:
        layers = {
            "border_zones": zones.zones,
            "zone_sides": zones.sides,
            "shared_boundaries": zones.lines,
            "junctions": zones.junctions,
        }
        if output.suffix.lower() != ".gpkg":
            layers = {"border_zones": zones.zones}
        write_layers(layers, output, territory.attribution)
    summary = {
        "cluster": territory.cluster.id,
        "set": territory.bset.id,
        "width_m": zones.width_m,
        "utm_epsg": zones.utm_epsg,
        "zones": len(zones.zones),
        "pairs": int((zones.zones["kind"] == "pair").sum()),
        "junctions": int((zones.zones["kind"] == "junction").sum()),
        "areas": zones.area_summary(),
        "basis": territory.sides.basis,
        "basis_vi": territory.sides.basis_vi.strip() or None,
        "basis_en": territory.sides.basis_en.strip() or None,
        "output": str(output) if output else None,
    }
    if as_json:
        print_json(summary)
        return
    console.print(
        f"{summary['cluster']} in {summary['set']}: {summary['pairs']} pair bands and "
        f"{summary['junctions']} junction discs of {summary['width_m']:g} m "
        f"(EPSG:{summary['utm_epsg']}); border zone (union) {zones.area_summary()['union_km2']} "
        "km²" + (f" -> {output}" if output else "")
    )


def _territory(context: Context, cluster_id: str) -> ClusterTerritory:
    """Return the placed cluster with geometry for an id, or point to its carried version."""
    cluster, territory = resolve_cluster(context, cluster_id)
    if territory is None:
        carried = context.carried_versions(cluster.id)
        hint = f"; use its carried version: {', '.join(carried)}" if carried else ""
        raise GeozoneError(f"cluster {cluster_id!r}: its members have no geometry to draw{hint}")
    undrawn = context.why_undrawn(territory)
    if undrawn is not None:
        raise NoGeometryError(undrawn)
    return territory


def _share(value: float | None) -> str:
    return "?" if value is None else f"{value:.0%}"


__all__ = ["clusters_app"]
