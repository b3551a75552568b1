"""The vectorised check of incident rows, derived from the field table.

:func:`validate_incidents` turns a frame of cells (text or typed values) whose columns are
named after the incident fields into valid rows and :class:`Reject` records. It enforces the
rules of :data:`geozone.incidents.fields.INCIDENT_FIELDS`, the table the
:class:`~geozone.incidents.schema.Incident` model is built from, with their limits and the
wording of each reject taken from it; ``tests/store/test_fields.py`` holds it to the model
and to the store at every limit. There is no pydantic call per row: pandas and numpy masks,
so millions of rows check in seconds.

On top of the field rules the check applies what needs the whole file or the country: a
point must lie in Vietnam's extent (a generous box, :data:`VIETNAM_BBOX`; the assignment
step later flags points outside every unit precisely), and an ``external_id`` may appear
once (the first row keeps it; later rows are rejected naming the first line).

Before the rules apply, cells are read in the spellings of Vietnamese exports (see
:mod:`geozone.incidents.io._cells`); text cells are stripped and NFC-normalised with spaces
collapsed; empty optional cells are missing values and take the field's default. Reject
fields are the incident field names, plus ``coordinates`` (a point outside Vietnam or not
transformable), ``geometry`` (a feature without a point geometry) and ``address``.

A row with an ``address`` and no coordinate at all is not rejected for its missing point:
it is returned apart (``ReadResult.address_only``), to be located by its address only.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import shapely
from numpy.typing import NDArray
from pyproj import CRS

from geozone.errors import IncidentFileError
from geozone.incidents.fields import FIELDS, INCIDENT_COLUMNS, REQUIRED_COLUMNS
from geozone.incidents.io import _cells as cells
from geozone.incidents.io._crs import crs_key as crs_key_of
from geozone.incidents.io._crs import operation, to_wgs84
from geozone.incidents.io.frame import incident_frame
from geozone.incidents.schema import CATEGORIES, category_code, plausible_utc_us, time_range_text

#: Vietnam's extent in degrees (west, south, east, north), generous on purpose: the
#: mainland, Côn Đảo, Phú Quốc, Hoàng Sa and Trường Sa all fall inside (so does some of the
#: neighbours' land and sea; the assignment step flags points outside every unit).
VIETNAM_BBOX: tuple[float, float, float, float] = (102.0, 6.0, 118.0, 23.6)

#: Order of fields in the reject list of a row.
_FIELD_ORDER = {
    name: i
    for i, name in enumerate(("row", *INCIDENT_COLUMNS, "coordinates", "geometry", "address"))
}
#: The required fields that a point geometry may stand for.
_POINT = tuple(name for name in REQUIRED_COLUMNS if FIELDS[name].kind == "coordinate")
#: The other required fields.
_NON_POINT = tuple(name for name in REQUIRED_COLUMNS if name not in _POINT)


@dataclass(frozen=True)
class Reject:
    """One problem of one input row.

    Attributes
    ----------
    line
        Line number in a CSV file (the header is line 1), feature number (from 1) otherwise.
    external_id
        The row's id as read (NFC), None when it has none.
    field
        The Incident field at fault, or ``coordinates`` / ``geometry``.
    reason
        What is wrong, quoting the value.
    """

    line: int
    external_id: str | None
    field: str
    reason: str

    def __str__(self) -> str:
        who = f" ({self.external_id})" if self.external_id else ""
        return f"line {self.line}{who}: {self.field}: {self.reason}"


@dataclass(frozen=True)
class ReadResult:
    """The valid incidents of a file and the problems of the others.

    Attributes
    ----------
    incidents
        Valid rows, columns exactly :data:`~geozone.incidents.fields.INCIDENT_COLUMNS`
        (lon/lat in EPSG:4326, times in Vietnam time), indexed by the input line or feature
        number (index name ``line``).
    rejects
        Every problem of every rejected row, by line then field.
    n_rows
        Number of input rows (blank CSV lines are not rows).
    columns
        Which input column gave each field.
    source_crs
        The CRS the coordinates were read in.
    notes
        Remarks about the read (the coordinate transformation used, synthetic markers).
    address_only
        Valid rows without coordinates but with an ``address`` (when the input has an
        address column): the incident columns (``lon``/``lat`` NaN) and ``address``, indexed
        like ``incidents``; None without an address column. See
        :mod:`geozone.address.incidents`.
    """

    incidents: pd.DataFrame
    rejects: list[Reject]
    n_rows: int
    columns: dict[str, str] = field(default_factory=dict)
    source_crs: str = "EPSG:4326"
    notes: tuple[str, ...] = ()
    address_only: pd.DataFrame | None = None

    @property
    def rejected_lines(self) -> list[int]:
        """The lines of the rejected rows, sorted, each once."""
        return sorted({reject.line for reject in self.rejects})


class _Problems:
    """Problems found so far: (row positions, field, reasons) per check."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.bad = np.zeros(n, dtype=bool)
        self.found: list[tuple[NDArray[np.intp], str, list[str]]] = []

    def add(
        self,
        name: str,
        mask: NDArray[np.bool_],
        reason: Callable[[NDArray[np.intp]], Sequence[str]] | Sequence[str] | str,
    ) -> None:
        """Record ``reason`` (one text, one per masked row, or a function of the rows)."""
        rows = np.flatnonzero(mask)
        if not len(rows):
            return
        self.bad[rows] = True
        if isinstance(reason, str):
            reasons = [reason] * len(rows)
        elif callable(reason):
            reasons = list(reason(rows))
        else:
            reasons = list(reason)
        self.found.append((rows, name, reasons))

    def forgive(self, mask: NDArray[np.bool_], names: Sequence[str]) -> None:
        """Drop the problems of fields ``names`` on the masked rows (recounting bad rows)."""
        kept = []
        for rows, name, reasons in self.found:
            if name in names:
                keep = ~mask[rows]
                rows, reasons = rows[keep], [r for r, k in zip(reasons, keep, strict=True) if k]
            if len(rows):
                kept.append((rows, name, reasons))
        self.found = kept
        self.bad = np.zeros(self.n, dtype=bool)
        for rows, _, _ in kept:
            self.bad[rows] = True

    def rejects(self, lines: NDArray[np.int64], ids: NDArray[np.object_]) -> list[Reject]:
        """Return every problem as a :class:`Reject`, by row then field."""
        items = [
            (int(row), _FIELD_ORDER.get(name, 99), name, text)
            for rows, name, reasons in self.found
            for row, text in zip(rows, reasons, strict=True)
        ]
        items.sort(key=lambda item: (item[0], item[1]))
        return [
            Reject(int(lines[row]), _printable_id(ids[row]), name, text)
            for row, _, name, text in items
        ]


