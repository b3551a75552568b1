"""User ward layers that refine the legacy set (a GADM-like layer built here).

The layer: Quận Cầu Giấy (005) and Quận Ba Đình (001) of the legacy set, each cut at the T11
bridge's latitude into a northern and a southern ward (Nghĩa Đô / Quan Hoa, Vĩnh Phúc /
Cống Vị), so that the four wards meet at the bridge as the report says; plus wards whose
folded names collide (Sa Pa / Sa Pả, Minh Quán / Minh Quân, Thị trấn / Xã Yên Viên), wards
merged since the layer was drawn (Cao Đại, Việt Xuân, Bồ Sao → Sao Đại Việt) and a
province renamed since (Thừa Thiên Huế, now Thành phố Huế).
"""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from geozone.assignment import assign
from geozone.boundaries.correspondence import load_onflow_correspondence
from geozone.boundaries.refine import LayerFields, match_names, refine_set
from geozone.boundaries.sets import BoundarySet
from geozone.context import load_context
from geozone.errors import BoundaryImportError
from geozone.settings import Settings
from geozone.vntime import VIETNAM_TZ

pytestmark = pytest.mark.realdata

T11 = (105.8064, 21.0387)
FIELDS = LayerFields("GID_3", "NAME_3", "GID_2", "NAME_2", "GID_1", "NAME_1", "TYPE_3")


def _halves(polygon: shapely.Geometry, lat: float) -> tuple[shapely.Geometry, shapely.Geometry]:
    """The parts of ``polygon`` north and south of ``lat``."""
    minx, miny, maxx, maxy = polygon.bounds
    north = shapely.box(minx - 1, lat, maxx + 1, maxy + 1)
    south = shapely.box(minx - 1, miny - 1, maxx + 1, lat)
    return shapely.intersection(polygon, north), shapely.intersection(polygon, south)


def _square_in(polygon: shapely.Geometry, dx: float) -> shapely.Geometry:
    """A small square inside ``polygon``, shifted ``dx`` degrees east of a point on it."""
    point = shapely.point_on_surface(polygon)
    return shapely.box(point.x + dx, point.y, point.x + dx + 0.002, point.y + 0.002)


def write_ward_layer(path: Path, legacy: BoundarySet) -> Path:
    """Write the GADM-like layer described in the module notes."""
    cau_giay, ba_dinh = legacy.geometry("005"), legacy.geometry("001")
    nghia_do, quan_hoa = _halves(cau_giay, T11[1])
    vinh_phuc, cong_vi = _halves(ba_dinh, T11[1])
    sa_pa = legacy.geometry("088")
    tran_yen = legacy.geometry("138")
    vinh_tuong = legacy.geometry("252")
    gia_lam = legacy.geometry("018")
    hue = legacy.geometry("46")
    hn, lc, yb, vp = ("HN", "Hà Nội"), ("LC", "Lào Cai"), ("YB", "Yên Bái"), ("VP", "Vĩnh Phúc")
    cg, bd, gl = ("HN.CG", "Cầu Giấy", *hn), ("HN.BD", "Ba Đình", *hn), ("HN.GL", "Gia Lâm", *hn)
    sp, ty, vt = ("LC.SP", "Sa Pa", *lc), ("YB.TY", "Trấn Yên", *yb), ("VP.VT", "Vĩnh Tường", *vp)
    rows = [  # (GID_3, NAME_3, TYPE_3), (GID_2, NAME_2, GID_1, NAME_1), geometry
        (("A.1", "Nghĩa Đô", "Phường"), cg, nghia_do),
        (("A.2", "QuanHoa", "Phường"), cg, quan_hoa),
        (("A.3", "Vĩnh Phúc", "Phường"), bd, vinh_phuc),
        (("A.4", "Cong Vi", "Phường"), bd, cong_vi),
        (("B.1", "Sa Pa", "Phường"), sp, _square_in(sa_pa, 0)),
        (("B.2", "SaPa", "Phường"), sp, _square_in(sa_pa, 0.004)),
        (("B.3", "Sa Pả", "Phường"), sp, _square_in(sa_pa, 0.008)),
        (("C.1", "Minh Quan", "Xã"), ty, _square_in(tran_yen, 0)),
        (("D.1", "Yên Viên", "Thị trấn"), gl, _square_in(gia_lam, 0)),
        (("D.2", "Yên Viên", "Xã"), gl, _square_in(gia_lam, 0.004)),
        (("E.1", "Cao Đại", "Xã"), vt, _square_in(vinh_tuong, 0)),
        (("E.2", "Việt Xuân", "Xã"), vt, _square_in(vinh_tuong, 0.002)),
        (("E.3", "Bồ Sao", "Xã"), vt, _square_in(vinh_tuong, 0.004)),
        (("F.1", "Không Có", "Xã"), vt, _square_in(vinh_tuong, 0.008)),
        (("G.1", "Thuận Hòa", "Phường"), ("TTH.X", "Huyện Không Rõ", "TTH", "Thừa Thiên Huế"), hue),
    ]
    columns = ["GID_3", "NAME_3", "TYPE_3", "GID_2", "NAME_2", "GID_1", "NAME_1"]
    frame = gpd.GeoDataFrame(
        [(*ward, *parents) for ward, parents, _ in rows],
        columns=columns,
        geometry=[shape for *_, shape in rows],
        crs=4326,
    )
    frame.to_file(path, driver="GPKG", layer="gadm41_VNM_3")
    return path


