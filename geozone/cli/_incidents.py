"""CLI commands on incidents: generate synthetic ones, assign a file without a store."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import geopandas as gpd
import numpy as np
import pandas as pd
import typer

from geozone.cli._common import JsonOption, console, print_json
from geozone.vntime import VIETNAM_TZ

incidents_app = typer.Typer(
    help="Incidents: generate, assign, import, list, export.", no_args_is_help=True
)


@incidents_app.command("generate")
def incidents_generate(
    n: Annotated[int, typer.Option("-n", min=1, max=10_000_000, help="How many incidents.")],
    output: Annotated[
        Path, typer.Option("-o", "--output", help="File: .csv, .geojson, .gpkg, .parquet.")
    ],
    seed: Annotated[int, typer.Option(help="Random seed: the same seed gives the same file.")] = 0,
    start: Annotated[str, typer.Option(help="First day, YYYY-MM-DD.")] = "2025-07-01",
    end: Annotated[str, typer.Option(help="Last day, YYYY-MM-DD.")] = "2026-06-30",
) -> None:
    """Write SYNTHETIC incidents (clustered at real places, labelled synthetic on every row)."""
    from geozone.context import judging_context
    from geozone.incidents.io import write_incidents
    from geozone.incidents.synthetic import generate_incidents

    context = judging_context()
    begin = datetime.fromisoformat(start).replace(tzinfo=VIETNAM_TZ)
    finish = datetime.fromisoformat(end).replace(tzinfo=VIETNAM_TZ, hour=23, minute=59)
    current = context.boundary_set("vn2025")
    carried = [t.cluster for t in context.territories if t.bset.id == current.id]
    legacy = next((b for b in context.sets if b.id == "vn-legacy-districts"), None)
    with console.status(f"generating {n:,} synthetic incidents…"):
        frame = generate_incidents(
            n, seed, boundaries=current, clusters=carried, start=begin, end=finish, legacy=legacy
        )
        write_incidents(frame, output)
    console.print(f"wrote {len(frame):,} SYNTHETIC incidents (seed {seed}) to {output}")


@incidents_app.command("assign")
def incidents_assign(
    source: Annotated[Path, typer.Argument(help="Incident file (CSV, GeoJSON, GPKG, Parquet).")],
    output: Annotated[
        Path, typer.Option("-o", "--output", help="Assigned file: .parquet, .gpkg, .csv.")
    ],
    crs: Annotated[
        str, typer.Option(help="CRS of the input coordinates, e.g. EPSG:3405.")
    ] = "EPSG:4326",
    tolerance: Annotated[float | None, typer.Option(help="Boundary tolerance in metres.")] = None,
    as_json: JsonOption = False,
) -> None:
    """Judge every incident of a file (unit chain, border zones, lead unit) and write the result."""
    from concurrent.futures import ThreadPoolExecutor

    from geozone.assignment import assign
    from geozone.context import judging_context, prepare_for
    from geozone.incidents.io import open_incidents

    # The context loads and its indexes are made on a second thread while the file is read.
    with ThreadPoolExecutor(1) as pool:
        loading = pool.submit(judging_context)
        opened = open_incidents(source, crs=crs)
        rows = opened.n_rows
        preparing = pool.submit(lambda: prepare_for(loading.result(), rows, tolerance))
        read = opened.read()
        del opened  # the file's raw cells: no longer needed
        preparing.result()
    context = loading.result()
    with console.status(f"assigning {len(read.incidents):,} incidents…"):
        result = assign(
            read.incidents.reset_index(drop=True), context.sets, context.territories, tolerance
        )
        frame = assigned_frame(read.incidents.reset_index(drop=True), result.units, result.clusters)
        write_assigned_frame(frame, output)
    summary = {
        "read": read.n_rows,
        "rejected": len(read.rejected_lines),
        "assigned": len(read.incidents),
        "cluster_rows": len(result.clusters),
        "review": int(result.clusters["review"].sum()),
        "output": str(output),
        "rejects": [r.__dict__ for r in read.rejects[:100]],
    }
    if as_json:
        print_json(summary)
        return
    console.print(
        f"{summary['assigned']:,} incidents assigned, {summary['rejected']:,} rows rejected, "
        f"{summary['cluster_rows']:,} cluster decisions ({summary['review']:,} to review) "
        f"-> {output}"
    )
    for reject in read.rejects[:20]:
        console.print(
            f"  line {reject.line}: {reject.field}: {reject.reason}",
            style="yellow",
            highlight=False,
        )


@incidents_app.command("import")
def incidents_import(
    source: Annotated[Path, typer.Argument(help="Incident file (CSV, GeoJSON, GPKG, Parquet).")],
    crs: Annotated[str, typer.Option(help="CRS of the coordinates, e.g. EPSG:3405.")] = "EPSG:4326",
    store_url: Annotated[
        str | None, typer.Option("--store", help="Store URL (GEOZONE_STORE_URL).")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Store a file's incidents (valid rows; rejects reported), then assign them. Resumable.

    A row without coordinates but with an address (column ``address`` or ``địa chỉ``) is
    located by its address only: its jurisdiction at the level the address gives, and a
    review decision "address only: no border-zone decision" for each cluster it concerns.
    """
    from rich.progress import Progress

    from geozone.context import judging_context
    from geozone.incidents.pipeline import import_file
    from geozone.store import open_store

    context = judging_context()
    with open_store(store_url) as store, Progress(console=console, transient=True) as progress:
        task = progress.add_task(f"importing {source.name}", total=None)
        report = import_file(
            store,
            source,
            context,
            crs=crs,
            on_progress=lambda done, total: progress.update(task, completed=done, total=total),
        )
    if as_json:
        print_json(report.to_dict())
        return
    console.print(
        f"{source}: {report.stored:,} stored, {report.duplicates:,} already there, "
        f"{report.rejected:,} rejected, {report.assigned:,} assigned"
        + (f" (resumed at row {report.resumed_from:,})" if report.resumed_from else "")
    )
    if report.address_only:
        console.print(
            f"  {report.address_only:,} without coordinates located by their address only: "
            "jurisdiction at the level the address gives, no border-zone decision (review)"
        )
    for reject in report.rejects[:20]:
        console.print(
            f"  line {reject['line']}: {reject['field']}: {reject['reason']}",
            style="yellow",
            highlight=False,
        )


