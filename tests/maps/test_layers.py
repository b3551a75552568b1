"""Map inputs built from geozone objects: a cluster's layers and its assigned incidents."""

from __future__ import annotations

from datetime import date, datetime
from html import escape as html_escape
from pathlib import Path

import geopandas as gpd
import orjson
import pandas as pd
import pytest

from geozone.assignment import assign, territories
from geozone.boundaries.sets import BoundarySet
from geozone.clusters.model import Cluster
from geozone.context import Context, load_context
from geozone.errors import ClusterDefinitionError, DataNotFoundError, NoBoundarySetForDateError
from geozone.incidents.pipeline import assign_stale
from geozone.settings import Settings
from geozone.store import open_store
from geozone.vntime import VIETNAM_TZ
from maps import (
    MapInputError,
    StoredIncidents,
    cluster_layers,
    cluster_map,
    cluster_on,
    incident_layer,
    map_of_layers,
    side_names,
    stored_incidents,
    to_html,
)
from maps.incident_table import (
    incident_columns,
    incident_data,
    incident_payload,
    incident_summary,
)
from maps.layers import StoredTable, stored_incident_table
from tests.fixtures.grid import GRID_INFO, grid_vertex_lonlat
from tests.fixtures.html import js_arguments, tooltips
from tests.fixtures.pages import incident_tables, unpack
from tests.fixtures.snapshot import LEGACY_SNAPSHOT_NOTICE

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


def test_lines_and_zones_name_their_units_and_lengths_in_each_language(
    grid: BoundarySet,
) -> None:
    from maps.overlays import MemberUnits, boundary_collection, metres, zone_collection

    layers = cluster_layers(grid_cluster(), grid)
    units = MemberUnits(layers.units)
    lines = [
        f["properties"]["tooltip_html"]
        for f in boundary_collection(layers.boundaries_lines, units)["features"]
    ]
    # Each line is 1 km: grouped the Vietnamese way, then the English way.
    assert all(tip.endswith("<br>1.000 m / 1,000 m") for tip in lines), lines
    assert any("Phường Ô 1 (00001) – Phường Ô 2 (00002)" in tip for tip in lines)
    assert (metres(150), metres(2216.4), metres(12345.6)) == (
        "150 m",
        "2.216 m / 2,216 m",
        "12.346 m / 12,346 m",
    )
    # A unit not on the map (a carried cluster's original district) is named from the row.
    zones = layers.zones.assign(
        names=[{"00001": "Quận Cũ (Ô 1)", "00002": "Quận Khác"}] * len(layers.zones)
    )
    alone = MemberUnits(layers.units[layers.units["code"] != "00001"])
    tips = [f["properties"]["tooltip_html"] for f in zone_collection(zones, alone)["features"]]
    assert any("Quận Cũ (Ô 1) – Phường Ô 2 (00002)" in tip for tip in tips), tips
    assert not any(">00001 –" in tip or "– 00001" in tip for tip in tips)


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
    from geozone.clusters.files import load_clusters
    from geozone.clusters.migrate import migrate_cluster

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


@pytest.mark.realdata
def test_t11_carried_zone_names_its_original_districts(
    vn2025: BoundarySet, legacy: BoundarySet
) -> None:
    # The carried T11 zone runs along the line between the old districts (no old ward
    # geometry): its tooltips name them, not their codes (they are not on the map).
    from geozone.clusters.files import load_clusters
    from maps.overlays import MemberUnits, boundary_collection, zone_collection

    placed = territories([load_clusters()["hoa-do-phuc-vi"]], [legacy, vn2025], carry_into=vn2025)
    (territory,) = [t for t in placed if t.bset.id == vn2025.id]
    layers = cluster_layers(
        territory.cluster, territory.bset, zones=territory.zones, names=side_names(territory)
    )
    units = MemberUnits(layers.units)
    pair = "Quận Ba Đình (Cống Vị, Vĩnh Phúc) – Quận Cầu Giấy (Quan Hoa, Nghĩa Đô)"
    for collection in (
        boundary_collection(layers.boundaries_lines, units),
        zone_collection(layers.zones, units),
    ):
        tips = [f["properties"]["tooltip_html"] for f in collection["features"]]
        assert any(html_escape(pair) in tip for tip in tips), tips
        assert not any("001 – 005" in tip for tip in tips)
    # Without the names, codes of another set are never named from this one.
    bare = cluster_layers(territory.cluster, territory.bset, zones=territory.zones)
    assert bare.boundaries_lines is not None
    assert bare.boundaries_lines["names"].tolist() == [{}] * len(bare.boundaries_lines)


