"""CLI commands on incidents: generate synthetic ones, assign a file without a store."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import geopandas as gpd
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


def row_progress(description: str) -> Any:
    """Return a progress bar counting rows, with the rate and the time left (rich)."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    return Progress(
        TextColumn(description),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("rows"),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=console,
        transient=True,
    )


@incidents_app.command("assign")
def incidents_assign(
    source: Annotated[
        Path,
        typer.Argument(
            help="Incident file (CSV, GeoJSON, GPKG, Parquet); with --engine dask also a "
            "folder of files or a Parquet dataset."
        ),
    ],
    output: Annotated[
        Path,
        typer.Option(
            "-o",
            "--output",
            help="Assigned file: .parquet, .gpkg, .csv (--engine dask: a GeoParquet dataset "
            "folder).",
        ),
    ],
    crs: Annotated[
        str, typer.Option(help="CRS of the input coordinates, e.g. EPSG:3405.")
    ] = "EPSG:4326",
    tolerance: Annotated[float | None, typer.Option(help="Boundary tolerance in metres.")] = None,
    chunk_rows: Annotated[
        int,
        typer.Option(
            "--chunk-rows",
            min=1,
            help="Rows read, judged and written at a time: memory grows with it, not with "
            "the file.",
        ),
    ] = 50_000,
    engine: Annotated[
        str,
        typer.Option(help="local (this process, streamed) or dask (dask.distributed)."),
    ] = "local",
    scheduler: Annotated[
        str | None,
        typer.Option(help="--engine dask: address of a running scheduler (tcp://host:8786)."),
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option(min=1, help="--engine dask: processes of a local cluster (default: cores)."),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Judge every incident of a file (unit chain, border zones, lead unit) and write the result.

    The file is read, judged and written in pieces of --chunk-rows rows, so any size runs
    in flat memory; the result is the one a whole read gives, row for row.
    """
    from geozone.context import judging_context, prepare_for

    if engine not in ("local", "dask"):
        raise typer.BadParameter(f"--engine {engine!r}: use local or dask")
    if engine == "local" and (scheduler or workers):
        raise typer.BadParameter("--scheduler and --workers go with --engine dask")
    summary: Any
    if engine == "dask":
        from geozone.context import stored_confirmations
        from geozone.incidents.distributed import assign_distributed

        with console.status(f"assigning {source.name} on dask.distributed…"):
            summary = assign_distributed(
                source,
                output,
                crs=crs,
                tolerance=tolerance,
                chunk_rows=chunk_rows,
                scheduler=scheduler,
                workers=workers,
                confirmations=stored_confirmations(),
            )
    else:
        from geozone.incidents.stream import assign_file

        context = judging_context()
        with console.status("preparing the boundary indexes…"):
            prepare_for(context, chunk_rows, tolerance)  # before the bar: its ETA stays true
        with row_progress(f"assigning {source.name}") as progress:
            task = progress.add_task("assign", total=None)
            summary = assign_file(
                source,
                output,
                context,
                crs=crs,
                tolerance=tolerance,
                chunk_rows=chunk_rows,
                on_progress=lambda done, total: progress.update(task, completed=done, total=total),
            )
    data = summary.to_dict()
    if as_json:
        print_json(data)
        return
    console.print(
        f"{summary.assigned:,} incidents assigned, {summary.rejected:,} rows rejected, "
        f"{summary.cluster_rows:,} cluster decisions ({summary.review:,} to review) "
        f"-> {output}"
    )
    for reject in summary.rejects[:20]:
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
    chunk_rows: Annotated[
        int,
        typer.Option("--chunk-rows", min=1, help="Rows read, stored and judged per transaction."),
    ] = 50_000,
    as_json: JsonOption = False,
) -> None:
    """Store a file's incidents (valid rows; rejects reported), then assign them. Resumable.

    The file is streamed in pieces of --chunk-rows rows; each piece's new rows are judged as
    they are stored (other stale incidents are left to the reassignment job).

    A row without coordinates but with an address (column ``address`` or ``địa chỉ``) is
    located by its address only: its jurisdiction at the level the address gives, and a
    review decision "address only: no border-zone decision" for each cluster it concerns.
    """
    from geozone.context import judging_context
    from geozone.incidents.pipeline import import_file
    from geozone.store import open_store

    context = judging_context()
    with open_store(store_url) as store, row_progress(f"importing {source.name}") as progress:
        task = progress.add_task("import", total=None)
        report = import_file(
            store,
            source,
            context,
            crs=crs,
            chunk_rows=chunk_rows,
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
    """Export stored incidents with their assignment (synthetic flag and attribution kept).

    Pages of 10,000 incidents are written as they are read (Parquet row groups, GeoPackage
    appends, CSV rows), so memory holds one page; GeoJSON is written whole.
    """
    from geozone.incidents.stream import AssignedWriter, schema_of
    from geozone.store import open_store

    suffix = output.suffix.lower()
    layered = suffix in (".gpkg", ".geojson", ".json")
    if not layered and suffix not in (".parquet", ".geoparquet", ".csv"):
        raise typer.BadParameter(f"cannot write {output.name}: use .parquet, .gpkg or .csv")
    attribution = ""
    if layered:
        from geozone.context import judging_context

        attribution = " | ".join(b.info.attribution for b in judging_context().sets)
    held: list[pd.DataFrame] = []
    writer: AssignedWriter | None = None
    written = 0
    with open_store(store_url) as store, row_progress(f"exporting to {output.name}") as bar:
        task = bar.add_task("export", total=None)
        offset = 0
        while True:
            page, total = store.query(
                _query(None, start, end, None, unit, cluster, False, 10_000, offset)
            )
            offset += len(page)
            frame = gpd.GeoDataFrame(page, crs=4326)
            if suffix in (".geojson", ".json"):
                held.append(frame)
            elif suffix == ".gpkg":
                if len(frame) or not written:
                    _append_layer(frame, output, attribution, first=not written)
            else:
                if writer is None:
                    writer = AssignedWriter(output, schema=schema_of(frame))
                writer.write(frame)
            written += len(frame)
            bar.update(task, completed=offset, total=total)
            if offset >= total or page.empty:
                break
    if writer is not None:
        writer.close()
    if held:
        from geozone.report.exports import write_layers

        table = gpd.GeoDataFrame(pd.concat(held, ignore_index=True), crs=4326)
        write_layers({"incidents": table}, output, attribution)
    console.print(f"exported {written:,} incidents to {output}")


def _append_layer(frame: gpd.GeoDataFrame, path: Path, attribution: str, *, first: bool) -> None:
    """Write the first page as :func:`~geozone.report.exports.write_layers`; append the rest."""
    from geozone.report.exports import write_layers

    if first:
        write_layers({"incidents": frame}, path, attribution)
        return
    import pyogrio

    out = frame.copy()
    for column in out.columns:
        if column != out.geometry.name and out[column].map(lambda v: isinstance(v, list)).any():
            out[column] = out[column].map(
                lambda v: ",".join(map(str, v)) if isinstance(v, list) else v
            )
    out["attribution"] = attribution
    pyogrio.write_dataframe(out, path, driver="GPKG", layer="incidents", append=True)


__all__ = ["incidents_app"]
