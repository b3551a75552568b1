"""Hotspot and emerging-trend layers of the cluster map.

Two overlays for :func:`maps.cluster_map`:

- **Gi* hotspots** (:data:`LAYER_NAMES` ``"gi"``): the significant cells of
  :func:`geozone.analysis.hotspots.gi_star_grid`, coloured by kind and confidence (hot 99/95/90 %,
  cold
  99/95/90 %, the diverging colours of ArcGIS's Hot Spot Analysis), with a popup of the
  count, z-score, p-value and FDR q-value; shown when the page opens.
- **Emerging hotspots** (``"emerging"``): the cells of
  :func:`geozone.analysis.hotspots.emerging_hotspots` classed new / intensifying / persistent /
  diminishing / sporadic (cells classed "none" are left out); off when the page opens.

Both are drawn by ``geozone.js`` (``GZ.hotspotLayer``, ``GZ.emergingLayer``) from the GeoJSON
the API answers (``GET /clusters/{id}/hotspots?significant_only=true``), with the styles and
the HTML-escaped labels given here. A standalone export embeds the collections computed here
(:func:`cluster_analytics`); a served page fetches them with the analyst key it keeps for the
incidents (``incident_loader.js``, :func:`loader_entries`). Everything derived from synthetic
incidents says so: the collection's ``synthetic_label`` is shown as a badge in each popup.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from typing import Any, Literal

from folium.elements import JSCSSMixin
from folium.map import Layer
from folium.template import Template

from geozone import labels
from geozone.context import Context
from geozone.labels import STUDY_COUNT_BASIS_TEXT, SYNTHETIC_LABEL_TEXT, bilingual
from geozone.store import IncidentStore
from maps.elements import esc, js_json, own_assets

LayerKind = Literal["gi", "emerging"]

LAYER_NAMES: dict[LayerKind, str] = {
    "gi": "Điểm nóng Gi* / Gi* hotspots",
    "emerging": "Xu hướng điểm nóng / Emerging hotspots",
}
#: Fill colours of significant Gi* cells by kind and confidence (ArcGIS Hot Spot Analysis).
HOTSPOT_COLOURS: dict[str, str] = {
    "hot-99": "#d62f27",
    "hot-95": "#ed7551",
    "hot-90": "#fab984",
    "cold-90": "#c0ccbe",
    "cold-95": "#849eba",
    "cold-99": "#4575b5",
}
HOTSPOT_LABELS: dict[str, str] = {
    "hot-99": "Điểm nóng 99% / Hot spot 99%",
    "hot-95": "Điểm nóng 95% / Hot spot 95%",
    "hot-90": "Điểm nóng 90% / Hot spot 90%",
    "cold-90": "Điểm lạnh 90% / Cold spot 90%",
    "cold-95": "Điểm lạnh 95% / Cold spot 95%",
    "cold-99": "Điểm lạnh 99% / Cold spot 99%",
}
#: Fill colours of emerging-hotspot categories ("none" is not drawn).
EMERGING_COLOURS: dict[str, str] = {
    "new": "#7b3294",
    "intensifying": "#d7191c",
    "persistent": "#fdae61",
    "diminishing": "#2b83ba",
    "sporadic": "#a6d96a",
}
#: Emerging-hotspot categories as the legend and popups name them (the label catalogue's).
EMERGING_LABELS: dict[str, str] = {
    name: bilingual(label) for name, label in labels.EMERGING_LABELS.items()
}
#: Popup field labels (escaped), shared by both layers.
POPUP_LABELS_HTML: dict[str, str] = {
    "count": esc("Số vụ việc / Incidents"),
    "z": esc("Độ nổi bật (chỉ số z) / Strength (z-score)"),
    "p": esc("Khả năng do ngẫu nhiên (p) / Chance it is random (p)"),
    "q": esc("Đã hiệu chỉnh cho nhiều ô (q) / Adjusted for many cells (q)"),
    "category": esc("Xu hướng / Trend"),
    "tau": esc("Chiều xu hướng (τ: + tăng, − giảm) / Trend direction (τ)"),
    "trend_p": esc("Khả năng xu hướng do ngẫu nhiên / Chance the trend is random"),
    "hot_bins": esc("Số tháng là điểm nóng / Months as a hot spot"),
}
_CELL_STYLE = {"color": "#333333", "weight": 0.6, "opacity": 0.8, "fillOpacity": 0.6}


def _styles(colours: dict[str, str]) -> dict[str, dict[str, Any]]:
    return {key: {**_CELL_STYLE, "fillColor": colour} for key, colour in colours.items()}


def layer_config(kind: LayerKind) -> dict[str, Any]:
    """Return what ``GZ.hotspotLayer`` / ``GZ.emergingLayer`` need besides the data.

    ``styles`` (Leaflet path options by ``kind-confidence`` or by category), ``names_html``
    (escaped class labels for the popups) and ``labels_html`` (escaped popup field names).
    """
    colours, labels = (
        (HOTSPOT_COLOURS, HOTSPOT_LABELS) if kind == "gi" else (EMERGING_COLOURS, EMERGING_LABELS)
    )
    return {
        "styles": _styles(colours),
        "names_html": {key: esc(text) for key, text in labels.items()},
        "labels_html": POPUP_LABELS_HTML,
    }


def legend_items(kind: LayerKind) -> list[dict[str, Any]]:
    """Return the legend lines of a layer (swatches and escaped labels)."""
    colours, labels = (
        (HOTSPOT_COLOURS, HOTSPOT_LABELS) if kind == "gi" else (EMERGING_COLOURS, EMERGING_LABELS)
    )
    return [
        {
            "swatch": {"kind": "fill", "color": _CELL_STYLE["color"], "fill": colour},
            "label_html": esc(labels[key]),
        }
        for key, colour in colours.items()
    ]


def legend_section(kind: LayerKind, message: str | None = None) -> dict[str, Any]:
    """Return a legend section of a layer, with the analysis message when given."""
    section: dict[str, Any] = {"title_html": esc(LAYER_NAMES[kind]), "items": legend_items(kind)}
    if message:
        section["note_html"] = esc(message)
    return section


class AnalyticsLayer(JSCSSMixin, Layer):
    """A Gi* hotspot or emerging-trend overlay drawn by ``geozone.js`` from GeoJSON cells.

    Parameters
    ----------
    kind
        ``"gi"`` (significant Gi* cells) or ``"emerging"`` (emerging-hotspot categories).
    data
        The cells as a GeoJSON FeatureCollection (the API's answer).
    show
        Shown when the page opens (default: Gi* yes, emerging no).
    """

    default_js = own_assets("geozone_js")
    default_css = own_assets("geozone_css")
    _template = Template(
        """
        {% macro script(this, kwargs) %}
            var {{ this.get_name() }} = GZ.{{ this.function }}(
                {{ this.data_json }}, {{ this.config_json }});
        {% endmacro %}
        """
    )

    def __init__(self, kind: LayerKind, data: dict[str, Any], *, show: bool | None = None) -> None:
        shown = kind == "gi" if show is None else show
        super().__init__(name=esc(LAYER_NAMES[kind]), overlay=True, control=True, show=shown)
        self._name = "AnalyticsLayer"
        self.function = "hotspotLayer" if kind == "gi" else "emergingLayer"
        self.data_json = js_json(data)
        self.config_json = js_json(layer_config(kind))


@dataclass(frozen=True)
class ClusterAnalytics:
    """The hotspot layers of a cluster over a period (GeoJSON, as the API answers them)."""

    cluster_id: str
    start: date
    end: date
    gi: dict[str, Any]
    emerging: dict[str, Any]

    @property
    def synthetic(self) -> bool:
        """Whether the incidents analysed are synthetic."""
        return bool(self.gi.get("properties", {}).get("synthetic"))

    def layers(self) -> list[AnalyticsLayer]:
        """Return the two overlays (Gi* shown, emerging off)."""
        return [AnalyticsLayer("gi", self.gi), AnalyticsLayer("emerging", self.emerging)]

    def legend_sections(self) -> list[dict[str, Any]]:
        """Return the legend sections of the two overlays with their plain notes."""
        return [
            legend_section("gi", plain_note("gi", self.gi.get("properties", {}), self)),
            legend_section(
                "emerging", plain_note("emerging", self.emerging.get("properties", {}), self)
            ),
        ]


def plain_note(kind: LayerKind, props: dict[str, Any], period: ClusterAnalytics) -> str:
    """Return the note of a hotspot layer in plain words, Vietnamese first (no jargon).

    The same text as the served maps' ``GZ.analysisNote`` (maps/static/geozone.js). A note
    that states the number of incidents ends with what it counts (the layer's
    ``count_basis``, :data:`geozone.labels.STUDY_COUNT_BASIS_TEXT`).
    """
    from geozone.text import format_number as n

    def day(value: date) -> str:
        return value.strftime("%d/%m/%Y")

    when = f"{day(period.start)} – {day(period.end)}"
    syn = "Dữ liệu mô phỏng / Synthetic data. " if props.get("synthetic") else ""
    level = f"{n(100 * (1 - float(props.get('alpha') or 0.05)))} %"
    cell = f"{n(props['cell_size_m'])} m" if props.get("cell_size_m") else ""
    outside = (
        f" {n(props['n_outside'])} vụ việc ngoài khu vực không được tính."
        if props.get("n_outside")
        else ""
    )
    basis = f" {props['count_basis']}." if props.get("count_basis") else ""
    if props.get("status") not in (None, "tested"):
        return (
            f"{syn}Chưa đủ vụ việc để kết luận ({n(props.get('n_incidents') or 0)} vụ việc, "
            f"{when}; cần ít nhất {n(props.get('min_incidents') or 30)}). / Too few incidents "
            f"to tell.{basis}"
        )
    if kind == "gi":
        hot, cold = n(props.get("n_hot") or 0), n(props.get("n_cold") or 0)
        return (
            f"{syn}Chia khu vực thành ô {cell}: {hot} ô là điểm nóng và {cold} ô là điểm lạnh, "
            f"có ý nghĩa thống kê ở mức {level} (ít khả năng do ngẫu nhiên), từ "
            f"{n(props.get('n_incidents') or 0)} vụ việc, {when}.{outside} / {hot} hot and "
            f"{cold} cold {cell} cells, statistically significant at the {level} level.{basis}"
        )
    counts = props.get("categories") or {}
    parts = [
        f"{EMERGING_LABELS[k]}: {n(v)}" for k, v in counts.items() if v and k in EMERGING_LABELS
    ]
    months = n(len(props.get("bins") or []))
    found = f": {'; '.join(parts)} ô." if parts else ": không ô nào có xu hướng rõ."
    return (
        f"{syn}Xu hướng theo {months} tháng, {when}, ô {cell}{found}{outside} / Monthly "
        f"trends over {months} months."
    )


def significant_collection(result: Any) -> dict[str, Any]:
    """Return a hotspot or emerging result as GeoJSON, keeping the cells worth drawing."""
    collection: dict[str, Any] = result.to_geojson()
    keep = []
    for feature in collection["features"]:  # only the significant cells: a few dozen
        props = feature.get("properties") or {}
        if "category" in props:
            if props["category"] not in (None, "none"):
                keep.append(feature)
        elif props.get("significant"):
            keep.append(feature)
    collection["features"] = keep
    if collection.get("properties", {}).get("synthetic"):
        collection["properties"]["synthetic_label"] = SYNTHETIC_LABEL_TEXT
    return collection


def cluster_analytics(
    store: IncidentStore,
    context: Context,
    cluster_id: str,
    start: date | None = None,
    end: date | None = None,
) -> ClusterAnalytics:
    """Compute the Gi* and emerging-hotspot layers of a cluster (for a standalone map).

    The same analysis as ``GET /clusters/{id}/hotspots`` with its defaults, from the same
    study (:func:`geozone.analysis.study.cluster_study`: the incidents from ``start`` to
    ``end``, default the 365 days ending today, Vietnam time, or the cluster's own last year
    when it ended earlier (:func:`~geozone.analysis.study.study_period`), each in the
    territory of the cluster as it stood on its date) and the same parameters
    (:data:`geozone.analysis.study.HOTSPOT_DEFAULTS`); emerging hotspots by calendar month.
    Both collections carry ``count_basis``, as the API's answer does.

    Raises
    ------
    UnknownClusterError
        No cluster has the id.
    InvalidParameterError
        The period is reversed or no member has a territory in it.
    """
    from geozone.analysis.hotspots import emerging_hotspots
    from geozone.analysis.study import (
        EMERGING_PERMUTATIONS,
        HOTSPOT_DEFAULTS,
        cluster_study,
        study_hotspots,
    )

    study = cluster_study(store, context, cluster_id, start, end, judged=False)
    first, last = study.start, study.end
    gi = study_hotspots(study)
    emerging = emerging_hotspots(
        study.points(),
        area=study.area,
        cell_size_m=HOTSPOT_DEFAULTS.cell_size_m,
        permutations=EMERGING_PERMUTATIONS,
        seed=HOTSPOT_DEFAULTS.seed,
        alpha=HOTSPOT_DEFAULTS.alpha,
    )
    layers = [significant_collection(result) for result in (gi, emerging)]
    for collection in layers:  # what the counts count, as the API's answers say it
        collection.setdefault("properties", {})["count_basis"] = STUDY_COUNT_BASIS_TEXT
    return ClusterAnalytics(
        cluster_id,
        first,
        last,
        json.loads(json.dumps(layers[0], default=str)),
        json.loads(json.dumps(layers[1], default=str)),
    )


def loader_entries(hotspots_url: str) -> list[dict[str, Any]]:
    """Return the ``analytics`` entries of a served map's incident loader configuration.

    Parameters
    ----------
    hotspots_url
        The path of ``GET /clusters/{id}/hotspots`` for the cluster; the loader fetches it
        with ``significant_only=true`` (Gi*) and ``method=emerging`` with the key it holds.
    """
    base = f"{hotspots_url}?significant_only=true"
    return [
        {
            "kind": kind,
            "function": "hotspotLayer" if kind == "gi" else "emergingLayer",
            "url": base if kind == "gi" else f"{base}&method=emerging",
            "name_html": esc(LAYER_NAMES[kind]),
            "show": kind == "gi",
            "config": layer_config(kind),
            "legend": legend_section(kind),
        }
        for kind in ("gi", "emerging")
    ]
