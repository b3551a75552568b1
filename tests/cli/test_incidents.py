"""The assigned table of ``geozone incidents assign``: rows placed as two left merges place them."""

from __future__ import annotations

from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest

from geozone.incidents.stream import assigned_table


def merged(incidents: pd.DataFrame, units: pd.DataFrame, clusters: pd.DataFrame) -> pd.DataFrame:
    """The reference: the two left merges the table stands for."""
    table = incidents.merge(units, on="external_id", how="left").merge(
        clusters, on="external_id", how="left"
    )
    return gpd.GeoDataFrame(
        table, geometry=gpd.points_from_xy(table["lon"], table["lat"]), crs=4326
    )


def frames() -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    ids = ["a", "b", "c", "d"]
    incidents = pd.DataFrame(
        {
            "external_id": pd.Series(ids, dtype="str"),
            "lon": [105.0, 105.1, 105.2, 105.3],
            "lat": [21.0, 21.1, 21.2, 21.3],
            "category": pd.Series(["theft"] * 4, dtype="str"),
        }
    )
    units = pd.DataFrame(
        {
            "external_id": np.array(ids, dtype=object),
            "unit_code": np.array(["1", "2", None, "4"], dtype=object),
            "on_boundary": [False, True, False, False],
        }
    )
    # b has two cluster rows, a and d none, c one; "z" names no incident.
    clusters = pd.DataFrame(
        {
            "external_id": ["b", "c", "z", "b"],
            "cluster_id": ["k1", "k1", "k1", "k2"],
            "in_zone": [True, False, True, True],
            "distance_m": [1.5, np.nan, 2.0, 3.0],
            "zone_units": [["1", "2"], [], ["9"], ["2"]],
        }
    )
    return incidents, units, clusters


@pytest.mark.parametrize("id_type", ["str", object])
def test_rows_and_columns_as_the_merges_give_them(id_type: Any) -> None:
    incidents, units, clusters = frames()
    clusters["external_id"] = clusters["external_id"].astype(id_type)  # the engine's: objects
    table = assigned_table(incidents, units, clusters)
    pd.testing.assert_frame_equal(table, merged(incidents, units, clusters))
    assert list(table["external_id"]) == ["a", "b", "b", "c", "d"]
    assert list(table["cluster_id"].fillna("-")) == ["-", "k1", "k2", "k1", "-"]


def test_every_incident_in_one_cluster_keeps_the_column_types() -> None:
    incidents, units, clusters = frames()
    one = clusters.iloc[[0]].assign(external_id="a")
    many = pd.concat([one.assign(external_id=i) for i in "abcd"], ignore_index=True)
    pd.testing.assert_frame_equal(
        assigned_table(incidents, units, many), merged(incidents, units, many)
    )


def test_units_in_another_order_are_merged() -> None:
    incidents, units, clusters = frames()
    shuffled = units.iloc[[2, 0, 3, 1]].reset_index(drop=True)
    pd.testing.assert_frame_equal(
        assigned_table(incidents, shuffled, clusters), merged(incidents, shuffled, clusters)
    )


def test_no_cluster_rows() -> None:
    incidents, units, clusters = frames()
    none = clusters.iloc[:0]
    pd.testing.assert_frame_equal(
        assigned_table(incidents, units, none), merged(incidents, units, none)
    )