# -- incidents from the store; the version of a cluster on a day --------------------------------


def test_stored_incidents_are_the_newest_with_their_stored_decisions(
    grid: BoundarySet, tmp_path: Path
) -> None:
    cluster = grid_cluster()
    context = Context([grid], {cluster.id: cluster}, territories([cluster], [grid]), {})
    n = 25
    incidents = pd.DataFrame(
        {
            "external_id": [f"i{k:02d}" for k in range(n)],
            "occurred_at": pd.date_range("2024-01-01", periods=n, freq="D", tz=VIETNAM_TZ),
            # alternately near the 00001|00002 line and deep inside 00005; the last two in
            # 00009, outside every member and detected by none
            "lon": [LON - 0.0001 if k % 2 else LON + 0.004 for k in range(n - 2)]
            + [LON + 0.012] * 2,
            "lat": [LAT - 0.004 if k % 2 else LAT + 0.004 for k in range(n - 2)]
            + [LAT + 0.012] * 2,
            "detected_by": ["o2"] * (n - 2) + [None] * 2,  # the last two concern no member
            "category": ["drugs"] * n,
            "synthetic": [True] * n,
        }
    )
    with open_store(f"sqlite:///{tmp_path / 'store.sqlite'}") as store:
        store.add_incidents(incidents)
        assign_stale(store, context)
        assert stored_incidents(store, "o-thu", limit=0) == StoredIncidents(None, n - 2)
        found = stored_incidents(store, "o-thu", limit=7)
        assert (found.total, found.returned) == (n - 2, 7)
        assert found.layer is not None
        assert found.layer["external_id"].tolist() == [f"i{k:02d}" for k in range(22, 15, -1)]
        for _, row in found.layer.iterrows():
            (stored,) = store.get(row["external_id"])["clusters"]
            assert (row["rule"], row["lead_unit"], row["explanation_vi"]) == (
                stored["rule"],
                stored["lead_unit"],
                stored["explanation_vi"],
            )
        assert set(found.layer["rule"]) == {"border_detector", "territory"}
        everything = stored_incidents(store, "o-thu", limit=50_000)
        assert everything.returned == n - 2 and everything.layer is not None
        assert everything.layer["external_id"].is_unique
        assert stored_incidents(store, "elsewhere") == StoredIncidents(None, 0)
        # the served map's read: the same incidents, decisions and table, in one query
        assert stored_incident_table(store, "o-thu", limit=0) == StoredTable(None, n - 2)
        for limit in (7, 50_000):
            old = stored_incidents(store, "o-thu", limit=limit)
            new = stored_incident_table(store, "o-thu", limit=limit)
            assert (new.total, new.returned) == (old.total, old.returned)
            assert new.frame is not None and old.layer is not None
            assert new.frame["external_id"].tolist() == old.layer["external_id"].tolist()
            for column in ("rule", "lead_unit", "explanation_vi", "explanation_en"):
                assert new.frame[column].tolist() == old.layer[column].tolist()
            table = incident_columns(
                new.frame.drop(columns=["lon", "lat"]),
                new.frame["lon"].to_numpy(),
                new.frame["lat"].to_numpy(),
            )
            assert orjson.dumps(table, option=orjson.OPT_SERIALIZE_NUMPY) == orjson.dumps(
                incident_data(old.layer), option=orjson.OPT_SERIALIZE_NUMPY
            )
        assert stored_incident_table(store, "elsewhere", limit=10) == StoredTable(None, 0)


