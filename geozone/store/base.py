"""The incident store interface, independent of any database.

:class:`IncidentStore` is what the rest of geozone talks to; :mod:`geozone.store.sql` implements
it on SQLite (embedded default) and on PostgreSQL + PostGIS. This module also holds what both
backends share: the query object, the column vocabularies, and the vectorised validation that
turns a caller's DataFrame into the canonical frame a backend writes.

Times are stored as UTC instants and returned in Vietnam time (UTC+7, :data:`VIETNAM_TZ`);
a naive time given to the store is taken as Vietnam time, as
:class:`~geozone.incidents.schema.Incident`
does. Text is stored NFC.
"""

from __future__ import annotations

import hashlib
import math
import re
from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal, Self

import numpy as np
import pandas as pd

from geozone.clusters.model import Confirmation
from geozone.errors import IncidentDataError, InvalidParameterError
from geozone.incidents.schema import (
    CATEGORIES,
    CLUSTER_DECISION_FIELDS,
    JURISDICTION_FIELDS,
    category_code,
    check_period_bound,
    plausible_utc_us,
    time_range_text,
)
from geozone.vntime import VIETNAM_TZ, aware

if TYPE_CHECKING:
    import geopandas as gpd
    from sqlalchemy.engine import Engine

#: Columns of an incident, as :class:`~geozone.incidents.schema.Incident` names its fields.
INCIDENT_COLUMNS: tuple[str, ...] = (
    "external_id",
    "occurred_at",
    "detected_at",
    "lon",
    "lat",
    "category",
    "detected_by",
    "status",
    "subjects",
    "jointly_handled",
    "description",
    "synthetic",
)
#: Columns a caller must give to :meth:`IncidentStore.add_incidents`; the others default.
REQUIRED_INCIDENT_COLUMNS: tuple[str, ...] = (
    "external_id",
    "occurred_at",
    "lon",
    "lat",
    "category",
)

#: The unit assignment of one incident, given to :meth:`IncidentStore.save_assignments`.
UNIT_COLUMNS: tuple[str, ...] = JURISDICTION_FIELDS
#: One row per (incident, cluster) it falls under, given to ``save_assignments``.
CLUSTER_COLUMNS: tuple[str, ...] = CLUSTER_DECISION_FIELDS
#: Columns of the frame :meth:`IncidentStore.query` returns, before ``geometry``.
RESULT_COLUMNS: tuple[str, ...] = (
    *INCIDENT_COLUMNS,
    "batch_id",
    *UNIT_COLUMNS,
    "assigned_with",
    "assigned_at",
)

#: Most rows one query returns; page with ``offset`` beyond it.
MAX_QUERY_LIMIT = 10_000
#: Largest ``offset`` of a query (a billion rows; beyond, databases overflow their integers).
MAX_QUERY_OFFSET = 1_000_000_000
STATUSES: tuple[str, ...] = ("open", "solved")
#: ``no_set``: no loaded boundary set was in force on the incident's date.
LOCATE_STATUSES: tuple[str, ...] = ("inside", "outside", "invalid", "no_set")
QueryOrder = Literal["occurred_at", "external_id"]

_MAX_LENGTHS = {"external_id": 128, "detected_by": 64, "description": 4_000}


# --------------------------------------------------------------------------------------------
# Query and results
# --------------------------------------------------------------------------------------------


def _aware(value: datetime | None, name: str) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, datetime):
        raise InvalidParameterError(f"{name} must be a datetime, got {value!r}")
    return aware(value)


