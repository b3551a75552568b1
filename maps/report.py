"""The cluster review report as one self-contained HTML page that prints well.

:func:`report_html` renders a :class:`geozone.report.ClusterReport`: Vietnamese first with
English subtitles, the synthetic-data banner when any incident is synthetic, the headline
figures, the notes, a map and every table, and the data attribution. The markup is in Jinja2
templates (``maps/templates``: ``report.html.j2`` the page, ``report_table.html.j2`` a
table, ``report_map.html.j2`` the map section, ``report.css`` the stylesheet); this module
chooses and formats what they show.

The map is drawn twice:

- a **static SVG** per cluster form (:func:`maps.static_map.static_map_svg`: members, shared
  boundaries, border zones, junctions, named hotspots, significant Gi* cells and the incidents
  as dots), projected to the cluster's UTM zone (so a scale bar is exact) and generated from
  the geometries: it prints reliably and needs no script;
- the **interactive** Leaflet map of the newest form (:func:`maps.cluster_map` rendered with
  :func:`maps.to_html` and its assets inlined) in an ``<iframe srcdoc>``, for the screen
  only: it is hidden when printing, and nothing the page says depends on it.

Print: A4 with margins (``@page``), a page break before each section, rows and figures never
split across pages, table headers repeated on every page, colours kept
(``print-color-adjust: exact``), and a footer on every printed page repeating the cluster,
the period, the synthetic label and the attribution. Every text that reaches the page is
escaped with :func:`maps.elements.esc` (the templates' autoescape, :mod:`maps._jinja`).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

import numpy as np
import pandas as pd
from markupsafe import Markup

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
from maps._jinja import render, source
from maps.cluster_map import (
    HOTSPOT_STYLE,
    JUNCTION_ZONE_STYLE,
    KIND_COLOURS,
    MEMBER_PALETTE,
    PAIR_ZONE_STYLE,
    map_of_layers,
)
from maps.elements import to_html
from maps.errors import MapAssetsMissingError
from maps.layers import ClusterLayers, cluster_layers, side_names
from maps.static_map import (
    COLD_COLOUR,
    HOT_COLOUR,
    SVG_MAX_INCIDENTS,
    even_sample,
    static_map_svg,
)

#: Most incidents the interactive map carries.
MAP_MAX_INCIDENTS = 20_000
#: Most Gi* cells listed in the hotspot table (all are drawn on the map).
MAX_HOTSPOT_ROWS = 40

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
        "not_led",
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
#: Tables with a total row: the summed columns and the ratio columns rebuilt from the sums
#: (ratio column → (numerator, the columns summed for the denominator)).
_TOTALS: dict[str, tuple[tuple[str, ...], dict[str, tuple[str, tuple[str, ...]]]]] = {
    "by_category": (
        ("cases", "subjects", "in_zone", "jointly_handled", "review", "solved", "in_zone_solved"),
        {
            "solved_ratio": ("solved", ("cases",)),
            "in_zone_solved_ratio": ("in_zone_solved", ("in_zone",)),
        },
    ),
    # Led is the members' only (the rows that are no member have 0); the solved ratio of the
    # total is over every case, led by a member or not (geozone.report.tables).
    "by_member": (
        (
            "in_territory",
            "in_zone",
            "detected",
            "led",
            "not_led",
            "subjects",
            "jointly_handled",
            "solved",
        ),
        {"solved_ratio": ("solved", ("led", "not_led"))},
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
            "criminal_solved_ratio": ("criminal_solved", ("criminal_cases",)),
            "administrative_solved_ratio": ("administrative_solved", ("administrative_cases",)),
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

#: The page's stylesheet (``maps/templates/report.css``).
CSS = source("report.css")


# -- text helpers ------------------------------------------------------------------------------


def _vi_date(day: date) -> str:
    return f"{day.day:02d}/{day.month:02d}/{day.year}"


#: Groups of thousands: the Vietnamese dot (1.458), as on the maps and in geozone.text
#: .format_number: one number format everywhere; the decimal sign is the Vietnamese comma.
THOUSANDS = "."
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
    return text.replace(",", "\x00").replace(".", ",").replace("\x00", THOUSANDS)


def _css_string(text: str) -> str:
    """Quote ``text`` as a CSS string that cannot leave its declaration or the style element."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", " ")
    return '"' + escaped.replace("<", "\\3c ").replace(">", "\\3e ") + '"'


def _page_left(report: ClusterReport, period_vi: str) -> Markup:
    """Return the bottom-left margin box of the printout: synthetic label, what and when."""
    left = f"{report.cluster_name} · {period_vi}"
    if report.synthetic:
        left = f"{SYNTHETIC_LABEL.upper()} · {left}"
    return Markup(_css_string(left))  # a CSS string, safe inside the style element


