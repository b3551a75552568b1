"""A cluster's map as a static SVG for print: geometry here, markup in ``report_map.svg.j2``.

The map (members, shared boundaries, border zones, junctions, named hotspots, significant Gi*
cells and the incidents as dots) is projected to the cluster's UTM zone, so the scale bar is
exact. This module projects the geometries and writes them as SVG path data (vectorised);
the template turns the shapes into elements, in drawing order.
"""

from __future__ import annotations

from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from numpy.typing import NDArray

from maps._jinja import render
from maps.cluster_map import (
    BOUNDARY_STYLE,
    HOTSPOT_STYLE,
    JUNCTION_STYLE,
    JUNCTION_ZONE_STYLE,
    KIND_COLOURS,
    MEMBER_PALETTE,
    PAIR_ZONE_STYLE,
)
from maps.layers import ClusterLayers

#: Width of the SVG maps in user units (pixels at 100 %).
SVG_WIDTH = 1000.0
#: Most incident dots one static map draws (an even sample beyond).
SVG_MAX_INCIDENTS = 5_000
#: Gi* cells: orange and teal, apart from the red and blue of criminal and administrative dots.
HOT_COLOUR = "#ef6c00"
COLD_COLOUR = "#00897b"

#: One element of the map for the template: ``kind`` ("path", "dots", "label", "junction")
#: and what that kind needs.
Shape = dict[str, Any]


class _Frame:
    """The projection of one SVG map: UTM metres → SVG units (y down)."""

    def __init__(self, bounds: NDArray[np.float64], epsg: int) -> None:
        minx, miny, maxx, maxy = bounds
        pad = 0.04 * max(maxx - minx, maxy - miny, 1.0)
        self.minx, self.maxy = minx - pad, maxy + pad
        self.width_m = (maxx - minx) + 2 * pad
        self.scale = SVG_WIDTH / self.width_m
        self.height = ((maxy - miny) + 2 * pad) * self.scale
        self.epsg = epsg

    def xy(self, coords: NDArray[np.float64]) -> NDArray[np.float64]:
        out = np.empty_like(coords)
        out[:, 0] = (coords[:, 0] - self.minx) * self.scale
        out[:, 1] = (self.maxy - coords[:, 1]) * self.scale
        return out

    def metric(self, gdf: gpd.GeoDataFrame) -> NDArray[np.object_]:
        return np.asarray(gdf.to_crs(self.epsg).geometry.to_numpy(), dtype=object)


def _pairs(xy: NDArray[np.float64]) -> NDArray[np.str_]:
    """Format points as "x y" strings (one decimal), vectorised."""
    text: NDArray[np.str_] = np.char.add(
        np.char.add(np.char.mod("%.1f", xy[:, 0]), " "), np.char.mod("%.1f", xy[:, 1])
    )
    return text


def _path_data(geoms: NDArray[np.object_], frame: _Frame) -> list[str]:
    """SVG path data of (multi)polygons and (multi)lines, one string per geometry."""
    parts, part_of = shapely.get_parts(geoms, return_index=True)
    polygonal = np.isin(shapely.get_type_id(parts), (3,))
    rings, ring_part = shapely.get_rings(parts[polygonal], return_index=True)
    ring_of = np.flatnonzero(polygonal)[ring_part]
    lines_of = np.flatnonzero(~polygonal)
    pieces = np.concatenate([rings, parts[~polygonal]])
    owner = part_of[np.concatenate([ring_of, lines_of]).astype(np.intp)]
    closed = np.concatenate([np.ones(len(rings), bool), np.zeros(len(lines_of), bool)])
    coords, coord_of = shapely.get_coordinates(pieces, return_index=True)
    text = _pairs(frame.xy(coords)) if len(coords) else np.array([], dtype=str)
    cuts = np.flatnonzero(np.diff(coord_of)) + 1
    out = [""] * len(geoms)
    for piece, chunk in zip(np.unique(coord_of), np.split(text, cuts), strict=True):
        d = "M" + " L".join(chunk.tolist()) + (" Z" if closed[piece] else "")
        k = int(owner[piece])
        out[k] = f"{out[k]} {d}" if out[k] else d
    return out