@dataclass(frozen=True, kw_only=True)
class IncidentQuery:
    """Which incidents to return, in which order, which page.

    Every criterion left at None matches everything; given criteria combine with AND.

    Attributes
    ----------
    bbox
        ``(minx, miny, maxx, maxy)`` in longitude/latitude; edges are inside.
    start, end
        ``start <= occurred_at < end``; a naive time is taken as Vietnam time.
    categories
        Category codes (or labels, converted to codes); any of them matches.
    unit_code
        A unit code matched against the assigned unit, ward, district and province codes.
    cluster_id
        Incidents assigned to this cluster (with a row in its assignment).
    in_border_zone
        True: in the border zone of ``cluster_id`` (of any cluster when None). False: in the
        cluster but outside its zone (in no zone of any cluster when ``cluster_id`` is None).
    synthetic, status
        Match the flag and the status.
    limit, offset
        Page size (1..:data:`MAX_QUERY_LIMIT`) and rows skipped.
    order, descending
        ``"occurred_at"`` (ties by ``external_id``) or ``"external_id"``.
    """

    bbox: tuple[float, float, float, float] | None = None
    start: datetime | None = None
    end: datetime | None = None
    categories: tuple[str, ...] | None = None
    unit_code: str | None = None
    cluster_id: str | None = None
    in_border_zone: bool | None = None
    synthetic: bool | None = None
    status: str | None = None
    limit: int = 1_000
    offset: int = 0
    order: QueryOrder = "occurred_at"
    descending: bool = False

    def __post_init__(self) -> None:
        if self.bbox is not None:
            object.__setattr__(self, "bbox", _check_bbox(self.bbox))
        for name in ("start", "end"):
            value = _aware(getattr(self, name), name)
            if value is not None:
                try:
                    check_period_bound(value, name)
                except ValueError as exc:
                    raise InvalidParameterError(str(exc)) from None
            object.__setattr__(self, name, value)
        if self.categories is not None:
            given: Sequence[str] = (
                (self.categories,) if isinstance(self.categories, str) else self.categories
            )
            if not given:
                raise InvalidParameterError(
                    "categories is empty; pass None to match every category"
                )
            try:
                codes = tuple(dict.fromkeys(category_code(str(c)) for c in given))
            except ValueError as exc:
                raise InvalidParameterError(str(exc)) from exc
            object.__setattr__(self, "categories", codes)
        if self.status is not None and self.status not in STATUSES:
            raise InvalidParameterError(
                f"status {self.status!r} is not one of {', '.join(STATUSES)}"
            )
        if isinstance(self.limit, bool) or not 1 <= self.limit <= MAX_QUERY_LIMIT:
            raise InvalidParameterError(
                f"limit {self.limit!r} must be between 1 and {MAX_QUERY_LIMIT:,}"
            )
        if isinstance(self.offset, bool) or not 0 <= self.offset <= MAX_QUERY_OFFSET:
            raise InvalidParameterError(
                f"offset {self.offset!r} must be between 0 and {MAX_QUERY_OFFSET:,}"
            )
        if self.order not in ("occurred_at", "external_id"):
            raise InvalidParameterError(
                f"order {self.order!r} must be 'occurred_at' or 'external_id'"
            )


def _check_bbox(bbox: Sequence[float]) -> tuple[float, float, float, float]:
    if len(bbox) != 4:
        raise InvalidParameterError(f"bbox needs 4 numbers (minx, miny, maxx, maxy), got {bbox!r}")
    minx, miny, maxx, maxy = (float(v) for v in bbox)
    if not all(math.isfinite(v) for v in (minx, miny, maxx, maxy)):
        raise InvalidParameterError(f"bbox {bbox!r} has a value that is not a finite number")
    if not (-180 <= minx <= maxx <= 180 and -90 <= miny <= maxy <= 90):
        raise InvalidParameterError(
            f"bbox {bbox!r} must satisfy -180 <= minx <= maxx <= 180 and -90 <= miny <= maxy <= 90"
        )
    return minx, miny, maxx, maxy


@dataclass(frozen=True)
class AddResult:
    """What :meth:`IncidentStore.add_incidents` did.

    Attributes
    ----------
    inserted
        Rows stored by this call.
    duplicates
        Rows skipped because their ``external_id`` was already stored, or repeated in the frame.
    """

    inserted: int
    duplicates: int


def assignment_stamp(parts: Iterable[str]) -> str:
    """Return a short stable stamp of what an assignment was computed with.

    Parameters
    ----------
    parts
        The boundary set ids and the cluster definitions (for example
        ``cluster.model_dump_json()``) the assignment used; order matters.

    Returns
    -------
    str
        ``"a1:"`` and 24 hex digits of a SHA-256; store it with
        :meth:`IncidentStore.save_assignments` and find stale incidents with
        :meth:`IncidentStore.stale_ids`.
    """
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part.encode("utf-8"))
        digest.update(b"\x1f")
    return "a1:" + digest.hexdigest()[:24]