def _missing(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, list | tuple | np.ndarray):
        return False
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def _ratio(text: Any) -> str:
    """Write a ratio ("1222/1504") with the page's grouping of thousands: "1.222/1.504"."""
    top, slash, bottom = str(text).partition("/")
    if slash and top.isdigit() and bottom.isdigit():
        return f"{_number(int(top))}/{_number(int(bottom))}"
    return str(text)


def _cell(name: str, value: Any, row: dict[Any, Any]) -> dict[str, Any]:
    """Return a cell for the table template: its text, English, code, whether numeric."""
    cell: dict[str, Any] = {"text": value, "en": None, "code": None, "numeric": False}
    if _missing(value):
        return {**cell, "text": "—"}
    if name.endswith("_ratio") and isinstance(value, str):
        return {**cell, "text": _ratio(value), "numeric": True}
    if name in _SHARE_COLUMNS:
        return {**cell, "text": f"{float(value) * 100:.1f} %".replace(".", ","), "numeric": True}
    if name == "confidence" and isinstance(value, int | np.integer | float | np.floating):
        return {**cell, "text": f"{int(value)} %" if value else "—", "numeric": True}
    labels = _VALUE_LABELS.get(name, {})
    if isinstance(value, str) and value in labels:
        vi, en = labels[value]
        return {**cell, "text": vi, "en": en}
    if name == "member_name" and not _missing(row.get("member_code")):
        return {**cell, "code": row["member_code"]}
    if isinstance(value, list | tuple | np.ndarray):
        return {**cell, "text": ", ".join(map(str, value))}
    if isinstance(value, bool | np.bool_ | int | np.integer | float | np.floating):
        numeric = not isinstance(value, bool | np.bool_)
        return {**cell, "text": _number(value, name), "numeric": numeric}
    english = _ENGLISH_OF.get(name)
    if english and not _missing(row.get(english)) and row[english] != value:
        cell["en"] = row[english]
    return {**cell, "numeric": name.endswith("_ratio")}


def _header(name: str, numeric: bool) -> dict[str, Any]:
    vi, en = label(name)
    if name in _ENGLISH_OF:
        en = label(_ENGLISH_OF[name])[1]
    return {"vi": vi, "en": en, "numeric": numeric}


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
        return str(render("report_table.html.j2", empty=True))
    wanted = DISPLAY_COLUMNS.get(name)
    columns = [c for c in wanted if c in frame.columns] if wanted else [str(c) for c in frame]
    columns = [c for c in columns if c not in _ENGLISH_OF.values()]
    shown = frame if max_rows is None else frame.head(max_rows)
    records = shown.to_dict("records")
    numeric = {c: False for c in columns}
    rows = []
    for row in records:
        cells = []
        for column in columns:
            cell = _cell(column, row[column], row)
            numeric[column] |= cell["numeric"]
            cells.append(cell)
        rows.append(cells)
    caption = None
    if max_rows is not None and len(frame) > max_rows:
        caption = {"shown": max_rows, "total": len(frame)}
    return str(
        render(
            "report_table.html.j2",
            empty=False,
            name=name,
            caption=caption,
            headers=[_header(c, numeric[c]) for c in columns],
            rows=rows,
            foot=_totals(name, frame, columns),
        )
    )


def _totals(name: str, frame: pd.DataFrame, columns: Sequence[str]) -> list[dict[str, Any]]:
    """Return the total row's cells (none for tables that do not sum)."""
    if name not in _TOTALS:
        return []
    summed, ratios = _TOTALS[name]
    sums = {c: int(frame[c].sum()) for c in summed if c in frame.columns}
    cells: list[dict[str, Any]] = []
    for k, column in enumerate(columns):
        if column in sums:
            cells.append({"total": False, "text": _number(sums[column])})
        elif column in ratios and all(p in sums for p in (ratios[column][0], *ratios[column][1])):
            top, bottom = ratios[column]
            total = sum(sums[b] for b in bottom)
            cells.append({"total": False, "text": f"{_number(sums[top])}/{_number(total)}"})
        else:
            cells.append({"total": k == 0, "text": None})
    return cells


# -- the map section ---------------------------------------------------------------------------


def _legend(layers: ClusterLayers, has_cells: bool, kinds: Sequence[str]) -> list[tuple[str, str]]:
    items = []
    for k, name in enumerate(layers.units["full_name"].astype(str)):
        colour = MEMBER_PALETTE[k % len(MEMBER_PALETTE)]
        items.append((colour, name))
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
    return items


