"""The incident store interface, independent of any database.

:class:`IncidentStore` is what the rest of geozone talks to; :mod:`geozone.store.sql` implements
it on SQLite (embedded default) and on PostgreSQL + PostGIS. This module also holds what every
backend shares: the query object and the column vocabularies (the incident columns are those of
the field table, :mod:`geozone.incidents.fields`). The vectorised check that turns a caller's
DataFrame into the canonical frame a backend writes is :mod:`geozone.store._prepare`.

Times are stored as UTC instants and returned in Vietnam time (UTC+7, :data:`VIETNAM_TZ`);
a naive time given to the store is taken as Vietnam time, as
:class:`~geozone.incidents.schema.Incident`
does. Text is stored NFC.
"""

from __future__ import annotations

import hashlib
import math
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal, Self

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from geozone.clusters.model import Confirmation
from geozone.errors import InvalidParameterError
from geozone.incidents.fields import FIELDS, REQUIRED_COLUMNS
from geozone.incidents.fields import INCIDENT_COLUMNS as FIELD_COLUMNS
from geozone.incidents.schema import (
    CLUSTER_DECISION_FIELDS,
    JURISDICTION_FIELDS,
    category_code,
    check_period_bound,
)
from geozone.vntime import aware

if TYPE_CHECKING:
    import geopandas as gpd
    from sqlalchemy.engine import Engine

#: Columns of an incident: the fields of the field table, in order.
INCIDENT_COLUMNS: tuple[str, ...] = FIELD_COLUMNS
#: Columns a caller must give to :meth:`IncidentStore.add_incidents`; the others default.
REQUIRED_INCIDENT_COLUMNS: tuple[str, ...] = REQUIRED_COLUMNS

#: The unit assignment of one incident, given to :meth:`IncidentStore.save_assignments`.
UNIT_COLUMNS: tuple[str, ...] = JURISDICTION_FIELDS
#: One row per (incident, cluster) it falls under, given to ``save_assignments``.
CLUSTER_COLUMNS: tuple[str, ...] = CLUSTER_DECISION_FIELDS
#: The event a report belongs to (migration 0007; :mod:`geozone.incidents.events`): the
#: event shared by the reports linked as one (``ev-`` and the leading report's external id),
#: the report's role (``lead``, ``cooperating``, ``single``) and the event's confidence. Derived
#: on import, never supplied: an import stores each new report as its own event until it
#: links them; NULL for reports stored before events (migration 0007) and not linked yet.
EVENT_COLUMNS: tuple[str, ...] = ("event_id", "event_role", "event_confidence")
#: Columns of the frame :meth:`IncidentStore.query` returns, before ``geometry``.
RESULT_COLUMNS: tuple[str, ...] = (
    *INCIDENT_COLUMNS,
    "batch_id",
    *UNIT_COLUMNS,
    "assigned_with",
    "assigned_at",
    *EVENT_COLUMNS,
)

#: Most rows one query returns; page with ``offset`` beyond it.
MAX_QUERY_LIMIT = 10_000
#: Rows of one page of :meth:`IncidentStore.pages` by default.
PAGE_ROWS = 10_000
#: Largest ``offset`` of a query (a billion rows; beyond, databases overflow their integers).
MAX_QUERY_OFFSET = 1_000_000_000
STATUSES: tuple[str, ...] = FIELDS["status"].choices
#: ``no_set``: no loaded boundary set was in force on the incident's date.
LOCATE_STATUSES: tuple[str, ...] = ("inside", "outside", "invalid", "no_set")
QueryOrder = Literal["occurred_at", "external_id"]


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
    units
        ``(set id, code)`` pairs (a key's scope): incidents whose assignment is in one of
        those sets with one of its unit, ward, district or province codes among the pairs';
        an empty tuple matches nothing.
    detectors
        ``(set id, detected_by)`` pairs widening ``units`` (either/or): an incident matches
        ``units`` or, judged in one of these sets, names one of these as its detector (a
        cluster scope reads its members' territory and their detections beyond it). Without
        ``units`` it changes nothing (every row is read already).
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
    units: tuple[tuple[str, str], ...] | None = None
    detectors: tuple[tuple[str, str], ...] | None = None
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
class IncidentPage:
    """One page of :meth:`IncidentStore.pages`: incidents and their cluster decisions.

    Attributes
    ----------
    incidents
        The page's incidents as :meth:`IncidentStore.query` returns them
        (:data:`RESULT_COLUMNS` and ``geometry``), in the order they were stored.
    decisions
        Their stored cluster decisions as :meth:`IncidentStore.cluster_rows` returns them
        (``external_id`` and :data:`CLUSTER_COLUMNS`, by page position then cluster id;
        only the query's cluster when it names one).
    total
        Incidents the query matched when paging began.
    done
        Incidents returned so far, this page included.
    """

    incidents: gpd.GeoDataFrame
    decisions: pd.DataFrame
    total: int
    done: int


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


def is_among(values: pd.Series, wanted: Iterable[Any]) -> NDArray[np.bool_]:
    """Tell which ``values`` (ids) are among ``wanted``, compared as Python objects.

    By a hash table of Python strings: pandas' Arrow strings test ``isin`` through an Arrow
    scalar per value (1.7 s per 300,000 rows; 0.2 s a piece of 50,000 of an import).
    """
    index = pd.Index(values.to_numpy(dtype=object), dtype=object)
    return np.asarray(index.isin(pd.Index(list(wanted), dtype=object)), dtype=bool)


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
    def pages(self, query: IncidentQuery, *, page_rows: int = PAGE_ROWS) -> Iterator[IncidentPage]:
        """Yield every incident ``query`` selects with its decisions, page by page.

        Pages follow the primary key (the order incidents were stored) with keyset paging
        (``id > last`` of the previous page), so reading millions of rows stays linear;
        ``query.limit``, ``offset``, ``order`` and ``descending`` are ignored. Each page is
        read in one snapshot; an incident stored while paging, after the last page read,
        may still appear; none appears twice.

        Parameters
        ----------
        query
            The filters (as :meth:`query`); with ``cluster_id`` only that cluster's
            decisions come back.
        page_rows
            Incidents per page (1..:data:`MAX_QUERY_LIMIT`).
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

    def stored_by(self, batch_id: str, external_ids: Sequence[str]) -> list[str]:
        """Return those of ``external_ids`` that import batch ``batch_id`` stored.

        An import judges exactly these rows of a piece from the piece itself: their stored
        values are the piece's (a row another batch stored first keeps its own values).
        """
        found = []
        for external_id in external_ids:
            record = self.get(external_id)
            if record is not None and record["batch_id"] == batch_id:
                found.append(external_id)
        return found

    @abstractmethod
    def begin_batch(
        self, batch_id: str, source: str, sha256: str, rows_total: int
    ) -> dict[str, Any]:
        """Register an import batch, or return it when it exists (to resume).

        An existing batch is returned unchanged, but a closed one, which is running again
        (the same file imported again with the same options resumes it).

        Raises
        ------
        ImportBatchError
            The batch exists with another checksum or row count (another file under the id).
        """

    @abstractmethod
    def batch(self, batch_id: str) -> dict[str, Any] | None:
        """Return a batch's record or None.

        ``status`` is "running" (not done; a run of it in progress holds its lock, else it
        stopped: ``SqlIncidentStore.import_running``), "done" or "closed" (not done, set
        aside by ``geozone incidents batches --close``); ``rows_done``, ….
        """

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