# --------------------------------------------------------------------------------------------
# The interface
# --------------------------------------------------------------------------------------------


class IncidentStore(ABC):
    """Persistent incidents, their unit and cluster assignments, and import batches.

    Every writing method runs in one transaction: it is stored whole or not at all. Use the
    store as a context manager, or call :meth:`close`.

    Attributes
    ----------
    engine
        The SQLAlchemy engine of the store's database, configured for concurrent writers.
        For the components that keep their own tables in the same database, created by the
        store's migrations: planners' patrol zones and clusters
        (:class:`geozone.store.planner.PlannerStore`), and the layers above the core (the web
        service's API keys and audit log). Closing the store disposes of it.
    """

    engine: Engine

    @abstractmethod
    def add_incidents(
        self,
        incidents: pd.DataFrame,
        batch_id: str | None = None,
        *,
        source_rows: int | None = None,
    ) -> AddResult:
        """Store incidents in one transaction, skipping those whose ``external_id`` is stored.

        Parameters
        ----------
        incidents
            One row per incident, columns named as :data:`INCIDENT_COLUMNS` (the fields of
            :class:`~geozone.incidents.schema.Incident`); ``external_id``, ``occurred_at``, ``lon``,
            ``lat`` and ``category`` are required, the others default as in the model.
        batch_id
            An import batch begun with :meth:`begin_batch`: the rows are tagged with it and its
            progress advances in the same transaction.
        source_rows
            How many rows of the batch's source this call covers (default ``len(incidents)``);
            larger when the importer rejected some rows of the chunk.

        Returns
        -------
        AddResult
            Rows inserted and rows skipped as duplicates.

        Raises
        ------
        IncidentDataError
            A required column is missing or a value is invalid (nothing is stored).
        ImportBatchError
            The batch is unknown, finished, or would pass its declared ``rows_total``.
        """

    @abstractmethod
    def get(self, external_id: str) -> dict[str, Any] | None:
        """Return one incident with its assignment and cluster rows, or None.

        The dict holds the incident fields, ``batch_id``, ``assignment`` (a dict of
        :data:`UNIT_COLUMNS` with ``assigned_with`` and ``assigned_at``, or None before any
        assignment), ``clusters`` (a list of dicts of :data:`CLUSTER_COLUMNS`, by cluster id)
        and ``problems`` (why a stored time outside the plausible range reads as None; empty
        for a sound row).
        """

    @abstractmethod
    def quarantined(self, limit: int = 100) -> tuple[int, list[str]]:
        """Count stored incidents whose times are outside the plausible range; list some ids.

        Such rows (written before the range was enforced, or by hand) never break a reader:
        :meth:`get` returns them with the time as None and the reason in ``problems``;
        :meth:`query`, :meth:`count`, :meth:`cluster_rows` and :meth:`stale_ids` leave
        them out.
        """

    @abstractmethod
    def get_many(self, external_ids: Sequence[str]) -> pd.DataFrame:
        """Return the incident fields (:data:`INCIDENT_COLUMNS`) of many incidents at once."""

    @abstractmethod
    def cluster_rows(self, query: IncidentQuery) -> pd.DataFrame:
        """Return the stored cluster decisions of the page of incidents ``query`` selects.

        The page is the one :meth:`query` returns for the same object (same filters, order,
        limit and offset); when ``query.cluster_id`` is set only that cluster's rows come back.
        Columns: ``external_id`` and :data:`CLUSTER_COLUMNS`, ordered by page position and
        cluster id; ``zone_units`` and ``cooperating`` are lists.
        """

    @abstractmethod
    def query(self, query: IncidentQuery) -> tuple[gpd.GeoDataFrame, int]:
        """Return one page of matching incidents (EPSG:4326 points) and the total matched.

        The frame has :data:`RESULT_COLUMNS` and ``geometry``; times are in Vietnam time.
        """

    @abstractmethod
    def count(self, query: IncidentQuery) -> int:
        """Return how many incidents match ``query`` (ignoring its limit and offset)."""

    @abstractmethod
    def save_assignments(self, units: pd.DataFrame, clusters: pd.DataFrame, *, stamp: str) -> int:
        """Replace the assignment of the incidents in ``units``, atomically.

        Parameters
        ----------
        units
            One row per incident: ``external_id`` and :data:`UNIT_COLUMNS` (``locate_status``
            required; ``set_id`` and codes may be None; ``candidates`` a list of codes), as
            :func:`geozone.assignment.jurisdiction.jurisdiction` returns them.
        clusters
            Zero or more rows per incident of ``units``: ``external_id`` and
            :data:`CLUSTER_COLUMNS` (``cluster_id`` and ``in_zone`` required), as
            :func:`geozone.assignment.decide.assign_clusters` returns them. The previous cluster
            rows of
            every incident in ``units`` are replaced by these.
        stamp
            What the assignment was computed with (see :func:`assignment_stamp`).

        Returns
        -------
        int
            Incidents assigned.

        Raises
        ------
        IncidentDataError
            A frame is malformed (nothing is changed).
        UnknownIncidentError
            An ``external_id`` is not stored (nothing is changed).
        """

    @abstractmethod
    def stale_ids(self, stamp: str, limit: int | None = None) -> list[str]:
        """Return external ids never assigned or assigned with another stamp, oldest first."""

    @abstractmethod
    def begin_batch(
        self, batch_id: str, source: str, sha256: str, rows_total: int
    ) -> dict[str, Any]:
        """Register an import batch, or return it unchanged when it exists (to resume).

        Raises
        ------
        ImportBatchError
            The batch exists with another checksum or row count (another file under the id).
        """

    @abstractmethod
    def batch(self, batch_id: str) -> dict[str, Any] | None:
        """Return a batch's record (``status`` "running"/"done", ``rows_done``, …) or None."""

    @abstractmethod
    def finish_batch(
        self,
        batch_id: str,
        rows_stored: int,
        rows_rejected: int,
        rejects: list[dict[str, Any]],
    ) -> dict[str, Any]:
        """Mark a running batch done with its final counts and rejected rows; return it."""

    @abstractmethod
    def confirm_cluster(self, confirmation: Confirmation) -> None:
        """Record (or replace) a planner's confirmation of a carried cluster."""

    @abstractmethod
    def withdraw_confirmation(self, cluster_id: str) -> bool:
        """Remove a carried cluster's confirmation; tell whether there was one."""

    @abstractmethod
    def confirmations(self) -> list[Confirmation]:
        """Return every recorded confirmation of a carried cluster."""

    @abstractmethod
    def close(self) -> None:
        """Release the store's connections."""

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