def test_cluster_on_a_day_keeps_the_members_of_that_day(grid: BoundarySet) -> None:
    cluster = grid_cluster(
        period={"start": "2020-01-01"},
        members=[
            {"id": "o1", "kind": "unit", "unit_code": "00001", "name": "Ô 1"},
            {"id": "o2", "kind": "unit", "unit_code": "00002", "name": "Ô 2"},
            {
                "id": "o5",
                "kind": "unit",
                "unit_code": "00005",
                "name": "Ô 5",
                "joined": "2021-06-01",
            },
        ],
        events=[
            {"date": "2021-06-01", "kind": "admitted", "text": "Kết nạp Ô 5", "members": ["o5"]}
        ],
    )
    context = Context([grid], {cluster.id: cluster}, territories([cluster], [grid]), {})
    territory, early = cluster_on(context, "o-thu", date(2021, 1, 1))
    assert territory.cluster is cluster and [m.id for m in early.members] == ["o1", "o2"]
    assert cluster_layers(early, grid).units["code"].tolist() == ["00001", "00002"]
    _, later = cluster_on(context, "o-thu", date(2022, 1, 1))
    assert later is cluster
    with pytest.raises(DataNotFoundError, match="no member unit on 2019-12-31"):
        cluster_on(context, "o-thu", date(2019, 12, 31))
    with pytest.raises(NoBoundarySetForDateError, match="1999-01-01"):
        cluster_on(context, "o-thu", date(1999, 1, 1))
    with pytest.raises(DataNotFoundError, match="no cluster 'nowhere'; known: o-thu"):
        cluster_on(context, "nowhere", date(2022, 1, 1))


@pytest.mark.realdata
def test_cluster_on_picks_the_version_drawn_on_the_units_in_force(
    built_settings: Settings,
) -> None:
    context = load_context(built_settings)
    territory, cluster = cluster_on(context, "hoa-do-phuc-vi", date(2025, 8, 1))
    assert territory.cluster.id == "hoa-do-phuc-vi-vn2025" and territory.bset.id == "vn2025"
    assert {m.unit_code for m in cluster.members} >= {"00160", "00008"}
    # before 2025-07-01 its wards are in the legacy register only: no polygons to draw
    with pytest.raises(
        DataNotFoundError, match="hoa-do-phuc-vi-vn2025 \\(vn2025, from 2025-07-01\\)"
    ):
        cluster_on(context, "hoa-do-phuc-vi-vn2025", date(2024, 5, 1))
    # a district cluster has polygons in both sets: each day gets its own version
    old, _ = cluster_on(context, "gia-lam-vn2025", date(2020, 1, 1))
    assert (old.cluster.id, old.bset.id) == ("gia-lam", "vn-legacy-districts")
    new, _ = cluster_on(context, "gia-lam", date(2025, 8, 1))
    assert new.cluster.id == "gia-lam-vn2025"


def test_a_linked_event_is_drawn_once_with_its_reports_in_the_popup(
    grid: BoundarySet, tmp_path: Path
) -> None:
    from geozone.incidents.events import link_new

    cluster = grid_cluster()
    context = Context([grid], {cluster.id: cluster}, territories([cluster], [grid]), {})
    t0 = pd.Timestamp("2024-01-01 21:00", tz=VIETNAM_TZ)
    incidents = pd.DataFrame(
        {
            "external_id": ["o1-17", "o2-4", "o2-5"],
            "occurred_at": [t0, t0 + pd.Timedelta(minutes=20), t0 + pd.Timedelta(days=1)],
            "lon": [LON - 0.0001, LON - 0.0002, LON - 0.0001],
            "lat": [LAT - 0.004] * 3,
            "detected_by": ["o1", "o2", "o2"],
            "category": ["drugs"] * 3,
            "synthetic": [True] * 3,
        }
    )
    with open_store(f"sqlite:///{tmp_path / 'store.sqlite'}") as store:
        store.add_incidents(incidents)
        assign_stale(store, context)
        assert link_new(store, incidents["external_id"]).linked == 2
        found = stored_incidents(store, "o-thu")
        table = stored_incident_table(store, "o-thu", limit=10)
    assert table.frame is not None and table.total == 3
    assert table.frame["external_id"].tolist() == ["o2-5", "o1-17"]  # newest first
    assert table.frame["event_reports"].fillna("").tolist() == [
        "",
        "o1-17 (o1, chủ trì / lead); o2-4 (o2)",
    ]
    assert found.layer is not None and found.total == 3
    layer = found.layer.set_index("external_id")
    assert sorted(layer.index) == ["o1-17", "o2-5"]  # the event once, by its lead report
    assert layer.loc["o1-17", "event_reports"] == "o1-17 (o1, chủ trì / lead); o2-4 (o2)"
    assert pd.isna(layer.loc["o2-5", "event_reports"])
    data = incident_data(found.layer)
    assert data["evs"] == ["o1-17 (o1, chủ trì / lead); o2-4 (o2)"]
    assert sorted(data["ev"].tolist()) == [-1, 0]
    # Two points for the three stored reports: the map says all are shown, as two events.
    summary = incident_payload(None, 3, data=data)["summary"]
    assert summary == (
        "Hiển thị cả 3 vụ việc, gộp thành 2 sự việc / all 3 incidents shown, as 2 events"
    )
    # The standalone map counts the same: three incidents, drawn as two events.
    assert (found.returned, found.reports) == (2, 3)
    assert incident_summary(found.returned, found.total, found.reports) == summary
    page = to_html(
        map_of_layers(cluster_layers(cluster, grid), incidents=found.layer), inline_assets=False
    )
    assert "3 vụ việc / incidents (2 sự việc / events)" in page
    assert "Vụ việc / Incidents (3)" in page


