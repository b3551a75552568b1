"""The one read of a cluster's stored incidents and decisions for its map (SQLite, PostGIS)."""

from __future__ import annotations

from datetime import date

import pandas as pd
import pytest

from geozone.incidents.pipeline import assign_stale
from geozone.store import IncidentQuery, IncidentStore
from geozone.store.map_read import (
    MAP_DECISION_COLUMNS,
    MAP_DRAWN_DECISION_COLUMNS,
    MAP_INCIDENT_COLUMNS,
    cluster_map_columns,
)
from tests.fixtures.clusters import grid_context
from tests.fixtures.incidents import grid_incidents


def test_the_map_read_is_what_the_pages_walk_reads(store: IncidentStore) -> None:
    incidents = grid_incidents(240, 5, date(2023, 1, 1), date(2023, 12, 31))
    store.add_incidents(incidents)
    assign_stale(store, grid_context())
    found = cluster_map_columns(store, "grid-centre")
    assert list(found.columns) == [*MAP_INCIDENT_COLUMNS, *MAP_DECISION_COLUMNS]
    pages = list(store.pages(IncidentQuery(cluster_id="grid-centre")))
    walked = pd.concat([p.incidents for p in pages], ignore_index=True)
    decided = pd.concat([p.decisions for p in pages], ignore_index=True)
    assert 0 < len(found) == len(walked) == store.count(IncidentQuery(cluster_id="grid-centre"))
    assert found["id"].is_monotonic_increasing  # key order
    assert found["external_id"].tolist() == walked["external_id"].tolist()
    assert (found["lon"].to_numpy() == walked["lon"].to_numpy()).all()
    assert (found["lat"].to_numpy() == walked["lat"].to_numpy()).all()
    # the same instants (UTC here, Vietnam time in the walk), the same flags
    assert (found["occurred_at"] == walked["occurred_at"].dt.tz_convert("UTC")).all()
    assert found["synthetic"].tolist() == walked["synthetic"].tolist()
    mine = decided.set_index("external_id").loc[found["external_id"]]
    for column in MAP_DECISION_COLUMNS:
        assert found[column].tolist() == mine[column].tolist(), column
    # a cluster with nothing stored: empty, with the columns
    none = cluster_map_columns(store, "elsewhere")
    assert none.empty and list(none.columns) == list(found.columns)
    # the served map's read: the columns its table draws, the same values
    plain = cluster_map_columns(store, "grid-centre", decision_columns=MAP_DRAWN_DECISION_COLUMNS)
    kept = [*MAP_INCIDENT_COLUMNS, *MAP_DRAWN_DECISION_COLUMNS]
    assert list(plain.columns) == kept and "explanation_vi" not in kept
    pd.testing.assert_frame_equal(plain, found[kept])
    with pytest.raises(ValueError, match="external_id"):
        cluster_map_columns(store, "grid-centre", decision_columns=["external_id"])


def test_the_area_read_is_what_the_pages_walk_reads(store: IncidentStore) -> None:
    """A study's read of the incidents in a box over a period: the pages' rows and columns,
    with their dtypes, in key order (the same frame, so the same hotspots)."""
    from geozone.analysis.study import _LOCATED_COLUMNS
    from geozone.store.map_read import area_columns

    incidents = grid_incidents(240, 5, date(2023, 1, 1), date(2023, 12, 31))
    store.add_incidents(incidents)
    assign_stale(store, grid_context())
    lon, lat = incidents["lon"], incidents["lat"]
    bbox = (float(lon.min()), float(lat.min()), float(lon.median()), float(lat.median()))
    query = IncidentQuery(
        bbox=bbox,
        start=pd.Timestamp("2023-03-01", tz="UTC").to_pydatetime(),
        end=pd.Timestamp("2023-10-01", tz="UTC").to_pydatetime(),
    )
    found = area_columns(store, query, _LOCATED_COLUMNS)
    walked = pd.concat(
        [pd.DataFrame(p.incidents[_LOCATED_COLUMNS]) for p in store.pages(query)],
        ignore_index=True,
    )
    assert 0 < len(found) < len(incidents)
    pd.testing.assert_frame_equal(found, walked)
    nothing = IncidentQuery(bbox=(0.0, 0.0, 0.1, 0.1))
    empty = area_columns(store, nothing, _LOCATED_COLUMNS)
    assert empty.empty and list(empty.columns) == list(_LOCATED_COLUMNS)


def test_the_cluster_read_is_what_the_pages_walk_and_merge_give(store: IncidentStore) -> None:
    """A report's read of a cluster's incidents over a period with their decisions: the
    pages' incidents merged with their decisions, the same frame (so the same report)."""
    from geozone.report.incidents import _DECISION_COLUMNS, _INCIDENT_COLUMNS
    from geozone.store.map_read import cluster_columns

    incidents = grid_incidents(240, 5, date(2023, 1, 1), date(2023, 12, 31))
    store.add_incidents(incidents)
    assign_stale(store, grid_context())
    query = IncidentQuery(
        cluster_id="grid-centre",
        start=pd.Timestamp("2023-03-01", tz="UTC").to_pydatetime(),
        end=pd.Timestamp("2023-10-01", tz="UTC").to_pydatetime(),
    )
    found = cluster_columns(store, query, _INCIDENT_COLUMNS, _DECISION_COLUMNS[1:])
    walked = pd.concat(
        [
            pd.DataFrame(p.incidents[_INCIDENT_COLUMNS]).merge(
                p.decisions[_DECISION_COLUMNS], on="external_id", how="inner"
            )
            for p in store.pages(query)
        ],
        ignore_index=True,
    )
    assert 0 < len(found) < len(incidents)
    assert found["zone_units"].map(type).eq(list).all()
    pd.testing.assert_frame_equal(found, walked)
    none = cluster_columns(
        store, IncidentQuery(cluster_id="elsewhere"), _INCIDENT_COLUMNS, _DECISION_COLUMNS[1:]
    )
    assert none.empty and list(none.columns) == list(found.columns)