# --------------------------------------------------------------------------------------------
# Frame validation shared by the backends (vectorised)
# --------------------------------------------------------------------------------------------


class _Problems:
    """Collects what is wrong with a frame, so one error names everything."""

    def __init__(self, what: str, ids: pd.Series[Any]) -> None:
        self.what = what
        self.ids = ids
        self.lines: list[str] = []

    def rows(self, bad: pd.Series[bool] | np.ndarray[Any, Any], message: str) -> None:
        mask = np.asarray(bad, dtype=bool)
        if not mask.any():
            return
        sample = self.ids[mask].head(5).tolist()
        more = ", …" if mask.sum() > 5 else ""
        self.lines.append(
            f"{message} in {int(mask.sum())} row(s) (external_id "
            f"{', '.join(repr(v) for v in sample)}{more})"
        )

    def add(self, message: str) -> None:
        self.lines.append(message)

    def raise_any(self) -> None:
        if self.lines:
            raise IncidentDataError(f"{self.what}: " + "; ".join(self.lines))


def _columns(frame: pd.DataFrame, what: str, required: Sequence[str], known: Sequence[str]) -> None:
    if not isinstance(frame, pd.DataFrame):
        raise IncidentDataError(f"{what}: expected a pandas DataFrame, got {type(frame).__name__}")
    missing = [c for c in required if c not in frame.columns]
    unknown = [c for c in frame.columns if c not in known and c != "geometry"]
    problems = []
    if missing:
        problems.append(f"missing column(s) {', '.join(missing)}")
    if unknown:
        problems.append(f"unknown column(s) {', '.join(map(str, unknown))}")
    if problems:
        raise IncidentDataError(f"{what}: " + "; ".join(problems))


