"""A cluster studied over a period: its forms, its study area, its incidents, its hotspots.

Every output that shows a cluster's analytics (the API's hotspot, border-effect, coverage and
patrol-suggestion routes, the OGC ``hotspots`` collection, the served and the standalone
cluster maps, the review report) reads them through :func:`cluster_study` and
:func:`study_hotspots`, so the same data and parameters give the same cells everywhere.

- The **forms** are the cluster and its carried forms (:func:`geozone.report.forms.cluster_forms`).
- A period left open is **the 365 days ending today**, or ending on the last day the form
  named by the id applies when that is earlier (:func:`cluster_study_period`): the legacy
  ``gia-lam`` (to 2025-06-30) and the T11 ``hoa-do-phuc-vi`` (to 2024-12-31) are studied over
  their own last year by default, their carried forms (``…-vn2025``) over the last 365 days.
- Each day of the period is counted in the territory of the cluster **as it stood on that
  day** (:func:`study_spans`, the study's ``spans``): the members' territory of the form
  with geometry in force on the day (a form in coarse mode has none), or, on days no such
  form is in force, of the newest form with geometry (a lapsed carried cluster, which
  judges nothing, still has a territory to study: the T11 cluster of 2023–2024).
- The **study area** is the union of those territories over the period (the forms with
  geometry in force in it, and the newest one when some day has none): the grid covers it.
  ``territory`` is the newest form with geometry in force (coverage and patrol suggestions
  use it).
- ``incidents`` are those judged under the cluster's forms in the period, with their
  decisions (counts and the border effect read them); ``located`` are every stored incident
  of the period that lies in the territory counted on its date, judged under the cluster or
  not (hotspots read them: a grid counts what lies in its cells). An incident of June 2025
  in a place that entered the cluster's territory only with its carried form of 1 July
  2025 is not located; one of August is. A review (judged incidents) and a study (located
  ones) so count the same incidents, but for those a member detected outside every
  member's territory (judged, in no territory) and on days no form with geometry is in
  force. A form's territory is that of all its members with geometry on all its days: a
  member's own joining or leaving date inside a form is not applied.
- Both count **events, not reports**: reports of one event by two members (linked on import,
  sharing an ``event_id``) are kept once, by the event's lead report
  (:func:`geozone.incidents.linking.one_per_event`); ``events`` says how many were linked.
- Hotspots use :data:`HOTSPOT_DEFAULTS` unless told otherwise: Gi* on 250 m squares with
  seeded conditional-permutation p-values (9,999 permutations, fewer on grids of more than
  4,000 cells: :func:`geozone.analysis.hotspots.results.fitted_permutations`),
  Benjamini–Hochberg FDR over the cells at α = 0.05, and no test below 30 incidents or 10
  cells holding one. The normal approximation (``permutations=0``) marked empty cells beside
  a single incident as 99 % hot on sparse counts; it stays available when asked for.
  Emerging hotspots keep the normal approximation (:data:`EMERGING_PERMUTATIONS`): one
  permutation test per time bin would cost bins × as much.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any, Literal

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geozone import vntime
from geozone.errors import InvalidParameterError
from geozone.store.base import MAX_QUERY_LIMIT, IncidentQuery
from geozone.vntime import VIETNAM_TZ

if TYPE_CHECKING:
    from geozone.analysis.hotspots import HotspotResult
    from geozone.assignment import ClusterTerritory
    from geozone.context import Context
    from geozone.report.forms import ClusterForm
    from geozone.store import IncidentStore

#: The period a study covers when none is given: the 365 days ending today (Vietnam time).
DEFAULT_PERIOD_DAYS = 365


@dataclass(frozen=True)
class HotspotParameters:
    """The parameters of a Gi* grid analysis (hashable: caches key on it)."""

    cell_size_m: float = 250.0
    shape: Literal["square", "hexagon"] = "square"
    #: None: as many as the grid allows (9,999 up to 4,000 cells; see the module notes).
    permutations: int | None = None
    seed: int = 0
    alpha: float = 0.05
    fdr: bool = True


#: What every output uses unless a caller asks otherwise.
HOTSPOT_DEFAULTS = HotspotParameters()
#: Permutations of the emerging-hotspot layers (0: the normal approximation per time bin).
EMERGING_PERMUTATIONS = 0


@dataclass(frozen=True)
class StudySpan:
    """Days of a study and the territory an incident dated on them is counted in.

    Attributes
    ----------
    form_id
        The form whose members' territory counts (a
        :class:`~geozone.report.forms.ClusterForm`'s id).
    first, last
        First and last day, inclusive (Vietnam time), within the study's period.
    area
        The members' territory of the form (EPSG:4326; :func:`study_area`).
    fallback
        True on days no form with geometry is in force: the newest form with geometry
        stands in (a lapsed carried cluster, which judges nothing, still has a territory to
        study).
    """

    form_id: str
    first: date
    last: date
    area: Any
    fallback: bool = False


@dataclass(frozen=True)
class ClusterStudy:
    """A cluster's family over a period (see the module notes)."""

    cluster_id: str
    start: date
    end: date
    forms: tuple[ClusterForm, ...]
    territory: ClusterTerritory
    area: Any
    #: None when the study was read without them (``judged=False``: hotspot layers).
    incidents: pd.DataFrame | None
    located: pd.DataFrame
    #: :func:`geozone.incidents.linking.one_per_event`'s counts of ``incidents`` (reports,
    #: events, linked reports, linked events) before one report per event was kept.
    events: dict[str, int] | None = None
    #: The same counts of ``located`` (what hotspots count).
    located_events: dict[str, int] | None = None
    #: The days of the period and the territory an incident dated on them is counted in.
    spans: tuple[StudySpan, ...] = ()

    @property
    def synthetic(self) -> bool:
        """Whether any incident studied is synthetic."""
        return any(
            bool(len(frame)) and bool(frame["synthetic"].fillna(False).astype(bool).any())
            for frame in (self.incidents, self.located)
            if frame is not None
        )

    def points(self) -> gpd.GeoDataFrame:
        """Return the incidents located in the study area as points (EPSG:4326)."""
        frame = self.located.reset_index(drop=True)
        geometry = gpd.points_from_xy(frame["lon"], frame["lat"], crs=4326)
        return gpd.GeoDataFrame(frame, geometry=geometry, crs=4326)