def _path(d: str, style: dict[str, Any], **extra: Any) -> Shape:
    """Return a path styled like the Leaflet layers (``style``); None attributes left out."""
    attributes = {
        "d": d,
        "fill": style.get("fillColor", "none") if style.get("fill", True) else "none",
        "fill-opacity": style.get("fillOpacity", 0.0),
        "stroke": style.get("color", "none"),
        "stroke-width": style.get("weight", 1),
        "stroke-dasharray": style.get("dashArray"),
        "fill-rule": "evenodd",
        **extra,
    }
    return {
        "kind": "path",
        "attributes": {key: value for key, value in attributes.items() if value is not None},
    }


def _scale_bar(frame: _Frame) -> dict[str, Any]:
    """Return the scale bar (a round length near a fifth of the width) and north arrow."""
    target = frame.width_m / 5
    steps = np.array([50, 100, 200, 250, 500, 1_000, 2_000, 5_000, 10_000, 20_000, 50_000])
    length = float(steps[np.argmin(np.abs(steps - target))])
    width = length * frame.scale
    y = frame.height - 18
    return {
        "bar_y": y - 6,
        "width": width,
        "half_x": 16 + width / 2,
        "half_width": width / 2,
        "text_y": y - 10,
        "label": f"{length / 1000:g} km" if length >= 1000 else f"{length:g} m",
        "north_x": SVG_WIDTH - 30,
        "north_left": SVG_WIDTH - 38,
        "north_right": SVG_WIDTH - 22,
    }


def even_sample(n: int, most: int) -> NDArray[np.intp]:
    """Return the positions of an even sample of at most ``most`` of ``n`` rows, in order.

    Parameters
    ----------
    n
        Number of rows.
    most
        Most rows kept.

    Returns
    -------
    numpy.ndarray
        Every position when ``n <= most``; else about ``most`` evenly spaced positions.
    """
    if n <= most:
        return np.arange(n)
    return np.unique(np.linspace(0, n - 1, most).round().astype(np.intp))


def static_map_svg(
    layers: ClusterLayers,
    epsg: int,
    *,
    incidents: gpd.GeoDataFrame | None = None,
    cells: gpd.GeoDataFrame | None = None,
    title: str = "",
) -> str:
    """Draw a cluster's map as a static SVG (for print), projected to a metric CRS.

    Parameters
    ----------
    layers
        The members, boundaries, zones, junctions and named hotspots
        (:func:`maps.layers.cluster_layers`).
    epsg
        The metric CRS to draw in (the cluster's UTM zone).
    incidents
        Points drawn as dots coloured by ``kind`` (an even sample of at most
        :data:`SVG_MAX_INCIDENTS`).
    cells
        Significant Gi* cells (``kind`` "hot…"/"cold…", optional ``confidence``).
    title
        The SVG's accessible title (plain text).

    Returns
    -------
    str
        An ``<svg>`` element with a ``viewBox``; it scales to the width of its container.
    """
    units = layers.units
    frame = _Frame(np.asarray(units.to_crs(epsg).total_bounds, dtype=np.float64), epsg)
    shapes: list[Shape] = []
    member_paths = _path_data(frame.metric(units), frame)
    for k, d in enumerate(member_paths):
        colour = MEMBER_PALETTE[k % len(MEMBER_PALETTE)]
        shapes.append(
            _path(d, {"color": colour, "weight": 1.5, "fillColor": colour, "fillOpacity": 0.18})
        )
    if layers.zones is not None and len(layers.zones):
        zones = layers.zones
        kinds = zones["kind"].astype(str).to_numpy()
        order = np.argsort(kinds != "pair", kind="stable")
        for k, d in zip(order, _path_data(frame.metric(zones.iloc[order]), frame), strict=True):
            style = PAIR_ZONE_STYLE if kinds[k] == "pair" else JUNCTION_ZONE_STYLE
            shapes.append(_path(d, {**style, "weight": 0.6}))
    if cells is not None and len(cells):
        shapes += _cell_paths(cells, frame)
    if layers.boundaries_lines is not None and len(layers.boundaries_lines):
        for d in _path_data(frame.metric(layers.boundaries_lines), frame):
            shapes.append(
                _path(d, {**BOUNDARY_STYLE, "weight": 2.2}, fill="none", **{"fill-opacity": None})
            )
    if incidents is not None and len(incidents):
        shapes += _incident_dots(incidents, frame)
    if layers.hotspots is not None and len(layers.hotspots):
        shapes += _named_hotspots(layers.hotspots, frame)
    if layers.junctions is not None and len(layers.junctions):
        points = frame.xy(shapely.get_coordinates(frame.metric(layers.junctions)))
        shapes += [
            {"kind": "junction", "x": x, "y": y, "stroke": JUNCTION_STYLE["color"]}
            for x, y in points
        ]
    centres = frame.xy(shapely.get_coordinates(shapely.point_on_surface(frame.metric(units))))
    names = units["full_name"].astype(str).tolist()
    shapes += [
        {"kind": "label", "x": x, "y": y, "fill": "#1b1b1b", "text": name}
        for (x, y), name in zip(centres, names, strict=True)
    ]
    return str(
        render(
            "report_map.svg.j2",
            width=SVG_WIDTH,
            height=frame.height,
            title=title,
            shapes=shapes,
            scale=_scale_bar(frame),
        )
    )


