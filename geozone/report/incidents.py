"""The incidents of a report: read from the store with the cluster's decisions.

Which incidents
---------------
An incident belongs to the report when the store holds a decision of the cluster for it (it
was judged by the cluster's rules: inside a member or detected by one) and it occurred on a
day from ``start`` to ``end`` inclusive, in Vietnam time. Everything is read through the
store (:meth:`~geozone.store.IncidentStore.query` and
:meth:`~geozone.store.IncidentStore.cluster_rows`, page by page), so the figures equal what
the store answers for the same filters.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from geozone.incidents.schema import CATEGORIES
from geozone.report._common import _names
from geozone.report.forms import period_bounds
from geozone.store.base import MAX_QUERY_LIMIT, IncidentQuery, IncidentStore
from geozone.vntime import VIETNAM_TZ

if TYPE_CHECKING:
    import geopandas as gpd


#: Incident columns the report reads from :meth:`IncidentStore.query`.
_INCIDENT_COLUMNS = _names(
    "external_id occurred_at category detected_by status subjects jointly_handled synthetic "
    "lon lat set_id unit_code event_id event_role"
)
#: Decision columns the report reads from :meth:`IncidentStore.cluster_rows`.
_DECISION_COLUMNS = _names(
    "external_id cluster_id member_code in_zone zone_kind zone_units lead_unit rule review "
    "explanation_vi explanation_en"
)


def cluster_incidents(
    store: IncidentStore,
    cluster_ids: Sequence[str],
    start: date,
    end: date,
    *,
    page_size: int = MAX_QUERY_LIMIT,
) -> pd.DataFrame:
    """Read the incidents of clusters in a period with their decision, page by page (keyset).

    Parameters
    ----------
    store
        The incident store.
    cluster_ids
        Cluster ids (forms of one cluster); an incident judged under several is kept once,
        under the first.
    start, end
        First and last day, inclusive, in Vietnam time.
    page_size
        Rows per page (at most :data:`~geozone.store.base.MAX_QUERY_LIMIT`).

    Returns
    -------
    pandas.DataFrame
        One row per incident: the incident columns (``occurred_at`` in Vietnam time, ``lon``,
        ``lat``, ``category``, ``status``, ``subjects``, ``jointly_handled``, ``synthetic``,
        ``detected_by``, ``set_id``, ``unit_code``, ``event_id``, ``event_role``) and the
        cluster's decision
        (``cluster_id``, ``member_code``, ``in_zone``, ``zone_kind``, ``zone_units``,
        ``lead_unit``, ``rule``, ``review``, ``explanation_vi``, ``explanation_en``).
    """
    from geozone.store.map_read import cluster_columns
    from geozone.store.sql import SqlIncidentStore

    begin, finish = period_bounds(start, end)
    frames: list[pd.DataFrame] = []
    for cluster_id in cluster_ids:
        # Keyset pages (linear in the rows), each page's decisions read with it; the rows
        # then in the order the store's query gives (time, then id).
        query = IncidentQuery(cluster_id=cluster_id, start=begin, end=finish)
        if isinstance(store, SqlIncidentStore):  # the columns only, in one read
            found = cluster_columns(store, query, _INCIDENT_COLUMNS, _DECISION_COLUMNS[1:])
            mine = [found] if len(found) else []
        else:  # pragma: no cover - the one backend
            mine = [
                pd.DataFrame(page.incidents[_INCIDENT_COLUMNS]).merge(
                    page.decisions[_DECISION_COLUMNS], on="external_id", how="inner"
                )
                for page in store.pages(query, page_rows=page_size)
            ]
        if mine:
            block = pd.concat(mine, ignore_index=True)
            frames.append(block.sort_values(["occurred_at", "external_id"], kind="stable"))
    if not frames:
        return _empty_incidents()
    frame = pd.concat(frames, ignore_index=True)
    return frame.drop_duplicates("external_id", keep="first").reset_index(drop=True)


def _empty_incidents() -> pd.DataFrame:
    frame = pd.DataFrame({c: pd.Series(dtype=object) for c in _INCIDENT_COLUMNS})
    frame["occurred_at"] = pd.Series(dtype="datetime64[us, UTC]").dt.tz_convert(VIETNAM_TZ)
    for column in ("subjects",):
        frame[column] = pd.Series(dtype="int64")
    for column in ("jointly_handled", "synthetic"):
        frame[column] = pd.Series(dtype=bool)
    for column in ("lon", "lat"):
        frame[column] = pd.Series(dtype="float64")
    for column in _DECISION_COLUMNS[1:]:
        frame[column] = pd.Series(dtype=bool if column in ("in_zone", "review") else object)
    return frame


def prepare_incidents(frame: pd.DataFrame) -> pd.DataFrame:
    """Add the derived columns: ``kind``, ``solved``, ``month`` and typed flags.

    Parameters
    ----------
    frame
        As :func:`cluster_incidents` returns it.

    Returns
    -------
    pandas.DataFrame
        A copy with ``kind`` (criminal, administrative or other), ``solved``,
        ``zone_solved`` and ``month`` (a calendar month in Vietnam time), flags as bool
        and ``subjects`` as int.
    """
    out = frame.copy()
    kinds = {code: category.kind for code, category in CATEGORIES.items()}
    out["kind"] = out["category"].map(kinds).fillna("other").astype(object)
    out["solved"] = out["status"].eq("solved").to_numpy(dtype=bool)
    for column in ("in_zone", "review", "jointly_handled", "synthetic"):
        out[column] = out[column].fillna(False).astype(bool)
    out["subjects"] = pd.to_numeric(out["subjects"]).fillna(0).astype(np.int64)
    out["zone_solved"] = out["in_zone"] & out["solved"]
    local = pd.to_datetime(out["occurred_at"]).dt.tz_convert(VIETNAM_TZ).dt.tz_localize(None)
    out["month"] = local.dt.to_period("M")
    return out


def incident_points(frame: pd.DataFrame) -> gpd.GeoDataFrame:
    """Return the incidents as points (EPSG:4326) with their decision, for the report's map."""
    import geopandas as gpd

    columns = _names(
        "external_id occurred_at category kind status synthetic cluster_id member_code "
        "in_zone zone_units lead_unit rule review explanation_vi explanation_en"
    )
    points = gpd.points_from_xy(frame["lon"], frame["lat"], crs=4326)
    return gpd.GeoDataFrame(frame[columns].reset_index(drop=True), geometry=points, crs=4326)