def _text(
    frame: pd.DataFrame,
    column: str,
    problems: _Problems,
    *,
    default: str | None,
    nullable: bool,
) -> pd.Series[Any]:
    """Return the column as an object Series of NFC str (None where null and nullable)."""
    if column not in frame.columns:
        return pd.Series([default] * len(frame), index=frame.index, dtype=object)
    values = frame[column]
    present = values.notna()
    kind = pd.api.types.infer_dtype(values[present], skipna=True)
    if kind not in ("string", "empty"):
        problems.add(f"{column} must hold text, found {kind} values")
        return values.astype(str).astype(object).where(present, None)
    out = values.astype(object).where(present, None)
    if present.any():
        out[present] = values[present].astype(str).str.normalize("NFC")
    if not nullable:
        if default is None:
            problems.rows(~present, f"{column} is missing")
        else:
            out = out.where(present, default)
    if column in _MAX_LENGTHS:
        lengths = out.str.len().fillna(0)
        problems.rows(
            lengths > _MAX_LENGTHS[column], f"{column} longer than {_MAX_LENGTHS[column]}"
        )
    nul = out[present].str.contains("\x00", regex=False)
    problems.rows(present & nul.reindex(out.index, fill_value=False), f"{column} contains NUL")
    return out


def _flag(
    frame: pd.DataFrame, column: str, problems: _Problems, *, default: bool | None
) -> pd.Series[Any]:
    """Return a bool column (object with None when ``default`` is None and values are null)."""
    if column not in frame.columns:
        return pd.Series([default] * len(frame), index=frame.index, dtype=object)
    values = frame[column]
    if pd.api.types.is_bool_dtype(values.dtype) and not values.isna().any():
        return values.astype(bool)
    present = values.notna()
    valid = values[present].isin([True, False])
    problems.rows(
        present & valid.reindex(values.index, fill_value=True).eq(False),
        f"{column} is not a boolean",
    )
    out = values.astype(object).where(present, default)
    if default is None:
        return out.map(lambda v: None if v is None else bool(v))
    return out.astype(bool)


#: A time string that carries its offset: a clock time followed by Z or ±hh[:mm].
_OFFSET = re.compile(r"\d\d:\d\d(:\d\d(\.\d+)?)?\s*(Z|[+-]\d\d(:?\d\d)?)$", re.IGNORECASE)


def _is_aware(value: object) -> bool:
    if isinstance(value, str):
        return _OFFSET.search(value.strip()) is not None
    return getattr(value, "tzinfo", None) is not None


def _utc_times(values: pd.Series[Any], column: str, problems: _Problems) -> pd.Series[Any]:
    """Parse a time column into ``datetime64[us, UTC]``; naive times are Vietnam time.

    Datetime columns convert as they are; object columns (datetimes, ISO strings, offsets
    mixed) are split into the values that carry an offset and those that do not.
    """
    dtype = values.dtype
    if isinstance(dtype, pd.DatetimeTZDtype):
        parsed = values
    elif pd.api.types.is_datetime64_dtype(dtype):
        parsed = values.dt.tz_localize(VIETNAM_TZ)
    else:
        present = values.notna()
        aware = present & values.map(_is_aware).astype(bool)
        naive = present & ~aware
        parsed = pd.Series(pd.NaT, index=values.index, dtype="datetime64[us, UTC]")
        if aware.any():
            parsed[aware] = pd.to_datetime(
                values[aware], utc=True, errors="coerce", format="ISO8601"
            ).dt.as_unit("us")
        if naive.any():
            local = pd.to_datetime(values[naive], errors="coerce", format="ISO8601")
            parsed[naive] = local.dt.tz_localize(VIETNAM_TZ).dt.tz_convert("UTC").dt.as_unit("us")
        problems.rows(present & parsed.isna(), f"{column} is not a time")
    result: pd.Series[Any] = parsed.dt.tz_convert("UTC").dt.as_unit("us")
    return result