@pytest.mark.realdata
def test_a_carried_cluster_map_says_what_its_decisions_stand_on(built_settings: Settings) -> None:
    """An outside audit's case: the carried T11 map drew its zone as if in force, lapsed.

    Lapsed (not confirmed): the map says it makes no lead decision and why, as the sentences
    do; confirmed: from when; an original cluster: nothing, unless its district police
    ceased while it ran.
    """
    from geozone.assignment import lapsed_sentences
    from geozone.clusters.model import Confirmation

    def notices(context: Context, cluster_id: str) -> tuple[str, ...]:
        placed = context.territory(cluster_id)
        layers = cluster_layers(placed.cluster, placed.bset, zones=placed.zones)
        html = to_html(map_of_layers(layers), inline_assets=False)
        for notice in layers.notices:
            assert html_escape(notice) in html
        # The legend lists the kinds of zone the cluster has (the carried T11: one pair).
        for kind, label in (("junction", "Junction zone"), ("pair", "Border zone")):
            assert (label in html) == (kind in set(layers.zones["kind"])), (cluster_id, kind)
        return layers.notices

    lapsed = load_context(built_settings)
    t11 = lapsed.territory("hoa-do-phuc-vi-vn2025").cluster
    (said,) = notices(lapsed, "hoa-do-phuc-vi-vn2025")
    assert said == " / ".join(lapsed_sentences(t11)) and said.startswith("Không có quyết định")
    confirmed = load_context(
        built_settings,
        confirmations=[Confirmation("hoa-do-phuc-vi-vn2025", date(2025, 7, 1), "test")],
    )
    (said,) = notices(confirmed, "hoa-do-phuc-vi-vn2025")
    assert "đã được xác nhận áp dụng từ 01/07/2025" in said and "confirmed to apply" in said
    # An original cluster: nothing of its standing; but it is drawn on the legacy set, a
    # snapshot of about 02/2023, for its days from 2008 to 2025: said as /locate says it.
    assert notices(confirmed, "can-tho-an-giang") == (LEGACY_SNAPSHOT_NOTICE,)
    # An original cluster of districts: its decisions from when district police ceased
    # (1 March 2025) are reviewed, and its map says so.
    (snapshot, said) = notices(confirmed, "gia-lam")
    assert snapshot == LEGACY_SNAPSHOT_NOTICE
    assert said.startswith("Công an cấp huyện thôi hoạt động từ 01/03/2025")


@pytest.mark.realdata
def test_a_map_drawn_on_the_legacy_snapshot_for_another_day_says_so(
    built_settings: Settings,
) -> None:
    """The Gia Lâm cluster drawn for 2015-06-01 shows "Thành phố Từ Sơn" (a city only since
    2021) from the legacy set, a snapshot of about 02/2023: the map says so; drawn for a day
    of February 2023 it does not; its carried form on vn2025 never does."""
    context = load_context(built_settings)
    for day, said in ((date(2015, 6, 1), True), (date(2023, 2, 15), False)):
        placed, cluster = cluster_on(context, "gia-lam", day)
        layers = cluster_layers(cluster, placed.bset, zones=placed.zones, day=day)
        assert "Thành phố Từ Sơn" in set(layers.units["full_name"])
        assert (LEGACY_SNAPSHOT_NOTICE in layers.notices) is said, day
        html = to_html(map_of_layers(layers), inline_assets=False)
        assert (html_escape(LEGACY_SNAPSHOT_NOTICE) in html) is said, day
    placed, cluster = cluster_on(context, "gia-lam", date(2025, 8, 1))
    layers = cluster_layers(cluster, placed.bset, zones=placed.zones, day=date(2025, 8, 1))
    assert placed.bset.id == "vn2025"
    assert not any("(vn-legacy-districts), ranh giới là bản chụp" in n for n in layers.notices)
