"""The cluster review report as one self-contained HTML page that prints well.

:func:`report_html` renders a :class:`geozone.report.ClusterReport`: Vietnamese first with
English subtitles, the synthetic-data banner when any incident is synthetic, the headline
figures, the notes, a map and every table, and the data attribution.

The map is drawn twice:

- a **static SVG** per cluster form (members, shared boundaries, border zones, junctions,
  named hotspots, significant Gi* cells and the incidents as dots), projected to the
  cluster's UTM zone (so a scale bar is exact) and generated from the geometries here: it
  prints reliably and needs no script;
- the **interactive** Leaflet map of the newest form (:func:`maps.cluster_map` rendered with
  :func:`maps.to_html` and its assets inlined) in an ``<iframe srcdoc>``, for the screen
  only: it is hidden when printing, and nothing the page says depends on it.

Print: A4 with margins (``@page``), a page break before each section, rows and figures never
split across pages, table headers repeated on every page, colours kept
(``print-color-adjust: exact``), and a footer on every printed page repeating the cluster,
the period, the synthetic label and the attribution. Every text that reaches the page is
escaped with :func:`maps.elements.esc`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from numpy.typing import NDArray

from geozone.context import Context
from geozone.labels import (
    CATEGORY_LABELS,
    KIND_LABELS,
    KIND_SHORT_LABELS,
    KINDS,
    MEMBER_KIND_LABELS,
    SPOT_LABELS,
    SYNTHETIC_LABEL,
    ZONE_KIND_LABELS,
    bilingual,
)
from geozone.report import CHANGE_LABELS, TABLES, ClusterForm, ClusterReport, cluster_forms, label
from maps.cluster_map import (
    BOUNDARY_STYLE,
    HOTSPOT_STYLE,
    JUNCTION_STYLE,
    JUNCTION_ZONE_STYLE,
    KIND_COLOURS,
    MEMBER_PALETTE,
    PAIR_ZONE_STYLE,
    cluster_map,
)
from maps.elements import esc, to_html
from maps.errors import MapAssetsMissingError
from maps.layers import ClusterLayers, cluster_layers

#: Width of the SVG maps in user units (pixels at 100 %).
SVG_WIDTH = 1000.0
#: Most incident dots one static map draws (an even sample beyond).
SVG_MAX_INCIDENTS = 5_000
#: Most incidents the interactive map carries.
MAP_MAX_INCIDENTS = 20_000
#: Most Gi* cells listed in the hotspot table (all are drawn on the map).
MAX_HOTSPOT_ROWS = 40
#: Gi* cells: orange and teal, apart from the red and blue of criminal and administrative dots.
HOT_COLOUR = "#ef6c00"
#: Text labels on the SVG maps: bold, centred, with a white halo.
_LABEL = (
    "font-family='sans-serif' font-size='15' font-weight='bold' text-anchor='middle' "
    "paint-order='stroke' stroke='#ffffff' stroke-width='3'"
)
COLD_COLOUR = "#00897b"

#: Sections of the page: (id, Vietnamese title, English title, tables).
SECTIONS: tuple[tuple[str, str, str, tuple[str, ...]], ...] = (
    ("categories", "Tình hình vụ việc", "Incidents", ("by_category", "border_zone")),
    ("members", "Đơn vị thành viên", "Member units", ("by_member", "membership")),
    ("months", "Diễn biến theo tháng", "Month by month", ("by_period",)),
    (
        "hotspots",
        "Điểm nóng và hiệu ứng giáp ranh",
        "Hotspots and the border effect",
        ("hotspots", "named_hotspots", "border_effect"),
    ),
    ("scope", "Phạm vi báo cáo", "Scope of the report", ("cluster_forms",)),
)
#: Columns shown per table (all columns stay in the CSV and JSON exports).
DISPLAY_COLUMNS: dict[str, tuple[str, ...]] = {
    "by_category": (
        "label_vi",
        "kind",
        "cases",
        "subjects",
        "solved_ratio",
        "in_zone",
        "in_zone_solved_ratio",
        "jointly_handled",
        "review",
    ),
    "border_zone": (
        "area_vi",
        "kind_vi",
        "cases",
        "subjects",
        "solved_ratio",
        "jointly_handled",
        "review",
    ),
    "by_member": (
        "member_name",
        "in_territory",
        "in_zone",
        "detected",
        "led",
        "solved_ratio",
        "subjects",
        "jointly_handled",
    ),
    "by_period": (
        "month",
        "criminal_cases",
        "criminal_subjects",
        "criminal_solved_ratio",
        "administrative_cases",
        "administrative_subjects",
        "administrative_solved_ratio",
        "cases",
        "in_zone",
        "jointly_handled",
    ),
    "membership": ("date", "change", "member_name", "text_vi"),
    "hotspots": (
        "cell_id",
        "kind",
        "confidence",
        "count",
        "gi_z",
        "p_sim",
        "q_value",
        "lon",
        "lat",
    ),
    "named_hotspots": (
        "place",
        "n_incidents",
        "share",
        "n_criminal",
        "n_administrative",
        "top_category",
        "area_km2",
        "density_km2",
        "ratio",
        "hot_cell",
    ),
    "border_effect": (
        "scope",
        "pair_name",
        "n_incidents",
        "n_in_zone",
        "incident_share",
        "area_share",
        "ratio",
        "ratio_ci_low",
        "ratio_ci_high",
        "p_value",
    ),
}
#: Columns given in English under the Vietnamese text of the same cell.
_ENGLISH_OF = {
    "label_vi": "label_en",
    "area_vi": "area_en",
    "kind_vi": "kind_en",
    "text_vi": "text_en",
}
#: Tables with a total row: the summed columns and the ratio columns rebuilt from the sums.
_TOTALS: dict[str, tuple[tuple[str, ...], dict[str, tuple[str, str]]]] = {
    "by_category": (
        ("cases", "subjects", "in_zone", "jointly_handled", "review", "solved", "in_zone_solved"),
        {
            "solved_ratio": ("solved", "cases"),
            "in_zone_solved_ratio": ("in_zone_solved", "in_zone"),
        },
    ),
    "by_member": (
        ("in_territory", "in_zone", "detected", "led", "subjects", "jointly_handled", "solved"),
        {"solved_ratio": ("solved", "led")},
    ),
    "by_period": (
        (
            "criminal_cases",
            "criminal_subjects",
            "criminal_solved",
            "administrative_cases",
            "administrative_subjects",
            "administrative_solved",
            "cases",
            "in_zone",
            "jointly_handled",
        ),
        {
            "criminal_solved_ratio": ("criminal_solved", "criminal_cases"),
            "administrative_solved_ratio": ("administrative_solved", "administrative_cases"),
        },
    ),
}
#: Coded values shown in Vietnamese with the English below, per column.
_VALUE_LABELS: dict[str, dict[str, tuple[str, str]]] = {
    "kind": {**KIND_LABELS, **SPOT_LABELS},
    "category": CATEGORY_LABELS,
    "top_category": CATEGORY_LABELS,
    "scope": {"cluster": ("Toàn cụm", "Whole cluster"), "pair": ("Cặp thành viên", "Member pair")},
    "change": CHANGE_LABELS,
    "member_kind": MEMBER_KIND_LABELS,
}
_SHARE_COLUMNS = frozenset({"incident_share", "area_share", "share"})

CSS = """
:root { --ink: #1b1b1b; --muted: #5f6368; --rule: #c8c8c8; --band: #f3f4f6; --alert: #b71c1c; }
* { box-sizing: border-box; }
html { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
body { font-family: "Noto Sans", "DejaVu Sans", "Segoe UI", Arial, sans-serif; color: var(--ink);
  margin: 0 auto; max-width: 210mm; padding: 12mm 12mm 20mm; line-height: 1.4; font-size: 10.5pt; }
h1 { font-size: 18pt; margin: 0.2em 0 0.1em; }
h2 { font-size: 14pt; margin: 0 0 0.4em; border-bottom: 2px solid var(--ink); padding-bottom: 2px; }
h3 { font-size: 11.5pt; margin: 1.2em 0 0.3em; }
.en { display: block; color: var(--muted); font-weight: normal; font-size: 0.85em; }
span.en-inline { color: var(--muted); font-weight: normal; }
.kicker { text-transform: uppercase; letter-spacing: 0.06em; font-size: 9pt; margin: 0; }
.synthetic-banner { border: 3px solid var(--alert); color: var(--alert); background: #ffebee;
  padding: 8px 12px; margin: 12px 0; font-weight: bold; font-size: 12pt; text-align: center; }
.synthetic-banner .en { color: var(--alert); }
dl.meta { display: grid; grid-template-columns: max-content 1fr; gap: 2px 12px; margin: 8px 0;
  font-size: 9.5pt; }
dl.meta dt { color: var(--muted); }
dl.meta dd { margin: 0; }
.cards { display: grid; grid-template-columns: repeat(3, 1fr); gap: 8px; margin: 10px 0; }
.card { border: 1px solid var(--rule); border-radius: 4px; padding: 6px 8px; break-inside: avoid; }
.card .value { font-size: 17pt; font-weight: bold; font-variant-numeric: tabular-nums; }
.card .what { font-size: 9pt; }
.headline { font-size: 11pt; margin: 6px 0; }
ul.notes { padding-left: 1.2em; font-size: 9.5pt; }
table { border-collapse: collapse; width: 100%; margin: 4px 0 10px; font-size: 9pt; }
th, td { border: 1px solid var(--rule); padding: 2px 5px; vertical-align: top; text-align: left; }
th { background: var(--band); font-weight: bold; }
th .en { font-size: 0.85em; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
td.num { white-space: nowrap; }
td:first-child { min-width: 28mm; }
tfoot td { font-weight: bold; background: var(--band); }
tr, .card, figure, .legend { break-inside: avoid; page-break-inside: avoid; }
thead { display: table-header-group; }
caption { caption-side: bottom; text-align: left; color: var(--muted); font-size: 8.5pt; }
figure { margin: 0 0 8px; }
figure svg { width: 100%; height: auto; border: 1px solid var(--rule); background: #fbfbf8; }
figcaption { font-size: 8.5pt; color: var(--muted); }
.legend { display: flex; flex-wrap: wrap; gap: 4px 14px; font-size: 8.5pt; margin: 4px 0; }
.legend span.sw { display: inline-block; width: 12px; height: 12px; vertical-align: -2px;
  margin-right: 4px; border: 1px solid #555; }
.empty { color: var(--muted); font-style: italic; }
.interactive iframe { width: 100%; height: 640px; border: 1px solid var(--rule); }
footer.attribution { margin-top: 16px; border-top: 1px solid var(--rule); font-size: 8.5pt;
  color: var(--muted); }
@page { size: A4; margin: 14mm 12mm 18mm; }
@media print {
  body { max-width: none; padding: 0; font-size: 9.5pt; }
  section.page { break-before: page; page-break-before: always; }
  .screen-only { display: none !important; }
  h2, h3 { break-after: avoid; page-break-after: avoid; }
  a { color: inherit; text-decoration: none; }
}
"""


# -- text helpers ------------------------------------------------------------------------------


def _vi_date(day: date) -> str:
    return f"{day.day:02d}/{day.month:02d}/{day.year}"


#: Groups of thousands: a narrow no-break space (ISO 80000), unambiguous in both languages
#: (Vietnamese groups with "." and English with ","); the decimal sign is the Vietnamese comma.
THOUSANDS = "\u202f"
_PROBABILITIES = frozenset({"p_value", "p_sim", "q_value"})
_COORDINATES = frozenset({"lon", "lat"})


def _number(value: Any, name: str = "") -> str:
    """Format a number for the page: grouped thousands, decimal comma, sensible precision."""
    if isinstance(value, bool | np.bool_):
        return "có" if value else "không"
    if isinstance(value, int | np.integer):
        return f"{int(value):,}".replace(",", THOUSANDS)
    number = float(value)
    if not np.isfinite(number):
        return "—"
    if name in _PROBABILITIES and number < 0.001:
        return "< 0,001"
    if name in _COORDINATES:
        text = f"{number:.5f}"
    elif name in _PROBABILITIES:
        text = f"{number:.3f}"
    elif abs(number) >= 100:
        text = f"{number:,.1f}"
    elif abs(number) >= 1 or number == 0:
        text = f"{number:.2f}"
    else:
        text = f"{number:.2g}" if abs(number) < 0.001 else f"{number:.3f}"
    return text.replace(",", THOUSANDS).replace(".", ",")


def _css_string(text: str) -> str:
    """Quote ``text`` as a CSS string that cannot leave its declaration or the style element."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", " ")
    return '"' + escaped.replace("<", "\\3c ").replace(">", "\\3e ") + '"'


def _page_boxes(report: ClusterReport, period_vi: str) -> str:
    """Page margin boxes of the printout: what and when, the synthetic label, page numbers."""
    left = f"{report.cluster_name} · {period_vi}"
    if report.synthetic:
        left = f"{SYNTHETIC_LABEL.upper()} · {left}"
    return (
        "@page { @bottom-left { content: "
        + _css_string(left)
        + "; font-size: 7.5pt; color: #b71c1c; } @bottom-right { content: "
        + '"Trang / Page " counter(page) " / " counter(pages)'
        + "; font-size: 7.5pt; color: #5f6368; } }"
    )


def _missing(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, list | tuple | np.ndarray):
        return False
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def _cell(name: str, value: Any, row: dict[Any, Any]) -> tuple[str, bool]:
    """Return a cell's escaped HTML and whether it is numeric."""
    if _missing(value):
        return "—", False
    if name in _SHARE_COLUMNS:
        return esc(f"{float(value) * 100:.1f} %".replace(".", ",")), True
    if name == "confidence" and isinstance(value, int | np.integer | float | np.floating):
        return (esc(f"{int(value)} %") if value else "—"), True
    labels = _VALUE_LABELS.get(name, {})
    if isinstance(value, str) and value in labels:
        vi, en = labels[value]
        return f"{esc(vi)}<span class='en'>{esc(en)}</span>", False
    if name == "member_name" and not _missing(row.get("member_code")):
        return f"{esc(value)} <span class='en-inline'>({esc(row['member_code'])})</span>", False
    if isinstance(value, list | tuple | np.ndarray):
        return esc(", ".join(map(str, value))), False
    if isinstance(value, bool | np.bool_ | int | np.integer | float | np.floating):
        return esc(_number(value, name)), not isinstance(value, bool | np.bool_)
    text = esc(value)
    english = _ENGLISH_OF.get(name)
    if english and not _missing(row.get(english)) and row[english] != value:
        text += f"<span class='en'>{esc(row[english])}</span>"
    return text, name.endswith("_ratio")


def _header(name: str) -> str:
    vi, en = label(name)
    if name in _ENGLISH_OF:
        en = label(_ENGLISH_OF[name])[1]
    return f"{esc(vi)}<span class='en'>{esc(en)}</span>"


# -- tables ------------------------------------------------------------------------------------


def table_html(name: str, frame: pd.DataFrame, *, max_rows: int | None = None) -> str:
    """Render one report table (display columns, bilingual headers, totals where summed).

    Parameters
    ----------
    name
        The table's name in :data:`geozone.report.TABLES` (picks columns and totals).
    frame
        The table.
    max_rows
        Show only the first rows (the caption says how many are left out).

    Returns
    -------
    str
        A ``<table>`` element, or a paragraph saying the table is empty.
    """
    if not len(frame):
        return "<p class='empty'>Không có dữ liệu / Nothing to show</p>"
    wanted = DISPLAY_COLUMNS.get(name)
    columns = [c for c in wanted if c in frame.columns] if wanted else [str(c) for c in frame]
    columns = [c for c in columns if c not in _ENGLISH_OF.values()]
    shown = frame if max_rows is None else frame.head(max_rows)
    records = shown.to_dict("records")
    numeric = {c: False for c in columns}
    body = []
    for row in records:
        cells = []
        for column in columns:
            html, is_number = _cell(column, row[column], row)
            numeric[column] |= is_number
            cells.append(f"<td class='num'>{html}</td>" if is_number else f"<td>{html}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    head = "".join(
        f"<th class='num'>{_header(c)}</th>" if numeric[c] else f"<th>{_header(c)}</th>"
        for c in columns
    )
    foot = _totals(name, frame, columns)
    caption = ""
    if max_rows is not None and len(frame) > max_rows:
        caption = (
            f"<caption>{max_rows} / {len(frame)} dòng đầu; đủ trong tệp CSV/JSON / "
            f"first {max_rows} of {len(frame)} rows; all in the CSV/JSON export</caption>"
        )
    return (
        f"<table class='report-table' data-table='{esc(name)}'>{caption}<thead><tr>{head}</tr>"
        f"</thead><tbody>{''.join(body)}</tbody>{foot}</table>"
    )


def _totals(name: str, frame: pd.DataFrame, columns: Sequence[str]) -> str:
    if name not in _TOTALS:
        return ""
    summed, ratios = _TOTALS[name]
    sums = {c: int(frame[c].sum()) for c in summed if c in frame.columns}
    cells = []
    for k, column in enumerate(columns):
        if column in sums:
            cells.append(f"<td class='num'>{esc(_number(sums[column]))}</td>")
        elif column in ratios and all(part in sums for part in ratios[column]):
            top, bottom = ratios[column]
            cells.append(f"<td class='num'>{sums[top]}/{sums[bottom]}</td>")
        elif k == 0:
            cells.append("<td>Tổng cộng <span class='en-inline'>Total</span></td>")
        else:
            cells.append("<td></td>")
    return "<tfoot><tr>" + "".join(cells) + "</tr></tfoot>"


# -- the static map ----------------------------------------------------------------------------


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


def _path(d: str, style: dict[str, Any], **extra: Any) -> str:
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
    text = " ".join(
        f'{key}="{esc(value)}"' for key, value in attributes.items() if value is not None
    )
    return f"<path {text}/>"


def _scale_bar(frame: _Frame) -> str:
    target = frame.width_m / 5
    steps = np.array([50, 100, 200, 250, 500, 1_000, 2_000, 5_000, 10_000, 20_000, 50_000])
    length = float(steps[np.argmin(np.abs(steps - target))])
    width = length * frame.scale
    y = frame.height - 18
    label_text = f"{length / 1000:g} km" if length >= 1000 else f"{length:g} m"
    return (
        f"<g class='scale' font-size='14'><rect x='16' y='{y - 6:.1f}' width='{width:.1f}' "
        f"height='6' fill='#1b1b1b'/><rect x='{16 + width / 2:.1f}' y='{y - 6:.1f}' "
        f"width='{width / 2:.1f}' height='6' fill='#ffffff' stroke='#1b1b1b'/>"
        f"<text x='16' y='{y - 10:.1f}'>{esc(label_text)}</text></g>"
        f"<g class='north' font-size='14' text-anchor='middle'><path d='M{SVG_WIDTH - 30} 14 "
        f"L{SVG_WIDTH - 38} 40 L{SVG_WIDTH - 30} 34 L{SVG_WIDTH - 22} 40 Z' fill='#1b1b1b'/>"
        f"<text x='{SVG_WIDTH - 30}' y='56'>B/N</text></g>"
    )


def _even_sample(n: int, most: int) -> NDArray[np.intp]:
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
    body: list[str] = []
    member_paths = _path_data(frame.metric(units), frame)
    for k, d in enumerate(member_paths):
        colour = MEMBER_PALETTE[k % len(MEMBER_PALETTE)]
        body.append(
            _path(d, {"color": colour, "weight": 1.5, "fillColor": colour, "fillOpacity": 0.18})
        )
    if layers.zones is not None and len(layers.zones):
        zones = layers.zones
        kinds = zones["kind"].astype(str).to_numpy()
        order = np.argsort(kinds != "pair", kind="stable")
        for k, d in zip(order, _path_data(frame.metric(zones.iloc[order]), frame), strict=True):
            style = PAIR_ZONE_STYLE if kinds[k] == "pair" else JUNCTION_ZONE_STYLE
            body.append(_path(d, {**style, "weight": 0.6}))
    if cells is not None and len(cells):
        body += _cell_paths(cells, frame)
    if layers.boundaries_lines is not None and len(layers.boundaries_lines):
        for d in _path_data(frame.metric(layers.boundaries_lines), frame):
            body.append(
                _path(d, {**BOUNDARY_STYLE, "weight": 2.2}, fill="none", **{"fill-opacity": None})
            )
    if incidents is not None and len(incidents):
        body += _incident_dots(incidents, frame)
    if layers.hotspots is not None and len(layers.hotspots):
        body += _named_hotspots(layers.hotspots, frame)
    if layers.junctions is not None and len(layers.junctions):
        points = frame.xy(shapely.get_coordinates(frame.metric(layers.junctions)))
        body += [
            f"<circle cx='{x:.1f}' cy='{y:.1f}' r='5' fill='#ffffff' "
            f"stroke='{JUNCTION_STYLE['color']}' stroke-width='2.5'/>"
            for x, y in points
        ]
    centres = frame.xy(shapely.get_coordinates(shapely.point_on_surface(frame.metric(units))))
    names = units["full_name"].astype(str).tolist()
    body += [
        f"<text x='{x:.1f}' y='{y:.1f}' {_LABEL} fill='#1b1b1b'>{esc(name)}</text>"
        for (x, y), name in zip(centres, names, strict=True)
    ]
    body.append(_scale_bar(frame))
    return (
        f"<svg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 {SVG_WIDTH:.0f} "
        f"{frame.height:.0f}' role='img' aria-label='{esc(title)}'><title>{esc(title)}</title>"
        + "".join(body)
        + "</svg>"
    )


def _cell_paths(cells: gpd.GeoDataFrame, frame: _Frame) -> list[str]:
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


def _incident_dots(incidents: gpd.GeoDataFrame, frame: _Frame) -> list[str]:
    chosen = incidents.iloc[_even_sample(len(incidents), SVG_MAX_INCIDENTS)]
    xy = frame.xy(shapely.get_coordinates(frame.metric(chosen)))
    kinds = chosen["kind"].astype(str).to_numpy() if "kind" in chosen else np.full(len(xy), "other")
    out = []
    for kind in dict.fromkeys(kinds.tolist()):
        mine = _pairs(xy[kinds == kind])
        d = "M" + " h0 M".join(mine.tolist()) + " h0"
        colour = KIND_COLOURS.get(kind, KIND_COLOURS["other"])
        out.append(
            f"<path d='{d}' stroke='{colour}' stroke-width='3.2' stroke-linecap='round' "
            "stroke-opacity='0.75' fill='none'/>"
        )
    return out


def _named_hotspots(hotspots: gpd.GeoDataFrame, frame: _Frame) -> list[str]:
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
            f"<text x='{x:.1f}' y='{y - 6:.1f}' {_LABEL} fill='{HOTSPOT_STYLE['color']}'>"
            f"{esc(name)}</text>"
        )
    return out


def _legend(layers: ClusterLayers, has_cells: bool, kinds: Sequence[str]) -> str:
    items = []
    for k, name in enumerate(layers.units["full_name"].astype(str)):
        colour = MEMBER_PALETTE[k % len(MEMBER_PALETTE)]
        items.append((colour, esc(name)))
    if layers.zones is not None and len(layers.zones):
        items.append((str(PAIR_ZONE_STYLE["fillColor"]), bilingual(ZONE_KIND_LABELS["pair"])))
        items.append(
            (str(JUNCTION_ZONE_STYLE["fillColor"]), bilingual(ZONE_KIND_LABELS["junction"]))
        )
    if layers.hotspots is not None and len(layers.hotspots):
        items.append((str(HOTSPOT_STYLE["color"]), "Điểm nóng đã biết / Named hotspot"))
    if has_cells:
        items.append((HOT_COLOUR, "Ô điểm nóng (Gi*) / Hot spot cell"))
        items.append((COLD_COLOUR, "Ô điểm lạnh (Gi*) / Cold spot cell"))
    for kind in kinds:
        text = bilingual(KIND_LABELS[kind] if kind in KINDS else KIND_SHORT_LABELS["other"])
        items.append((KIND_COLOURS.get(kind, KIND_COLOURS["other"]), text))
    spans = "".join(
        f"<span><span class='sw' style='background:{esc(colour)}'></span>{esc(text)}</span>"
        for colour, text in items
    )
    return f"<div class='legend'>{spans}</div>"


def _form_map(report: ClusterReport, form: ClusterForm) -> str:
    assert form.territory is not None
    layers = cluster_layers(
        form.territory.cluster,
        form.territory.bset,
        zones=form.territory.zones,
        attribution=form.territory.attribution,
    )
    incidents = report.layers.get("incidents")
    mine = None
    if incidents is not None and len(incidents):
        mine = incidents[incidents["cluster_id"] == form.id]
    cells = report.layers.get("hotspot_cells")
    first = max(report.start, form.applies_from or report.start)
    last = min(report.end, form.applies_to or report.end)
    title = f"{form.cluster.name} — {_vi_date(first)}–{_vi_date(last)}"
    svg = static_map_svg(layers, form.territory.epsg, incidents=mine, cells=cells, title=title)
    n = 0 if mine is None else len(mine)
    sampled = (
        f" Vẽ {SVG_MAX_INCIDENTS:,} / {n:,} vụ (lấy mẫu đều) / {SVG_MAX_INCIDENTS:,} of "
        f"{n:,} incidents drawn (even sample)."
        if n > SVG_MAX_INCIDENTS
        else ""
    )
    kinds = [] if mine is None else list(dict.fromkeys(mine["kind"].astype(str)))
    caption = (
        f"{esc(form.id)} ({esc(form.set_id)}), {esc(_vi_date(first))} – {esc(_vi_date(last))}: "
        f"{n:,} vụ việc / incidents.{esc(sampled)} Nguồn ranh giới / Boundaries: "
        f"{esc(layers.attribution)}"
    )
    return (
        f"<figure>{svg}<figcaption>{caption}</figcaption>"
        f"{_legend(layers, cells is not None and len(cells) > 0, kinds)}</figure>"
    )


def _interactive(report: ClusterReport, form: ClusterForm, max_incidents: int) -> str:
    assert form.territory is not None
    layers = cluster_layers(
        form.territory.cluster,
        form.territory.bset,
        zones=form.territory.zones,
        attribution=form.territory.attribution,
    )
    incidents = report.layers.get("incidents")
    mine = None
    if incidents is not None and len(incidents) and max_incidents > 0:
        mine = incidents[incidents["cluster_id"] == form.id]
        mine = mine.iloc[_even_sample(len(mine), max_incidents)]
        keep = [
            c
            for c in (
                "external_id",
                "category",
                "occurred_at",
                "synthetic",
                "rule",
                "lead_unit",
                "explanation_vi",
                "explanation_en",
            )
            if c in mine.columns
        ]
        mine = mine[[*keep, "geometry"]] if len(mine) else None
    try:
        page = to_html(
            cluster_map(
                units=layers.units,
                boundaries_lines=layers.boundaries_lines,
                zones=layers.zones,
                junctions=layers.junctions,
                hotspots=layers.hotspots,
                incidents=mine,
                title=layers.title,
                attribution=layers.attribution,
                inline_assets=True,
            ),
            inline_assets=True,
        )
    except MapAssetsMissingError as exc:
        return (
            "<p class='empty screen-only'>Không có bản đồ tương tác / No interactive map: "
            f"{esc(exc)}</p>"
        )
    return (
        "<div class='interactive screen-only'><h3>Bản đồ tương tác<span class='en'>"
        f"Interactive map ({esc(form.id)}), on screen only</span></h3>"
        f"<iframe title='{esc(layers.title)}' sandbox='allow-scripts' loading='lazy' "
        f'srcdoc="{esc(page)}"></iframe></div>'
    )


def _map_section(
    report: ClusterReport, context: Context, interactive: bool, max_incidents: int
) -> str:
    forms = [
        form
        for form in cluster_forms(context, report.cluster_id)
        if form.territory is not None
        and form.territory.geometric
        and form.overlaps(report.start, report.end)
    ]
    parts = [
        "<section class='page' id='map'><h2>Bản đồ<span class='en'>Map</span></h2>",
    ]
    if not forms:
        parts.append(
            "<p class='empty'>Không có bản đồ: các thành viên không có ranh giới trong kỳ / "
            "No map: no member has a territory with geometry in the period.</p>"
        )
    parts += [_form_map(report, form) for form in forms]
    if interactive and forms:
        parts.append(_interactive(report, forms[-1], max_incidents))
    parts.append("</section>")
    return "".join(parts)


# -- the page ----------------------------------------------------------------------------------


def _cards(report: ClusterReport) -> str:
    f = report.figures
    cards = [
        (_number(f["criminal_cases"]), "vụ phạm pháp hình sự", "criminal cases"),
        (_number(f["criminal_subjects"]), "đối tượng (hình sự)", "subjects (criminal)"),
        (
            str(f["in_zone_criminal_solved_ratio"]),
            "làm rõ hình sự ở giáp ranh",
            "criminal cases solved in the border area",
        ),
        (
            _number(f["administrative_cases"]),
            "vụ vi phạm hành chính",
            "administrative violations",
        ),
        (
            _number(f["administrative_subjects"]),
            "đối tượng (hành chính)",
            "subjects (administrative)",
        ),
        (_number(f["jointly_handled"]), "vụ phối hợp xử lý", "handled jointly"),
    ]
    return (
        "<div class='cards'>"
        + "".join(
            f"<div class='card'><div class='value'>{esc(value)}</div><div class='what'>{esc(vi)}"
            f"<span class='en'>{esc(en)}</span></div></div>"
            for value, vi, en in cards
        )
        + "</div>"
    )


def _banner(report: ClusterReport) -> str:
    if not report.synthetic:
        return ""
    n, total = report.figures.get("synthetic_incidents", 0), report.figures.get("cases", 0)
    return (
        "<div class='synthetic-banner' role='alert'>"
        f"{esc(SYNTHETIC_LABEL.upper())}"
        f"<span class='en'>{esc(_number(n))} / {esc(_number(total))} vụ việc là dữ liệu mô "
        "phỏng, không phải số liệu thật — "
        f"{n:,} of {total:,} incidents are synthetic, not real records</span></div>"
    )


def report_html(
    report: ClusterReport,
    context: Context,
    *,
    interactive_map: bool = True,
    max_map_incidents: int = MAP_MAX_INCIDENTS,
) -> str:
    """Render a cluster review report as one self-contained, printable HTML page.

    Parameters
    ----------
    report
        From :func:`geozone.report.cluster_report`.
    context
        The context the report was made with (for the members' and zones' geometry).
    interactive_map
        Add the interactive Leaflet map (inlined assets, in an ``<iframe srcdoc>``; screen
        only). The static SVG map is always drawn.
    max_map_incidents
        Most incidents the interactive map carries (an even sample beyond).

    Returns
    -------
    str
        The page (UTF-8 text); it loads nothing from the network.
    """
    title = f"Báo cáo sơ kết — {report.cluster_name}"
    period_vi = f"{_vi_date(report.start)} – {_vi_date(report.end)}"
    period_en = f"{report.start.isoformat()} to {report.end.isoformat()}"
    f = report.figures
    parts = [
        "<!DOCTYPE html><html lang='vi'><head><meta charset='utf-8'>",
        "<meta name='viewport' content='width=device-width, initial-scale=1'>",
        "<meta name='generator' content='geozone'>",
        f"<title>{esc(title)}</title><style>{CSS}{_page_boxes(report, period_vi)}</style>",
        "</head><body>",
        "<header><p class='kicker'>Báo cáo sơ kết cụm liên kết"
        "<span class='en'>Cluster review report</span></p>",
        f"<h1>{esc(report.cluster_name)}<span class='en'>{esc(report.cluster_name_en)}</span></h1>",
        "<dl class='meta'>",
        f"<dt>Kỳ báo cáo / Period</dt><dd>{esc(period_vi)} <span class='en-inline'>"
        f"({esc(period_en)}, {esc(_number(int(f.get('days', 0))))} ngày / days)</span></dd>",
        f"<dt>Mã cụm / Cluster</dt><dd>{esc(', '.join(report.cluster_ids))}</dd>",
        f"<dt>Bộ ranh giới / Boundary sets</dt><dd>{esc(', '.join(report.set_ids))}</dd>",
        f"<dt>Lập lúc / Generated</dt><dd>{esc(report.generated_at.isoformat())}</dd>",
        "</dl></header>",
        _banner(report),
        "<section id='summary'><h2>Kết quả chính<span class='en'>Headline figures</span></h2>",
        f"<p class='headline'>{esc(f['headline_vi'])}<span class='en'>"
        f"{esc(f['headline_en'])}</span></p>",
        _cards(report),
        "<h3>Ghi chú<span class='en'>Notes</span></h3><ul class='notes'>",
        "".join(f"<li>{esc(note)}</li>" for note in report.notes),
        "</ul></section>",
        _map_section(report, context, interactive_map, max_map_incidents),
    ]
    for section_id, vi, en, names in SECTIONS:
        present = [name for name in names if name in report.tables]
        if not present:
            continue
        parts.append(
            f"<section class='page' id='{esc(section_id)}'><h2>{esc(vi)}"
            f"<span class='en'>{esc(en)}</span></h2>"
        )
        for name in present:
            table_vi, table_en = TABLES.get(name, (name, name))
            limit = MAX_HOTSPOT_ROWS if name == "hotspots" else None
            parts.append(
                f"<h3>{esc(table_vi)}<span class='en'>{esc(table_en)}</span></h3>"
                + table_html(name, report.tables[name], max_rows=limit)
            )
        parts.append("</section>")
    parts.append(
        "<footer class='attribution'>"
        f"<p>Nguồn dữ liệu ranh giới: {esc(report.attribution['vi'])}"
        f"<span class='en'>Boundary data: {esc(report.attribution['en'])}</span></p>"
        "<p>Lập bằng geozone từ kho vụ việc; số liệu bằng nhau với tệp CSV/JSON của báo cáo."
        "<span class='en'>Made with geozone from the incident store; the figures equal the "
        "report's CSV/JSON export.</span></p>"
        + (f"<p><strong>{esc(SYNTHETIC_LABEL.upper())}</strong></p>" if report.synthetic else "")
        + "</footer></body></html>"
    )
    return "".join(parts)


__all__ = ["CSS", "report_html", "static_map_svg", "table_html"]
