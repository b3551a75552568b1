"""The map of one cluster: members, shared boundaries, border zones, hotspots and incidents.

:func:`cluster_map` takes plain GeoDataFrames (any CRS; drawn in EPSG:4326) and returns a
``folium.Map`` that loads nothing from the internet: Leaflet and its plugins come from
geozone's assets (:mod:`maps.assets`), basemap tiles only when a URL template is given, and
the map stays readable without them (plain background, unit names as labels and tooltips).
Attribution is plain text, in the map's attribution control and in the legend.

Incidents are sent to the page once, as a compact columnar table (coordinates plus indexes
into de-duplicated tables of categories, lead units, rules and explanation sentences), and
turned into circle markers in a single Leaflet.markercluster group by ``geozone.js``; the
heat layer reuses the same table. Popups are filled on click from the table, whose strings
are HTML-escaped here. 50,000 incidents make a page of about 3 MB.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import folium
import geopandas as gpd
import numpy as np
import orjson
import pandas as pd
import shapely
from branca.element import Figure
from folium.map import Layer
from numpy.typing import NDArray

from geozone.crs import project_geometries, utm_epsg
from geozone.incidents.schema import CATEGORIES, category_code
from geozone.labels import (
    KIND_SHORT_LABELS,
    RULE_LABELS,
    SYNTHETIC_BANNER,
    ZONE_KIND_LABELS,
    bilingual,
)
from geozone.vntime import VIETNAM_TZ
from maps.analytics_layers import ClusterAnalytics, loader_entries
from maps.assets import DEFAULT_ASSET_BASE, use_local_assets
from maps.elements import (
    GeoJsonLayer,
    IncidentHeat,
    IncidentLayer,
    IncidentLoader,
    MapDecor,
    esc,
)
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
#: Incident marker fill colour by category kind.
KIND_COLOURS = {"criminal": "#d32f2f", "administrative": "#1976d2", "other": "#757575"}
POPUP_LABELS = {
    "synthetic_html": esc(SYNTHETIC_BANNER),
    "id_html": esc("Mã / ID"),
    "time_html": esc("Thời gian / Time (UTC+7)"),
    "lead_html": esc("Đơn vị chủ trì / Lead unit"),
    "rule_html": esc("Nguyên tắc / Rule"),
}
LAYER_NAMES = {
    "units": "Đơn vị thành viên / Member units",
    "boundaries": "Ranh giới chung / Shared boundaries",
    "zones": "Vùng giáp ranh / Border zones",
    "junctions": "Điểm tiếp giáp / Junctions",
    "hotspots": "Điểm nóng / Hotspots",
    "incidents": "Vụ việc / Incidents",
    "heat": "Mật độ vụ việc / Incident heat map",
}
#: Texts of the incident key box of a served cluster map (plain text, set with textContent).
LOADER_LABELS = {
    "title": "Vụ việc / Incidents",
    "need_key": (
        "Cần khoá API vai trò analyst (hoặc cao hơn) để xem vụ việc / "
        "Incidents need an analyst API key (or higher)"
    ),
    "key_label": "Khoá API / API key",
    "key_placeholder": "X-API-Key",
    "show": "Xem vụ việc / Show incidents",
    "forget": "Xoá khoá / Forget key",
    "loading": "Đang tải vụ việc… / Loading incidents…",
    "kept": "Khoá chỉ giữ trong thẻ này / The key is kept for this tab only",
    "error_prefix": "Lỗi / Error",
    "network_error": "Không kết nối được máy chủ / Cannot reach the server",
}
_DECIMALS = 6  # 0.1 m: polygons and lines
_POINT_DECIMALS = 5  # 1 m: incident markers
#: Deepest zoom level of the maps (about 0.3 m per pixel).
MAX_ZOOM = 19


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
        self.names = dict(zip(codes, self.frame["full_name"].astype(str), strict=True))
        self.codes = codes.to_numpy(dtype=object)

    def label(self, code: str) -> str:
        """Plain-text "Full name (code)", or the code when the unit is not on the map."""
        name = self.names.get(code)
        return f"{name} ({code})" if name else code

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


def _boundary_collection(lines: gpd.GeoDataFrame, units: MemberUnits) -> dict[str, Any]:
    frame = prepare_layer(lines, "boundaries_lines", ("code_a", "code_b"))
    geoms = frame.geometry.to_numpy()
    lengths = (
        frame["length_m"].to_numpy(dtype=float) if "length_m" in frame else _metric_lengths(geoms)
    )
    props = [
        {
            "style": BOUNDARY_STYLE,
            "tooltip_html": (
                f"<b>{esc('Ranh giới chung / Shared boundary')}</b><br>"
                f"{esc(units.label(str(a)))} – {esc(units.label(str(b)))}<br>{length:.0f} m"
            ),
        }
        for a, b, length in zip(frame["code_a"], frame["code_b"], lengths, strict=True)
    ]
    return _feature_collection(geoms, props)


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
        names = " – ".join(esc(units.label(code)) for code in codes)
        width = row.get("width_m")
        width_text = f" ({float(width):.0f} m)" if _is_set(width) else ""
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


def _junction_collection(junctions: gpd.GeoDataFrame, units: MemberUnits) -> dict[str, Any]:
    frame = prepare_layer(junctions, "junctions", ("codes",))
    props = [
        {
            "style": JUNCTION_STYLE,
            "tooltip_html": (
                f"<b>{esc('Điểm tiếp giáp / Junction')}</b><br>"
                + "<br>".join(esc(units.label(code)) for code in _codes(codes))
            ),
        }
        for codes in frame["codes"]
    ]
    return _feature_collection(frame.geometry.to_numpy(), props)


def _hotspot_collection(hotspots: gpd.GeoDataFrame) -> dict[str, Any]:
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


def _utc_times(values: pd.Series) -> pd.Series:
    """Parse times to UTC (naive times are Vietnam time; unreadable ones NaT)."""
    try:
        times = pd.to_datetime(values, errors="coerce", format="ISO8601")
    except (ValueError, TypeError):  # naive and aware values mixed: one by one
        times = pd.Series(
            [_aware(value) for value in values], index=values.index, dtype="datetime64[ns, UTC]"
        )
    if not pd.api.types.is_datetime64_any_dtype(times):  # several offsets
        times = pd.to_datetime(values, errors="coerce", format="ISO8601", utc=True)
    if times.dt.tz is None:
        times = times.dt.tz_localize(VIETNAM_TZ)
    return times.dt.tz_convert("UTC")


def _aware(value: Any) -> pd.Timestamp | None:
    """One time as UTC (naive = Vietnam time); None when it is not a time."""
    try:
        stamp: Any = pd.Timestamp(value)
    except (ValueError, TypeError):
        return None
    if pd.isna(stamp):
        return None
    aware = stamp.tz_localize(VIETNAM_TZ) if stamp.tzinfo is None else stamp
    return pd.Timestamp(aware.tz_convert("UTC"))


def _minutes(values: pd.Series) -> tuple[int, NDArray[np.int64]]:
    """Return a base and offsets in whole minutes (UTC epoch minutes; -1 = no time)."""
    times = _utc_times(values)
    valid = times.notna().to_numpy()
    stamps = times.dt.as_unit("s").astype("int64").to_numpy() // 60
    base = int(stamps[valid].min()) if valid.any() else 0
    return base, np.where(valid, stamps - base, -1).astype(np.int64)


def _factorize(values: pd.Series, label: Any = None) -> tuple[NDArray[np.int64], list[str]]:
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    labels = [esc(label(v) if label else v) for v in uniques]
    return codes.astype(np.int64), labels


_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
#: Stands for a number in a sentence template (never produced by html.escape).
NUMBER_SLOT = "\x01"


def pack_sentences(sentences: Sequence[str]) -> tuple[list[str], list[str]]:
    """Compress distinct sentences into shared templates and their numbers.

    The explanations differ mostly by a distance in metres, so 50,000 incidents carry
    thousands of distinct sentences but only dozens of shapes. Numbers are cut out (each
    replaced by :data:`NUMBER_SLOT`), the rest is HTML-escaped and shared.

    Returns
    -------
    templates, packed
        The escaped templates, and per sentence ``"k|n1|n2..."``: template k with the
        numbers to put back into its slots in order (digits, dots and commas only).
    """
    templates: dict[str, int] = {}
    packed: list[str] = []
    for sentence in sentences:
        numbers = _NUMBER.findall(sentence)
        template = esc(_NUMBER.sub(NUMBER_SLOT, sentence))
        k = templates.setdefault(template, len(templates))
        packed.append("|".join([str(k), *numbers]))
    return list(templates), packed


def _common_prefix(first: str, last: str) -> str:
    """Return the common prefix of the lexicographically first and last strings (= of all)."""
    size = 0
    for a, b in zip(first, last, strict=False):
        if a != b:
            break
        size += 1
    return first[:size]


def _category(value: str) -> dict[str, Any]:
    category = CATEGORIES.get(value)
    if category is None:
        try:
            category = CATEGORIES[category_code(value)]
        except ValueError:
            return {"vi_html": esc(value), "en_html": esc(value), "kind": "other"}
    return {"vi_html": esc(category.vi), "en_html": esc(category.en), "kind": category.kind}


def incident_data(
    incidents: gpd.GeoDataFrame, units: gpd.GeoDataFrame | None = None
) -> dict[str, Any]:
    """Build the compact columnar table the page's incident and heat layers read.

    Parameters
    ----------
    incidents
        Points; optional columns ``category`` (code or label), ``occurred_at``, ``rule``,
        ``lead_unit`` (a unit code), ``explanation_vi``, ``explanation_en``, ``synthetic``,
        ``external_id``.
    units
        Units with ``code`` and ``full_name``, to name lead units (optional).

    Returns
    -------
    dict
        ``lat``/``lon`` (5 decimals, about 1 m); index arrays into tables of distinct
        HTML-escaped strings: ``cat``/``cats``, ``lead``/``leads``, ``rule``/``rules``,
        ``ex`` into ``vis``/``ens`` (packed sentences, see :func:`pack_sentences`, with
        templates ``vi_templates``/``en_templates``), -1 meaning none; ``t0`` and ``t``
        (UTC epoch minutes: base and offsets, -1 none); ``id_prefix`` and ``id`` (escaped);
        ``syn`` (0/1 per row, or one number for all) and the popup ``labels``.

    Raises
    ------
    MapInputError
        When a geometry is not a point (naming the row).
    """
    frame = prepare_layer(incidents, "incidents")
    geoms = frame.geometry.to_numpy()
    not_point = shapely.get_type_id(geoms) != 0
    if not_point.any():
        first = geoms[not_point][0]
        raise MapInputError(
            f"layer 'incidents': geometries must be points; row {frame.index[not_point][0]} "
            f"is a {first.geom_type}"
        )
    names: dict[str, str] = {}
    if units is not None and {"code", "full_name"} <= set(units.columns):
        names = dict(zip(units["code"].astype(str), units["full_name"].astype(str), strict=True))
    n = len(frame)
    data: dict[str, Any] = {
        "lat": np.round(shapely.get_y(geoms), _POINT_DECIMALS),
        "lon": np.round(shapely.get_x(geoms), _POINT_DECIMALS),
        "labels": POPUP_LABELS,
    }
    raw = frame["category"] if "category" in frame else pd.Series(["other"] * n, frame.index)
    cat_codes, cat_uniques = pd.factorize(raw.fillna("other").astype(str))
    cats = [_category(value) for value in cat_uniques]
    for cat in cats:
        cat["color"] = KIND_COLOURS[cat["kind"]]
    data["cat"], data["cats"] = cat_codes.astype(np.int64), cats
    if "occurred_at" in frame:
        data["t0"], data["t"] = _minutes(frame["occurred_at"])
    if "external_id" in frame:
        ids = frame["external_id"].astype(str).tolist()
        prefix = _common_prefix(min(ids), max(ids)) if ids else ""
        data["id_prefix"] = esc(prefix)
        data["id"] = [esc(v[len(prefix) :]) for v in ids]
    if "lead_unit" in frame:
        data["lead"], data["leads"] = _factorize(
            frame["lead_unit"], lambda c: f"{names[c]} ({c})" if c in names else c
        )
    if "rule" in frame:
        data["rule"], data["rules"] = _factorize(frame["rule"], _rule_label)
    columns = [c for c in ("explanation_vi", "explanation_en") if c in frame]
    if columns:
        texts = frame[columns].astype("string")
        present = texts.notna().any(axis=1).to_numpy()
        keys = texts[columns[0]].fillna("")
        for column in columns[1:]:
            keys = keys + "\x00" + texts[column].fillna("")
        keys = keys[present]
        codes, uniques = pd.factorize(keys)
        data["ex"] = np.full(n, -1, dtype=np.int64)
        data["ex"][present] = codes
        split = [str(key).split("\x00") for key in uniques]
        for position, column in enumerate(columns):
            key = column.removeprefix("explanation_")
            data[f"{key}_templates"], data[f"{key}s"] = pack_sentences(
                [parts[position] for parts in split]
            )
    if "synthetic" in frame:
        syn = frame["synthetic"].fillna(False).astype(bool).to_numpy().astype(np.int8)
        data["syn"] = int(syn[0]) if len(syn) and (syn == syn[0]).all() else syn
    return data


def incident_legend(data: dict[str, Any]) -> list[dict[str, Any]]:
    """Return the legend items of the incident kinds present in an :func:`incident_data` table."""
    kinds = dict.fromkeys(cat["kind"] for cat in data["cats"])
    return [
        {
            "swatch": {"kind": "circle", "color": "#202020", "fill": KIND_COLOURS[k]},
            "label_html": esc(bilingual(KIND_SHORT_LABELS[k])),
        }
        for k in KIND_COLOURS
        if k in kinds
    ]


def incident_summary(returned: int, total: int) -> str:
    """Return the plain-text line saying how many incidents a map shows (Vietnamese, English)."""
    if not total:
        return "Chưa có vụ việc nào của cụm này / No incidents of this cluster are stored"
    if returned >= total:
        return f"{_thousands(total)} vụ việc / {total:,} incidents"
    return (
        f"{_thousands(returned)} vụ việc mới nhất trong {_thousands(total)} / "
        f"the newest {returned:,} of {total:,} incidents"
    )


def _rule_label(rule: str) -> str:
    """Return a rule's bilingual label; an unknown rule is said to be unknown, never raw."""
    return RULE_LABELS.get(rule) or f"Nguyên tắc không xác định / Unknown rule ({rule})"


