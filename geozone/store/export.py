"""Write the store's incidents, with their cluster decisions, to a file a GIS opens.

:func:`export_incidents` reads the incidents a query selects page by page
(:meth:`geozone.store.IncidentStore.pages`: keyset pages in the order stored, each with its
decisions) and writes each page as it comes, so memory holds one page whatever the size:

- every format has one row per incident: the stored fields and unit assignment, the
  incident's cluster decisions as flat columns (:data:`geozone.store.decisions.DECISION_COLUMNS`,
  see :func:`geozone.store.decisions.flat_decisions`), the ``synthetic`` flag and the
  boundary data's ``attribution``;
- GeoPackage (``.gpkg``) adds the attribute table ``cluster_decisions``: one row per incident
  and cluster (:data:`geozone.store.decisions.TABLE_COLUMNS`), joined to the ``incidents``
  layer on ``external_id``;
- Parquet is GeoParquet (WKB points, EPSG:4326) in row groups, CSV rows under one header (no
  geometry: ``lon``, ``lat``); GeoJSON is written whole (a single JSON document);
- the store's notices (:func:`geozone.incidents.notices.unfinished_import_notices`: an
  unfinished import, reports not linked into events yet), when it has any, are written in the
  file's own metadata where the format has a place for it: GeoParquet key-value metadata
  :data:`PARQUET_NOTICES_KEY` and the GeoPackage layers' metadata item
  :data:`GPKG_NOTICES_KEY` (JSON lists of strings), the GeoPackage layers' description after
  the attribution (one notice a line), a top-level GeoJSON member ``notices``. CSV has no
  place for them: ``geozone incidents export`` says them on standard error and in ``--json``,
  as it does for every format. No notice, nothing written (no empty key).

:func:`patrol_zone_frame` and :func:`export_patrol_zones` do the same for planners' patrol
zones (``geozone patrol export``): their unit names, coverage figures and the attribution.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import geopandas as gpd
import pandas as pd

from geozone.errors import GeozoneError
from geozone.store.base import PAGE_ROWS, IncidentQuery, IncidentStore
from geozone.store.decisions import UnitNamer, decision_table, flat_decisions
from geozone.vntime import VIETNAM_TZ

if TYPE_CHECKING:
    from geozone.assignment import ClusterTerritory
    from geozone.context import Context

#: File suffixes :func:`export_incidents` writes.
EXPORT_SUFFIXES = (".gpkg", ".geojson", ".json", ".parquet", ".geoparquet", ".csv")
#: The GeoPackage's layer of incidents and its table of decisions.
INCIDENTS_LAYER = "incidents"
DECISIONS_TABLE = "cluster_decisions"
#: The GeoParquet key-value metadata holding an export's notices (a JSON list of strings).
PARQUET_NOTICES_KEY = "geozone:notices"
#: The GeoPackage layer metadata item holding them (GDAL would split a key at a colon).
GPKG_NOTICES_KEY = "GEOZONE_NOTICES"
#: The top-level member of an exported GeoJSON holding them (as the API's answers name it).
GEOJSON_NOTICES_MEMBER = "notices"


@dataclass(frozen=True)
class ExportSummary:
    """What :func:`export_incidents` wrote: incidents, decision rows, the file's layers.

    ``notices``: the store's notices written in the file (the CSV has no place for them),
    for the caller to say as well; empty when there was nothing to say.
    """

    incidents: int
    decisions: int
    layers: tuple[str, ...]
    notices: tuple[str, ...] = ()


def check_export_path(path: Path, suffixes: Sequence[str] = EXPORT_SUFFIXES) -> str:
    """Return the suffix of an export file, or refuse one that cannot be written.

    Raises
    ------
    GeozoneError
        The suffix is not one of ``suffixes`` (:data:`EXPORT_SUFFIXES` for incidents,
        :data:`PATROL_SUFFIXES` for patrol zones), or the folder does not exist.
    """
    suffix = path.suffix.lower()
    if suffix not in suffixes:
        raise GeozoneError(f"cannot write {path.name}: use {', '.join(suffixes)}")
    if not path.parent.is_dir():
        raise GeozoneError(f"cannot write {path}: the folder {path.parent} does not exist")
    return suffix


def incident_rows(
    page: gpd.GeoDataFrame, decisions: pd.DataFrame, names: UnitNamer | None, attribution: str
) -> gpd.GeoDataFrame:
    """Return a page of incidents with their flat decision columns and the attribution."""
    flat = flat_decisions(page["external_id"], decisions, names)
    plain = pd.DataFrame(page.drop(columns=page.geometry.name)).reset_index(drop=True)
    plain = plain.drop(columns=[c for c in flat.columns if c in plain.columns])
    joined = pd.concat([plain, flat], axis=1)
    joined["attribution"] = attribution
    return gpd.GeoDataFrame(joined, geometry=page.geometry.to_numpy(), crs=4326)


def export_incidents(
    store: IncidentStore,
    query: IncidentQuery,
    path: Path,
    *,
    names: UnitNamer | None,
    attribution: str,
    on_progress: Callable[[int, int], None] | None = None,
    page_rows: int = PAGE_ROWS,
    notices: Sequence[str] = (),
) -> ExportSummary:
    """Write the incidents ``query`` selects, with their decisions, to ``path``.

    Parameters
    ----------
    store, query
        Where and which incidents (``query.cluster_id``: only that cluster's decisions).
    path
        ``.gpkg``, ``.geojson``/``.json``, ``.parquet``/``.geoparquet`` or ``.csv``; an
        existing file is replaced (GeoPackage, Parquet and CSV are written to
        ``<name>.partial<suffix>`` and moved into place at the end).
    names
        Names of the lead and cooperating units (:func:`geozone.store.decisions.unit_namer`).
    attribution
        The boundary data's attribution, written on every row.
    on_progress
        Called with (incidents written, incidents matched) after each page.
    page_rows
        Incidents per page.
    notices
        Notices of the selected rows said after the store's (the boundary set's snapshot:
        :meth:`~geozone.store.sql.SqlIncidentStore.set_periods`), written the same way.

    Returns
    -------
    ExportSummary
        What was written, with the store's notices as the export began (an unfinished
        import, reports not linked yet: see the module notes), which the file carries in
        its metadata except a CSV's.
    """
    import json

    from geozone.incidents.notices import unfinished_import_notices
    from geozone.incidents.stream import AssignedWriter, schema_of

    suffix = check_export_path(path)
    # Said as the export begins: the Parquet schema, which holds them, is written first.
    notices = (*unfinished_import_notices(store), *notices)
    listed = json.dumps(notices, ensure_ascii=False)
    parquet_metadata = {PARQUET_NOTICES_KEY: listed} if notices and suffix != ".csv" else None
    written = decided = 0
    held: list[gpd.GeoDataFrame] = []
    writer: AssignedWriter | None = None
    layered = _Layers(path, attribution, notices) if suffix == ".gpkg" else None
    try:
        for page in store.pages(query, page_rows=page_rows):
            rows = incident_rows(page.incidents, page.decisions, names, attribution)
            if suffix in (".geojson", ".json"):
                held.append(rows)
            elif layered is not None:
                layered.write(rows, decision_table(page.decisions, names))
            else:
                if writer is None:
                    writer = AssignedWriter(
                        path,
                        layer=INCIDENTS_LAYER,
                        schema=schema_of(rows),
                        metadata=parquet_metadata,
                    )
                writer.write(rows)
            written += len(rows)
            decided += len(page.decisions)
            if on_progress is not None:
                on_progress(written, page.total)
        if suffix in (".geojson", ".json"):
            import pyogrio

            empty = incident_rows(_empty_page(), _no_decisions(), names, attribution)
            table = gpd.GeoDataFrame(
                pd.concat(held, ignore_index=True) if held else empty, crs=4326
            )
            path.unlink(missing_ok=True)
            members = {GEOJSON_NOTICES_MEMBER: list(notices)}
            pyogrio.write_dataframe(
                _text_lists(table),
                path,
                driver="GeoJSON",
                geometry_type="Point",
                layer_options=(
                    {"FOREIGN_MEMBERS_COLLECTION": json.dumps(members, ensure_ascii=False)}
                    if notices
                    else None
                ),
            )
            return ExportSummary(written, decided, (INCIDENTS_LAYER,), notices)
        if layered is not None:
            if not written:
                empty = incident_rows(_empty_page(), _no_decisions(), names, attribution)
                layered.write(empty, decision_table(_no_decisions(), names))
            layered.close()
            return ExportSummary(written, decided, (INCIDENTS_LAYER, DECISIONS_TABLE), notices)
        if writer is None:
            empty = incident_rows(_empty_page(), _no_decisions(), names, attribution)
            writer = AssignedWriter(
                path, layer=INCIDENTS_LAYER, schema=schema_of(empty), metadata=parquet_metadata
            )
            writer.write(empty)
        writer.close()
        writer = None
        return ExportSummary(written, decided, (INCIDENTS_LAYER,), notices)
    finally:
        if writer is not None:
            writer.abort()
        if layered is not None:
            layered.abort()


def _empty_page() -> gpd.GeoDataFrame:
    """Return the frame of a query that matches nothing (its columns and types)."""
    from geozone.store._query import result_frame

    return result_frame([], sqlite=True)


def _no_decisions() -> pd.DataFrame:
    from geozone.store.base import CLUSTER_COLUMNS

    frame = pd.DataFrame({c: pd.Series(dtype=object) for c in ("external_id", *CLUSTER_COLUMNS)})
    frame["review"] = frame["review"].astype(bool)
    frame["in_zone"] = frame["in_zone"].astype(bool)
    frame["distance_m"] = frame["distance_m"].astype("float64")
    return frame


class _Layers:
    """A GeoPackage written page by page: the incidents layer and the decisions table.

    The first page creates the layers: their description is the attribution, then the
    store's notices, one a line, which are also the layers' metadata item
    :data:`GPKG_NOTICES_KEY` (a JSON list) when there are any; the other pages are appended.
    The file is written beside the target and moved at the end.
    """

    def __init__(self, path: Path, attribution: str, notices: Sequence[str] = ()) -> None:
        self.path = path
        self.partial = path.with_name(f"{path.stem}.partial{path.suffix}")
        self.partial.unlink(missing_ok=True)
        self.attribution = attribution
        self.notices = tuple(notices)
        self.started = False

    def write(self, incidents: gpd.GeoDataFrame, decisions: pd.DataFrame) -> None:
        import json

        import pyogrio

        common: dict[str, Any] = {"driver": "GPKG", "append": self.started}
        if not self.started:
            description = "\n".join(t for t in (self.attribution, *self.notices) if t)
            common["layer_options"] = {"DESCRIPTION": description}
            if self.notices:
                listed = json.dumps(self.notices, ensure_ascii=False)
                common["layer_metadata"] = {GPKG_NOTICES_KEY: listed}
        pyogrio.write_dataframe(
            _text_lists(incidents),
            self.partial,
            layer=INCIDENTS_LAYER,
            geometry_type="Point",
            **common,
        )
        table = decisions.copy()
        table["attribution"] = self.attribution
        pyogrio.write_dataframe(table, self.partial, layer=DECISIONS_TABLE, **common)
        self.started = True

    def close(self) -> None:
        self.partial.replace(self.path)

    def abort(self) -> None:
        self.partial.unlink(missing_ok=True)


def _text_lists(frame: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Return the frame with list values (``candidates``) as comma-joined text."""
    out = frame.copy()
    for column in out.columns:
        if column != out.geometry.name and out[column].dtype == object:
            values = out[column]
            if values.map(lambda v: isinstance(v, list | tuple)).any():
                out[column] = values.map(
                    lambda v: ",".join(map(str, v)) if isinstance(v, list | tuple) else v
                )
    return out


