"""Adjacency of administrative units: shared boundaries, point contacts and junctions.

:func:`adjacency` finds, for one level of a boundary set (or a subset of its units), every
pair of units that touch, how long their shared boundary is in metres, and the points where
three or more units meet (junctions, like the T11 bridge where four Hà Nội wards met).

How it works: see :mod:`geozone.clusters._contacts` (coincident edges, near edges, point
contacts, all vectorised).

Tolerances
----------
``DEFAULT_SNAP_M`` (2 m): units closer than this touch. In the national ward layer about
100 km of shared boundary (in 413 of 9,450 pairs; most in Tây Ninh, An Giang, Thanh Hoá,
Hồ Chí Minh and Đồng Tháp) is not coincident: the two sides cross or run a few decimetres
apart. Any tolerance from 1 to 5 m finds the same 9,283 line pairs (0 m loses 6 of them),
and at 2 m the pairs are exactly those a brute-force metric ``dwithin`` finds; 2 m sits in
that plateau, well below a street's width.
``MIN_LINE_M`` (1 m): a pair whose shared boundary is shorter than this is a point contact,
not a line contact (a corner, or two boundaries crossing in a sliver).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Literal

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from numpy.typing import NDArray

from geozone.boundaries.manifest import Level
from geozone.boundaries.sets import BoundarySet
from geozone.clusters._contacts import (
    MAX_SNAP_M,
    _assemble_pairs,
    _exact_pairs,
    _near_pairs,
    _pair_frames,
    _point_contacts,
    _Points,
    _Segments,
)
from geozone.crs import WGS84, degrees_bound, project_xy, utm_epsg
from geozone.errors import InvalidParameterError, NoGeometryError, UnitLevelError, UnknownUnitError

if TYPE_CHECKING:
    from libpysal.graph import Graph

ContactFilter = Literal["line", "point", "any"]


#: Units closer than this many metres count as touching (see the module notes).
DEFAULT_SNAP_M = 2.0


#: A shared boundary shorter than this many metres is a point contact, not a line.
MIN_LINE_M = 1.0


@dataclass(frozen=True)
class Adjacency:
    """Which units of one level touch, along what length, and where three or more meet.

    Attributes
    ----------
    set_id, level
        The boundary set and the level the units belong to.
    tolerance_m
        Snapping tolerance used: units closer than this (metres) touch.
    min_line_m
        Shared boundaries shorter than this (metres) are point contacts.
    units
        The units considered (``code``, ``name``, ``full_name``, ``parent_code``,
        ``province_code``), sorted by code; neighbours are found among them only.
    pairs
        One row per unordered pair that touches, ``code_a < code_b``: ``name_a``, ``name_b``
        (full names, with the type word),
        ``shared_length_m`` (metres, in the pair's UTM zone ``utm_epsg``), ``near_length_m``
        (the part of it where the edges are within the tolerance but not identical),
        ``contact`` ("line" or "point"), ``cross_parent`` (different parent units) and
        ``cross_province``. Sorted by codes.
    lines
        The shared boundary of every line pair (EPSG:4326), as drawn on ``code_a``'s side,
        with the pair columns.
    graph
        A :class:`libpysal.graph.Graph` over the unit codes whose edges are the **line**
        contacts only, weighted by the shared length in metres. Point contacts are not
        edges (they are listed in ``pairs``); units without a line neighbour are isolates.
    junctions
        Points where three or more units meet (EPSG:4326): ``junction_id``, ``codes``
        (sorted list), ``n_units``.
    """

    set_id: str
    level: Level
    tolerance_m: float
    min_line_m: float
    units: pd.DataFrame
    pairs: pd.DataFrame
    lines: gpd.GeoDataFrame
    junctions: gpd.GeoDataFrame

    @cached_property
    def graph(self) -> Graph:
        """The line-contact graph (built on first use: libpysal takes seconds to import)."""
        return _graph(self.units["code"], self.pairs)

    def _check_codes(self, codes: Sequence[str]) -> list[str]:
        wanted = [str(code) for code in codes]
        unknown = sorted(set(wanted) - set(self.units["code"]))
        if unknown:
            raise UnknownUnitError(
                f"units {unknown} are not among the {len(self.units)} {self.level} units of "
                f"this adjacency ({self.set_id})"
            )
        return list(dict.fromkeys(wanted))

    def _contact_pairs(self, contact: ContactFilter) -> pd.DataFrame:
        if contact not in ("line", "point", "any"):
            raise InvalidParameterError(
                f"contact must be 'line', 'point' or 'any', not {contact!r}"
            )
        if contact == "any":
            return self.pairs
        return self.pairs[self.pairs["contact"] == contact]

    def neighbours(self, code: str, contact: ContactFilter = "line") -> list[str]:
        """Return the codes of the units touching ``code``, sorted.

        Parameters
        ----------
        code
            A unit of this adjacency.
        contact
            "line" (share a boundary line; the default), "point" (touch at a point only) or
            "any".
        """
        (code,) = self._check_codes([code])
        pairs = self._contact_pairs(contact)
        found = pd.concat(
            [
                pairs.loc[pairs["code_a"] == code, "code_b"],
                pairs.loc[pairs["code_b"] == code, "code_a"],
            ]
        )
        return sorted(str(other) for other in found)

    def pair(self, code_a: str, code_b: str) -> pd.Series | None:
        """Return the ``pairs`` row of two units (either order); None if they do not touch."""
        low, high = sorted(self._check_codes([code_a, code_b]))
        rows = self.pairs[(self.pairs["code_a"] == low) & (self.pairs["code_b"] == high)]
        return None if rows.empty else rows.iloc[0]

    def shared_length(self, code_a: str, code_b: str) -> float:
        """Return the shared boundary length of two units in metres (0 when they do not touch)."""
        row = self.pair(code_a, code_b)
        return 0.0 if row is None else float(row["shared_length_m"])

    def components(
        self, codes: Sequence[str] | None = None, contact: ContactFilter = "line"
    ) -> list[list[str]]:
        """Split units into groups connected through contacts among themselves.

        Parameters
        ----------
        codes
            The units to consider (all units of the adjacency when None). Paths may only
            run through these units.
        contact
            Which contacts connect: "line" (the graph's edges; default), "point" or "any".

        Returns
        -------
        list of list of str
            Each group's codes sorted; largest group first.
        """
        members = self._check_codes(codes) if codes is not None else list(self.units["code"])
        position = pd.Series(np.arange(len(members)), index=pd.Index(members))
        pairs = self._contact_pairs(contact)
        inside = pairs["code_a"].isin(position.index) & pairs["code_b"].isin(position.index)
        left = position[pairs.loc[inside, "code_a"]].to_numpy()
        right = position[pairs.loc[inside, "code_b"]].to_numpy()
        labels = _components(len(members), left, right)
        groups = pd.Series(members).groupby(labels).agg(lambda codes: sorted(codes))
        return sorted(groups.tolist(), key=lambda group: (-len(group), group[0]))

    def is_connected(
        self, codes: Sequence[str] | None = None, contact: ContactFilter = "line"
    ) -> bool:
        """Tell whether ``codes`` form one connected group through contacts among themselves.

        An empty selection is not connected; a single unit is.
        """
        if codes is not None and len(codes) == 0:
            return False
        return len(self.components(codes, contact)) == 1


def adjacency(
    bset: BoundarySet,
    level: Level | None = None,
    codes: Sequence[str] | None = None,
    tolerance_m: float = DEFAULT_SNAP_M,
    min_line_m: float = MIN_LINE_M,
) -> Adjacency:
    """Find the units of one level that touch, their shared boundaries and their junctions.

    Parameters
    ----------
    bset
        The boundary set.
    level
        The level to work on; defaults to the set's leaf level (the finest with geometry).
    codes
        Restrict to these units (all of ``level``); neighbours are found among them only.
        Defaults to every unit of the level that has geometry.
    tolerance_m
        Snapping tolerance in metres: units closer than this touch, and edges within it of
        each other count as shared. 0 keeps exactly coincident edges and crossings only.
    min_line_m
        Shared boundaries shorter than this many metres are point contacts.

    Returns
    -------
    Adjacency

    Raises
    ------
    UnitLevelError
        When the set has no geometry at ``level`` or a code is of another level.
    UnknownUnitError
        When a code is not in the set.
    NoGeometryError
        When a requested unit has no geometry.
    InvalidParameterError
        When a tolerance is negative, not finite or above :data:`MAX_SNAP_M`.
    """
    tolerance_m = _check_metres("tolerance_m", tolerance_m, MAX_SNAP_M)
    min_line_m = _check_metres("min_line_m", min_line_m, math.inf)
    level = level or bset.leaf_level
    units = select_units(bset, level, codes)
    geoms = units.geometry.to_numpy()
    segments = _Segments.of(geoms)
    exact = _exact_pairs(segments)
    near = _near_pairs(segments, exact, tolerance_m)
    found = _assemble_pairs(segments, exact, near, len(units))
    points = _point_contacts(geoms, found, tolerance_m, min_line_m)
    pairs, lines = _pair_frames(units, found, points, min_line_m)
    junctions = _junctions(units, lines, points, tolerance_m)
    return Adjacency(
        set_id=bset.id,
        level=level,
        tolerance_m=tolerance_m,
        min_line_m=min_line_m,
        units=pd.DataFrame(units[["code", "name", "full_name", "parent_code", "province_code"]]),
        pairs=pairs,
        lines=lines,
        junctions=junctions,
    )


def select_units(
    bset: BoundarySet, level: Level, codes: Sequence[str] | None = None
) -> gpd.GeoDataFrame:
    """Return the units of ``level`` (or the listed ones), with geometry, sorted by code.

    Raises
    ------
    UnitLevelError, UnknownUnitError, NoGeometryError
        As for :func:`adjacency`.
    """
    if level not in bset.levels:
        raise UnitLevelError(
            f"boundary set {bset.id} has no geometry at level {level!r} "
            f"(levels with geometry: {', '.join(bset.levels)})"
        )
    frame = bset.units(level)
    if codes is None:
        chosen = frame[frame["has_geometry"]]
    else:
        wanted = list(dict.fromkeys(str(code) for code in codes))
        every = bset.frame.set_index("code")
        unknown = [code for code in wanted if code not in every.index]
        if unknown:
            raise UnknownUnitError(f"no units with codes {unknown} in boundary set {bset.id}")
        levels = every.loc[wanted, "level"]
        other = levels[levels != level]
        if len(other):
            listed = ", ".join(f"{code} is a {lvl}" for code, lvl in other.items())
            raise UnitLevelError(f"expected {level} units of {bset.id}: {listed}")
        chosen = frame[frame["code"].isin(wanted)]
        shapeless = chosen.loc[~chosen["has_geometry"], "code"].tolist()
        if shapeless:
            raise NoGeometryError(
                f"units {shapeless} of boundary set {bset.id} have no geometry "
                "(known from the register only)"
            )
    return chosen.sort_values("code").reset_index(drop=True)


def _check_metres(name: str, value: float, upper: float) -> float:
    value = float(value)
    if not math.isfinite(value) or value < 0 or value > upper:
        raise InvalidParameterError(
            f"{name} must be a number of metres in [0, {upper:g}], not {value!r}"
        )
    return value


def _junctions(
    units: gpd.GeoDataFrame, lines: gpd.GeoDataFrame, points: _Points, tolerance_m: float
) -> gpd.GeoDataFrame:
    """Cluster line ends and point contacts within the tolerance; keep clusters of 3+ units."""
    code_index = pd.Series(np.arange(len(units)), index=units["code"].to_numpy())
    parts, line_of = shapely.get_parts(lines.geometry.to_numpy(), return_index=True)
    is_open = ~shapely.is_closed(parts)
    parts, line_of = parts[is_open], line_of[is_open]
    ends = np.concatenate([shapely.get_point(parts, 0), shapely.get_point(parts, -1)])
    end_a = np.tile(code_index[lines["code_a"].to_numpy()[line_of]].to_numpy(), 2)
    end_b = np.tile(code_index[lines["code_b"].to_numpy()[line_of]].to_numpy(), 2)
    nodes = np.concatenate([ends, points.location])
    node_a = np.concatenate([end_a, points.unit_a])
    node_b = np.concatenate([end_b, points.unit_b])
    empty = gpd.GeoDataFrame(
        {
            "junction_id": pd.Series(dtype=np.int64),
            "codes": pd.Series(dtype=object),
            "n_units": pd.Series(dtype=np.int64),
        },
        geometry=gpd.GeoSeries([], crs=WGS84),
    )
    if not len(nodes):
        return empty
    x, y = shapely.get_x(nodes), shapely.get_y(nodes)
    pad = degrees_bound(tolerance_m) if tolerance_m > 0 else 0.0
    i, j = shapely.STRtree(nodes).query(nodes, predicate="dwithin", distance=pad)
    i, j = i[i < j], j[i < j]
    zone = utm_epsg(x[i])
    xi, yi = project_xy(x[i], y[i], zone)
    xj, yj = project_xy(x[j], y[j], zone)
    close = np.hypot(xi - xj, yi - yj) <= tolerance_m
    cluster = _components(len(nodes), i[close], j[close])
    members = pd.DataFrame(
        {"cluster": np.concatenate([cluster, cluster]), "unit": np.concatenate([node_a, node_b])}
    ).drop_duplicates()
    size = members.groupby("cluster")["unit"].size()
    kept = size.index[size >= 3]
    if not len(kept):
        return empty
    members = members[members["cluster"].isin(kept)].sort_values(["cluster", "unit"])
    members["code"] = units["code"].to_numpy(dtype=object)[members["unit"].to_numpy()]
    codes = members.groupby("cluster")["code"].agg(list)  # units are sorted by code
    where = pd.DataFrame({"cluster": cluster, "x": x, "y": y}).groupby("cluster")[["x", "y"]].mean()
    where = where.loc[codes.index]
    frame = gpd.GeoDataFrame(
        {"codes": codes.to_numpy(), "n_units": codes.map(len).to_numpy(np.int64)},
        geometry=shapely.points(where["x"].to_numpy(), where["y"].to_numpy()),
        crs=WGS84,
    )
    frame["_key"] = frame["codes"].map(lambda c: "|".join(c))
    frame = frame.assign(_x=where["x"].to_numpy(), _y=where["y"].to_numpy())
    frame = frame.sort_values(["_key", "_x", "_y"]).drop(columns=["_key", "_x", "_y"])
    frame.insert(0, "junction_id", np.arange(len(frame), dtype=np.int64))
    return frame.reset_index(drop=True)


def _graph(codes: pd.Series, pairs: pd.DataFrame) -> Graph:
    """Build the line-contact graph, weighted by shared length; isolates as zero self-weights."""
    from libpysal.graph import Graph  # imported on first use: seconds off the service's start

    lines = pairs[pairs["contact"] == "line"]
    linked = set(lines["code_a"]) | set(lines["code_b"])
    alone = [code for code in codes if code not in linked]
    focal = np.concatenate([lines["code_a"], lines["code_b"], alone]).astype(str)
    neighbor = np.concatenate([lines["code_b"], lines["code_a"], alone]).astype(str)
    weight = np.concatenate(
        [lines["shared_length_m"], lines["shared_length_m"], np.zeros(len(alone))]
    ).astype(np.float64)
    order = np.lexsort((neighbor, focal))
    return Graph.from_arrays(focal[order], neighbor[order], weight[order])


def _components(n: int, left: NDArray[np.intp], right: NDArray[np.intp]) -> NDArray[np.intp]:
    """Label the connected components of an undirected graph on ``n`` nodes (0..k-1)."""
    labels = np.arange(n)
    while len(left):
        low = np.minimum(labels[left], labels[right])
        hooked = labels.copy()
        np.minimum.at(hooked, labels[left], low)
        np.minimum.at(hooked, labels[right], low)
        while True:  # pointer jumping: every node to its root
            jumped = hooked[hooked]
            if np.array_equal(jumped, hooked):
                break
            hooked = jumped
        if np.array_equal(hooked, labels):
            break
        labels = hooked
    return np.unique(labels, return_inverse=True)[1].astype(np.intp)