def incident_payload(
    incidents: gpd.GeoDataFrame | None, total: int, units: gpd.GeoDataFrame | None = None
) -> dict[str, Any]:
    """Return what a served cluster map fetches to draw its incidents (``incident_loader.js``).

    Parameters
    ----------
    incidents
        Points, as for :func:`cluster_map` (None or empty: none).
    total
        How many incidents of the cluster are stored (``incidents`` may be the newest only).
    units
        ``code`` and ``full_name`` of the units that may lead, to name them.

    Returns
    -------
    dict
        ``returned``, ``total``, ``synthetic`` (any incident is), ``summary`` (plain text),
        ``data`` (the :func:`incident_data` table, or None), ``legend`` (items with
        ``swatch`` and ``label_html``) and ``notice_html`` (the synthetic badge or None).
    """
    data = incident_data(incidents, units) if incidents is not None and len(incidents) else None
    returned = 0 if data is None else len(data["lat"])
    synthetic = bool(data is not None and "syn" in data and np.any(data["syn"]))
    return {
        "returned": returned,
        "total": int(total),
        "synthetic": synthetic,
        "summary": incident_summary(returned, int(total)),
        "data": data,
        "legend": incident_legend(data) if data is not None else [],
        "notice_html": esc(SYNTHETIC_BANNER) if synthetic else None,
    }