def prepare_incidents(incidents: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """Validate an incidents frame and return its canonical form and the repeated-id count.

    The canonical frame has :data:`INCIDENT_COLUMNS` in order, a fresh index, text NFC,
    times ``datetime64[us, UTC]``, category codes, and no repeated ``external_id`` (the
    first row of an id wins; the others are counted).

    Raises
    ------
    IncidentDataError
        Naming every invalid column and up to five offending external ids per problem.
    """
    what = "incidents frame"
    _columns(incidents, what, REQUIRED_INCIDENT_COLUMNS, INCIDENT_COLUMNS)
    frame = incidents.reset_index(drop=True)
    problems = _Problems(what, frame["external_id"])
    out: dict[str, pd.Series[Any]] = {}
    out["external_id"] = _text(frame, "external_id", problems, default=None, nullable=False)
    problems.rows(out["external_id"].str.len().fillna(0).eq(0), "external_id is empty")
    problems.ids = out["external_id"]
    occurred = _utc_times(frame["occurred_at"], "occurred_at", problems)
    problems.rows(occurred.isna() & frame["occurred_at"].isna(), "occurred_at is missing")
    out["occurred_at"] = occurred
    if "detected_at" in frame.columns:
        detected = _utc_times(frame["detected_at"], "detected_at", problems)
    else:
        detected = pd.Series(pd.NaT, index=frame.index, dtype="datetime64[us, UTC]")
    out["detected_at"] = detected
    for column, times in (("occurred_at", occurred), ("detected_at", detected)):
        outside = times.notna() & ~plausible_utc_us(pd.DatetimeIndex(times).asi8)
        problems.rows(outside, f"{column} is outside the plausible range ({time_range_text()})")
    problems.rows((detected < occurred).fillna(False), "detected_at is before occurred_at")
    for column, low, high in (("lon", -180.0, 180.0), ("lat", -90.0, 90.0)):
        number = pd.to_numeric(frame[column], errors="coerce").astype("float64")
        problems.rows(
            ~number.between(low, high), f"{column} is not a number in [{low:g}, {high:g}]"
        )
        out[column] = number
    category = frame["category"]
    labels = category.dropna().astype(str).unique()
    codes: dict[str, str] = {}
    unknown = []
    for label in labels:  # the distinct labels, not the rows
        try:
            codes[label] = category_code(label)
        except ValueError:
            unknown.append(label)
    if unknown:
        problems.add(
            f"unknown category {', '.join(map(repr, unknown[:5]))} (known: {', '.join(CATEGORIES)})"
        )
    problems.rows(category.isna(), "category is missing")
    out["category"] = category.astype(object).map(codes)
    out["detected_by"] = _text(frame, "detected_by", problems, default=None, nullable=True)
    status = _text(frame, "status", problems, default="open", nullable=False)
    problems.rows(~status.isin(STATUSES), f"status is not one of {', '.join(STATUSES)}")
    out["status"] = status
    if "subjects" in frame.columns:
        subjects = pd.to_numeric(frame["subjects"], errors="coerce")
        bad = ~subjects.between(0, 10_000) | (subjects % 1 != 0)
        problems.rows(bad, "subjects is not a whole number in [0, 10000]")
        out["subjects"] = subjects.fillna(0).astype("int64")
    else:
        out["subjects"] = pd.Series(0, index=frame.index, dtype="int64")
    out["jointly_handled"] = _flag(frame, "jointly_handled", problems, default=False)
    out["description"] = _text(frame, "description", problems, default="", nullable=False)
    out["synthetic"] = _flag(frame, "synthetic", problems, default=False)
    problems.raise_any()
    result = pd.DataFrame(out, index=frame.index)[list(INCIDENT_COLUMNS)]
    repeated = result["external_id"].duplicated(keep="first")
    n_repeated = int(repeated.sum())
    if n_repeated:
        result = result[~repeated].reset_index(drop=True)
    return result, n_repeated


def _code_lists(values: pd.Series[Any], column: str, problems: _Problems) -> pd.Series[Any]:
    """Return a Series of lists of str (a missing value is an empty list)."""

    def as_list(value: object) -> list[str] | None:
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return []
        if isinstance(value, str):
            return [value]
        if isinstance(value, list | tuple | np.ndarray | pd.Series):
            return [str(v) for v in value]
        return None

    lists = values.map(as_list)  # one small list per row: these are stored as JSON per row
    problems.rows(lists.isna(), f"{column} is not a list of codes")
    return lists


def prepare_assignments(
    units: pd.DataFrame, clusters: pd.DataFrame
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Validate the frames of :meth:`IncidentStore.save_assignments`; return canonical ones.

    Raises
    ------
    IncidentDataError
        A column is missing or unknown, a value is invalid, an incident is repeated in
        ``units``, an (incident, cluster) pair is repeated, or a cluster row names an incident
        that ``units`` lacks.
    """
    what = "units frame"
    _columns(
        units, what, ("external_id", "set_id", "locate_status"), ("external_id", *UNIT_COLUMNS)
    )
    frame = units.reset_index(drop=True)
    problems = _Problems(what, frame["external_id"])
    u: dict[str, pd.Series[Any]] = {}
    u["external_id"] = _text(frame, "external_id", problems, default=None, nullable=False)
    problems.rows(u["external_id"].duplicated(keep=False), "external_id repeated")
    u["set_id"] = _text(frame, "set_id", problems, default=None, nullable=True)
    status = _text(frame, "locate_status", problems, default=None, nullable=False)
    problems.rows(
        ~status.isin(LOCATE_STATUSES), f"locate_status is not one of {', '.join(LOCATE_STATUSES)}"
    )
    u["locate_status"] = status
    for column in ("unit_code", "ward_code", "district_code", "province_code"):
        u[column] = _text(frame, column, problems, default=None, nullable=True)
    u["on_boundary"] = _flag(frame, "on_boundary", problems, default=False)
    u["candidates"] = (
        _code_lists(frame["candidates"], "candidates", problems)
        if "candidates" in frame.columns
        else pd.Series([[] for _ in range(len(frame))], index=frame.index, dtype=object)
    )
    problems.raise_any()

    what = "clusters frame"
    _columns(
        clusters,
        what,
        ("external_id", "cluster_id", "in_zone"),
        ("external_id", *CLUSTER_COLUMNS),
    )
    cframe = clusters.reset_index(drop=True)
    problems = _Problems(what, cframe["external_id"])
    c: dict[str, pd.Series[Any]] = {}
    c["external_id"] = _text(cframe, "external_id", problems, default=None, nullable=False)
    c["cluster_id"] = _text(cframe, "cluster_id", problems, default=None, nullable=False)
    pair = pd.DataFrame({"e": c["external_id"], "c": c["cluster_id"]})
    problems.rows(pair.duplicated(keep=False), "(external_id, cluster_id) repeated")
    problems.rows(~c["external_id"].isin(u["external_id"]), "incident not in the units frame")
    c["member_code"] = _text(cframe, "member_code", problems, default=None, nullable=True)
    c["in_zone"] = _flag(cframe, "in_zone", problems, default=False)
    c["zone_kind"] = _text(cframe, "zone_kind", problems, default=None, nullable=True)
    for column in ("zone_units", "cooperating"):
        c[column] = (
            _code_lists(cframe[column], column, problems)
            if column in cframe.columns
            else pd.Series([[] for _ in range(len(cframe))], index=cframe.index, dtype=object)
        )
    if "distance_m" in cframe.columns:
        distance = pd.to_numeric(cframe["distance_m"], errors="coerce").astype("float64")
        problems.rows(
            cframe["distance_m"].notna() & ~np.isfinite(distance), "distance_m is not a number"
        )
        c["distance_m"] = distance.astype(object).where(distance.notna(), None)
    else:
        c["distance_m"] = pd.Series([None] * len(cframe), index=cframe.index, dtype=object)
    c["boundary_with"] = _text(cframe, "boundary_with", problems, default=None, nullable=True)
    c["lead_unit"] = _text(cframe, "lead_unit", problems, default=None, nullable=True)
    c["rule"] = _text(cframe, "rule", problems, default=None, nullable=True)
    c["review"] = _flag(cframe, "review", problems, default=False)
    for column in ("explanation_vi", "explanation_en"):
        c[column] = _text(cframe, column, problems, default="", nullable=False)
    problems.raise_any()
    unit_frame = pd.DataFrame(u, index=frame.index)[["external_id", *UNIT_COLUMNS]]
    cluster_frame = pd.DataFrame(c, index=cframe.index)[["external_id", *CLUSTER_COLUMNS]]
    return unit_frame, cluster_frame