def _printable_id(value: str | None) -> str | None:
    """Return a reject's id as it can be stored and shown (a NUL spelled out, as JSONB needs)."""
    return value.replace("\x00", "\\x00") if value else None


def validate_incidents(
    frame: pd.DataFrame,
    *,
    crs: str | int = 4326,
    lines: Sequence[int] | NDArray[np.int64] | None = None,
    synthetic: bool | None = None,
    source: str = "<frame>",
) -> ReadResult:
    """Validate rows whose columns are already named after the Incident fields.

    This is the vectorised path behind :func:`~geozone.incidents.io.read_incidents`, usable
    on its own (records posted to an API, a frame built in memory). It enforces the rules of
    the field table (see the module notes) plus the Vietnam extent and unique ids.

    Parameters
    ----------
    frame
        Columns named after Incident fields (``external_id``, ``occurred_at``, ``category``
        and either ``lon``/``lat`` or a ``geometry`` column of points are required); cells
        may be text or typed values.
    crs
        CRS of ``lon``/``lat`` (or of the geometry).
    lines
        Line or feature number of each row (default 1, 2, ...).
    synthetic
        None: take the ``synthetic`` column. True: mark every row synthetic. False: assert
        the rows are real (refused when a row says otherwise).
    source
        Named in error messages.

    Returns
    -------
    ReadResult
        Valid rows and rejects.

    Raises
    ------
    IncidentFileError
        When a required column is missing, the CRS is unknown, or ``synthetic=False`` meets
        rows marked synthetic.
    """
    n = len(frame)
    line_numbers = (
        np.arange(1, n + 1, dtype=np.int64) if lines is None else np.asarray(lines, np.int64)
    )
    _require_columns(frame, source)
    crs_key = crs_key_of(crs)
    problems = _Problems(n)
    notes: list[str] = []
    absent = pd.Series([None] * n, index=frame.index, dtype=object)

    def column(name: str) -> pd.Series:
        return frame[name] if name in frame.columns else absent

    ids = _external_ids(frame["external_id"], line_numbers, problems)
    occurred = _time("occurred_at", column("occurred_at"), problems)
    detected = _time("detected_at", column("detected_at"), problems)
    _not_before("detected_at", detected, occurred, problems)
    if "geometry" in frame.columns or {"lon", "lat"} <= set(frame.columns):
        lon, lat = _coordinates(frame, crs_key, problems, notes)
    else:  # addresses only (see _require_columns)
        lon, lat = np.full(n, np.nan), np.full(n, np.nan)
    by_address = _address_only(frame, problems)
    values: dict[str, NDArray[Any] | pd.DatetimeIndex] = {
        "external_id": ids,
        "occurred_at": occurred,
        "detected_at": detected,
        "lon": lon,
        "lat": lat,
        "category": _categories(frame["category"], problems),
        "detected_by": _optional_text("detected_by", column("detected_by"), problems),
        "status": _status(column("status"), problems),
        "subjects": _count("subjects", column("subjects"), problems),
        "jointly_handled": _flag("jointly_handled", column("jointly_handled"), problems),
        "description": _optional_text("description", column("description"), problems),
        "synthetic": _synthetic(column("synthetic"), synthetic, source, problems),
    }
    keep = ~problems.bad & ~by_address
    incidents = incident_frame(
        {name: value[keep] for name, value in values.items()},
        index=pd.Index(line_numbers[keep], name="line"),
    )
    address_only = None
    if "address" in frame.columns:
        located = ~problems.bad & by_address
        address_only = incident_frame(
            {name: value[located] for name, value in values.items()},
            index=pd.Index(line_numbers[located], name="line"),
        )
        address_only["address"] = cells.texts(frame["address"])[located]
    return ReadResult(
        incidents=incidents,
        rejects=problems.rejects(line_numbers, ids),
        n_rows=n,
        source_crs=crs_key,
        notes=tuple(notes),
        address_only=address_only,
    )