@pytest.fixture(scope="module")
def refined_settings(
    built_settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> Settings:
    """A cache holding the built sets (linked) and the legacy set refined by the layer."""
    cache = tmp_path_factory.mktemp("refined")
    (cache / "boundaries").mkdir()
    for set_id in ("vn2025", "vn-legacy-districts"):
        (cache / "boundaries" / set_id).symlink_to(built_settings.boundary_cache / set_id)
    settings = built_settings.model_copy(update={"cache_dir": cache})
    legacy = BoundarySet.load("vn-legacy-districts", settings)
    layer = write_ward_layer(cache / "gadm.gpkg", legacy)
    report = refine_set(
        layer,
        FIELDS,
        legacy,
        settings.boundary_cache,
        "gadm-wards",
        licence="test",
        attribution="Test ward layer",
        aliases=load_onflow_correspondence().aliases,
        report_to=cache / "not-imported.csv",
    )
    assert report.to_dict()["wards_refined"] == 8
    return settings


def test_names_match_with_diacritics_first_then_folded_within_the_parent() -> None:
    theirs = pd.DataFrame(
        {
            "code": ["1", "2", "3", "4", "5"],
            "name": ["Trực Hùng", "Trực Hưng", "Sa Pa", "Sa Pả", "Yên Viên"],
            "type": ["xa", "xa", "phuong", "phuong", "thitran"],
            "parent": ["d1", "d1", "d2", "d2", "d3"],
        }
    )
    ours = pd.DataFrame(
        {
            "name": ["Trực Hưng", "Truc Hung", "Sa Pả", "Sa Pa", "Yên Viên", "Sa Pa"],
            "type": ["", "", "", "", "xa", ""],
            "parent": ["d1", "d1", "d2", "d2", "d3", "d9"],
        }
    )
    code, how, candidates = match_names(ours, theirs)
    # Diacritics decide first: Trực Hưng is 2, and then "Truc Hung" can only be Trực Hùng.
    assert code[0] == "2" and how[0] == "exact"
    assert code[1] == "1" and how[1] == "folded"
    assert (code[2], code[3]) == ("4", "3")
    # A type that differs is no match; a district that differs is no match.
    assert how[4] == "unmatched" and how[5] == "unmatched"
    assert code[4] != code[4] and candidates[1] == ""


def test_ambiguous_and_duplicate_names_are_reported_never_imported() -> None:
    theirs = pd.DataFrame(
        {
            "code": ["1", "2", "3"],
            "name": ["Minh Quán", "Minh Quân", "Sa Pa"],
            "type": ["", "", ""],
            "parent": ["d", "d", "d"],
        }
    )
    ours = pd.DataFrame(
        {"name": ["Minh Quan", "Sa Pa", "SaPa"], "type": ["", "", ""], "parent": ["d", "d", "d"]}
    )
    code, how, candidates = match_names(ours, theirs)
    assert how[0] == "ambiguous" and candidates[0] == "1, 2" and code[0] != code[0]
    assert how[1] == how[2] == "duplicate" and code[1:].isna().all()


def test_the_layer_refines_the_legacy_set_in_place(refined_settings: Settings) -> None:
    legacy = BoundarySet.load("vn-legacy-districts", refined_settings)
    assert legacy.info.valid_from == date(2008, 8, 1) and legacy.id == "vn-legacy-districts"
    refined = legacy.frame[legacy.frame["geometry_source"].str.startswith("refinement")]
    assert set(refined["code"]) == {
        "00157",  # Nghĩa Đô
        "00169",  # Quan Hoa (GADM writes QuanHoa)
        "00006",  # Vĩnh Phúc
        "00007",  # Cống Vị (without diacritics: folded, the only one in Ba Đình)
        "03002",  # Sa Pả (Sa Pa and SaPa both claim 03001: neither imported)
        "00526",  # Thị trấn Yên Viên
        "00532",  # Xã Yên Viên (the type tells the two apart)
        "09097",  # Sao Đại Việt: Cao Đại, Việt Xuân and Bồ Sao merged into it
    }
    assert not legacy.frame["code"].duplicated().any()
    assert "Test ward layer" in legacy.info.attribution
    # No rival set: the sets are still the two built ones.
    context = load_context(refined_settings)
    assert sorted(b.id for b in context.sets) == ["vn-legacy-districts", "vn2025"]
    # Points outside the refined districts are still located in their district.
    elsewhere = legacy.locate(106.0, 21.2)
    assert elsewhere.status == "inside" and elsewhere.chain[0].level == "district"
    inside = legacy.locate(105.795, 21.045)  # north-west of the bridge: Nghĩa Đô
    assert [u.code for u in inside.chain] == ["00157", "005", "01"]


def test_every_feature_not_imported_is_listed_by_name(refined_settings: Settings) -> None:
    report = pd.read_csv(refined_settings.cache_dir / "not-imported.csv", dtype=str)
    wards = report[report["level"] == "ward"].set_index("name")
    assert wards.loc["Minh Quan", "status"] == "ambiguous"
    assert set(wards.loc["Minh Quan", "candidates"].split(", ")) == {"04516", "04567"}
    assert wards.loc["Sa Pa", "status"] == wards.loc["SaPa", "status"] == "duplicate"
    assert wards.loc["Không Có", "status"] == "unmatched"
    # Thừa Thiên Huế is Thành phố Huế now: matched by area; its unknown district is reported.
    assert "Thuận Hòa" in wards.index and wards.loc["Thuận Hòa", "status"] == "no_district"
    upper = report[report["level"] == "district"]
    assert "Huyện Không Rõ" in set(upper["name"])
    assert not (report["level"] == "province").any()


def test_t11_in_2024_gets_real_decisions_with_a_ward_layer(refined_settings: Settings) -> None:
    context = load_context(refined_settings)
    t11 = context.territory("hoa-do-phuc-vi")
    assert t11.mode == "exact" and t11.geometric
    zone_lon, zone_lat = _near_the_district_line(context.boundary_set("vn-legacy-districts"))
    incidents = pd.DataFrame(
        {
            "external_id": ["bridge", "inside", "zone"],
            "occurred_at": [datetime(2024, 5, 1, 10, tzinfo=VIETNAM_TZ)] * 3,
            "lon": [T11[0], 105.795, zone_lon],
            "lat": [T11[1], 21.045, zone_lat],
            "detected_by": ["00169", "00007", "00006"],
        }
    )
    result = assign(incidents, context.sets, context.territories)
    rows = result.clusters[result.clusters["cluster_id"] == "hoa-do-phuc-vi"].set_index(
        "external_id"
    )
    bridge = rows.loc["bridge"]
    # Where the four wards meet, the member that detected it first (Quan Hoa) leads.
    assert bridge["rule"] == "border_detector" and bridge["lead_unit"] == "00169"
    assert set(bridge["zone_units"]) == {"00157", "00169", "00006", "00007"}
    assert bridge["explanation_vi"].startswith("Vụ việc trên địa bàn Phường")
    # Deep inside Nghĩa Đô: Nghĩa Đô leads by territory, whoever detected it.
    assert rows.loc["inside", "rule"] == "territory" and rows.loc["inside", "lead_unit"] == "00157"
    # In the band along the Cầu Giấy – Ba Đình line: the detector (Vĩnh Phúc) leads.
    zone = rows.loc["zone"]
    assert zone["in_zone"] and zone["rule"] == "border_detector" and zone["lead_unit"] == "00006"


def test_a_ward_layer_leaves_the_hand_over_at_the_members_level(
    refined_settings: Settings,
) -> None:
    """With old ward polygons imported the finest unit holding a point is a ward: a district
    cluster (Gia Lâm) still hands an incident outside its members over to the police of the
    district holding it (it named the ward), a ward cluster (T11) to the ward's."""
    context = load_context(refined_settings)
    legacy = context.boundary_set("vn-legacy-districts")
    yen_vien = shapely.point_on_surface(legacy.geometry("00526"))
    incidents = pd.DataFrame(
        {
            "external_id": ["nghia-do", "yen-vien", "hai-ba-trung"],
            "occurred_at": [datetime(2024, 5, 1, 10, tzinfo=VIETNAM_TZ)] * 3,
            "lon": [105.795, yen_vien.x, 105.85],
            "lat": [21.045, yen_vien.y, 21.0],
            "detected_by": ["gia-lam", "00169", "00169"],
        }
    )
    rows = assign(incidents, context.sets, context.territories).clusters
    rows = rows[rows["rule"] == "outside_members"].set_index(["external_id", "cluster_id"])
    nghia_do = rows.loc[("nghia-do", "gia-lam")]
    assert nghia_do["lead_unit"] == "005"  # Quận Cầu Giấy, not Phường Nghĩa Đô (00157)
    assert nghia_do["explanation_vi"] == (
        "Vụ việc ngoài địa bàn các thành viên, thuộc Phường Nghĩa Đô (00157), Quận Cầu Giấy "
        "(005); thành viên Huyện Gia Lâm phát hiện và bàn giao cho Công an quận Cầu Giấy "
        "(005), công an cấp huyện nơi xảy ra. Cần xem xét lại."
    )
    assert rows.loc[("yen-vien", "hoa-do-phuc-vi"), "lead_unit"] == "00526"  # the ward
    # Where the layer has no ward, the district receives it, and the sentence says why.
    elsewhere = rows.loc[("hai-ba-trung", "hoa-do-phuc-vi")]
    assert elsewhere["lead_unit"] == "007"
    assert elsewhere["explanation_en"].endswith(
        "the district-level police where it occurred (boundary set vn-legacy-districts has no "
        "boundaries of wards and communes there). Review."
    )


def _near_the_district_line(legacy: BoundarySet) -> tuple[float, float]:
    """A point of Vĩnh Phúc about 50 m from the Cầu Giấy line, ~300 m north of the bridge."""
    from geozone.crs import project_geometries

    utm = np.array([32648, 32648])
    cau_giay, vinh_phuc = project_geometries(
        np.array([legacy.geometry("005"), legacy.geometry("00006")], dtype=object), utm
    )
    line = shapely.intersection(cau_giay.boundary, vinh_phuc.buffer(1).boundary.buffer(2))
    bridge = project_geometries(np.array([shapely.Point(*T11)], dtype=object), utm[:1])[0]
    on_line = line.interpolate(line.project(shapely.Point(bridge.x, bridge.y + 300)))
    around = shapely.Point(on_line.x, on_line.y).buffer(50).exterior
    for fraction in [i / 16 for i in range(16)]:
        point = around.interpolate(fraction, normalized=True)
        if vinh_phuc.contains(point) and cau_giay.distance(point) > 30:
            lonlat = gpd.GeoSeries([point], crs=32648).to_crs(4326).iloc[0]
            return float(lonlat.x), float(lonlat.y)
    raise AssertionError("no point of Vĩnh Phúc 50 m from the line")


def test_refining_twice_needs_replace(refined_settings: Settings, tmp_path: Path) -> None:
    legacy = BoundarySet.load("vn-legacy-districts", refined_settings)
    layer = write_ward_layer(tmp_path / "again.gpkg", legacy)
    with pytest.raises(BoundaryImportError, match="exists already"):
        refine_set(layer, FIELDS, legacy, refined_settings.boundary_cache, "gadm-wards")