def study_period(
    start: date | None, end: date | None, last_day: date | None = None
) -> tuple[date, date]:
    """Fill a missing period: ``end`` today (Vietnam time), ``start`` a year before ``end``.

    ``last_day``: the last day the cluster studied applies (its form's
    :attr:`~geozone.report.forms.ClusterForm.applies_to`). A missing ``end`` is that day when
    it is before today and not before ``start``: by default a cluster that ended (the T11
    cluster of 2023–2024, a cluster on the legacy districts) is studied over its own last
    year, not over a year after it ended.
    """
    last = end
    if last is None:
        last = vntime.today()
        if last_day is not None and last_day < last and (start is None or start <= last_day):
            last = last_day
    first = start or last - timedelta(days=DEFAULT_PERIOD_DAYS - 1)
    return first, last


def cluster_study_period(
    context: Context, cluster_id: str, start: date | None = None, end: date | None = None
) -> tuple[date, date]:
    """Return the period :func:`cluster_study` covers for these arguments (:func:`study_period`).

    Raises
    ------
    UnknownClusterError
        No cluster has the id.
    """
    from geozone.report.forms import cluster_forms

    return study_period(start, end, _last_day(cluster_forms(context, cluster_id), cluster_id))


def _last_day(forms: list[ClusterForm], cluster_id: str) -> date | None:
    """Return the last day the form named ``cluster_id`` applies (None: open, or no such form)."""
    return next((f.applies_to for f in forms if f.id == cluster_id), None)


