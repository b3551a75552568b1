"""CLI commands on incidents: generate synthetic ones, assign a file without a store."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated

import geopandas as gpd
import pandas as pd
import typer

from geozone.cli._common import JsonOption, console, print_json
from geozone.incidents import VIETNAM_TZ

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
    from geozone.context import load_context
    from geozone.incident_io import write_incidents
    from geozone.synthetic import generate_incidents

    context = load_context()
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
    from geozone.assign import assign
    from geozone.context import load_context
    from geozone.incident_io import read_incidents

    read = read_incidents(source, crs=crs)
    context = load_context()
    with console.status(f"assigning {len(read.incidents):,} incidents…"):
        result = assign(
            read.incidents.reset_index(drop=True), context.sets, context.territories, tolerance
        )
        table = assigned_table(read.incidents.reset_index(drop=True), result.units, result.clusters)
        write_assigned(table, output)
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


def assigned_table(
    incidents: pd.DataFrame, units: pd.DataFrame, clusters: pd.DataFrame
) -> gpd.GeoDataFrame:
    """One row per incident and concerned cluster (incidents no cluster concerns: one row)."""
    base = incidents.merge(units, on="external_id", how="left")
    table = base.merge(clusters, on="external_id", how="left")
    return gpd.GeoDataFrame(
        table, geometry=gpd.points_from_xy(table["lon"], table["lat"]), crs=4326
    )


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