# -- patrol zones -------------------------------------------------------------------------------

#: File suffixes :func:`export_patrol_zones` writes.
PATROL_SUFFIXES = (".gpkg", ".geojson", ".json", ".parquet", ".geoparquet")
#: The GeoPackage layer of patrol zones.
PATROL_LAYER = "patrol_zones"
#: Coverage figures of a patrol zone (:func:`geozone.analysis.patrol.coverage`), if asked.
COVERAGE_COLUMNS = ("zone_area_km2", "border_zone_km2", "border_zone_share", "cluster_share")


def patrol_zone_frame(
    records: Sequence[Mapping[str, Any]],
    context: Context,
    attribution: str,
    *,
    with_coverage: bool = True,
) -> gpd.GeoDataFrame:
    """Return stored patrol zones (:meth:`PlannerStore.list_zones` records) as a layer.

    One row per zone: ``zone_id``, ``name``, ``cluster_id``, ``cluster_name``, ``units``
    and ``unit_names`` (joined with :data:`~geozone.store.decisions.LIST_SEPARATOR`; names
    from the current set, as the service gives them), ``notes``, times, ``created_by``, the
    coverage figures (:data:`COVERAGE_COLUMNS`, measured on the zone's cluster as
    ``GET /patrol-zones/{id}/coverage`` measures them without incidents or hotspots; null
    with the reason in ``coverage_note`` when the cluster is not placed or the zone is
    outside it) and ``attribution``; polygons in EPSG:4326.
    """
    import json

    import shapely

    from geozone.errors import GeozoneError as Problem
    from geozone.store.decisions import LIST_SEPARATOR

    names = context.current.full_names
    placed = {t.cluster.id: t for t in context.territories}
    zones: dict[str, Any] = {}
    rows = []
    for record in records:
        units = [str(code) for code in record["units"]]
        territory = placed.get(str(record["cluster_id"]))
        row: dict[str, Any] = {
            "zone_id": int(record["id"]),
            "name": record["name"],
            "cluster_id": record["cluster_id"],
            "cluster_name": territory.cluster.name if territory is not None else None,
            "units": LIST_SEPARATOR.join(units),
            "unit_names": LIST_SEPARATOR.join(names.get(code, code) for code in units),
            "notes": record["notes"],
            "created_at": record["created_at"],
            "updated_at": record["updated_at"],
            "created_by": record["created_by"],
            **dict.fromkeys(COVERAGE_COLUMNS),
            "coverage_note": None,
            "geometry": shapely.geometry.shape(json.loads(record["geometry"])),
        }
        if with_coverage:
            if territory is None:
                row["coverage_note"] = f"cluster {record['cluster_id']} is not placed"
            else:
                try:
                    row.update(_zone_coverage(row["geometry"], territory, zones))
                except Problem as exc:
                    row["coverage_note"] = str(exc)
        else:
            row["coverage_note"] = "not measured (--no-coverage)"
        rows.append(row)
    columns = [
        "zone_id", "name", "cluster_id", "cluster_name", "units", "unit_names", "notes",
        "created_at", "updated_at", "created_by", *COVERAGE_COLUMNS, "coverage_note",
    ]  # fmt: skip
    frame = pd.DataFrame.from_records(rows, columns=[*columns, "geometry"])
    for column in COVERAGE_COLUMNS:
        frame[column] = frame[column].astype("float64")
    for column in ("created_at", "updated_at"):
        frame[column] = pd.to_datetime(frame[column], utc=True).dt.tz_convert(VIETNAM_TZ)
    frame["attribution"] = attribution
    return gpd.GeoDataFrame(frame, geometry="geometry", crs=4326)