def _query(
    bbox: str | None,
    start: str | None,
    end: str | None,
    category: list[str] | None,
    unit: str | None,
    cluster: str | None,
    zone_only: bool,
    limit: int,
    offset: int,
) -> Any:
    from geozone.store import IncidentQuery

    box = tuple(float(v) for v in bbox.split(",")) if bbox else None
    if box is not None and len(box) != 4:
        raise typer.BadParameter("--bbox takes minlon,minlat,maxlon,maxlat")
    when = [
        datetime.fromisoformat(v).replace(tzinfo=VIETNAM_TZ) if v else None for v in (start, end)
    ]
    return IncidentQuery(
        bbox=box,
        start=when[0],
        end=when[1],
        categories=tuple(category) if category else None,
        unit_code=unit,
        cluster_id=cluster,
        in_border_zone=True if zone_only else None,
        limit=limit,
        offset=offset,
    )


@incidents_app.command("list")
def incidents_list(
    bbox: Annotated[str | None, typer.Option(help="minlon,minlat,maxlon,maxlat.")] = None,
    start: Annotated[
        str | None, typer.Option(help="From (YYYY-MM-DD[THH:MM]), Vietnam time.")
    ] = None,
    end: Annotated[str | None, typer.Option(help="Before (YYYY-MM-DD[THH:MM]).")] = None,
    category: Annotated[
        list[str] | None, typer.Option(help="Category code or label (repeatable).")
    ] = None,
    unit: Annotated[
        str | None, typer.Option(help="Unit code (ward, district or province).")
    ] = None,
    cluster: Annotated[str | None, typer.Option(help="Cluster id.")] = None,
    zone_only: Annotated[
        bool, typer.Option("--border-zone", help="Only incidents in a border zone.")
    ] = False,
    limit: Annotated[int, typer.Option(min=1, max=10_000)] = 20,
    offset: Annotated[int, typer.Option(min=0)] = 0,
    store_url: Annotated[str | None, typer.Option("--store", help="Store URL.")] = None,
    as_json: JsonOption = False,
) -> None:
    """List stored incidents matching the filters (a page, with the total)."""
    from rich.table import Table

    from geozone.store import open_store

    query = _query(bbox, start, end, category, unit, cluster, zone_only, limit, offset)
    with open_store(store_url) as store:
        frame, total = store.query(query)
    if as_json:
        records = pd.DataFrame(frame.drop(columns="geometry")).to_dict(orient="records")
        print_json({"total": total, "offset": offset, "incidents": records})
        return
    table = Table("id", "time", "category", "unit", "synthetic", title=f"{total:,} incidents")
    for _, item in frame.iterrows():
        table.add_row(
            str(item["external_id"]),
            str(item["occurred_at"]),
            str(item["category"]),
            str(item.get("unit_code") or ""),
            "yes" if item["synthetic"] else "",
        )
    console.print(table)