def cluster_study(
    store: IncidentStore,
    context: Context,
    cluster_id: str,
    start: date | None = None,
    end: date | None = None,
    categories: tuple[str, ...] | None = None,
    judged: bool = True,
) -> ClusterStudy:
    """Read a cluster's family, study area and incidents over a period.

    With ``judged`` False the incidents judged under the cluster (and their decisions, the
    largest read) are not read: ``incidents`` and ``events`` are None. Hotspot layers, which
    test the ``located`` incidents only, are built so.

    Raises
    ------
    UnknownClusterError
        No cluster has the id.
    InvalidParameterError
        The period is reversed, or no form of the cluster has a territory with geometry.
    """
    from geozone.incidents.linking import one_per_event
    from geozone.report.forms import cluster_forms, period_bounds
    from geozone.report.incidents import cluster_incidents

    forms = cluster_forms(context, cluster_id)
    first, last = study_period(start, end, _last_day(forms, cluster_id))
    period_bounds(first, last)
    placed = [f for f in forms if f.territory is not None and f.territory.geometric]
    if not placed:
        raise InvalidParameterError(
            f"cluster {cluster_id} has no member with a territory (geometry) in any loaded set"
        )
    active = [f for f in placed if f.overlaps(first, last)]
    chosen = next((f for f in active if f.id == cluster_id), None) or (active or placed)[-1]
    assert chosen.territory is not None
    spans = study_spans(placed, first, last)
    areas = list({s.form_id: s.area for s in spans}.values())  # each form's once
    area = areas[0] if len(areas) == 1 else shapely.union_all(areas)
    incidents = cluster_incidents(store, [f.id for f in forms], first, last) if judged else None
    located = area_incidents(store, area, first, last)
    located = located[in_form_territory(located, spans)].reset_index(drop=True)
    if categories is not None:
        located = located[located["category"].isin(categories)].reset_index(drop=True)
        if incidents is not None:
            incidents = incidents[incidents["category"].isin(categories)].reset_index(drop=True)
    events = None
    if incidents is not None:
        incidents, events = one_per_event(incidents)
        incidents = incidents.reset_index(drop=True)
    located, located_events = one_per_event(located)
    return ClusterStudy(
        cluster_id,
        first,
        last,
        tuple(forms),
        chosen.territory,
        area,
        incidents,
        located.reset_index(drop=True),
        events,
        located_events,
        spans,
    )


def study_area(forms: list[ClusterForm]) -> Any:
    """Return the union of the members' territories of ``forms`` (EPSG:4326)."""
    geoms = []
    for form in forms:
        territory = form.territory
        if territory is None or not territory.geometric:
            continue
        codes = territory.members.loc[territory.members["has_territory"], "code"]
        geoms += [territory.bset.geometry(str(code)) for code in codes]
    return shapely.union_all([g for g in geoms if g is not None])


def study_spans(forms: list[ClusterForm], start: date, end: date) -> tuple[StudySpan, ...]:
    """Return which form's territory counts the incidents of each day of a period.

    Parameters
    ----------
    forms
        The forms of a cluster (:func:`geozone.report.forms.cluster_forms`); those without a
        territory with geometry (coarse mode, legacy wards) count nothing.
    start, end
        First and last day of the period, inclusive.

    Returns
    -------
    tuple of StudySpan
        By first day: each form with geometry in force in the period on its days in it,
        and the newest form with geometry on the days none is in force (``fallback``);
        empty when no form has geometry.
    """
    from geozone.report.forms import uncovered_days

    placed = [f for f in forms if f.territory is not None and f.territory.geometric]
    if not placed:
        return ()
    areas: dict[str, Any] = {}

    def area_of(form: ClusterForm) -> Any:  # each form's territory once
        if form.id not in areas:
            areas[form.id] = study_area([form])
        return areas[form.id]

    spans = [
        StudySpan(
            f.id,
            max(start, f.applies_from or start),
            min(end, f.applies_to or end),
            area_of(f),
        )
        for f in placed
        if f.overlaps(start, end)
    ]
    newest = placed[-1]
    spans += [
        StudySpan(newest.id, a, b, area_of(newest), fallback=True)
        for a, b in uncovered_days(placed, start, end)
    ]
    order = {f.id: k for k, f in enumerate(placed)}
    return tuple(sorted(spans, key=lambda s: (s.first, order[s.form_id])))


def in_form_territory(incidents: pd.DataFrame, spans: tuple[StudySpan, ...]) -> np.ndarray:
    """Tell which incidents lie in the territory counted on their date (edges count as inside).

    Parameters
    ----------
    incidents
        With ``occurred_at`` (tz-aware), ``lon`` and ``lat`` (EPSG:4326).
    spans
        The days and territories of a study (:func:`study_spans`).

    Returns
    -------
    numpy.ndarray of bool
        Aligned to ``incidents``: True where a span holds the incident's day (Vietnam time)
        and its territory holds the point. Vectorised: one test per span, not per incident.
    """
    inside = np.zeros(len(incidents), dtype=bool)
    if not len(incidents):
        return inside
    days = (
        pd.to_datetime(incidents["occurred_at"])
        .dt.tz_convert(VIETNAM_TZ)
        .dt.tz_localize(None)
        .dt.normalize()
        .to_numpy()
    )
    lon = incidents["lon"].to_numpy(np.float64)
    lat = incidents["lat"].to_numpy(np.float64)
    for span in spans:
        on = (days >= np.datetime64(span.first)) & (days <= np.datetime64(span.last))
        if not on.any() or span.area is None or shapely.is_empty(span.area):
            continue
        shapely.prepare(span.area)
        inside[on] |= shapely.intersects_xy(span.area, lon[on], lat[on])
    return inside