def _require_columns(frame: pd.DataFrame, source: str) -> None:
    """Refuse a frame without a column for a required field (a geometry holds the point)."""
    absent = [name for name in _NON_POINT if name not in frame.columns]
    if "geometry" not in frame.columns and "address" not in frame.columns:
        absent += [name for name in _POINT if name not in frame.columns]
    if absent:
        raise IncidentFileError(f"{source}: no column for {', '.join(absent)}")


# -- text ------------------------------------------------------------------------------------


def _too_long(name: str, values: NDArray[np.object_], problems: _Problems) -> None:
    """Reject the texts longer than the field's ``max_length`` (None: no limit)."""
    spec = FIELDS[name]
    if spec.max_length is None:
        return
    long = cells.lengths(values) > spec.max_length
    problems.add(
        name,
        long,
        lambda rows: [
            spec.reason("too_long", length=len(values[r]), value=values[r]) for r in rows
        ],
    )


def _nul(name: str, values: NDArray[np.object_], problems: _Problems) -> None:
    """Reject the texts holding a NUL character."""
    problems.add(name, cells.has_nul(values), FIELDS[name].reason("nul"))


def _external_ids(
    series: pd.Series, line_numbers: NDArray[np.int64], problems: _Problems
) -> NDArray[np.object_]:
    """Read the ids: present, within the length, without NUL, each once."""
    ids = cells.texts(series)
    problems.add(
        "external_id", np.asarray(pd.isna(ids), bool), FIELDS["external_id"].reason("missing")
    )
    _too_long("external_id", ids, problems)
    id_series = pd.Series(ids, dtype=object)
    present = id_series.notna().to_numpy(bool)
    duplicated = present & id_series.duplicated(keep="first").to_numpy(bool)
    if duplicated.any():
        by_id = pd.Series(line_numbers).groupby(id_series.to_numpy(), dropna=False)
        firsts = by_id.transform("first").to_numpy(dtype=np.int64)
        problems.add(
            "external_id",
            duplicated,
            lambda rows: [f"duplicate id {ids[r]!r} (first on line {firsts[r]})" for r in rows],
        )
    _nul("external_id", ids, problems)
    return ids