@incidents_app.command("export")
def incidents_export(
    output: Annotated[
        Path, typer.Option("-o", "--output", help=".gpkg, .geojson, .parquet or .csv")
    ],
    cluster: Annotated[str | None, typer.Option(help="Cluster id.")] = None,
    unit: Annotated[str | None, typer.Option(help="Unit code.")] = None,
    start: Annotated[str | None, typer.Option(help="From (YYYY-MM-DD).")] = None,
    end: Annotated[str | None, typer.Option(help="Before (YYYY-MM-DD).")] = None,
    store_url: Annotated[str | None, typer.Option("--store", help="Store URL.")] = None,
) -> None:
    """Export stored incidents with their assignment (synthetic flag and attribution kept)."""
    from geozone.store import open_store

    frames = []
    with open_store(store_url) as store:
        offset = 0
        while True:
            page, total = store.query(
                _query(None, start, end, None, unit, cluster, False, 10_000, offset)
            )
            frames.append(page)
            offset += len(page)
            if offset >= total or page.empty:
                break
    table = gpd.GeoDataFrame(pd.concat(frames, ignore_index=True), crs=4326)
    if output.suffix.lower() in (".gpkg", ".geojson", ".json"):
        from geozone.context import judging_context
        from geozone.report.exports import write_layers

        attribution = " | ".join(b.info.attribution for b in judging_context().sets)
        write_layers({"incidents": table}, output, attribution)
    else:
        write_assigned(table, output)
    console.print(f"exported {len(table):,} incidents to {output}")


def assigned_table(
    incidents: pd.DataFrame, units: pd.DataFrame, clusters: pd.DataFrame
) -> gpd.GeoDataFrame:
    """One row per incident and concerned cluster (incidents no cluster concerns: one row).

    :func:`assigned_frame` with the points as geometry (EPSG:4326).
    """
    table = assigned_frame(incidents, units, clusters)
    lon, lat = table["lon"].to_numpy(dtype=float), table["lat"].to_numpy(dtype=float)
    return gpd.GeoDataFrame(table, geometry=gpd.points_from_xy(lon, lat), crs=4326)


def write_assigned_frame(frame: pd.DataFrame, path: Path) -> None:
    """Write :func:`assigned_frame` as :func:`write_assigned` writes :func:`assigned_table`.

    GeoParquet is written from the columns and coordinates (no geometry object per row).
    """
    from geozone.incidents.io.write import write_points_geoparquet

    if path.suffix.lower() in (".parquet", ".geoparquet"):
        lon, lat = frame["lon"].to_numpy(dtype=float), frame["lat"].to_numpy(dtype=float)
        if write_points_geoparquet(frame, lon, lat, path):
            return
    geometry = gpd.points_from_xy(frame["lon"], frame["lat"])
    write_assigned(gpd.GeoDataFrame(frame, geometry=geometry, crs=4326), path)


