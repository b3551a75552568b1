"""The drawn overlays of geozone's maps: styles, member units and their GeoJSON collections.

Each collection is a GeoJSON FeatureCollection whose properties carry ``style`` and escaped
``tooltip_html`` / ``label_html`` (read by ``GZ.geojsonLayer`` in ``geozone.js``). Inputs are
plain GeoDataFrames (any CRS; drawn in EPSG:4326), checked by :func:`prepare_layer`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import geopandas as gpd
import numpy as np
import orjson
import pandas as pd
import shapely
from numpy.typing import NDArray

from geozone.crs import project_geometries, utm_epsg
from geozone.labels import ZONE_KIND_LABELS, bilingual
from geozone.text import format_number
from maps.elements import esc
from maps.errors import MapInputError

#: Member colours (Tableau 10, a qualitative palette), by member order; repeats after ten.
MEMBER_PALETTE = (
    "#4e79a7",
    "#f28e2b",
    "#59a14f",
    "#b07aa1",
    "#edc948",
    "#76b7b2",
    "#e15759",
    "#9c755f",
    "#ff9da7",
    "#bab0ac",
)
NON_MEMBER_COLOUR = "#8a8a8a"
BOUNDARY_STYLE = {"color": "#1b1b1b", "weight": 3.5, "opacity": 0.9}
PAIR_ZONE_STYLE = {
    "color": "#37474f",
    "weight": 1,
    "dashArray": "4 3",
    "fillColor": "#37474f",
    "fillOpacity": 0.28,
}
JUNCTION_ZONE_STYLE = {
    "color": "#880e4f",
    "weight": 1.5,
    "fillColor": "#ad1457",
    "fillOpacity": 0.35,
}
JUNCTION_STYLE = {
    "radius": 7,
    "color": "#880e4f",
    "weight": 3,
    "fillColor": "#ffffff",
    "fillOpacity": 1.0,
}
HOTSPOT_STYLE = {
    "color": "#d50000",
    "weight": 2.5,
    "dashArray": "6 4",
    "fillColor": "#ff1744",
    "fillOpacity": 0.12,
}
#: Saved patrol zones on the cluster map (the planner draws them in the same blue).
PATROL_ZONE_STYLE = {"color": "#0d47a1", "weight": 3, "fillColor": "#1e88e5", "fillOpacity": 0.2}
LAYER_NAMES = {
    "units": "Đơn vị thành viên / Member units",
    "boundaries": "Ranh giới chung / Shared boundaries",
    "zones": "Vùng giáp ranh / Border zones",
    "junctions": "Điểm tiếp giáp / Junctions",
    "hotspots": "Điểm nóng / Hotspots",
    "incidents": "Vụ việc / Incidents",
    "heat": "Mật độ vụ việc / Incident heat map",
    "patrol_zones": "Vùng tuần tra đã lưu / Saved patrol zones",
}
_DECIMALS = 6  # 0.1 m: polygons and lines


# -- input checks --------------------------------------------------------------------------------


def prepare_layer(
    gdf: gpd.GeoDataFrame, layer: str, required: Sequence[str] = ()
) -> gpd.GeoDataFrame:
    """Check one input layer and return it in EPSG:4326.

    Parameters
    ----------
    gdf
        The layer.
    layer
        Its name, for error messages (``"units"``, ``"incidents"``...).
    required
        Columns it must have.

    Raises
    ------
    MapInputError
        When it is not a GeoDataFrame, lacks a column, has no CRS, or has rows without
        geometry (naming the first of them).
    """
    if not isinstance(gdf, gpd.GeoDataFrame):
        raise MapInputError(f"layer {layer!r} must be a GeoDataFrame, not {type(gdf).__name__}")
    missing = [column for column in required if column not in gdf.columns]
    if missing:
        raise MapInputError(
            f"layer {layer!r} lacks column(s) {', '.join(missing)} "
            f"(it has {', '.join(map(str, gdf.columns))})"
        )
    if gdf.crs is None:
        raise MapInputError(f"layer {layer!r} has no CRS; set one (e.g. gdf.set_crs(4326))")
    out = gdf if gdf.crs.to_epsg() == 4326 else gdf.to_crs(4326)
    geoms = out.geometry.to_numpy()
    bad = shapely.is_missing(geoms) | shapely.is_empty(geoms)
    if bad.any():
        rows = ", ".join(map(str, out.index[bad][:5]))
        raise MapInputError(f"layer {layer!r}: {int(bad.sum())} row(s) have no geometry ({rows})")
    return out


def _feature_collection(geoms: NDArray[np.object_], props: list[dict[str, Any]]) -> dict[str, Any]:
    rounded = shapely.transform(geoms, lambda xy: np.round(xy, _DECIMALS))
    texts = shapely.to_geojson(rounded)
    return {
        "type": "FeatureCollection",
        "features": [
            {"type": "Feature", "geometry": orjson.Fragment(text), "properties": prop}
            for text, prop in zip(texts, props, strict=True)
        ],
    }


def _metric_lengths(geoms: NDArray[np.object_]) -> NDArray[np.float64]:
    centre = shapely.get_x(shapely.centroid(geoms))
    lengths = shapely.length(project_geometries(geoms, utm_epsg(centre)))
    return np.asarray(lengths, dtype=np.float64)


def _codes(value: Any) -> list[str]:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return []
    if isinstance(value, str):
        return [part for part in value.replace(",", "-").split("-") if part]
    return [str(code) for code in value]


def _is_set(value: Any) -> bool:
    return value is not None and not (isinstance(value, float) and np.isnan(value))


# -- layers --------------------------------------------------------------------------------------


#: Lightness steps of the members of one group (0: the group's own colour).
_SHADES = (0.0, 0.35, -0.3, 0.55, -0.5, 0.2, -0.15, 0.7, 0.45, -0.4)


def shade(colour: str, k: int) -> str:
    """Return ``colour`` (``#rrggbb``) lighter (towards white) or darker by step ``k``."""
    step = _SHADES[k % len(_SHADES)]
    rgb = [int(colour[i : i + 2], 16) for i in (1, 3, 5)]
    target = 255 if step > 0 else 0
    mixed = [round(c + (target - c) * abs(step)) for c in rgb]
    return "#" + "".join(f"{c:02x}" for c in mixed)


class MemberUnits:
    """The ``units`` layer checked: members (and optional context units), colours, names.

    Parameters
    ----------
    units
        See :func:`cluster_map`.

    Raises
    ------
    MapInputError
        When the layer is unusable or has no member.
    """

    def __init__(self, units: gpd.GeoDataFrame) -> None:
        self.frame = prepare_layer(units, "units", ("code", "full_name"))
        if not len(self.frame):
            raise MapInputError("layer 'units' is empty: a cluster map needs its member units")
        codes = self.frame["code"].astype(str)
        self.is_member = (
            self.frame["member"].fillna(False).astype(bool).to_numpy()
            if "member" in self.frame
            else np.ones(len(self.frame), dtype=bool)
        )
        if not self.is_member.any():
            raise MapInputError("layer 'units': no row has member = True")
        member_codes = list(dict.fromkeys(codes[self.is_member]))
        self.colour = {
            code: MEMBER_PALETTE[i % len(MEMBER_PALETTE)] for i, code in enumerate(member_codes)
        }
        #: Old unit -> member codes, for clusters with more members than the palette has
        #: colours (a carried cluster: grouped by the old unit each member comes from).
        self.groups: dict[str, list[str]] = {}
        if "group" in self.frame and len(member_codes) > len(MEMBER_PALETTE):
            group_of = dict(zip(codes, self.frame["group"], strict=True))
            for code in member_codes:
                name = group_of.get(code)
                self.groups.setdefault(str(name) if _is_set(name) else "Khác / Other", []).append(
                    code
                )
            self.colour = {
                code: shade(MEMBER_PALETTE[g % len(MEMBER_PALETTE)], k)
                for g, members in enumerate(self.groups.values())
                for k, code in enumerate(members)
            }
        self.names = dict(zip(codes, self.frame["full_name"].astype(str), strict=True))
        self.codes = codes.to_numpy(dtype=object)

    def label(self, code: str, names: Any = None) -> str:
        """Plain-text "Full name (code)" of a unit on the map.

        A unit not on the map is named from ``names`` (a row's ``names`` of
        :func:`maps.layers.cluster_layers`: code → full name, such as a carried cluster's
        original units), else by its code.
        """
        name = self.names.get(code)
        if name:
            return f"{name} ({code})"
        other = names.get(code) if isinstance(names, dict) else None
        return str(other) if other else code

    def bounds(self) -> list[list[float]]:
        """Return [[south, west], [north, east]] of the members."""
        minx, miny, maxx, maxy = shapely.total_bounds(
            self.frame.geometry.to_numpy()[self.is_member]
        )
        return [[float(miny), float(minx)], [float(maxy), float(maxx)]]

    def collection(self) -> dict[str, Any]:
        """Return the GeoJSON of the units (styled, with tooltips) and the members' labels."""
        roles = self.frame["role"] if "role" in self.frame else pd.Series(None, self.frame.index)
        props: list[dict[str, Any]] = []
        for code, member, role in zip(self.codes, self.is_member, roles, strict=True):
            colour = self.colour.get(code, NON_MEMBER_COLOUR)
            style = (
                {"color": colour, "weight": 2, "fillColor": colour, "fillOpacity": 0.22}
                if member
                else {"color": NON_MEMBER_COLOUR, "weight": 1, "fillOpacity": 0.0}
            )
            tip = f"<b>{esc(self.label(code))}</b>"
            tip += f"<br>{esc(role)}" if _is_set(role) and str(role) else ""
            tip += "" if member else "<br>" + esc("Không thuộc cụm / Not a member")
            props.append({"style": style, "tooltip_html": tip})
        geoms = self.frame.geometry.to_numpy()
        members = geoms[self.is_member]
        labels = [{"label_html": esc(self.names[c])} for c in self.codes[self.is_member]]
        return _feature_collection(
            np.concatenate([geoms, shapely.point_on_surface(members)]), props + labels
        )


def boundary_collection(lines: gpd.GeoDataFrame, units: MemberUnits) -> dict[str, Any]:
    """Return the GeoJSON of the shared boundaries, with the two members and the length."""
    frame = prepare_layer(lines, "boundaries_lines", ("code_a", "code_b"))
    geoms = frame.geometry.to_numpy()
    lengths = (
        frame["length_m"].to_numpy(dtype=float) if "length_m" in frame else _metric_lengths(geoms)
    )
    names = frame["names"] if "names" in frame else [None] * len(frame)
    props = [
        {
            "style": BOUNDARY_STYLE,
            "tooltip_html": (
                f"<b>{esc('Ranh giới chung / Shared boundary')}</b><br>"
                f"{esc(units.label(str(a), named))} – {esc(units.label(str(b), named))}<br>"
                f"{esc(metres(length))}"
            ),
        }
        for a, b, length, named in zip(
            frame["code_a"], frame["code_b"], lengths, names, strict=True
        )
    ]
    return _feature_collection(geoms, props)


def metres(value: float) -> str:
    """Write a length in whole metres in each language: "200 m", "2.216 m / 2,216 m"."""
    whole = round(float(value))
    vi, en = format_number(whole, "vi"), format_number(whole, "en")
    return f"{vi} m" if vi == en else f"{vi} m / {en} m"


def zone_collection(zones: gpd.GeoDataFrame, units: MemberUnits) -> dict[str, Any]:
    """Return the GeoJSON of the border zones (pair zones first, junction zones on top)."""
    frame = prepare_layer(zones, "zones", ("kind",))
    props: list[dict[str, Any]] = []
    for _, row in frame.iterrows():  # a few dozen zones per cluster
        kind = str(row["kind"])
        if kind not in ("pair", "junction"):
            raise MapInputError(f"layer 'zones': kind must be 'pair' or 'junction', not {kind!r}")
        codes = _codes(row.get("codes"))
        if not codes and kind == "pair":
            codes = [str(row.get("code_a")), str(row.get("code_b"))]
        names = " – ".join(esc(units.label(code, row.get("names"))) for code in codes)
        width = row.get("width_m")
        width_text = f" ({metres(width)})" if _is_set(width) else ""
        title = bilingual(ZONE_KIND_LABELS[kind])
        props.append(
            {
                "style": PAIR_ZONE_STYLE if kind == "pair" else JUNCTION_ZONE_STYLE,
                "tooltip_html": f"<b>{esc(title)}{esc(width_text)}</b><br>{names}",
            }
        )
    # Pair zones first so that junction zones are drawn on top of them.
    order = np.argsort(frame["kind"].astype(str).to_numpy() != "pair", kind="stable")
    return _feature_collection(frame.geometry.to_numpy()[order], [props[i] for i in order])


def junction_collection(junctions: gpd.GeoDataFrame, units: MemberUnits) -> dict[str, Any]:
    """Return the GeoJSON of the junctions, with the members meeting there."""
    frame = prepare_layer(junctions, "junctions", ("codes",))
    names = frame["names"] if "names" in frame else [None] * len(frame)
    props = [
        {
            "style": JUNCTION_STYLE,
            "tooltip_html": (
                f"<b>{esc('Điểm tiếp giáp / Junction')}</b><br>"
                + "<br>".join(esc(units.label(code, named)) for code in _codes(codes))
            ),
        }
        for codes, named in zip(frame["codes"], names, strict=True)
    ]
    return _feature_collection(frame.geometry.to_numpy(), props)


def hotspot_collection(hotspots: gpd.GeoDataFrame) -> dict[str, Any]:
    """Return the GeoJSON of the named hotspots (a point with a radius is a circle)."""
    frame = prepare_layer(hotspots, "hotspots", ("name",))
    props: list[dict[str, Any]] = []
    for _, row in frame.iterrows():  # a handful of named places
        radius = row.get("radius_m")
        name_en = row.get("name_en")
        note = row.get("note")
        tip = f"<b>{esc(row['name'])}</b>"
        tip += f" / {esc(name_en)}" if _is_set(name_en) and name_en else ""
        tip += f" (±{float(radius):.0f} m)" if _is_set(radius) else ""
        tip += f"<br>{esc(note)}" if _is_set(note) and note else ""
        prop: dict[str, Any] = {"style": HOTSPOT_STYLE, "tooltip_html": tip}
        if _is_set(radius) and row.geometry.geom_type == "Point":
            prop["radius_m"] = float(radius)
        props.append(prop)
    return _feature_collection(frame.geometry.to_numpy(), props)


def unit_names(codes: Sequence[str], units: MemberUnits) -> str:
    """Return the units' names (their codes when not on the map), comma-separated."""
    return ", ".join(units.names.get(code) or code for code in codes)


def patrol_zone_collection(features: dict[str, Any], units: MemberUnits) -> dict[str, Any]:
    """Return saved patrol zones (``GET /patrol-zones`` GeoJSON) styled, with tooltips.

    The tooltip gives the zone's name and the units it touches by name (``unit_names`` of
    the feature when the service sent them, else the names on the map).
    """
    out: list[dict[str, Any]] = []
    for feature in features.get("features", []):
        props = feature.get("properties") or {}
        given = props.get("unit_names")
        names = ", ".join(given) if given else unit_names(props.get("units") or [], units)
        tip = f"<b>{esc(props.get('name'))}</b>"
        tip += f"<br>{esc('Đơn vị / Units')}: {esc(names)}" if names else ""
        out.append(
            {
                "type": "Feature",
                "geometry": feature["geometry"],
                "properties": {"style": PATROL_ZONE_STYLE, "tooltip_html": tip},
            }
        )
    return {"type": "FeatureCollection", "features": out}
