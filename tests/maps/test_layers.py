"""Map inputs built from geozone objects: a cluster's layers and its assigned incidents."""

from __future__ import annotations

from datetime import datetime
from html import escape as html_escape

import geopandas as gpd
import pandas as pd
import pytest

from geozone.assign import assign, territories
from geozone.boundaries import BoundarySet
from geozone.clusters import Cluster
from geozone.errors import ClusterDefinitionError
from maps import MapInputError, cluster_layers, cluster_map, incident_layer, to_html
from tests.conftest import GRID_INFO, grid_vertex_lonlat
from tests.maps.test_cluster_map import incident_tables, js_arguments, tooltips, unpack

LON, LAT = grid_vertex_lonlat(1, 1)


def grid_cluster(**changes: object) -> Cluster:
    data: dict[str, object] = {
        "id": "o-thu",
        "name": "Cụm liên kết Ô Thử",
        "name_en": "Test cluster",
        "boundary_set": "grid",
        "level": "ward",
        "zone_width_m": 150,
        "members": [
            {"id": "o1", "kind": "unit", "unit_code": "00001", "name": "Phường Ô 1"},
            {"id": "o2", "kind": "unit", "unit_code": "00002", "name": "Ô 2", "notes": "Host"},
            {"id": "o4", "kind": "unit", "unit_code": "00004", "name": "Phường Ô 4"},
            {"id": "o5", "kind": "unit", "unit_code": "00005", "name": "Phường Ô 5"},
            {"id": "cty", "kind": "organisation", "name": "Công ty Thử"},
        ],
        "hotspots": [
            {"name": "Cầu Thử", "name_en": "Test bridge", "point": [LON, LAT], "radius_m": 150}
        ],
    }
    data.update(changes)
    return Cluster.model_validate(data)


def test_cluster_layers_on_the_grid(grid: BoundarySet) -> None:
    layers = cluster_layers(grid_cluster(), grid)
    assert layers.units["code"].tolist() == ["00001", "00002", "00004", "00005"]
    assert layers.units["full_name"].tolist() == [f"Phường Ô {n}" for n in (1, 2, 4, 5)]
    assert layers.units["member"].all()
    assert layers.units["role"].tolist() == ["Phường Ô 1", "Host", "Phường Ô 4", "Phường Ô 5"]
    assert layers.zones is not None and layers.boundaries_lines is not None
    assert sorted(layers.zones["kind"]) == ["junction"] + ["pair"] * 4
    assert set(layers.zones["width_m"]) == {150.0}  # the cluster's own width
    assert len(layers.boundaries_lines) == 4
    assert layers.junctions is not None and len(layers.junctions) == 1
    assert sorted(layers.junctions["codes"].iloc[0]) == ["00001", "00002", "00004", "00005"]
    assert layers.hotspots is not None and layers.hotspots["radius_m"].tolist() == [150.0]
    assert layers.title == "Cụm liên kết Ô Thử"
    assert layers.attribution == GRID_INFO.attribution
    assert layers.units.crs.to_epsg() == 4326


def test_cluster_layers_refuse_other_sets_and_no_territory(grid: BoundarySet) -> None:
    with pytest.raises(ClusterDefinitionError, match="named in vn2025, not grid"):
        cluster_layers(grid_cluster(boundary_set="vn2025"), grid)
    lonely = grid_cluster(members=[{"id": "cty", "kind": "organisation", "name": "Công ty"}])
    with pytest.raises(MapInputError, match="no member has a polygon in grid"):
        cluster_layers(lonely, grid)
    single = grid_cluster(
        members=[{"id": "o1", "kind": "unit", "unit_code": "00001", "name": "Phường Ô 1"}]
    )
    one = cluster_layers(single, grid)
    assert len(one.units) == 1 and one.zones is None and one.boundaries_lines is None