def _optional_text(name: str, series: pd.Series, problems: _Problems) -> NDArray[np.object_]:
    """Read an optional text (NFC): no NUL, within the length; blank takes the default."""
    values = cells.texts(series)
    _nul(name, values, problems)
    _too_long(name, values, problems)
    default = FIELDS[name].default
    if default is not None:
        values = values.copy()
        values[pd.isna(values)] = default
    return values


# -- times -----------------------------------------------------------------------------------


def _time(name: str, series: pd.Series, problems: _Problems) -> pd.DatetimeIndex:
    """Read a time: present when required, readable, in the plausible range."""
    spec = FIELDS[name]
    times, missing, unreadable = cells.datetimes(series)
    if spec.required:
        problems.add(name, missing, spec.reason("missing"))
    problems.add(
        name,
        unreadable,
        lambda rows: [
            spec.reason("unreadable", value=q) for q in cells.quote(cells.values_of(series), rows)
        ],
    )
    outside = ~(missing | unreadable) & ~plausible_utc_us(times.asi8)
    problems.add(
        name,
        outside,
        lambda rows: [
            spec.reason("plausible", value=cells.iso_text(times.asi8[r]), range=time_range_text())
            for r in rows
        ],
    )
    return times


def _not_before(
    name: str, times: pd.DatetimeIndex, earlier: pd.DatetimeIndex, problems: _Problems
) -> None:
    """Reject the times of ``name`` that precede those of the field it must follow."""
    spec = FIELDS[name]
    both = ~np.asarray(earlier.isna()) & ~np.asarray(times.isna())
    problems.add(
        name,
        both & (times.asi8 < earlier.asi8),
        lambda rows: [
            spec.reason("order", value=times[r].isoformat(), other=earlier[r].isoformat())
            for r in rows
        ],
    )


# -- coded values, counts, flags -------------------------------------------------------------


def _category_or_blank(text: str) -> str:
    try:
        return category_code(text)
    except ValueError:
        return ""


def _categories(series: pd.Series, problems: _Problems) -> NDArray[np.object_]:
    """Read categories as codes (labels in either language accepted)."""
    spec = FIELDS["category"]
    out = cells.by_unique(cells.strings(series), _category_or_blank)
    problems.add("category", np.asarray(pd.isna(out), bool), spec.reason("missing"))
    known = ", ".join(CATEGORIES)
    shown = cells.values_of(series)
    problems.add(
        "category",
        np.asarray(out == "", bool),
        lambda rows: [
            spec.reason("unknown", value=cells.cell_text(shown[r]), known=known) for r in rows
        ],
    )
    # Every text cell read is checked for NUL, the category's too (before it is looked up).
    _nul("category", cells.texts(series, False), problems)
    return out


def _status(series: pd.Series, problems: _Problems) -> NDArray[np.object_]:
    """Read statuses (English and Vietnamese words); blank takes the default."""
    spec = FIELDS["status"]
    raw = cells.texts(series, normalise=False)
    status = cells.statuses(series)
    status[pd.isna(raw)] = spec.default
    problems.add(
        "status",
        np.asarray(status == "", bool),
        lambda rows: [spec.reason("choice", value=raw[r]) for r in rows],
    )
    return status


def _count(name: str, series: pd.Series, problems: _Problems) -> NDArray[np.int64]:
    """Read a whole number within the field's range; blank takes the default."""
    spec = FIELDS[name]
    low, high = spec.bounds
    values, missing, bad = cells.numbers(series)
    problems.add(
        name,
        bad,
        lambda rows: [
            spec.reason("not_a_number", value=q) for q in cells.quote(cells.values_of(series), rows)
        ],
    )
    read = ~missing & ~bad
    with np.errstate(invalid="ignore"):
        not_whole = read & (np.isnan(values) | (values % 1 != 0))
        outside = read & ~not_whole & ((values < low) | (values > high))
    problems.add(
        name,
        not_whole,
        lambda rows: [
            spec.reason("not_whole", value=q) for q in cells.quote(cells.values_of(series), rows)
        ],
    )
    problems.add(name, outside, lambda rows: [spec.reason("range", value=values[r]) for r in rows])
    return np.where(missing, spec.default, np.nan_to_num(values)).astype(np.int64)


