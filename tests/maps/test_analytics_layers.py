"""Hotspot and emerging-trend layers of the cluster map (standalone and served)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
import shapely

from geozone import labels
from geozone.assignment import ClusterTerritory
from geozone.boundaries.sets import BoundarySet
from geozone.context import Context
from geozone.incidents.pipeline import assign_stale
from geozone.store import IncidentStore, open_store
from maps import cluster_layers, cluster_map, to_html
from maps.analytics_layers import (
    EMERGING_COLOURS,
    HOTSPOT_COLOURS,
    LAYER_NAMES,
    AnalyticsLayer,
    cluster_analytics,
    layer_config,
    legend_items,
    legend_section,
    loader_entries,
)
from maps.elements import esc
from tests.fixtures.analytics import PLANT, incidents, make_api
from tests.fixtures.clusters import grid_cluster
from tests.fixtures.grid import grid_point

START, END = date(2021, 1, 1), date(2021, 12, 31)


@pytest.fixture
def grid_context(grid: BoundarySet) -> Context:
    territory = ClusterTerritory(grid_cluster(zone_width_m=100), grid)
    return Context([grid], {"grid-centre": territory.cluster}, [territory], {"grid": "test"})


@pytest.fixture
def store(tmp_path: Path, grid_context: Context) -> Iterator[IncidentStore]:
    with open_store(f"sqlite:///{tmp_path / 'store.sqlite'}") as opened:
        opened.add_incidents(incidents(150, 70, 3))
        assign_stale(opened, grid_context)
        yield opened


def test_legends_name_every_class() -> None:
    gi = legend_items("gi")
    assert [item["swatch"]["fill"] for item in gi] == list(HOTSPOT_COLOURS.values())
    assert gi[0]["label_html"] == "Điểm nóng 99% / Hot spot 99%"
    emerging = [item["label_html"] for item in legend_items("emerging")]
    assert emerging == [
        "Mới xuất hiện / New",
        "Tăng dần / Intensifying",
        "Kéo dài / Persistent",
        "Giảm dần / Diminishing",
        "Lúc có lúc không / Sporadic",
    ]
    config = layer_config("emerging")
    assert set(config["styles"]) == set(EMERGING_COLOURS)
    assert config["styles"]["new"]["fillColor"] == EMERGING_COLOURS["new"]


def test_messages_and_names_are_escaped() -> None:
    section = legend_section("gi", "<script>alert(1)</script> & more")
    assert section["note_html"] == "&lt;script&gt;alert(1)&lt;/script&gt; &amp; more"
    entries = loader_entries("/clusters/a%3Cb/hotspots")
    assert [e["kind"] for e in entries] == ["gi", "emerging"]
    assert [e["show"] for e in entries] == [True, False]
    assert entries[1]["url"].endswith("significant_only=true&method=emerging")
    layer = AnalyticsLayer(
        "gi",
        {
            "type": "FeatureCollection",
            "features": [
                {"type": "Feature", "geometry": None, "properties": {"kind": "</script><b>"}}
            ],
        },
    )
    assert "</script><b>" not in layer.data_json and "\\u003c/script>" in layer.data_json


def test_standalone_map_embeds_both_layers(store: IncidentStore, grid_context: Context) -> None:
    found = cluster_analytics(store, grid_context, "grid-centre", START, END)
    gi = found.gi
    assert gi["properties"]["status"] == "tested" and gi["properties"]["synthetic"] is True
    assert gi["properties"]["synthetic_label"] == "dữ liệu mô phỏng / synthetic data"
    kinds = {f["properties"]["kind"] for f in gi["features"]}
    assert "hot" in kinds and kinds <= {"hot", "cold"}
    plant = shapely.Point(grid_point(*PLANT))
    hot = [shapely.geometry.shape(f["geometry"]) for f in gi["features"]]
    assert min(cell.distance(plant) for cell in hot) == 0
    assert all(f["properties"]["category"] != "none" for f in found.emerging["features"])
    territory = grid_context.territories[0]
    layers = cluster_layers(territory.cluster, territory.bset)
    page = to_html(
        cluster_map(
            units=layers.units,
            boundaries_lines=layers.boundaries_lines,
            zones=layers.zones,
            junctions=layers.junctions,
            hotspots=layers.hotspots,
            incidents=None,
            title=layers.title,
            attribution=layers.attribution,
            analytics=found,
        ),
        inline_assets=False,
    )
    assert page.count("GZ.hotspotLayer(") == 1 and page.count("GZ.emergingLayer(") == 1
    for name in LAYER_NAMES.values():
        assert name in page
    assert "Mới xuất hiện / New" in page and "Điểm nóng 99% / Hot spot 99%" in page
    assert "DỮ LIỆU MÔ PHỎNG / SYNTHETIC" in page  # the synthetic notice
    assert "geozone test grid" in page  # attribution
    # the notes in plain words, Vietnamese first: no "Getis", "FDR", "bins" or "MS"
    gi_note, emerging_note = (s["note_html"] for s in found.legend_sections())
    assert "có ý nghĩa thống kê ở mức 95 %" in gi_note and "ô là điểm nóng" in gi_note
    assert gi_note.startswith("Dữ liệu mô phỏng") and "Xu hướng theo" in emerging_note
    assert not any(w in gi_note + emerging_note for w in ("Getis", "FDR", "bins", "MS,"))
    # The count of incidents says what it counts (the API's count_basis, once, at the end);
    # the emerging note states no count of incidents.
    basis = esc(labels.STUDY_COUNT_BASIS_TEXT)
    assert gi["properties"]["count_basis"] == labels.STUDY_COUNT_BASIS_TEXT
    assert gi_note.endswith(f" {basis}.") and gi_note.count(basis) == 1
    assert basis not in emerging_note
    # The emerging layer is in the layer control but not on the map when the page opens.
    emerging_var = page.split("GZ.emergingLayer(")[0].rsplit("var ", 1)[1].split(" ")[0]
    assert f"{emerging_var}.addTo(" not in page
    hotspot_var = page.split("GZ.hotspotLayer(")[0].rsplit("var ", 1)[1].split(" ")[0]
    assert f"{hotspot_var}.addTo(" in page


def test_served_page_fetches_the_layers_with_the_key(tmp_path: Path, grid_context: Context) -> None:
    for api in make_api(tmp_path, grid_context, incidents(40, 0, 5)):
        page = api.client.get("/maps/clusters/grid-centre").text
        assert "/clusters/grid-centre/hotspots?significant_only=true" in page
        assert "&method=emerging" in page and "GZ.incidentLoader(" in page
        assert "GZ.hotspotLayer(" not in page  # fetched by the page, not embedded
        keyed = api.client.get("/maps/clusters/grid-centre", headers=api.auth("analyst")).text
        assert "GZ.hotspotLayer(" in keyed and "GZ.emergingLayer(" in keyed