# -- the map -------------------------------------------------------------------------------------


def base_map(
    bounds: list[list[float]], *, title: str, tiles: str | None, tiles_attribution: str | None
) -> folium.Map:
    """Return an empty map centred on ``bounds`` ([[south, west], [north, east]]).

    :class:`maps.elements.MapDecor` fits the view to the bounds once the title and legend
    are in place (leaving room for them).

    Without ``tiles`` the map has no basemap (a plain background); with a URL template the
    tiles are its only request to another host.
    """
    (south, west), (north, east) = bounds
    m = folium.Map(
        location=[(south + north) / 2, (west + east) / 2],
        zoom_start=13,
        tiles=None,
        control_scale=True,
        zoom_control="bottomright",
        font_size="13px",
        maxZoom=MAX_ZOOM,
        zoomSnap=0.25,  # needed by marker clustering when there is no tile layer
    )
    figure = m.get_root()
    if isinstance(figure, Figure):
        figure.title = esc(title)
    if tiles:
        folium.TileLayer(
            tiles=tiles,
            attr=esc(tiles_attribution or "Bản đồ nền / Basemap"),
            name="Bản đồ nền / Basemap",
            control=False,
            max_zoom=MAX_ZOOM,
        ).add_to(m)
    return m


def _legend_items(units: MemberUnits) -> list[dict[str, Any]]:
    return [
        {
            "swatch": {"kind": "fill", "color": colour, "fill": colour},
            "label_html": esc(units.label(code)),
        }
        for code, colour in units.colour.items()
    ]


