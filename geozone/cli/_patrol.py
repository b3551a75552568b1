"""CLI commands on planners' patrol zones: export them to a file a GIS opens."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from geozone.cli._common import JsonOption, console, print_json

patrol_app = typer.Typer(help="Patrol zones drawn by planners: export.", no_args_is_help=True)


@patrol_app.command("export")
def patrol_export(
    output: Annotated[
        Path, typer.Option("-o", "--output", help=".gpkg, .geojson or .parquet (GeoParquet).")
    ],
    cluster: Annotated[str | None, typer.Option(help="Only this cluster's zones.")] = None,
    store_url: Annotated[
        str | None, typer.Option("--store", help="Store URL (GEOZONE_STORE_URL).")
    ] = None,
    with_coverage: Annotated[
        bool,
        typer.Option(
            "--coverage/--no-coverage",
            help="Measure each zone on its cluster (area, border-zone share, cluster share).",
        ),
    ] = True,
    as_json: JsonOption = False,
) -> None:
    """Export the stored patrol zones with their units' names, coverage and attribution.

    One polygon per zone (EPSG:4326): its id, name, cluster, units (codes and names), notes,
    who drew it and when, and what it covers of its cluster (zone_area_km2,
    border_zone_km2, border_zone_share, cluster_share; a zone that cannot be measured says
    why in coverage_note).
    """
    from geozone.context import store_context
    from geozone.store import open_store
    from geozone.store.export import (
        PATROL_SUFFIXES,
        check_export_path,
        export_patrol_zones,
        patrol_zone_frame,
    )
    from geozone.store.planner import PlannerStore

    check_export_path(output, PATROL_SUFFIXES)  # before any work
    with open_store(store_url) as store:  # zones measured on the store's own confirmations
        context = store_context(store)
        records = PlannerStore(store.engine).list_zones(cluster)
    attribution = context.attribution
    with console.status(f"measuring {len(records):,} patrol zones…"):
        frame = patrol_zone_frame(records, context, attribution, with_coverage=with_coverage)
    export_patrol_zones(frame, output)
    if as_json:
        print_json({"output": str(output), "zones": len(frame), "cluster": cluster})
        return
    console.print(f"exported {len(frame):,} patrol zones to {output}")


__all__ = ["patrol_app"]