def _flag(name: str, series: pd.Series, problems: _Problems) -> NDArray[np.bool_]:
    """Read a yes/no field; blank takes the default."""
    spec = FIELDS[name]
    is_true, missing, bad = cells.flags(series)
    problems.add(
        name,
        bad,
        lambda rows: [
            spec.reason("not_a_flag", value=q) for q in cells.quote(cells.values_of(series), rows)
        ],
    )
    return np.where(missing, bool(spec.default), is_true)


def _synthetic(
    series: pd.Series, synthetic: bool | None, source: str, problems: _Problems
) -> NDArray[np.bool_]:
    """Read the synthetic flags, or mark every row; refuse marked rows said to be real."""
    marked = _flag("synthetic", series, problems)
    if synthetic is False and marked.any():
        raise IncidentFileError(
            f"{source}: {int(marked.sum())} row(s) are marked synthetic; refusing synthetic=False"
        )
    return np.ones(len(series), bool) if synthetic else marked


# -- coordinates -----------------------------------------------------------------------------


#: A 2-D point in little-endian WKB: byte order 1, type 1, x, y (21 bytes).
_WKB_POINT = np.dtype([("order", "u1"), ("kind", "<u4"), ("x", "<f8"), ("y", "<f8")])


def _wkb_points(values: NDArray[np.object_]) -> tuple[NDArray[np.float64], ...] | None:
    """Return x and y of WKB values that are all 2-D little-endian points (else None).

    A streamed (Geo)Parquet file gives its points as WKB: read here without making a GEOS
    geometry of each (``POINT EMPTY`` is NaN, NaN, as WKB writes it).
    """
    try:
        blob = b"".join(values)
    except TypeError:  # missing values, or geometries already
        return None
    if len(blob) != _WKB_POINT.itemsize * len(values):
        return None
    points = np.frombuffer(blob, dtype=_WKB_POINT)
    if not ((points["order"] == 1).all() and (points["kind"] == 1).all()):
        return None
    return points["x"].copy(), points["y"].copy()


def _geometries(values: NDArray[np.object_]) -> NDArray[np.object_]:
    """Return a geometry column as shapely geometries (WKB bytes are decoded)."""
    given = values[pd.notna(values)]
    if len(given) and isinstance(given[0], bytes | bytearray | memoryview):
        return np.asarray(shapely.from_wkb(values), dtype=object)
    return values


