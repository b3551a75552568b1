"""Point-in-polygon work behind ``BoundarySet.locate_many``: pure index computation.

Given the leaf polygons of a boundary set and arrays of lon/lat, find for every point the
polygons that contain it and those within a metric tolerance of it. The steps follow
``geopandas.sjoin``: validate, query an STRtree, return index arrays; the caller assembles
frames. Nothing loops over points in Python.

Large batches first look the points up in a grid of *interior cores* (``_coregrid``): each
polygon shrunk so that everything in it lies more than the tolerance inside the polygon and
more than the tolerance from every other polygon (where source polygons overlap, the overlap
and its surroundings are cut out). A point in a cell wholly inside a core therefore has that
polygon as its only candidate, exactly as the exact path would find, and needs no distance
computation; the other points take the exact metric path, measured on the polygons' metric
outlines cut into short pieces. The cores themselves serve only to make the grid (kept on
disk next to a built set), so a run does not hold them. Every batch size gives the same rows.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import shapely
from numpy.typing import NDArray

from geozone.boundaries._coregrid import CoreGrid, _cells_in_boxes
from geozone.boundaries._mapped import mapped_npz
from geozone.crs import degrees_bound, project_geometries, project_xy, unproject_geometries
from geozone.parallel import thread_map


@dataclass(frozen=True)
class PointMatches:
    """Pairs (point index, polygon index) with the metric distance between them.

    ``distance_m`` is 0 for a polygon that contains the point or has it on its boundary
    (``contains`` is then True). Pairs are sorted by point,
    then by distance, then by polygon index.
    """

    point: NDArray[np.intp]
    polygon: NDArray[np.intp]
    distance_m: NDArray[np.float64]
    contains: NDArray[np.bool_]


#: Batches smaller than this query the polygon tree point by point (no tree of points).
POINT_DRIVEN_MAX = 2_000
#: Batches at least this large use the interior cores (when the index can get them).
CORE_MIN_POINTS = 20_000
#: Simplification before shrinking; the shrink distance grows by as much, so cores stay inside.
CORE_SIMPLIFY_M = 8.0
#: Extra shrink covering the straight-edge error of projecting cores back to lon/lat.
CORE_MARGIN_M = 2.0
#: Names the rule cores are made by, in the derived files' names: files of an older rule
#: are never read. r2: cores keep clear of every other polygon (overlaps cut out).
CORE_RULE = "r2"

#: Returns the interior cores of the index's polygons for a tolerance (see interior_cores).
CoreSource = Callable[[float], NDArray[np.object_]]
#: Returns the grid of the cores for a tolerance, given a way to get those cores when the grid
#: must be made (see CoreGrid.build).
GridSource = Callable[[float, Callable[[], NDArray[np.object_]]], CoreGrid]


def interior_cores(
    geometries: NDArray[np.object_],
    zones: NDArray[np.int64],
    tolerance_m: float,
    simplify_m: float = CORE_SIMPLIFY_M,
) -> NDArray[np.object_]:
    """Return, per polygon, the part of it where that polygon is a point's only candidate.

    That is every point more than ``tolerance_m`` inside the polygon and more than
    ``tolerance_m`` from every other polygon. The polygon is simplified in its UTM zone
    (Douglas–Peucker moves no edge by more than ``simplify_m``; ``make_valid`` keeps the
    enclosed area), shrunk by ``tolerance_m + simplify_m`` and a margin, and projected back:
    a point of the core is more than ``simplify_m + tolerance_m`` from the simplified edges,
    hence more than ``tolerance_m`` from the true ones, and on the same side of them. Then
    whatever lies near another polygon is cut out (see :func:`_clear_of_others`). Missing or
    thin polygons give an empty core: their points take the exact path.
    """
    metric = project_geometries(geometries, zones)
    simple = shapely.make_valid(shapely.simplify(metric, simplify_m, preserve_topology=False))
    shrunk = shapely.buffer(simple, -(tolerance_m + simplify_m + CORE_MARGIN_M), quad_segs=2)
    cores = unproject_geometries(shrunk, zones)
    cores[shapely.is_missing(cores)] = shapely.Polygon()
    return _clear_of_others(cores, geometries, zones, tolerance_m)


def _clear_of_others(
    cores: NDArray[np.object_],
    geometries: NDArray[np.object_],
    zones: NDArray[np.int64],
    tolerance_m: float,
) -> NDArray[np.object_]:
    """Cut out of each core every point within ``tolerance_m`` of another polygon.

    A polygon that only touches this one never comes that close: the core lies deeper than the
    tolerance inside its own polygon, and the neighbour lies outside it. Only a polygon that
    overlaps this one can, and source data has such overlaps (the QA report lists them). So
    the few polygons found within the tolerance of a foreign core (a degree bound never
    shorter than the tolerance) have their reach, the polygon grown by the tolerance and the
    margin in its own UTM zone, cut out of that core. The exact path measures the distance
    to a polygon in that zone too, so it finds no second candidate in what remains.
    """
    tree = shapely.STRtree(cores)
    other, core = tree.query(geometries, predicate="dwithin", distance=degrees_bound(tolerance_m))
    foreign = other != core
    other, core = other[foreign], core[foreign]
    if not len(core):
        return cores
    near = np.unique(other)
    reach = np.full(len(geometries), None, dtype=object)
    grown = shapely.buffer(
        project_geometries(geometries[near], zones[near]), tolerance_m + CORE_MARGIN_M
    )
    reach[near] = unproject_geometries(grown, zones[near])
    # Each core loses its near polygons one at a time: the k-th of every core in one call.
    order = np.argsort(core, kind="stable")
    core, other = core[order], other[order]
    rank = np.arange(len(core)) - np.searchsorted(core, core)
    cleared = cores.copy()
    for step in range(int(rank.max()) + 1):
        now = rank == step
        cleared[core[now]] = shapely.difference(cleared[core[now]], reach[other[now]])
    return cleared


def warm_prepared(geometries: NDArray[np.object_], outside: bool = False) -> None:
    """Build the lazy point-in-polygon index of prepared geometries now, on one thread.

    GEOS builds it on first use; two threads using a polygon for the first time at once
    would race (see ``LeafIndex._shared_input``). A point inside builds what inside points
    use; GEOS 3.14 builds more the first time a point *outside* the polygon but inside its
    box is tested (some 260 MB for the country's wards, 95 MB for their cores). With
    ``outside`` that is built now too, so that a long run's memory does not creep up as its
    batches reach polygon after polygon (its peak is then the same for 1 M rows or 10 M).
    """
    present = ~shapely.is_missing(geometries) & ~shapely.is_empty(geometries)
    if present.any():
        inside = shapely.point_on_surface(geometries[present])
        shapely.intersects_xy(geometries[present], shapely.get_x(inside), shapely.get_y(inside))
        if outside:
            west, south, east, north = shapely.bounds(geometries[present]).T
            for x, y in ((west, south), (east, north), (west, north), (east, south)):
                shapely.intersects_xy(geometries[present], x, y)


def warm_distances(geometries: NDArray[np.object_]) -> None:
    """Build the lazy distance index of prepared geometries now, on one thread.

    GEOS indexes a prepared polygon's segments the first time it tests a distance
    (``dwithin`` tree queries, the tree-of-points path): some 0.7 s for the country's wards,
    paid by the first large batch unless done here. A point off each polygon's box forces it.
    """
    present = ~shapely.is_missing(geometries) & ~shapely.is_empty(geometries)
    if present.any():
        west, south = shapely.bounds(geometries[present])[:, :2].T
        shapely.dwithin(geometries[present], shapely.points(west - 1.0, south - 1.0), 1e-9)


class LeafIndex:
    """An STRtree over the leaf polygons of a boundary set, prepared where it is shared.

    A shared index (a service's context) prepares copies of the polygons, not the set's own
    geometry objects: other work (cluster migration, QA, exports) queries with those on its
    own threads, and a prepared geometry must not be shared between threads (see
    ``_shared_input``). A one-shot command's own index leaves the set's own polygons
    unprepared: once points near its outline have been tested, a prepared polygon holds
    GEOS's point-in-polygon index (some 300 MB for the country's wards, built as a run
    reaches polygon after polygon), which is what a streamed run's memory is made of. Such
    a run tests only the points the cores' grid cannot place (a quarter of the synthetic
    incidents, near outlines) against the polygons whose boxes hold them, each pair along
    the polygon's outline (some 0.1 s more a piece of 50,000): the same answers.

    Parameters
    ----------
    geometries
        Polygons in EPSG:4326 (missing entries are allowed and never match).
    zones
        The UTM EPSG code of each polygon, for metric distances.
    shared
        False: index ``geometries`` themselves, not copies (some 160 MB less for the
        country's wards), and leave them unprepared (some 300 MB less once a run has
        tested points near every outline). Only for a holder no other thread uses: a
        one-shot command's own context (see ``geozone.context.judging_context``).
    """

    def __init__(
        self,
        geometries: NDArray[np.object_],
        zones: NDArray[np.int64],
        core_source: CoreSource | None = None,
        grid_source: GridSource | None = None,
        outline_source: Callable[[], OutlinePieces] | None = None,
        shared: bool = True,
    ) -> None:
        self.geometries = own_copies(geometries) if shared else geometries
        self.zones = zones
        self.prepared = shared  # (see the class's note)
        if self.prepared:
            shapely.prepare(self.geometries)
            warm_prepared(self.geometries, outside=True)
        self.tree = shapely.STRtree(self.geometries)
        self._metric: NDArray[np.object_] = np.full(len(geometries), None, dtype=object)
        self._outline: OutlinePieces | None = None
        self._outline_lock = threading.Lock()
        self._core_source = core_source or (lambda tol: interior_cores(geometries, zones, tol))
        self._grid_source = grid_source or (lambda tol, cores: CoreGrid.build(cores()))
        self._outline_source = outline_source or (
            lambda: OutlinePieces.build(self.geometries, self.zones)
        )
        self._grids: dict[float, CoreGrid] = {}
        # Two threads querying a tree with the same prepared polygons as *input* geometries
        # corrupt the heap (shapely 2.2 / GEOS 3.14.1; the API judges batches on worker
        # threads): those queries take turns. Point-driven queries and ufuncs are unaffected.
        # Within one batch, the threads of a large batch share out the polygons instead.
        self._shared_input = threading.Lock()

    def grid(self, tolerance_m: float) -> CoreGrid:
        """Return the grid of the cores for ``tolerance_m`` (made once per tolerance)."""
        if tolerance_m not in self._grids:
            # The cores are made (or read) only when the grid is not kept on disk, and let go
            # once it is made: a located point needs the grid, not the cores (~600 MB).
            self._grids[tolerance_m] = self._grid_source(
                tolerance_m, lambda: self._core_source(tolerance_m)
            )
        return self._grids[tolerance_m]

    def prepare(self, tolerance_m: float, large_batches: bool = False) -> None:
        """Project every polygon now, not on first use.

        With ``large_batches``, make what serves batches of at least :data:`CORE_MIN_POINTS`
        instead of the projected polygons: the cores' grid (some 85 MB for the country's
        wards; the cores themselves are not kept) and the outline pieces (some 35 MB, and
        the pages of their mapped coordinates a run reads, at most 118 MB; large batches
        measure distances on them, so the polygons' own distance indexes are never made), so
        that the first large batch costs what the next ones do.
        """
        if tolerance_m > 0 and large_batches:
            self.grid(tolerance_m)
        if large_batches:
            self.outline_pieces()
        else:
            self._metric_geometries(np.arange(len(self.geometries)))

    def _metric_geometries(self, polygons: NDArray[np.intp]) -> NDArray[np.object_]:
        """Return the polygons projected into their own UTM zone, projecting each once."""
        todo = np.unique(polygons[shapely.is_missing(self._metric[polygons])])
        if len(todo):
            self._metric[todo] = project_geometries(self.geometries[todo], self.zones[todo])
        return self._metric[polygons]

    def outline_pieces(self) -> OutlinePieces:
        """Return the polygons' outlines in metres, cut into short pieces (made once)."""
        with self._outline_lock:
            if self._outline is None:
                self._outline = self._outline_source()
            return self._outline

    def match(
        self,
        lon: NDArray[np.float64],
        lat: NDArray[np.float64],
        tolerance_m: float,
        workers: int = 1,
    ) -> PointMatches:
        """Find containing polygons and polygons within ``tolerance_m`` metres of each point.

        A large batch is first looked up in the cores' grid; the points it cannot place are
        put in a tree of their own and queried with each polygon (GEOS then uses every
        prepared polygon once). With ``workers`` > 1 the polygons are shared out between that
        many threads: each thread queries, tests and measures its own polygons only, since a
        prepared polygon must not be used by two threads at once.
        """
        if len(lon) < POINT_DRIVEN_MAX:
            points = shapely.points(lon, lat)
            return self._sorted(self._point_driven(points, lon, lat, tolerance_m, False))
        if tolerance_m <= 0 or len(lon) < CORE_MIN_POINTS:
            tree = shapely.STRtree(shapely.points(lon, lat))
            with self._shared_input:
                pairs = self._tree_driven(tree, lon, lat, tolerance_m, workers, False)
                return self._sorted(pairs)
        with self._shared_input:
            held = self.grid(tolerance_m).lookup(lon, lat)
            sure = np.flatnonzero(held >= 0)
            rest = np.flatnonzero(held < 0)
            if len(rest) < POINT_DRIVEN_MAX:
                points = shapely.points(lon[rest], lat[rest])
                pairs = self._point_driven(points, lon[rest], lat[rest], tolerance_m, True)
                near = self._sorted(pairs)
            else:
                tree = shapely.STRtree(shapely.points(lon[rest], lat[rest]))
                pairs = self._tree_driven(tree, lon[rest], lat[rest], tolerance_m, workers, True)
                near = self._sorted(pairs)
        return _with_sure(sure, held[sure], rest, near)

    def _point_driven(
        self,
        points: NDArray[np.object_],
        lon: NDArray[np.float64],
        lat: NDArray[np.float64],
        tolerance_m: float,
        large: bool,
    ) -> _Pairs:
        """Pairs of a few points, each querying the polygon tree."""
        predicate, distance = _predicate(tolerance_m)
        pt, poly = self.tree.query(points, predicate=predicate, distance=distance)
        return self._measured(pt, poly, lon, lat, tolerance_m, large)

    def _tree_driven(
        self,
        tree: shapely.STRtree,
        lon: NDArray[np.float64],
        lat: NDArray[np.float64],
        tolerance_m: float,
        workers: int,
        large: bool,
    ) -> _Pairs:
        """Pairs of many points (in ``tree``), each polygon querying them on one thread.

        Once the outline pieces exist (large batches), or when the polygons are unprepared
        (their distances measured pair by pair would take GEOS a walk along every vertex),
        see :meth:`_outline_driven`.
        """
        if tolerance_m > 0 and (large or self._outline is not None or not self.prepared):
            return self._outline_driven(tree, lon, lat, tolerance_m, workers)
        _, distance = _predicate(tolerance_m)

        def near_polygons(part: NDArray[np.intp]) -> _Pairs:
            if distance is None:  # no tolerance: the polygons holding the points
                poly, pt = self._held(tree, part, lon, lat)
            else:  # (prepared: see above)
                poly, pt = tree.query(self.geometries[part], predicate="dwithin", distance=distance)
            return self._measured(pt, part[poly], lon, lat, tolerance_m, large)

        shares = _shares(len(self.geometries), workers)
        return _joined(thread_map(near_polygons, shares, workers))  # type: ignore[return-value]

    def _outline_driven(
        self,
        tree: shapely.STRtree,
        lon: NDArray[np.float64],
        lat: NDArray[np.float64],
        tolerance_m: float,
        workers: int,
    ) -> _Pairs:
        """Pairs of many points: the polygons holding them, and those whose outline is near.

        The pairs and distances :meth:`_measured` keeps from the polygons within the degree
        bound, found without that bound: a polygon holds a point (distance 0) or its outline
        lies within ``tolerance_m`` metres of it, measured on the outline pieces in the
        polygon's zone. So the polygons' own distance indexes (some 400 MB for the country's
        wards, which a degree-bound ``dwithin`` query builds) are never made.
        """

        def holding(part: NDArray[np.intp]) -> tuple[NDArray[np.intp], NDArray[np.intp]]:
            poly, pt = self._held(tree, part, lon, lat)
            return pt, part[poly]

        shares = _shares(len(self.geometries), workers)
        held_pt, held_poly = _joined(thread_map(holding, shares, workers))
        outline = self.outline_pieces()

        def near(part: NDArray[np.intp]) -> _Pairs:
            pt, poly, metres = outline.near(lon[part], lat[part], tolerance_m)
            return part[pt], poly, metres, np.zeros(len(pt), dtype=bool)

        parts = [part for part in np.array_split(np.arange(len(lon)), max(workers, 1)) if len(part)]
        near_pt, near_poly, metres, contains = _joined(thread_map(near, parts, workers))
        count = np.int64(len(self.geometries))
        pairs_held = held_pt.astype(np.int64) * count + held_poly
        keep = ~np.isin(near_pt.astype(np.int64) * count + near_poly, pairs_held)
        return (
            np.concatenate([held_pt, near_pt[keep]]),
            np.concatenate([held_poly, near_poly[keep]]),
            np.concatenate([np.zeros(len(held_pt)), metres[keep]]),
            np.concatenate([np.ones(len(held_pt), dtype=bool), contains[keep]]),
        )

    def _held(
        self,
        tree: shapely.STRtree,
        part: NDArray[np.intp],
        lon: NDArray[np.float64],
        lat: NDArray[np.float64],
    ) -> tuple[NDArray[np.intp], NDArray[np.intp]]:
        """Return the (polygon in ``part``, point of ``tree``) pairs where the polygon holds it.

        Unprepared polygons (see the class's note) are not handed to the tree as they are,
        since GEOS would prepare each for the query and let the preparation go after it
        (four times the time of a batch of 10,000): the points in each polygon's box are
        found first, then each pair tested on its own.
        """
        polygons = self.geometries[part]
        if self.prepared:
            poly, pt = tree.query(polygons, predicate="intersects")
            return poly, pt
        poly, pt = tree.query(polygons)  # (a missing polygon has no box: no pair)
        held = shapely.intersects_xy(polygons[poly], lon[pt], lat[pt])
        return poly[held], pt[held]

    def _measured(
        self,
        pt: NDArray[np.intp],
        poly: NDArray[np.intp],
        lon: NDArray[np.float64],
        lat: NDArray[np.float64],
        tolerance_m: float,
        large: bool,
    ) -> _Pairs:
        """Keep the candidate pairs within ``tolerance_m`` metres, with their distances.

        Candidates come within a degree bound never shorter than the tolerance, so no true
        pair is lost; the test here is metric. Pairs of a ``large`` batch are measured on
        the outline pieces (made for the whole set on first use), others on the projected
        polygons they involve.
        """
        distance = np.zeros(len(pt))
        if tolerance_m <= 0:
            return pt, poly, distance, np.ones(len(pt), dtype=bool)
        contains = shapely.intersects_xy(self.geometries[poly], lon[pt], lat[pt])
        near = ~contains
        if near.any():
            pt_near, poly_near = pt[near], poly[near]
            if large or self._outline is not None:
                distance[near] = self.outline_pieces().distance(
                    lon[pt_near], lat[pt_near], poly_near, self.zones[poly_near], tolerance_m
                )
            else:
                x, y = project_xy(lon[pt_near], lat[pt_near], self.zones[poly_near])
                metric = self._metric_geometries(poly_near)
                distance[near] = shapely.distance(metric, shapely.points(x, y))
        keep = distance <= tolerance_m
        return pt[keep], poly[keep], distance[keep], contains[keep]

    @staticmethod
    def _sorted(pairs: _Pairs) -> PointMatches:
        """Sort pairs by point, distance, then polygon index (ties: the lowest = code)."""
        pt, poly, distance, contains = pairs
        order = np.lexsort((poly, distance, pt))
        return PointMatches(pt[order], poly[order], distance[order], contains[order])


@dataclass(frozen=True)
class OutlinePieces:
    """Polygon outlines in metres, each in its polygon's UTM zone, cut into short pieces.

    A point's distance to a polygon with thousands of vertices costs GEOS a walk along all
    of them; here a grid of cells finds the few pieces of the outline near a point and only
    their segments are measured, in numpy, with GEOS's own point-to-segment formula
    (:func:`_segment_distance`). The pieces keep the very coordinates of the projected
    polygons: a distance measured here equals, to the last bit, the one a small batch
    measures on the projected polygon itself (``shapely.distance``). The coordinates are plain
    arrays (memory-mapped from the file next to a built set), not GEOS geometries in trees
    (~223 MB for the country's wards): some 35 MB, and the pages of coordinates a run reads.
    """

    zones: dict[int, _ZonePieces]  # per UTM EPSG code

    @classmethod
    def build(cls, geometries: NDArray[np.object_], zones: NDArray[np.int64]) -> OutlinePieces:
        """Project and cut the outlines of ``geometries`` (missing ones have no pieces)."""
        made = {}
        present = ~shapely.is_missing(geometries)
        for zone in np.unique(zones[present]).tolist():
            mine = np.flatnonzero(present & (zones == zone))
            cut: list[tuple[NDArray[Any], ...]] = []
            # A few hundred polygons at a time: the projected copies are temporaries, and the
            # whole zone's at once would raise the peak by some 400 MB for the country's wards.
            for batch in np.array_split(mine, -(-len(mine) // _BUILD_POLYGONS)):
                metric = project_geometries(geometries[batch], zones[batch])
                rings, polygon = shapely.get_parts(shapely.boundary(metric), return_index=True)
                xy, ring = shapely.get_coordinates(rings, return_index=True)
                vertex, sizes, piece_ring = _cut(xy, ring, _PIECE_SEGMENTS)
                cut.append((xy[vertex], sizes, batch[polygon[piece_ring]]))
            xy, sizes, owner = _joined(cut)
            made[zone] = _ZonePieces.make(xy, np.r_[0, np.cumsum(sizes)], owner)
        return cls(made)

    def save(self, path: Path, polygons: int) -> None:
        """Write the pieces' metric coordinates and their parts' index as an uncompressed ``.npz``.

        ``polygons``: the index's count. Loaded again (:meth:`load`), the pieces have the very
        same coordinates, so every distance is the same to the last bit. The index is kept
        too: made again on load it would read every page of the coordinates (1.4 s of a
        one-shot command's start, mostly first touches of the mapping).
        """
        arrays: dict[str, NDArray[Any]] = {"count": np.array([polygons, _PIECE_SEGMENTS])}
        for zone, pieces in self.zones.items():
            for name in _ZONE_ARRAYS:
                arrays[f"{name}_{zone}"] = np.asarray(getattr(pieces, name))
        with path.open("wb") as file:
            np.savez(file, **arrays)  # type: ignore[arg-type]

    @classmethod
    def load(cls, path: Path, polygons: int) -> OutlinePieces | None:
        """Read pieces written by :meth:`save`; None if made for another index or cutting.

        Every array stays mapped from the file: a run holds in memory the pages it reads
        (until a streamed run lets them go: :func:`geozone.context.release_memory`).
        """
        data = mapped_npz(path)
        count, segments = data["count"]
        if int(count) != polygons or int(segments) != _PIECE_SEGMENTS:
            return None
        zones = [int(key.removeprefix("xy_")) for key in data if key.startswith("xy_")]
        if not all(f"{name}_{zone}" in data for zone in zones for name in _ZONE_ARRAYS):
            return None
        return cls(
            {zone: _ZonePieces(**{n: data[f"{n}_{zone}"] for n in _ZONE_ARRAYS}) for zone in zones}
        )

    def near(
        self, lon: NDArray[np.float64], lat: NDArray[np.float64], within_m: float
    ) -> tuple[NDArray[np.intp], NDArray[np.intp], NDArray[np.float64]]:
        """Every (point, polygon) whose outline lies within ``within_m`` metres, with the metres.

        Each point is measured in the zone of each polygon, as :meth:`distance` measures it.
        """
        found: list[tuple[NDArray[Any], ...]] = []
        for zone, pieces in self.zones.items():
            x, y = project_xy(lon, lat, np.full(len(lon), zone, dtype=np.int64))
            pt, poly, metres = pieces.measured(x, y, within_m)
            keep = metres <= within_m
            found.append((pt[keep], poly[keep], metres[keep]))
        if not found or not sum(len(part[0]) for part in found):
            empty = np.zeros(0, dtype=np.intp)
            return empty, empty, np.zeros(0)
        pt, poly, metres = _joined(found)
        order = np.lexsort((metres, poly, pt))
        pt, poly, metres = pt[order], poly[order], metres[order]
        first = np.r_[True, (pt[1:] != pt[:-1]) | (poly[1:] != poly[:-1])]
        return pt[first], poly[first], metres[first]

    def distance(
        self,
        lon: NDArray[np.float64],
        lat: NDArray[np.float64],
        polygon: NDArray[np.intp],
        zones: NDArray[np.int64],
        within_m: float,
    ) -> NDArray[np.float64]:
        """Metres from each point to the outline of its ``polygon``; inf beyond ``within_m``."""
        best = np.full(len(lon), np.inf)
        for zone, pieces in self.zones.items():
            rows = np.flatnonzero(zones == zone)
            if not len(rows):
                continue
            x, y = project_xy(lon[rows], lat[rows], zones[rows])
            pt, _, metres = pieces.measured(x, y, within_m, polygon[rows])
            np.minimum.at(best, rows[pt], metres)
        best[best > within_m] = np.inf
        return best


@dataclass(frozen=True)
class _ZonePieces:
    """The outline pieces of one UTM zone: vertices piece after piece, boxes, a cell index.

    Piece ``p`` of the file is the line through ``xy[first[p]:first[p + 1]]`` (``owner[p]``:
    its polygon). In memory each is split further into parts of :data:`_PART_SEGMENTS`
    segments (``xy[start[q]:stop[q]]``, polygon ``part_owner[q]``; consecutive parts share a
    vertex), the unit that is looked up and measured: a point near an outline measures the
    few segments near it, not whole pieces. Each part is filed under every cell of
    :data:`_CELL_M` metres its box touches (``cells`` sorted, ``cell_part`` alongside).
    """

    xy: NDArray[np.float64]
    first: NDArray[np.intp]
    owner: NDArray[np.intp]
    start: NDArray[np.int32]
    stop: NDArray[np.int32]
    part_owner: NDArray[np.int32]
    low: NDArray[np.float64]  # (parts, 2): west, south of each part's box
    high: NDArray[np.float64]  # (parts, 2): east, north
    cells: NDArray[np.int64]
    cell_part: NDArray[np.int32]

    @classmethod
    def make(
        cls, xy: NDArray[np.float64], first: NDArray[np.intp], owner: NDArray[np.intp]
    ) -> _ZonePieces:
        """Index the pieces of one zone (``first``: each piece's first vertex, then the end)."""
        first = np.asarray(first, dtype=np.intp)
        owner = owner.astype(np.intp)
        parts = np.maximum(-(-(np.diff(first) - 1) // _PART_SEGMENTS), 1)
        start = np.repeat(first[:-1], parts) + _PART_SEGMENTS * (
            np.arange(parts.sum()) - np.repeat(np.cumsum(parts) - parts, parts)
        )
        stop = np.minimum(start + _PART_SEGMENTS + 1, np.repeat(first[1:], parts))
        if len(start):  # a part's vertices up to the next part's first, then its last one
            low = np.minimum(np.minimum.reduceat(xy, start, axis=0), xy[stop - 1])
            high = np.maximum(np.maximum.reduceat(xy, start, axis=0), xy[stop - 1])
        else:
            low = high = np.zeros((0, 2))
        part, keys = _cell_keys(np.asarray(low), np.asarray(high))
        order = np.argsort(keys, kind="stable")
        return cls(
            xy,
            first,
            owner,
            start.astype(np.int32),
            stop.astype(np.int32),
            np.repeat(owner, parts).astype(np.int32),
            np.asarray(low),
            np.asarray(high),
            keys[order],
            part[order].astype(np.int32),
        )

    def measured(
        self,
        x: NDArray[np.float64],
        y: NDArray[np.float64],
        within_m: float,
        polygon: NDArray[np.intp] | None = None,
    ) -> tuple[NDArray[np.intp], NDArray[np.intp], NDArray[np.float64]]:
        """Pairs (point, polygon) of parts whose box lies within ``within_m``, with the metres.

        The metres are the point's distance to the part (GEOS's, to the bit); every part
        nearer than ``within_m`` is among the pairs, farther ones may be (a point and polygon
        may come more than once). With ``polygon``, only parts of each point's own polygon.
        """
        pt, part = self._candidates(x, y, within_m)
        owner = self.part_owner[part].astype(np.intp)
        if polygon is not None:
            mine = owner == polygon[pt]
            pt, part, owner = pt[mine], part[mine], owner[mine]
        metres = np.empty(len(pt))
        for begin in range(0, len(pt), _MEASURE_PAIRS):
            some = slice(begin, begin + _MEASURE_PAIRS)
            metres[some] = self._part_distance(x[pt[some]], y[pt[some]], part[some])
        return pt, owner, metres

    def _candidates(
        self, x: NDArray[np.float64], y: NDArray[np.float64], within_m: float
    ) -> tuple[NDArray[np.intp], NDArray[np.intp]]:
        """Pairs (point, part) whose box comes within ``within_m`` (a little more) of the point."""
        found: list[tuple[NDArray[Any], ...]] = []
        reach = within_m + _BOX_SLACK_M
        for begin in range(0, len(x), _QUERY_POINTS):
            some = slice(begin, begin + _QUERY_POINTS)
            px, py = x[some], y[some]
            box_low = np.stack([px - reach, py - reach], axis=1)
            box_high = np.stack([px + reach, py + reach], axis=1)
            box, keys = _cell_keys(box_low, box_high)
            lo = np.searchsorted(self.cells, keys, "left")
            count = np.searchsorted(self.cells, keys, "right") - lo
            pt = np.repeat(box, count)
            at = np.repeat(lo - (np.cumsum(count) - count), count) + np.arange(int(count.sum()))
            part = self.cell_part[at].astype(np.intp)
            inside = (
                (self.low[part, 0] <= px[pt] + reach)
                & (self.high[part, 0] >= px[pt] - reach)
                & (self.low[part, 1] <= py[pt] + reach)
                & (self.high[part, 1] >= py[pt] - reach)
            )
            found.append((pt[inside] + begin, part[inside]))
        if not found:
            empty = np.zeros(0, dtype=np.intp)
            return empty, empty
        pt, part = _joined(found)
        return pt, part

    def _part_distance(
        self, x: NDArray[np.float64], y: NDArray[np.float64], part: NDArray[np.intp]
    ) -> NDArray[np.float64]:
        """Distance from each point to its part: the least over the part's segments."""
        first = self.start[part].astype(np.intp)
        segments = self.stop[part] - first - 1
        begins = np.cumsum(segments) - segments
        row = np.repeat(np.arange(len(part)), segments)
        a = np.repeat(first - begins, segments) + np.arange(int(segments.sum()))
        start, end = self.xy[a], self.xy[a + 1]
        metres = _segment_distance(x[row], y[row], start[:, 0], start[:, 1], end[:, 0], end[:, 1])
        return np.minimum.reduceat(metres, begins) if len(part) else np.zeros(0)


def _segment_distance(
    px: NDArray[np.float64],
    py: NDArray[np.float64],
    ax: NDArray[np.float64],
    ay: NDArray[np.float64],
    bx: NDArray[np.float64],
    by: NDArray[np.float64],
) -> NDArray[np.float64]:
    """Distance from points P to segments AB, by GEOS's ``Distance::pointToSegment``.

    The same operations in the same order (each rounded to float64, no fused multiply-add), so
    the same bits: the projection ratio ``r`` of P on AB picks A (r <= 0), B (r >= 1) or the
    perpendicular distance ``|s| * |AB|``; a segment whose ends coincide measures to A.
    """
    ex, ey = bx - ax, by - ay
    length2 = ex * ex + ey * ey
    dax, day = px - ax, py - ay
    dbx, dby = px - bx, py - by
    with np.errstate(divide="ignore", invalid="ignore"):
        r = (dax * ex + day * ey) / length2
        s = ((ay - py) * ex - (ax - px) * ey) / length2
    to_a = np.sqrt(dax * dax + day * day)
    to_b = np.sqrt(dbx * dbx + dby * dby)
    across = np.abs(s) * np.sqrt(length2)
    metres: NDArray[np.float64] = np.where(r <= 0.0, to_a, np.where(r >= 1.0, to_b, across))
    metres[length2 == 0.0] = to_a[length2 == 0.0]
    return metres


def _cell_keys(
    low: NDArray[np.float64], high: NDArray[np.float64]
) -> tuple[NDArray[np.intp], NDArray[np.int64]]:
    """Every (box, cell key) of the :data:`_CELL_M` cells that boxes ``low``–``high`` touch."""
    box, cx, cy = _cells_in_boxes(np.c_[low, high], 0.0, 0.0, _CELL_M)
    return box, cx.astype(np.int64) * (1 << 32) + cy


#: Segments per outline piece (in the file).
_PIECE_SEGMENTS = 32
#: Segments per part of a piece looked up and measured (in memory).
_PART_SEGMENTS = 16
#: Polygons projected and cut at a time when the outline pieces are made.
_BUILD_POLYGONS = 256
#: Side in metres of the cells parts are filed under (a 32-segment piece's box is ~500 m at the
#: median).
_CELL_M = 500.0
#: The arrays of a :class:`_ZonePieces`, each kept in an outline file (per zone).
_ZONE_ARRAYS = tuple(f.name for f in dataclasses.fields(_ZonePieces))
#: In an outline file's name: a file of another cutting or index is not read (made anew).
OUTLINE_TAG = f"parts{_PART_SEGMENTS}cell{int(_CELL_M)}"
#: Added to the reach of a box test: the boxes are compared with plain arithmetic and the
#: distances measured with GEOS's formula, so the box test keeps a margin (it only adds
#: pieces to measure, never drops one a polygon's distance would find).
_BOX_SLACK_M = 1e-3
#: Points looked up in the cells at a time, and point-piece pairs measured at a time: bounds
#: on the temporaries (each pair expands to up to 32 segments).
_QUERY_POINTS = 16_384
_MEASURE_PAIRS = 8_192


def _cut(
    xy: NDArray[np.float64], ring: NDArray[np.intp], segments: int
) -> tuple[NDArray[np.intp], NDArray[np.intp], NDArray[np.intp]]:
    """Cut linestrings (vertices ``xy`` of ring ``ring``) into pieces of ``segments`` segments.

    Returns the vertices of the pieces, piece after piece (indexes into ``xy``), each piece's
    vertex count and its ring. Consecutive pieces share their end vertex, so together they
    cover every segment.
    """
    starts = np.flatnonzero(np.r_[True, ring[1:] != ring[:-1]])
    lengths = np.diff(np.r_[starts, len(ring)])
    per_ring = np.maximum(-(-(lengths - 1) // segments), 1)
    first = np.repeat(starts, per_ring) + segments * (
        np.arange(per_ring.sum()) - np.repeat(np.cumsum(per_ring) - per_ring, per_ring)
    )
    last = np.minimum(first + segments, np.repeat(starts + lengths - 1, per_ring))
    sizes = last - first + 1
    vertex = np.repeat(first, sizes) + (
        np.arange(sizes.sum()) - np.repeat(np.cumsum(sizes) - sizes, sizes)
    )
    return vertex, sizes, ring[first]


#: Point index, polygon index, distance in metres, whether the polygon holds the point.
_Pairs = tuple[NDArray[np.intp], NDArray[np.intp], NDArray[np.float64], NDArray[np.bool_]]


def _with_sure(
    sure: NDArray[np.intp], polygon: NDArray[np.intp], rest: NDArray[np.intp], near: PointMatches
) -> PointMatches:
    """Merge points known to lie in one polygon's core with the matches of the ``rest``.

    ``sure`` and ``rest`` together are every point of the batch once; ``near`` indexes into
    ``rest`` and comes sorted by point. The result is sorted by point, each point's near pairs
    kept in their order; pairs are placed by counting, not sorting.
    """
    counts = np.zeros(len(sure) + len(rest), dtype=np.intp)
    counts[sure] = 1
    counts[rest] = np.bincount(near.point, minlength=len(rest))
    start = np.cumsum(counts) - counts
    rank = np.arange(len(near.point)) - np.searchsorted(near.point, near.point)
    at_sure, at_near = start[sure], start[rest[near.point]] + rank
    merged = PointMatches(
        np.empty(len(sure) + len(near.point), dtype=np.intp),
        np.empty(len(sure) + len(near.point), dtype=np.intp),
        np.zeros(len(sure) + len(near.point)),
        np.ones(len(sure) + len(near.point), dtype=bool),
    )
    merged.point[at_sure], merged.point[at_near] = sure, rest[near.point]
    merged.polygon[at_sure], merged.polygon[at_near] = polygon, near.polygon
    merged.distance_m[at_near] = near.distance_m
    merged.contains[at_near] = near.contains
    return merged


def own_copies(geometries: NDArray[np.object_]) -> NDArray[np.object_]:
    """Return new geometry objects with the same coordinates (missing entries stay missing)."""
    return shapely.transform(geometries, lambda coords: coords)  # type: ignore[no-any-return]


def _predicate(tolerance_m: float) -> tuple[str, float | None]:
    """Return the tree predicate and degree distance finding every pair within the tolerance."""
    if tolerance_m > 0:
        return "dwithin", degrees_bound(tolerance_m)
    return "intersects", None


def _shares(count: int, workers: int) -> list[NDArray[np.intp]]:
    """Split ``range(count)`` into ``workers`` interleaved shares (neighbours spread out)."""
    return [np.arange(start, count, workers) for start in range(max(workers, 1))]


def _joined(parts: list[tuple[NDArray[Any], ...]]) -> tuple[NDArray[Any], ...]:
    """Concatenate the arrays that the threads returned, position by position."""
    return tuple(np.concatenate(arrays) for arrays in zip(*parts, strict=True))