def _fill_swatch(style: dict[str, Any]) -> dict[str, Any]:
    return {"kind": "fill", "color": style["color"], "fill": style["fillColor"]}


def cluster_map(
    *,
    units: gpd.GeoDataFrame,
    boundaries_lines: gpd.GeoDataFrame | None,
    zones: gpd.GeoDataFrame | None,
    junctions: gpd.GeoDataFrame | None,
    hotspots: gpd.GeoDataFrame | None,
    incidents: gpd.GeoDataFrame | None,
    title: str,
    attribution: str,
    tiles: str | None = None,
    tiles_attribution: str | None = None,
    asset_base: str = DEFAULT_ASSET_BASE,
    inline_assets: bool = False,
    heat: bool = True,
    incidents_url: str | None = None,
    analytics: ClusterAnalytics | None = None,
    hotspots_url: str | None = None,
) -> folium.Map:
    """Build the map of a cluster.

    Parameters
    ----------
    units
        Member polygons (a display layer): ``code``, ``full_name``; optional ``member``
        (bool; False = a neighbouring unit shown for context, grey) and ``role`` (text shown
        in the tooltip, e.g. which old members a 2025 unit carries).
    boundaries_lines
        Boundaries shared by members: ``code_a``, ``code_b``, optional ``length_m``.
    zones
        Border zones: ``kind`` ("pair" or "junction"), ``codes`` (list) or ``code_a`` /
        ``code_b``, optional ``width_m``; drawn semi-transparent.
    junctions
        Points where three or more members meet: ``codes``.
    hotspots
        Named places: ``name``, optional ``name_en``, ``note``; a polygon, or a point with
        ``radius_m`` (drawn as a circle of that radius).
    incidents
        Points: see :func:`incident_data`. Clustered (Leaflet.markercluster), with a popup
        in Vietnamese and English and a "DỮ LIỆU MÔ PHỎNG / SYNTHETIC" badge on synthetic
        records, plus a heat layer.
    title
        Shown on the map and as the page title.
    attribution
        Data attribution (plain text), e.g. the boundary set's ``info.attribution``.
    tiles
        Basemap URL template (``https://host/{z}/{x}/{y}.png``); None = no basemap.
    tiles_attribution
        Attribution of the basemap (plain text).
    asset_base
        URL path or URL geozone's map assets are served under (see :mod:`maps.assets`).
    inline_assets
        Embed the assets into the page (standalone file; needs ``npm ci --prefix maps``).
    heat
        Add the incident heat layer (off when the page opens; toggled in the layer control).
    incidents_url
        When ``incidents`` is None: a URL of the service answering :func:`incident_payload`
        JSON to a request with an ``X-API-Key`` header. The page then offers a key box
        (``incident_loader.js``): the key typed there is kept in the tab's
        ``sessionStorage`` (shared with the planner page) and the incidents are fetched and
        drawn; without a key the page says that incidents need an analyst key.
    analytics
        Gi* hotspot and emerging-trend cells computed for a standalone map
        (:func:`maps.analytics_layers.cluster_analytics`): two overlays (emerging off when
        the page opens) with their legend sections.
    hotspots_url
        With ``incidents_url``: the path of ``GET /clusters/{id}/hotspots``; the page fetches
        the same two overlays with the key it holds for the incidents.

    Returns
    -------
    folium.Map
        Render it with :func:`maps.to_html`.

    Raises
    ------
    MapInputError
        For an unusable layer (named, with the column or row at fault).
    """
    members = MemberUnits(units)
    layers: list[Layer] = [GeoJsonLayer(members.collection(), name=LAYER_NAMES["units"])]
    sections: list[dict[str, Any]] = [
        {"title_html": esc("Thành viên / Members"), "items": _legend_items(members)}
    ]
    shapes: list[dict[str, Any]] = []
    if zones is not None and len(zones):
        layers.append(GeoJsonLayer(zone_collection(zones, members), name=LAYER_NAMES["zones"]))
        shapes += [
            {
                "swatch": _fill_swatch(PAIR_ZONE_STYLE),
                "label_html": esc(bilingual(ZONE_KIND_LABELS["pair"])),
            },
            {
                "swatch": _fill_swatch(JUNCTION_ZONE_STYLE),
                "label_html": esc(bilingual(ZONE_KIND_LABELS["junction"])),
            },
        ]
    if boundaries_lines is not None and len(boundaries_lines):
        layers.append(
            GeoJsonLayer(
                _boundary_collection(boundaries_lines, members), name=LAYER_NAMES["boundaries"]
            )
        )
        shapes.append(
            {
                "swatch": {"kind": "line", "color": BOUNDARY_STYLE["color"], "weight": 3},
                "label_html": esc(LAYER_NAMES["boundaries"]),
            }
        )
    if hotspots is not None and len(hotspots):
        layers.append(GeoJsonLayer(_hotspot_collection(hotspots), name=LAYER_NAMES["hotspots"]))
        shapes.append(
            {"swatch": _fill_swatch(HOTSPOT_STYLE), "label_html": esc(LAYER_NAMES["hotspots"])}
        )
    if junctions is not None and len(junctions):
        layers.append(
            GeoJsonLayer(
                _junction_collection(junctions, members),
                name=LAYER_NAMES["junctions"],
                sticky=False,
            )
        )
        shapes.append(
            {
                "swatch": {"kind": "circle", "color": JUNCTION_STYLE["color"], "fill": "#ffffff"},
                "label_html": esc(LAYER_NAMES["junctions"]),
            }
        )
    if analytics is not None:
        layers += analytics.layers()
    if shapes:
        sections.append(
            {"title_html": esc("Ranh giới và vùng / Boundaries and zones"), "items": shapes}
        )
    notice = None
    n_incidents = 0
    if incidents is not None and len(incidents):
        data = incident_data(incidents, members.frame)
        n_incidents = len(data["lat"])
        clustered = IncidentLayer(data, name=LAYER_NAMES["incidents"])
        layers.append(clustered)
        if heat:
            layers.append(IncidentHeat(clustered, name=LAYER_NAMES["heat"]))
        sections.append(
            {
                "title_html": esc(f"Vụ việc / Incidents ({_thousands(n_incidents)})"),
                "items": incident_legend(data),
            }
        )
        if "syn" in data and np.any(data["syn"]):
            notice = esc(SYNTHETIC_BANNER)
    if analytics is not None:
        sections += analytics.legend_sections()
        if analytics.synthetic:
            notice = esc(SYNTHETIC_BANNER)
    subtitle = f"{len(members.colour)} đơn vị thành viên / member units"
    if n_incidents:
        subtitle += f" · {_thousands(n_incidents)} vụ việc / incidents"
    m = base_map(members.bounds(), title=title, tiles=tiles, tiles_attribution=tiles_attribution)
    # Title and legend first: the view is fitted around them before the layers are drawn.
    MapDecor(
        {
            "title_html": esc(title),
            "subtitle_html": esc(subtitle),
            "prefix_html": "Leaflet",
            "bounds": members.bounds(),
            "attributions_html": [esc(attribution)],
            "legend": {
                "title_html": esc("Chú giải / Legend"),
                "sections": sections,
                "notice_html": notice,
                "attribution_html": esc(f"Nguồn dữ liệu / Data: {attribution}"),
            },
        }
    ).add_to(m)
    for layer in layers:
        layer.add_to(m)
    control = folium.LayerControl(collapsed=False, position="topright")
    control.add_to(m)
    if incidents is None and incidents_url is not None:
        IncidentLoader(
            control,
            {
                "url": incidents_url,
                "labels": LOADER_LABELS,
                "names_html": {
                    "incidents": esc(LAYER_NAMES["incidents"]),
                    "heat": esc(LAYER_NAMES["heat"]),
                },
                "analytics": loader_entries(hotspots_url) if hotspots_url else [],
            },
        ).add_to(m)
    return use_local_assets(m, base=asset_base, inline=inline_assets)


def _thousands(n: int) -> str:
    """Vietnamese digit grouping: 50.000."""
    return f"{n:,}".replace(",", ".")
