"""A two-level lon/lat grid telling, without geometry, which points lie well inside a polygon.

Large batches of points are first looked up here (array arithmetic, no GEOS point objects):
a point in a grid cell that lies wholly inside one polygon's *interior core* (see
``_locate.interior_cores``) is in that polygon and at least the tolerance from its edge, so it
needs no index query at all. Cells that a core's outline crosses are split into finer cells;
only points in fine cells that an outline crosses (or that lie off the grid) go on to the
exact path.

The grid is planar in lon/lat on purpose: it answers "is this cell inside that core", a
question of the cores' own coordinates; everything metric is already in the cores.

Why a cell is safe: each outline is segmentized to at most half a fine cell, so consecutive
vertices lie in the same or neighbouring cells, and the segment between them stays in those
two cells, or, on a diagonal step, in the 2 × 2 block around them. Every cell holding a vertex
is marked, and both side cells of each diagonal step: no outline crosses an unmarked cell, which
therefore lies wholly inside or wholly outside each core; its centre tells which. Lookups that
round a point into a neighbouring cell stay safe: cores keep a margin of metres inside the
tolerance. Where two cores overlap (only where source polygons overlap) the grid answers
nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import shapely
from numpy.typing import NDArray

from geozone.boundaries._mapped import mapped_npz

#: Coarse cell size in degrees (about 870 m of latitude); a power of two keeps the arithmetic exact.
COARSE_CELL_DEG = 2.0**-7
#: Each coarse cell an outline crosses is split into SPLIT × SPLIT fine cells (about 54 m).
SPLIT = 16
#: Fine cells are tested this many coarse cells at a time (bounds the memory of a build).
_PAIRS_PER_STEP = 10_000
#: Coarse value of a cell that no single core holds wholly and that has no fine cells.
NONE = -1


@dataclass(frozen=True)
class CoreGrid:
    """Which polygon's core wholly holds each cell of a two-level lon/lat grid.

    ``coarse[j, i]`` is a polygon index, :data:`NONE`, or ``-2 - k`` for a cell split into
    fine block ``k``; ``fine[k, v * split + u]`` is a polygon index or :data:`NONE`.
    """

    x0: float
    y0: float
    cell: float
    split: int
    coarse: NDArray[np.int32]
    fine: NDArray[np.signedinteger]

    @classmethod
    def build(
        cls, cores: NDArray[np.object_], cell: float = COARSE_CELL_DEG, split: int = SPLIT
    ) -> CoreGrid:
        """Make the grid of ``cores`` (EPSG:4326 polygons, prepared or not; empties skipped).

        Parameters
        ----------
        cores
            One interior core per polygon of the index; the grid answers their positions.
        cell
            Coarse cell size in degrees.
        split
            Fine cells per coarse cell along each axis.
        """
        present = np.flatnonzero(~shapely.is_missing(cores) & ~shapely.is_empty(cores))
        fine_type = np.int16 if len(cores) < np.iinfo(np.int16).max else np.int32
        no_fine = np.zeros((0, 0), fine_type)
        if not len(present):
            return cls(0.0, 0.0, cell, split, np.zeros((0, 0), np.int32), no_fine)
        bounds = shapely.bounds(cores[present])
        x0 = float(np.floor(bounds[:, 0].min() / cell) * cell)
        y0 = float(np.floor(bounds[:, 1].min() / cell) * cell)
        width = int(np.ceil((bounds[:, 2].max() - x0) / cell)) + 1
        height = int(np.ceil((bounds[:, 3].max() - y0) / cell)) + 1
        # The coarse level is filled in place; the fine blocks are known once it is.
        grid = cls(x0, y0, cell, split, np.full((height, width), NONE, np.int32), no_fine)
        # Each core meets hundreds of fine cell centres: prepared, a test is a tree walk, not
        # a pass over every edge (unprepared, the fine level took ~140 s for the 2025 wards).
        unprepared = present[~shapely.is_prepared(cores[present])]
        shapely.prepare(cores[unprepared])
        owner, fine_x, fine_y = grid._outline_cells(cores, present)
        blocks = grid._mark_coarse(cores, present, bounds, fine_x // split, fine_y // split)
        fine = grid._fine(cores, blocks, owner, fine_x, fine_y)
        grid._forget_overlaps(cores, present)
        shapely.destroy_prepared(cores[unprepared])
        return replace(grid, fine=fine.astype(fine_type))

    def save(self, path: Path, polygons: int) -> None:
        """Write the grid as an uncompressed ``.npz`` (``polygons``: the index's count)."""
        with path.open("wb") as file:
            np.savez(
                file,
                origin=np.array([self.x0, self.y0, self.cell]),
                split=np.array([self.split, polygons]),
                coarse=self.coarse,
                fine=self.fine,
            )

    @classmethod
    def load(cls, path: Path, polygons: int) -> CoreGrid | None:
        """Read a grid written by :meth:`save`; None if it was made for another index.

        The cells are mapped from the file, not read (see ``_mapped``): a batch touches the
        pages its points fall in.
        """
        data = mapped_npz(path)
        (x0, y0, cell), (split, count) = data["origin"], data["split"]
        if int(count) != polygons or cell != COARSE_CELL_DEG or split != SPLIT:
            return None
        return cls(float(x0), float(y0), float(cell), int(split), data["coarse"], data["fine"])

    @property
    def sub(self) -> float:
        """Fine cell size in degrees."""
        return self.cell / self.split

    def lookup(self, lon: NDArray[np.float64], lat: NDArray[np.float64]) -> NDArray[np.intp]:
        """Return, per point, the polygon whose core wholly holds its cell, or :data:`NONE`."""
        height, width = self.coarse.shape
        found = np.full(len(lon), NONE, dtype=np.intp)
        if not height:
            return found
        with np.errstate(invalid="ignore"):
            i = np.floor((lon - self.x0) / self.cell)
            j = np.floor((lat - self.y0) / self.cell)
        on_grid = np.flatnonzero((i >= 0) & (i < width) & (j >= 0) & (j < height))
        i, j = i[on_grid].astype(np.intp), j[on_grid].astype(np.intp)
        value = self.coarse[j, i].astype(np.intp)
        split = value <= -2
        rows = on_grid[split]
        u = np.floor((lon[rows] - self.x0) / self.sub).astype(np.intp) - i[split] * self.split
        v = np.floor((lat[rows] - self.y0) / self.sub).astype(np.intp) - j[split] * self.split
        # Rounding can put a point a hair outside its coarse cell: keep it in the block.
        u, v = np.clip(u, 0, self.split - 1), np.clip(v, 0, self.split - 1)
        value[split] = self.fine[-2 - value[split], v * self.split + u]
        found[on_grid] = value
        return found

    # -- building ------------------------------------------------------------------------------

    def _outline_cells(
        self, cores: NDArray[np.object_], present: NDArray[np.intp]
    ) -> tuple[NDArray[np.intp], NDArray[np.int64], NDArray[np.int64]]:
        """Fine cells each core's outline crosses: (polygon, fine x, fine y), no repeats.

        Outlines are segmentized to half a fine cell, so consecutive vertices lie in the same
        or neighbouring cells; a diagonal step may cross either of the two cells beside it,
        and both are marked.
        """
        outlines = shapely.segmentize(shapely.boundary(cores[present]), self.sub / 2)
        xy, part = shapely.get_coordinates(outlines, return_index=True)
        fine_x = np.floor((xy[:, 0] - self.x0) / self.sub).astype(np.int64)
        fine_y = np.floor((xy[:, 1] - self.y0) / self.sub).astype(np.int64)
        diagonal = np.flatnonzero(
            (part[1:] == part[:-1])
            & (np.abs(np.diff(fine_x)) == 1)
            & (np.abs(np.diff(fine_y)) == 1)
        )
        part = np.concatenate([part, part[diagonal], part[diagonal]])
        fine_x, fine_y = (
            np.concatenate([fine_x, fine_x[diagonal], fine_x[diagonal + 1]]),
            np.concatenate([fine_y, fine_y[diagonal + 1], fine_y[diagonal]]),
        )
        height, width = self.coarse.shape
        span_x, span_y = width * self.split, height * self.split
        key = _distinct((part * span_y + fine_y) * span_x + fine_x)
        part, rest = np.divmod(key, span_x * span_y)
        fine_y, fine_x = np.divmod(rest, span_x)
        return present[part], fine_x, fine_y

    def _mark_coarse(
        self,
        cores: NDArray[np.object_],
        present: NDArray[np.intp],
        bounds: NDArray[np.float64],
        coarse_x: NDArray[np.intp],
        coarse_y: NDArray[np.intp],
    ) -> NDArray[np.int64]:
        """Mark coarse cells wholly in one core; give every crossed cell a fine block.

        Returns the flat index of each block's coarse cell, in block order.
        """
        width = self.coarse.shape[1]
        crossed = _distinct(coarse_y * width + coarse_x)
        owner, cx, cy = _cells_in_boxes(bounds, self.x0, self.y0, self.cell)
        flat = self.coarse.reshape(-1)
        clear = ~np.isin(cy * width + cx, crossed)
        owner, cx, cy = present[owner[clear]], cx[clear], cy[clear]
        inside = shapely.intersects_xy(
            cores[owner], self.x0 + (cx + 0.5) * self.cell, self.y0 + (cy + 0.5) * self.cell
        )
        _assign_once(flat, cy[inside] * width + cx[inside], owner[inside])
        flat[crossed] = -2 - np.arange(len(crossed))
        return crossed

    def _fine(
        self,
        cores: NDArray[np.object_],
        blocks: NDArray[np.int64],
        owner: NDArray[np.intp],
        fine_x: NDArray[np.int64],
        fine_y: NDArray[np.int64],
    ) -> NDArray[np.int32]:
        """Fine cells of the crossed coarse cells, each tested against the cores crossing it."""
        split = self.split
        fine = np.full((len(blocks), split * split), NONE, dtype=np.int32)
        crossed = np.zeros(fine.shape, dtype=bool)
        outline_block = -2 - self.coarse[fine_y // split, fine_x // split]
        crossed[outline_block, (fine_y % split) * split + fine_x % split] = True
        # Each (core, block) pair once; then every fine cell of the block against that core.
        pair = _distinct(owner * len(blocks) + outline_block)
        core, block = np.divmod(pair, len(blocks))
        cells, owners = [], []
        for part in np.array_split(np.arange(len(pair)), max(1, len(pair) // _PAIRS_PER_STEP)):
            inside = self._fine_inside(cores[core[part]], blocks[block[part]])
            rows, cols = np.nonzero(inside & ~crossed[block[part]])
            cells.append(block[part][rows] * split * split + cols)
            owners.append(core[part][rows])
        _assign_once(fine.reshape(-1), np.concatenate(cells), np.concatenate(owners))
        return fine

    def _fine_inside(
        self, cores: NDArray[np.object_], coarse_cells: NDArray[np.int64]
    ) -> NDArray[np.bool_]:
        """Whether each fine cell centre of each coarse cell lies in the paired core."""
        split = self.split
        cy, cx = np.divmod(coarse_cells, self.coarse.shape[1])
        u = np.tile(np.arange(split), split)
        v = np.repeat(np.arange(split), split)
        x = self.x0 + cx[:, None] * self.cell + (u[None, :] + 0.5) * self.sub
        y = self.y0 + cy[:, None] * self.cell + (v[None, :] + 0.5) * self.sub
        return shapely.intersects_xy(cores[:, None], x, y)  # type: ignore[no-any-return]

    def _forget_overlaps(self, cores: NDArray[np.object_], present: NDArray[np.intp]) -> None:
        """Clear the coarse cells around any overlap of two cores (the grid cannot tell them)."""
        tree = shapely.STRtree(cores[present])
        a, b = tree.query(cores[present], predicate="intersects")
        pairs = a < b
        if not pairs.any():
            return
        common = shapely.intersection(cores[present[a[pairs]]], cores[present[b[pairs]]])
        _, cx, cy = _cells_in_boxes(shapely.bounds(common), self.x0, self.y0, self.cell)
        height, width = self.coarse.shape
        ok = (cx < width) & (cy < height)
        self.coarse[cy[ok], cx[ok]] = NONE


def _cells_in_boxes(
    bounds: NDArray[np.float64], x0: float, y0: float, cell: float
) -> tuple[NDArray[np.intp], NDArray[np.intp], NDArray[np.intp]]:
    """Every (box, cell x, cell y) with the cell meeting the box, boxes as rows of bounds."""
    i0 = np.floor((bounds[:, 0] - x0) / cell).astype(np.intp)
    j0 = np.floor((bounds[:, 1] - y0) / cell).astype(np.intp)
    nx = np.floor((bounds[:, 2] - x0) / cell).astype(np.intp) - i0 + 1
    ny = np.floor((bounds[:, 3] - y0) / cell).astype(np.intp) - j0 + 1
    counts = nx * ny
    box = np.repeat(np.arange(len(bounds)), counts)
    k = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
    dy, dx = np.divmod(k, nx[box])
    return box, i0[box] + dx, j0[box] + dy


def _distinct(keys: NDArray[np.int64]) -> NDArray[np.int64]:
    """Return the distinct ``keys``, sorted: ``np.unique`` by a sort.

    NumPy 2.4's ``np.unique`` of plain integers goes through a hash table: 5.6 s for the
    9.2 million outline cells of the country's wards (a third of the grid's build), where a
    sort takes 0.2 s. The grid is the same.
    """
    ordered = np.sort(keys)
    return ordered[np.concatenate([[True], ordered[1:] != ordered[:-1]])] if len(keys) else ordered


def _assign_once(
    flat: NDArray[np.signedinteger], cells: NDArray[np.intp], owner: NDArray[np.intp]
) -> None:
    """Set ``flat[cells] = owner``, but :data:`NONE` where two owners claim one cell.

    Each (cell, owner) pair comes once, and ``flat`` holds :data:`NONE` at every claimed cell
    before. Of several claims on a cell one write stays (which one does not matter), so every
    other claimant reads back an owner not its own: those cells are cleared. (A count per cell
    of the whole grid was an array of the fine level's size, tens of millions of cells.)
    """
    flat[cells] = owner
    flat[cells[flat[cells] != owner]] = NONE