def _cell_paths(cells: gpd.GeoDataFrame, frame: _Frame) -> list[Shape]:
    kinds = cells["kind"].astype(str).str.lower() if "kind" in cells else pd.Series("hot")
    confidence = (
        pd.to_numeric(cells["confidence"], errors="coerce").fillna(95).to_numpy()
        if "confidence" in cells
        else np.full(len(cells), 95.0)
    )
    confidence = np.where(confidence <= 1, confidence * 100, confidence)
    opacity = np.select([confidence >= 99, confidence >= 95], [0.7, 0.5], default=0.32)
    out = []
    for d, kind, alpha in zip(_path_data(frame.metric(cells), frame), kinds, opacity, strict=True):
        colour = COLD_COLOUR if kind.startswith("cold") else HOT_COLOUR
        out.append(
            _path(d, {"color": colour, "weight": 0.5, "fillColor": colour, "fillOpacity": alpha})
        )
    return out


def _incident_dots(incidents: gpd.GeoDataFrame, frame: _Frame) -> list[Shape]:
    """One path of zero-length strokes (round dots) per kind of incident."""
    chosen = incidents.iloc[even_sample(len(incidents), SVG_MAX_INCIDENTS)]
    xy = frame.xy(shapely.get_coordinates(frame.metric(chosen)))
    kinds = chosen["kind"].astype(str).to_numpy() if "kind" in chosen else np.full(len(xy), "other")
    out = []
    for kind in dict.fromkeys(kinds.tolist()):
        mine = _pairs(xy[kinds == kind])
        d = "M" + " h0 M".join(mine.tolist()) + " h0"
        colour = KIND_COLOURS.get(kind, KIND_COLOURS["other"])
        out.append({"kind": "dots", "d": d, "colour": colour})
    return out


def _named_hotspots(hotspots: gpd.GeoDataFrame, frame: _Frame) -> list[Shape]:
    out = []
    geoms = frame.metric(hotspots)
    radii = (
        pd.to_numeric(hotspots["radius_m"], errors="coerce").to_numpy()
        if "radius_m" in hotspots
        else np.full(len(hotspots), np.nan)
    )
    for geom, radius, name in zip(geoms, radii, hotspots["name"].astype(str), strict=True):
        if shapely.get_type_id(geom) == 0 and np.isfinite(radius):
            geom = shapely.buffer(geom, float(radius))
        (d,) = _path_data(np.array([geom], dtype=object), frame)
        out.append(_path(d, {**HOTSPOT_STYLE, "weight": 2}))
        (x, y) = frame.xy(shapely.get_coordinates(shapely.point_on_surface(geom)))[0]
        out.append(
            {"kind": "label", "x": x, "y": y - 6, "fill": HOTSPOT_STYLE["color"], "text": name}
        )
    return out


__all__ = [
    "COLD_COLOUR",
    "HOT_COLOUR",
    "SVG_MAX_INCIDENTS",
    "SVG_WIDTH",
    "even_sample",
    "static_map_svg",
]
