from __future__ import annotations

from pathlib import Path

import numpy as np
import shapely
from numpy.typing import NDArray

from geozone.boundaries._coregrid import NONE, CoreGrid, _assign_once, _distinct


def _stars(count: int, seed: int) -> NDArray[np.object_]:
    """Non-convex polygons with edges at every angle, some with a hole, in a 1° square."""
    rng = np.random.default_rng(seed)
    stars = []
    for _ in range(count):
        centre = rng.uniform(0.1, 0.9, 2)
        angles = np.sort(rng.uniform(0, 2 * np.pi, 9))
        radii = rng.uniform(0.01, 0.08, 9)
        ring = centre + np.column_stack([np.cos(angles), np.sin(angles)]) * radii[:, None]
        stars.append(shapely.Polygon(ring).buffer(0))
    return np.array(stars, dtype=object)


def _exact(cores: NDArray[np.object_], lon: NDArray[np.float64], lat: NDArray[np.float64]):
    """The polygon whose core holds each point, NONE where none or several do."""
    point, core = shapely.STRtree(cores).query(shapely.points(lon, lat), predicate="within")
    hits = np.bincount(point, minlength=len(lon))
    holder = np.full(len(lon), NONE)
    single = hits[point] == 1
    holder[point[single]] = core[single]
    return holder


def test_every_answer_agrees_with_the_exact_test_and_most_points_get_one() -> None:
    cores = _stars(40, seed=3)
    grid = CoreGrid.build(cores, cell=2.0**-6, split=4)
    rng = np.random.default_rng(4)
    lon, lat = rng.uniform(-0.1, 1.1, 300_000), rng.uniform(-0.1, 1.1, 300_000)
    found, exact = grid.lookup(lon, lat), _exact(cores, lon, lat)
    answered = found != NONE
    np.testing.assert_array_equal(found[answered], exact[answered])
    # Cells of about 1.7 km hold the bulk of each star: most held points need no geometry.
    assert answered.sum() > 0.5 * (exact != NONE).sum()


def test_points_on_the_outline_and_diagonal_edges_are_never_answered() -> None:
    diamond = shapely.Polygon([(0.5, 0.1), (0.9, 0.5), (0.5, 0.9), (0.1, 0.5)])
    grid = CoreGrid.build(np.array([diamond], dtype=object), cell=2.0**-4, split=4)
    edge = shapely.get_coordinates(shapely.segmentize(diamond.exterior, 1e-4))
    assert (grid.lookup(edge[:, 0], edge[:, 1]) == NONE).all()
    assert grid.lookup(np.array([0.5]), np.array([0.5]))[0] == 0
    assert grid.lookup(np.array([0.05, 2.0, np.nan]), np.array([0.05, 0.5, 0.5])).tolist() == [
        NONE,
        NONE,
        NONE,
    ]


def test_overlapping_cores_get_no_answer_where_they_overlap() -> None:
    cores = np.array([shapely.box(0, 0, 0.6, 1), shapely.box(0.4, 0, 1, 1)], dtype=object)
    grid = CoreGrid.build(cores, cell=2.0**-5, split=4)
    lon, lat = np.array([0.5, 0.1, 0.9]), np.array([0.5, 0.5, 0.5])
    assert grid.lookup(lon, lat).tolist() == [NONE, 0, 1]


def test_missing_and_empty_cores_are_skipped() -> None:
    cores = np.array([None, shapely.Polygon(), shapely.box(0, 0, 1, 1)], dtype=object)
    grid = CoreGrid.build(cores, cell=2.0**-4, split=2)
    assert grid.lookup(np.array([0.5]), np.array([0.5])).tolist() == [2]
    nothing = CoreGrid.build(np.array([None], dtype=object))
    assert nothing.lookup(np.array([0.5]), np.array([0.5])).tolist() == [NONE]


def test_a_saved_grid_loads_for_the_same_index_only(tmp_path: Path) -> None:
    grid = CoreGrid.build(_stars(5, seed=1))
    grid.save(tmp_path / "grid.npz", polygons=5)
    again = CoreGrid.load(tmp_path / "grid.npz", polygons=5)
    assert again is not None
    np.testing.assert_array_equal(again.coarse, grid.coarse)
    np.testing.assert_array_equal(again.fine, grid.fine)
    assert (again.x0, again.y0) == (grid.x0, grid.y0)
    assert CoreGrid.load(tmp_path / "grid.npz", polygons=6) is None


def test_a_cell_claimed_by_two_or_three_owners_is_nobody_s() -> None:
    flat = np.full(6, NONE, dtype=np.int32)
    cells = np.array([0, 1, 1, 2, 2, 2, 4])
    owner = np.array([7, 8, 9, 3, 4, 5, 6])
    _assign_once(flat, cells, owner)
    assert flat.tolist() == [7, NONE, NONE, NONE, 6, NONE]


def test_building_leaves_the_cores_as_prepared_as_they_came() -> None:
    cores = _stars(6, seed=2)
    shapely.prepare(cores[:2])
    CoreGrid.build(cores, cell=2.0**-6, split=4)
    assert shapely.is_prepared(cores).tolist() == [True, True] + [False] * 4


def test_distinct_keys_are_those_of_np_unique() -> None:
    """The sort that replaces ``np.unique`` gives its answer: repeats, negatives, one, none."""
    rng = np.random.default_rng(3)
    for keys in (
        rng.integers(-(2**40), 2**40, 5_000).repeat(3),
        rng.integers(0, 7, 1_000),
        np.array([5], np.int64),
        np.array([], np.int64),
    ):
        shuffled = rng.permutation(keys)
        np.testing.assert_array_equal(_distinct(shuffled), np.unique(keys))