def _geometry_coordinates(
    values: NDArray[np.object_], problems: _Problems
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    fast = _wkb_points(values)
    if fast is not None:
        x, y = fast
        problems.add("geometry", np.isnan(x) & np.isnan(y), "no geometry")
        return x, y
    geoms = _geometries(values)
    missing = shapely.is_missing(geoms) | shapely.is_empty(geoms)
    kinds = shapely.get_type_id(geoms)
    not_point = ~missing & (kinds != shapely.GeometryType.POINT)
    problems.add("geometry", missing, "no geometry")
    problems.add(
        "geometry",
        not_point,
        lambda rows: [f"not a point ({g.geom_type})" for g in geoms[rows]],
    )
    ok = ~missing & ~not_point
    x = np.full(len(geoms), np.nan)
    y = np.full(len(geoms), np.nan)
    x[ok] = shapely.get_x(geoms[ok])
    y[ok] = shapely.get_y(geoms[ok])
    return x, y


def _axis(name: str, series: pd.Series, label: str, problems: _Problems) -> NDArray[np.float64]:
    """Read one coordinate column: present, a number, finite (NaN where not)."""
    spec = FIELDS[name]
    values, missing, bad = cells.numbers(series)
    problems.add(name, missing, spec.reason("missing", label=label))
    quoted = cells.quote(cells.values_of(series), np.flatnonzero(bad))
    problems.add(name, bad, [spec.reason("not_a_number", label=label, value=q) for q in quoted])
    nonfinite = ~missing & ~bad & ~np.isfinite(values)
    shown = values[nonfinite]
    problems.add(name, nonfinite, [spec.reason("not_finite", label=label, value=v) for v in shown])
    return values


def _in_range(
    x: NDArray[np.float64], y: NDArray[np.float64], problems: _Problems
) -> NDArray[np.bool_]:
    """Reject geographic coordinates outside the field's range; tell which are inside."""
    west, south, east, north = VIETNAM_BBOX
    swapped = (y >= west) & (y <= east) & (x >= south) & (x <= north)
    inside = np.ones(len(x), bool)
    for name, values in (("lon", x), ("lat", y)):
        spec = FIELDS[name]
        low, high = spec.bounds
        outside = np.isfinite(values) & ((values < low) | (values > high))
        problems.add(
            name,
            outside,
            [
                spec.reason("range", value=values[r])
                + (" (longitude and latitude look swapped)" if swapped[r] else "")
                for r in np.flatnonzero(outside)
            ],
        )
        inside &= ~outside
    return inside


def _coordinates(
    frame: pd.DataFrame, crs_key: str, problems: _Problems, notes: list[str]
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Read, range-check, transform and extent-check the points; return lon/lat (NaN if bad)."""
    n = len(frame)
    geographic = CRS.from_user_input(crs_key).is_geographic
    if "lon" in frame.columns and "lat" in frame.columns:
        x_label, y_label = (FIELDS["lon"].label, FIELDS["lat"].label) if geographic else ("x", "y")
        x = _axis("lon", frame["lon"], x_label, problems)
        y = _axis("lat", frame["lat"], y_label, problems)
    else:
        x, y = _geometry_coordinates(frame["geometry"].to_numpy(dtype=object), problems)
    usable = np.isfinite(x) & np.isfinite(y)
    if geographic:
        usable &= _in_range(x, y, problems)
    lon = np.full(n, np.nan)
    lat = np.full(n, np.nan)
    transformer = to_wgs84(crs_key)
    if transformer is None:
        lon[usable], lat[usable] = x[usable], y[usable]
    else:
        if usable.any():
            tx, ty = transformer.transform(x[usable], y[usable], errcheck=False)
            lon[usable], lat[usable] = tx, ty
        notes.append(f"coordinates converted from {crs_key}: {operation(crs_key)}")
        failed = usable & ~(np.isfinite(lon) & np.isfinite(lat))
        problems.add(
            "coordinates",
            failed,
            lambda rows: [f"({x[r]:g}, {y[r]:g}) cannot be converted from {crs_key}" for r in rows],
        )
        usable &= ~failed
    west, south, east, north = VIETNAM_BBOX
    inside = (lon >= west) & (lon <= east) & (lat >= south) & (lat <= north)
    problems.add(
        "coordinates",
        usable & ~inside,
        lambda rows: [
            f"outside Vietnam: lon {lon[r]:.6f}, lat {lat[r]:.6f}"
            + ("" if transformer is None else f" (from {x[r]:.2f}, {y[r]:.2f} in {crs_key})")
            for r in rows
        ],
    )
    return lon, lat


# -- address only ----------------------------------------------------------------------------

#: The longest address read (as :data:`geozone.address.resolve.MAX_ADDRESS_CHARS`).
MAX_ADDRESS_CHARS = 300


def _address_only(frame: pd.DataFrame, problems: _Problems) -> NDArray[np.bool_]:
    """Tell the rows located by their address only: an address, and no coordinate at all.

    Their coordinate problems are dropped (they have none to check); the address must be
    text without NUL, at most :data:`MAX_ADDRESS_CHARS` long. Without an ``address`` column,
    no row is.
    """
    n = len(frame)
    if "address" not in frame.columns:
        return np.zeros(n, dtype=bool)
    address = cells.texts(frame["address"])
    given = np.asarray(pd.notna(address), bool)
    if "lon" in frame.columns and "lat" in frame.columns:
        no_point = cells.numbers(frame["lon"])[1] & cells.numbers(frame["lat"])[1]
    elif "geometry" in frame.columns:
        geoms = _geometries(frame["geometry"].to_numpy(dtype=object))
        no_point = np.asarray(shapely.is_missing(geoms) | shapely.is_empty(geoms), bool)
    else:
        no_point = np.ones(n, dtype=bool)
        problems.add("coordinates", ~given, "no coordinates and no address")
    chosen = given & no_point
    problems.forgive(chosen, ("lon", "lat", "coordinates", "geometry"))
    problems.add("address", chosen & cells.has_nul(address), "contains a NUL character")
    long = chosen & (cells.lengths(address) > MAX_ADDRESS_CHARS)
    problems.add(
        "address",
        long,
        lambda rows: [
            f"{len(address[r]):,} characters; at most {MAX_ADDRESS_CHARS} are read" for r in rows
        ],
    )
    return chosen