def _zone_coverage(
    zone: Any, territory: ClusterTerritory, zones: dict[str, Any]
) -> dict[str, float | None]:
    """Measure a zone's coverage figures on its cluster (border zones built once a cluster)."""
    from geozone.analysis.border_effect import territory_zones
    from geozone.analysis.patrol import coverage

    cid = territory.cluster.id
    if cid not in zones:
        zones[cid] = territory_zones(territory)
    measured = coverage(zone, territory, zones=zones[cid])
    return {name: getattr(measured, name) for name in COVERAGE_COLUMNS}


def export_patrol_zones(frame: gpd.GeoDataFrame, path: Path) -> None:
    """Write a patrol zone layer (:func:`patrol_zone_frame`) to ``path``, replacing it.

    GeoPackage (layer ``patrol_zones``, its description the attribution), GeoJSON or
    GeoParquet; the file is written beside the target and moved into place.
    """
    import pyogrio

    suffix = check_export_path(path, PATROL_SUFFIXES)
    partial = path.with_name(f"{path.stem}.partial{path.suffix}")
    partial.unlink(missing_ok=True)
    try:
        if suffix in (".parquet", ".geoparquet"):
            frame.to_parquet(partial, index=False)
        else:
            driver = "GPKG" if suffix == ".gpkg" else "GeoJSON"
            attribution = str(frame["attribution"].iloc[0]) if len(frame) else ""
            pyogrio.write_dataframe(
                frame,
                partial,
                driver=driver,
                geometry_type="Polygon",
                **(
                    {"layer": PATROL_LAYER, "layer_options": {"DESCRIPTION": attribution}}
                    if driver == "GPKG"
                    else {}
                ),
            )
        partial.replace(path)
    finally:
        partial.unlink(missing_ok=True)