def _form_map(report: ClusterReport, form: ClusterForm) -> dict[str, Any]:
    assert form.territory is not None
    layers = cluster_layers(
        form.territory.cluster,
        form.territory.bset,
        zones=form.territory.zones,
        attribution=form.territory.attribution,
        names=side_names(form.territory),
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
        f" Vẽ {_number(SVG_MAX_INCIDENTS)} / {_number(n)} vụ (lấy mẫu đều) / "
        f"{SVG_MAX_INCIDENTS:,} of {n:,} incidents drawn (even sample)."
        if n > SVG_MAX_INCIDENTS
        else ""
    )
    kinds = [] if mine is None else list(dict.fromkeys(mine["kind"].astype(str)))
    return {
        "svg": Markup(svg),
        "form_id": form.id,
        "set_id": form.set_id,
        "first": _vi_date(first),
        "last": _vi_date(last),
        "count": _number(n),  # one number format: 33.805
        "sampled": sampled,
        "attribution": layers.attribution,
        "legend": _legend(layers, cells is not None and len(cells) > 0, kinds),
    }


def _interactive(report: ClusterReport, form: ClusterForm, max_incidents: int) -> dict[str, Any]:
    assert form.territory is not None
    layers = cluster_layers(
        form.territory.cluster,
        form.territory.bset,
        zones=form.territory.zones,
        attribution=form.territory.attribution,
        names=side_names(form.territory),
    )
    incidents = report.layers.get("incidents")
    mine = None
    if incidents is not None and len(incidents) and max_incidents > 0:
        mine = incidents[incidents["cluster_id"] == form.id]
        mine = mine.iloc[even_sample(len(mine), max_incidents)]
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
            # the layer list folded: open, it covers part of the cluster on this small map
            map_of_layers(layers, incidents=mine, inline_assets=True, layers_collapsed=True),
            inline_assets=True,
        )
    except MapAssetsMissingError as exc:
        return {"error": str(exc)}
    return {"error": None, "form_id": form.id, "title": layers.title, "page": page}


def _map_section(
    report: ClusterReport, context: Context, interactive: bool, max_incidents: int
) -> Markup:
    forms = [
        form
        for form in cluster_forms(context, report.cluster_id)
        if form.territory is not None
        and form.territory.geometric
        and form.overlaps(report.start, report.end)
    ]
    return render(
        "report_map.html.j2",
        figures=[_form_map(report, form) for form in forms],
        interactive=(
            _interactive(report, forms[-1], max_incidents) if interactive and forms else None
        ),
    )


# -- the page ----------------------------------------------------------------------------------


def _cards(report: ClusterReport) -> list[dict[str, str]]:
    f = report.figures
    cards = [
        (_number(f["criminal_cases"]), "vụ phạm pháp hình sự", "criminal cases"),
        (_number(f["criminal_subjects"]), "đối tượng (hình sự)", "subjects (criminal)"),
        (
            _ratio(f["in_zone_criminal_solved_ratio"]),
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
        (  # every area: said so, beside the border-area card above
            _number(f["jointly_handled"]),
            "vụ phối hợp xử lý (mọi địa bàn)",
            "handled jointly (all areas)",
        ),
    ]
    return [{"value": value, "vi": vi, "en": en} for value, vi, en in cards]


def _banner(report: ClusterReport) -> dict[str, str] | None:
    """Return the synthetic-data banner's counts (None for real data)."""
    if not report.synthetic:
        return None
    n, total = report.figures.get("synthetic_incidents", 0), report.figures.get("cases", 0)
    return {"n": _number(n), "total": _number(total), "n_en": f"{n:,}", "total_en": f"{total:,}"}


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
    period_vi = f"{_vi_date(report.start)} – {_vi_date(report.end)}"
    sections = []
    for section_id, vi, en, names in SECTIONS:
        present = [name for name in names if name in report.tables]
        if not present:
            continue
        tables = []
        for name in present:
            table_vi, table_en = TABLES.get(name, (name, name))
            limit = MAX_HOTSPOT_ROWS if name == "hotspots" else None
            html = table_html(name, report.tables[name], max_rows=limit)
            tables.append({"vi": table_vi, "en": table_en, "html": Markup(html)})
        sections.append({"id": section_id, "vi": vi, "en": en, "tables": tables})
    return str(
        render(
            "report.html.j2",
            report=report,
            title=f"Báo cáo sơ kết — {report.cluster_name}",
            page_left=_page_left(report, period_vi),
            period_vi=period_vi,
            period_en=f"{report.start.isoformat()} to {report.end.isoformat()}",
            days=_number(int(report.figures.get("days", 0))),
            cluster_ids=", ".join(report.cluster_ids),
            set_ids=", ".join(report.set_ids),
            generated=report.generated_at.isoformat(),
            synthetic_label=SYNTHETIC_LABEL.upper(),
            banner=_banner(report),
            figures=report.figures,
            cards=_cards(report),
            notes=report.notes,
            map_section=_map_section(report, context, interactive_map, max_map_incidents),
            sections=sections,
            attribution=report.attribution,
        )
    )


__all__ = ["CSS", "report_html", "static_map_svg", "table_html"]
