"""Distances from points to the boundaries shared inside a group, on the grid's known lines."""

from __future__ import annotations

import numpy as np
import pytest
from pyproj import Transformer

from geozone.boundaries.sets import BoundarySet
from geozone.clusters.measure import (
    distance_to_shared_boundary,
    nearest_shared_boundary,
)
from tests.fixtures.grid import GRID_ORIGIN, grid_lonlat

X0, Y0 = GRID_ORIGIN
TO_LONLAT = Transformer.from_crs(32648, 4326, always_xy=True)
ALL_WARDS = [f"0000{n}" for n in range(1, 10)]
T11 = (105.8064, 21.0387)
T11_CLUSTER = ["00160", "00008", "00025", "00166"]  # Nghĩa Đô, Ngọc Hà, Giảng Võ, Cầu Giấy


def test_distance_to_shared_boundary_known_values(grid: BoundarySet) -> None:
    lon, lat = grid_lonlat(
        [950.0, 1000.0, 500.0, 1020.0, 1000.0], [500.0, 300.0, 500.0, 700.0, 1200.0]
    )
    distance = distance_to_shared_boundary(grid, ["00001", "00002"], lon, lat)
    assert distance[:4] == pytest.approx([50.0, 0.0, 500.0, 20.0], abs=0.5)
    assert distance[4] == pytest.approx(200.0, abs=0.5)  # past the end of the shared edge
    nearest = nearest_shared_boundary(grid, ["00001", "00002"], lon, lat)
    assert set(zip(nearest["code_a"], nearest["code_b"], strict=True)) == {("00001", "00002")}


def test_distance_handles_bad_points_and_groups_without_shared_lines(grid: BoundarySet) -> None:
    lon, lat = grid_lonlat([950.0], [500.0])
    result = distance_to_shared_boundary(
        grid, ["00001", "00002"], [lon[0], np.nan, 200.0], [lat[0], 21.0, 21.0]
    )
    assert result[0] == pytest.approx(50.0, abs=0.5)
    assert np.isnan(result[1:]).all()
    apart = distance_to_shared_boundary(grid, ["00001", "00003"], lon, lat)
    assert np.isnan(apart).all()
