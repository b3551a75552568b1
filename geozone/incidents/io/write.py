"""Write incident files: CSV, GeoJSON, GeoPackage and GeoParquet, chosen by the suffix.

:func:`write_incidents` writes the Incident columns by suffix (``.csv``, ``.geojson``/
``.json``, ``.gpkg``, ``.parquet``/``.geoparquet``). The ``synthetic`` column is always
written; a file holding synthetic rows also says so in its metadata where the format has
any: GeoParquet key-value metadata ``geozone:synthetic = "true"``, a GeoPackage layer
identifier and description starting with ``SYNTHETIC``, a GeoJSON ``description`` member.
:func:`~geozone.incidents.io.read_incidents` reads those markers back and refuses
``synthetic=False`` for a file that carries them.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq
import pyogrio
import shapely
from numpy.typing import NDArray

from geozone.errors import IncidentFileError
from geozone.incidents.fields import INCIDENT_COLUMNS, INCIDENT_FIELDS
from geozone.incidents.io._formats import (
    PARQUET_SYNTHETIC_KEY,
    SYNTHETIC_MARK,
    Format,
    format_of,
)
from geozone.incidents.io.frame import as_vietnam_time
from geozone.vntime import VIETNAM_TZ

#: The time fields (written with their offset, or in UTC in a GeoPackage).
_TIMES = tuple(spec.name for spec in INCIDENT_FIELDS if spec.kind == "time")
#: The text fields that may be None.
_NULLABLE_TEXT = tuple(
    spec.name for spec in INCIDENT_FIELDS if spec.kind == "text" and spec.nullable
)


def write_incidents(frame: pd.DataFrame, path: str | Path, *, layer: str | None = None) -> Path:
    """Write incidents to CSV, GeoJSON, GeoPackage or GeoParquet, chosen by the suffix.

    Only the Incident columns are written, in their order; lon/lat become point geometries
    (EPSG:4326) in the geographic formats and stay columns in CSV. Times are written with
    their UTC offset (CSV, GeoJSON, Parquet) or in UTC (GeoPackage, as its standard asks).
    The CSV's first line is the header (no comment lines). Synthetic rows are marked by the
    ``synthetic`` column and, where the format allows, by file metadata (see the module
    notes).

    Parameters
    ----------
    frame
        Incident rows, e.g. ``ReadResult.incidents`` or a synthetic frame; it must have every
        Incident column, ``synthetic`` included.
    path
        Target file; its suffix chooses the format. An existing file is replaced.
    layer
        Layer name for GeoPackage/GeoJSON (default ``incidents``, or ``synthetic_incidents``
        when any row is synthetic).

    Returns
    -------
    Path
        The file written.

    Raises
    ------
    IncidentFileError
        For an unknown suffix or a frame without the Incident columns.
    """
    target = Path(path)
    kind = format_of(target)
    missing = [name for name in INCIDENT_COLUMNS if name not in frame.columns]
    if missing:
        hint = " (say whether the rows are synthetic)" if "synthetic" in missing else ""
        raise IncidentFileError(
            f"cannot write {target}: the frame lacks column(s) {', '.join(missing)}{hint}"
        )
    data = frame[list(INCIDENT_COLUMNS)].reset_index(drop=True)
    data["synthetic"] = data["synthetic"].astype(bool)
    n_synthetic = int(data["synthetic"].sum())
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.exists():
        target.unlink()
    if kind == "csv":
        _write_csv(data, target)
    elif kind == "parquet":
        _write_geoparquet(data, target, n_synthetic)
    else:
        _write_ogr(data, target, kind, layer, n_synthetic)
    return target


def _iso(values: pd.Series) -> NDArray[np.str_]:
    """ISO 8601 text with the +07:00 offset (vectorised; pandas' strftime is 50x slower)."""
    index = as_vietnam_time(values)
    local = index.tz_localize(None).to_numpy("datetime64[us]")
    present = ~np.isnat(local)
    fractional = bool((local[present].astype(np.int64) % 1_000_000 != 0).any())
    text = np.datetime_as_string(local, unit="us" if fractional else "s")
    offset = VIETNAM_TZ.utcoffset(None)
    hours, rest = divmod(int(offset.total_seconds()), 3600)
    suffix = f"{'+' if hours >= 0 else '-'}{abs(hours):02d}:{rest // 60:02d}"
    out: NDArray[np.str_] = np.where(present, np.char.add(text, suffix), "")
    return out


def _write_csv(data: pd.DataFrame, target: Path) -> None:
    """Write with pyarrow's CSV writer (C++; pandas' to_csv is several times slower)."""
    columns: dict[str, pa.Array] = {}
    for spec in INCIDENT_FIELDS:
        name = spec.name
        if spec.kind == "time":
            columns[name] = pa.array(_iso(data[name]), type=pa.string())
        elif spec.kind == "flag":
            flags = data[name].to_numpy(bool)
            columns[name] = pa.array(np.where(flags, "true", "false"), type=pa.string())
        elif spec.kind in ("coordinate", "count"):
            columns[name] = pa.array(data[name].to_numpy())
        else:
            columns[name] = pa.array(data[name].astype("str").array).cast(pa.string())
    options = pa_csv.WriteOptions(include_header=False, quoting_style="needed")
    with target.open("wb") as handle:  # header unquoted on the first line, then the rows
        handle.write((",".join(INCIDENT_COLUMNS) + "\n").encode())
        pa_csv.write_csv(pa.table(columns), handle, write_options=options)


def _points(data: pd.DataFrame) -> NDArray[np.object_]:
    return shapely.points(data["lon"].to_numpy(float), data["lat"].to_numpy(float))  # type: ignore[no-any-return]


def _synthetic_text(n_synthetic: int, n: int) -> tuple[str, str]:
    identifier = f"{SYNTHETIC_MARK} incidents (geozone)"
    description = (
        f"{SYNTHETIC_MARK}: {n_synthetic} of {n} incidents are synthetic, generated by "
        "geozone.incidents.synthetic for demonstration, testing and benchmarks; they are not real "
        "police records."
    )
    return identifier, description


def _write_ogr(
    data: pd.DataFrame, target: Path, kind: Format, layer: str | None, n_synthetic: int
) -> None:
    import geopandas as gpd

    out = data.drop(columns=["lon", "lat"])
    for name in _NULLABLE_TEXT:
        out[name] = out[name].astype("str")
    if kind == "gpkg":  # the GeoPackage standard stores date-times in UTC
        for name in _TIMES:
            out[name] = out[name].dt.tz_convert("UTC")
    gdf = gpd.GeoDataFrame(out, geometry=_points(data), crs=4326)
    name = layer or ("synthetic_incidents" if n_synthetic else "incidents")
    options: dict[str, str] = {}
    if n_synthetic:
        identifier, description = _synthetic_text(n_synthetic, len(data))
        options = {"DESCRIPTION": description}
        if kind == "gpkg":
            options["IDENTIFIER"] = identifier
    driver = "GPKG" if kind == "gpkg" else "GeoJSON"
    pyogrio.write_dataframe(gdf, target, layer=name, driver=driver, layer_options=options)


def _write_geoparquet(data: pd.DataFrame, target: Path, n_synthetic: int) -> None:
    """Write GeoParquet 1.0 by hand: WKB points, CRS84 (the default CRS, so none is stored)."""
    out = data.drop(columns=["lon", "lat"])
    for name in _NULLABLE_TEXT:
        out[name] = out[name].astype(object)
    table = pa.Table.from_pandas(out, preserve_index=False)
    points = _points(data)
    table = table.append_column("geometry", pa.array(shapely.to_wkb(points), type=pa.binary()))
    finite = data[["lon", "lat"]].dropna()
    bbox = (
        [
            float(finite["lon"].min()),
            float(finite["lat"].min()),
            float(finite["lon"].max()),
            float(finite["lat"].max()),
        ]
        if len(finite)
        else []
    )
    geo = {
        "version": "1.0.0",
        "primary_column": "geometry",
        "columns": {"geometry": {"encoding": "WKB", "geometry_types": ["Point"], "bbox": bbox}},
    }
    metadata = dict(table.schema.metadata or {})
    metadata[b"geo"] = json.dumps(geo).encode()
    metadata[PARQUET_SYNTHETIC_KEY] = b"true" if n_synthetic else b"false"
    if n_synthetic:
        metadata[b"geozone:description"] = _synthetic_text(n_synthetic, len(data))[1].encode()
    pq.write_table(table.replace_schema_metadata(metadata), target)


#: A point in ISO WKB, little-endian: byte order 1, geometry type 1, x, y (21 bytes).
_WKB_POINT = np.dtype([("order", "u1"), ("kind", "<u4"), ("x", "<f8"), ("y", "<f8")])


#: Rows converted to Arrow and written at a time (a row group each).
_ROWS_PER_SLICE = 131_072