def test_assigned_incidents_on_the_cluster_map(grid: BoundarySet) -> None:
    cluster = grid_cluster()
    incidents = pd.DataFrame(
        {
            "external_id": ["a", "b", "c"],
            "occurred_at": [datetime(2025, 7, 2, 21, 30)] * 3,
            # near the 00001|00002 line, deep inside 00005, outside every member (00009)
            "lon": [LON - 0.0001, LON + 0.004, LON + 0.012],
            "lat": [LAT - 0.004, LAT + 0.004, LAT + 0.012],
            "detected_by": ["o2", None, None],
            "category": ["drugs", "theft", "traffic"],
            "synthetic": [True, True, True],
        }
    )
    result = assign(incidents, [grid], territories([cluster], [grid]))
    points = incident_layer(incidents, result.clusters, cluster_id=cluster.id)
    assert points["external_id"].tolist() == ["a", "b"]  # c concerns no member
    assert points["rule"].tolist() == ["border_detector", "territory"]
    assert points["lead_unit"].tolist() == ["00002", "00005"]
    layers = cluster_layers(cluster, grid)
    html = to_html(
        cluster_map(
            units=layers.units,
            boundaries_lines=layers.boundaries_lines,
            zones=layers.zones,
            junctions=layers.junctions,
            hotspots=layers.hotspots,
            incidents=points,
            title=layers.title,
            attribution=layers.attribution,
        ),
        inline_assets=False,
    )
    (table,) = incident_tables(html)
    assert table["leads"] == ["Phường Ô 2 (00002)", "Phường Ô 5 (00005)"]
    assert any("Cầu Thử" in tip for tip in tooltips(html))
    shown = [
        (
            unpack(table["vi_templates"], table["vis"][k]),
            unpack(table["en_templates"], table["ens"][k]),
        )
        for k in table["ex"]
    ]
    expected = list(zip(points["explanation_vi"], points["explanation_en"], strict=True))
    assert shown == [(html_escape(vi), html_escape(en)) for vi, en in expected]


def test_incident_layer_without_assignment_and_bad_input() -> None:
    incidents = pd.DataFrame({"external_id": ["x"], "lon": [LON], "lat": [LAT], "extra": [1]})
    points = incident_layer(incidents)
    assert isinstance(points, gpd.GeoDataFrame)
    assert points.columns.tolist() == ["external_id", "geometry"]
    assert points.geometry.iloc[0].x == pytest.approx(LON)
    with pytest.raises(MapInputError, match=r"lack column.*lat"):
        incident_layer(incidents.drop(columns="lat"))
    with pytest.raises(MapInputError, match="needs the assignment"):
        incident_layer(incidents, cluster_id="o-thu")


@pytest.mark.realdata
def test_t11_cluster_map_in_2025_units(vn2025: BoundarySet, legacy: BoundarySet) -> None:
    from geozone.clusters import load_clusters
    from geozone.migrate import migrate_cluster

    carried = migrate_cluster(load_clusters()["hoa-do-phuc-vi"], legacy, vn2025).to_cluster()
    layers = cluster_layers(carried, vn2025)
    assert set(layers.units["code"]) == {"00008", "00160", "00025", "00103", "00166"}
    roles = dict(zip(layers.units["code"], layers.units["role"], strict=True))
    assert roles["00103"].startswith("Một phần / Partial member.")  # Tây Hồ: part of Nghĩa Đô
    assert layers.hotspots is not None and layers.hotspots["name"].tolist() == ["Cầu T11"]
    assert layers.zones is not None and {"pair", "junction"} <= set(layers.zones["kind"])
    html = to_html(
        cluster_map(
            units=layers.units,
            boundaries_lines=layers.boundaries_lines,
            zones=layers.zones,
            junctions=layers.junctions,
            hotspots=layers.hotspots,
            incidents=None,
            title=layers.title,
            attribution=layers.attribution,
        ),
        inline_assets=False,
    )
    assert "Phường Nghĩa Đô (00160)" in html and "Phường Ngọc Hà (00008)" in html
    assert vn2025.info.attribution in html
    # the T11 bridge lies on the Nghĩa Đô–Ngọc Hà line: inside the map's bounds
    (spec,) = [s for s in js_arguments(html, "GZ.decorate")]
    (south, west), (north, east) = spec["bounds"]
    assert south < 21.0387 < north and west < 105.8064 < east