#: The incident columns a study reads from the store.
_LOCATED_COLUMNS = [
    "external_id",
    "occurred_at",
    "lon",
    "lat",
    "category",
    "status",
    "subjects",
    "jointly_handled",
    "synthetic",
    "detected_by",
    "event_id",
    "event_role",
]


def area_incidents(store: IncidentStore, area: Any, start: date, end: date) -> pd.DataFrame:
    """Return every stored incident inside ``area`` (EPSG:4326) from ``start`` to ``end``.

    The store is read by the area's bounding box, page by page; the points are then tested
    against the area itself (edges count as inside). A study keeps those in the territory
    counted on their date (:func:`in_form_territory`).
    """
    from geozone.report.forms import period_bounds

    begin, finish = period_bounds(start, end)
    frames: list[pd.DataFrame] = []
    if area is None or shapely.is_empty(area):
        return _empty_located()
    bbox = tuple(float(v) for v in shapely.bounds(area))
    query = IncidentQuery(bbox=bbox, start=begin, end=finish)  # type: ignore[arg-type]
    from geozone.store.map_read import area_columns
    from geozone.store.sql import SqlIncidentStore

    if isinstance(store, SqlIncidentStore):  # the columns only, in one read (no JSON parsed)
        frames.append(area_columns(store, query, _LOCATED_COLUMNS))
    else:  # pragma: no cover - the one backend
        for page in store.pages(query, page_rows=MAX_QUERY_LIMIT):  # keyset: linear in rows
            frames.append(pd.DataFrame(page.incidents[_LOCATED_COLUMNS]))
    if not frames or not len(frames[0]):
        return _empty_located()
    frame = pd.concat(frames, ignore_index=True).sort_values("external_id", kind="stable")
    shapely.prepare(area)
    inside = shapely.intersects_xy(
        area, frame["lon"].to_numpy(np.float64), frame["lat"].to_numpy(np.float64)
    )
    located: pd.DataFrame = frame[inside].reset_index(drop=True)
    located["occurred_at"] = pd.to_datetime(located["occurred_at"]).dt.tz_convert(VIETNAM_TZ)
    return located


def _empty_located() -> pd.DataFrame:
    frame = pd.DataFrame({c: pd.Series(dtype=object) for c in _LOCATED_COLUMNS})
    frame["occurred_at"] = pd.Series(dtype="datetime64[us, UTC]").dt.tz_convert(VIETNAM_TZ)
    frame["lon"] = pd.Series(dtype="float64")
    frame["lat"] = pd.Series(dtype="float64")
    frame["subjects"] = pd.Series(dtype="int64")
    frame["synthetic"] = pd.Series(dtype=bool)
    frame["jointly_handled"] = pd.Series(dtype=bool)
    return frame


def study_hotspots(
    study: ClusterStudy, params: HotspotParameters = HOTSPOT_DEFAULTS
) -> HotspotResult:
    """Return Gi* on a grid over the study area (the cells every output shows)."""
    from geozone.analysis.hotspots import gi_star_grid

    return gi_star_grid(
        study.points(),
        cell_size_m=params.cell_size_m,
        shape=params.shape,
        area=study.area,
        permutations=params.permutations,
        seed=params.seed,
        alpha=params.alpha,
        fdr=params.fdr,
    )


__all__ = [
    "DEFAULT_PERIOD_DAYS",
    "EMERGING_PERMUTATIONS",
    "HOTSPOT_DEFAULTS",
    "ClusterStudy",
    "HotspotParameters",
    "StudySpan",
    "area_incidents",
    "cluster_study",
    "cluster_study_period",
    "in_form_territory",
    "study_area",
    "study_hotspots",
    "study_period",
    "study_spans",
]