def assigned_frame(
    incidents: pd.DataFrame, units: pd.DataFrame, clusters: pd.DataFrame
) -> pd.DataFrame:
    """One row per incident and concerned cluster (incidents no cluster concerns: one row).

    The rows and columns of two left merges on ``external_id`` (incidents, then units, then
    clusters), built by placing rows instead: ``units`` holds one row per incident in the
    same order (:func:`~geozone.assignment.jurisdiction`), and each incident's cluster rows
    follow it in their order. Frames that do not fit that shape are merged.
    """
    ids = incidents["external_id"].to_numpy(dtype=object)
    shared = (set(incidents.columns) & (set(units.columns) | set(clusters.columns))) | (
        set(units.columns) & set(clusters.columns)
    )
    simple = (
        shared == {"external_id"}
        and np.array_equal(ids, units["external_id"].to_numpy(dtype=object))
        and incidents["external_id"].is_unique
    )
    if not simple:
        base = incidents.merge(units, on="external_id", how="left")
        return base.merge(clusters, on="external_id", how="left")
    incident, cluster = _placed_rows(ids, clusters["external_id"].to_numpy(dtype=object))
    base = pd.concat(
        [
            incidents.reset_index(drop=True),
            units.drop(columns="external_id").reset_index(drop=True),
        ],
        axis=1,
    )
    # The key's type is the one the merges give it (their common type).
    empty = incidents.iloc[:0].merge(units.iloc[:0], on="external_id")
    key = empty.merge(clusters.iloc[:0], on="external_id")["external_id"].dtype
    base["external_id"] = incidents["external_id"].reset_index(drop=True).astype(key)
    if len(incident) != len(base) or not np.array_equal(incident, np.arange(len(base))):
        base = base.take(incident).reset_index(drop=True)
    right = clusters.drop(columns="external_id").reset_index(drop=True)
    right = right.reindex(pd.Index(cluster)).reset_index(drop=True)  # -1: no row, all missing
    return pd.concat([base, right], axis=1)


def _placed_rows(ids: np.ndarray, cluster_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows of a left merge of incidents ``ids`` with cluster rows ``cluster_ids``.

    Returns, per output row, the incident's position and the cluster row's (-1 for an
    incident no cluster row names, which gets one row); cluster rows naming no incident are
    left out, as a left merge leaves them.
    """
    position = pd.Index(ids).get_indexer(cluster_ids)
    known = np.flatnonzero(position >= 0)
    order = known[np.argsort(position[known], kind="stable")]
    counts = np.bincount(position[known], minlength=len(ids))
    slots = np.maximum(counts, 1)
    start = np.cumsum(slots) - slots
    incident = np.repeat(np.arange(len(ids)), slots)
    cluster = np.full(len(incident), -1, dtype=np.intp)
    held = position[order]
    rank = np.arange(len(order)) - np.searchsorted(held, held)
    cluster[start[held] + rank] = order
    return incident, cluster


def write_assigned(table: gpd.GeoDataFrame, path: Path) -> None:
    """Write an assigned table; list columns become comma-separated text outside Parquet."""
    suffix = path.suffix.lower()
    if suffix in (".parquet", ".geoparquet"):
        table.to_parquet(path)
        return
    flat = table.copy()
    for column in ("candidates", "zone_units", "cooperating"):
        if column in flat:
            flat[column] = flat[column].map(lambda v: ",".join(v) if isinstance(v, list) else v)
    for column in flat.columns:
        if pd.api.types.is_datetime64_any_dtype(flat[column]):
            flat[column] = flat[column].map(lambda v: v.isoformat() if pd.notna(v) else None)
    if suffix == ".gpkg":
        flat.to_file(path, driver="GPKG", layer="assigned_incidents")
    elif suffix == ".csv":
        pd.DataFrame(flat.drop(columns="geometry")).to_csv(path, index=False)
    else:
        raise typer.BadParameter(f"cannot write {path.name}: use .parquet, .gpkg or .csv")
