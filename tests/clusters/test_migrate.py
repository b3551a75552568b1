from __future__ import annotations

import subprocess
import sys
from datetime import date
from typing import Any

import geopandas as gpd
import pandas as pd
import pytest
import shapely

from geozone.boundaries.correspondence import Correspondence, load_onflow_correspondence
from geozone.boundaries.sets import BoundarySet, SetInfo
from geozone.clusters.files import load_clusters, validate_cluster
from geozone.clusters.migrate import migrate_cluster
from geozone.clusters.model import Cluster
from geozone.clusters.successors import (
    BASIS_AREAL,
    BASIS_PROVINCE,
    BASIS_SOLE,
    BASIS_SPLIT,
    BASIS_WHOLE,
)
from geozone.errors import MigrationError
from tests.fixtures.grid import GRID_INFO, GRID_ORIGIN, grid_units, unit_record

# The "new" grid: the old 3 km × 3 km square re-cut into four units (metres from the origin):
#   A x 0-1500, B x 1500-2004, C x 2004-3000, each y 0-2920; T the top strip y 2920-3000.
# Old district 001 is x 0-2000, 002 is x 2000-3000 (full height).
NEW_CUTS = {
    "00011": ("Tây", (0, 0, 1500, 2920)),
    "00012": ("Giữa", (1500, 0, 2004, 2920)),
    "00013": ("Đông", (2004, 0, 3000, 2920)),
    "00014": ("Bắc", (0, 2920, 3000, 3000)),
}
NEW_INFO = SetInfo(
    id="grid-new",
    title="Test grid re-cut",
    valid_from=date(2025, 7, 1),
    valid_to=None,
    licence="CC0",
    attribution="geozone test grid",
    attribution_en="geozone test grid",
)
OLD_INFO = SetInfo(
    id="grid",
    title=GRID_INFO.title,
    valid_from=GRID_INFO.valid_from,
    valid_to=date(2025, 6, 30),
    licence="CC0",
    attribution="geozone test grid",
    attribution_en="geozone test grid",
)


@pytest.fixture(scope="module")
def old_grid() -> BoundarySet:
    return BoundarySet.from_units(OLD_INFO, grid_units())


@pytest.fixture(scope="module")
def new_grid() -> BoundarySet:
    x0, y0 = GRID_ORIGIN
    rows = [unit_record(code, name, "Phường", "ward", "01") for code, (name, _) in NEW_CUTS.items()]
    geoms = [shapely.box(x0 + a, y0 + b, x0 + c, y0 + d) for _, (a, b, c, d) in NEW_CUTS.values()]
    rows.append(unit_record("01", "Thử", "Tỉnh", "province", None))
    geoms.append(shapely.union_all(geoms))
    return BoundarySet.from_units(NEW_INFO, gpd.GeoDataFrame(rows, geometry=geoms, crs=32648))


@pytest.fixture(scope="module")
def register_only_grid() -> BoundarySet:
    """The old grid with its wards in the register only (like the real legacy set)."""
    units = grid_units()
    units.loc[units["level"] == "ward", "geometry"] = None
    return BoundarySet.from_units(OLD_INFO, units)


def cluster(level: str, members: list[tuple[str, str]], **extra: Any) -> Cluster:
    return Cluster.model_validate(
        {
            "id": "thu",
            "name": "Cụm thử",
            "name_en": "Test",
            "boundary_set": "grid",
            "level": level,
            "period": {"start": date(2020, 1, 1)},
            "members": [
                {"id": f"m{code}", "kind": "unit", "unit_code": code, "name": name}
                for code, name in members
            ]
            + extra.pop("more", []),
            **extra,
        }
    )


def shares(migration: Any) -> dict[tuple[str, str], tuple[float | None, float | None]]:
    return {(r.old_code, r.new_code): (r.share_of_old, r.share_of_new) for r in migration.rows}


# -- areal overlay on the grid --------------------------------------------------------------


def test_district_overlay_shares_are_exact(old_grid: BoundarySet, new_grid: BoundarySet) -> None:
    migration = migrate_cluster(
        cluster("district", [("001", "Một"), ("002", "Hai")]), old_grid, new_grid
    )
    got = shares(migration)
    b_area, t_area = 504 * 2920, 3000 * 80
    expected = {
        ("001", "00011"): (1500 * 2920 / 6e6, 1.0),
        ("001", "00012"): (500 * 2920 / 6e6, 500 * 2920 / b_area),
        ("001", "00014"): (2000 * 80 / 6e6, 2000 * 80 / t_area),
        ("002", "00013"): (996 * 2920 / 3e6, 1.0),
        ("002", "00014"): (1000 * 80 / 3e6, 1000 * 80 / t_area),
    }
    assert set(got) == set(expected)
    for key, (old, new) in expected.items():
        assert got[key][0] == pytest.approx(old, rel=1e-6), key
        assert got[key][1] == pytest.approx(new, rel=1e-6), key
    # 002 → B is 4 m × 2920 m: 0.39% of 002 and 0.79% of B, a sliver, dropped and reported.
    (sliver,) = migration.dropped
    assert (sliver.member_id, sliver.new_code) == ("m002", "00012")
    assert sliver.area_km2 == pytest.approx(4 * 2920 / 1e6, rel=1e-6)
    assert migration.coverage["m002"] == pytest.approx(1.0, rel=1e-9)
    rows = {(r.old_code, r.new_code): r for r in migration.rows}
    assert rows[("001", "00011")].default and not rows[("001", "00012")].default
    assert all(r.split and r.basis == BASIS_AREAL for r in migration.rows)
    # T took 2.7% of 002 and that is a third of T: partial. From 001 it is two thirds of T.
    assert rows[("002", "00014")].partial and not rows[("001", "00014")].partial
    assert migration.target_level == "ward" and migration.as_of == date(2025, 6, 30)
    assert migration.new_codes() == ("00011", "00012", "00013", "00014")
    top = migration.new_member("00014")
    assert top.from_members == ("m001", "m002") and not top.partial
    assert top.share_of_new == pytest.approx(1.0, rel=1e-6)


def test_ward_overlay_whole_and_partial(old_grid: BoundarySet, new_grid: BoundarySet) -> None:
    migration = migrate_cluster(
        cluster("ward", [("00004", "Ô 4"), ("00007", "Ô 7")]), old_grid, new_grid
    )
    (whole,) = migration.successors("m00004")
    assert (whole.new_code, whole.split, whole.default, whole.partial) == (
        "00011",
        False,
        True,
        False,
    )
    assert whole.share_of_old == pytest.approx(1.0)
    assert whole.share_of_new == pytest.approx(1e6 / (1500 * 2920), rel=1e-6)
    main, strip = migration.successors("m00007")
    assert (main.new_code, main.share_of_old, main.default) == ("00011", pytest.approx(0.92), True)
    assert (strip.new_code, strip.share_of_old, strip.partial) == (
        "00014",
        pytest.approx(0.08),
        True,
    )
    assert strip.share_of_new == pytest.approx(80_000 / 240_000)
    assert [(m.code, m.partial) for m in migration.new_members] == [
        ("00011", False),
        ("00014", True),
    ]


def test_to_cluster_carries_organisations_and_validates(
    old_grid: BoundarySet, new_grid: BoundarySet
) -> None:
    company = {"id": "cty", "kind": "organisation", "name": "Công ty Thử"}
    original = cluster(
        "ward",
        [("00004", "Ô 4"), ("00007", "Ô 7")],
        more=[company],
        hotspots=[{"name": "Ngã tư", "point": [105.8, 21.03], "radius_m": 100}],
    )
    migration = migrate_cluster(original, old_grid, new_grid)
    carried = migration.to_cluster()
    assert carried.id == "thu-grid-new" and carried.boundary_set == "grid-new"
    assert carried.carried_from == "thu" and carried.name == "Cụm thử (đơn vị 2025)"
    # The original's names are kept: sentences name it by them (its id in brackets).
    assert (carried.carried_from_name, carried.carried_from_name_en) == ("Cụm thử", "Test")
    assert [(m.unit_code, m.partial) for m in carried.members if m.kind == "unit"] == [
        ("00011", False),
        ("00014", True),
    ]
    # Organisations stay members, joining the carried form on the day it applies from.
    assert carried.organisations == tuple(
        m.model_copy(update={"joined": date(2025, 7, 1)}) for m in original.organisations
    )
    assert carried.hotspots == original.hotspots
    assert carried.effective_zone_width_m == 200.0
    assert [m.id for m in carried.members_on(date(2025, 7, 1))] == ["tay-00011", "bac-00014", "cty"]
    validate_cluster(carried, new_grid)
    core = migration.to_cluster(include_partial=False)
    assert [m.unit_code for m in core.members if m.kind == "unit"] == ["00011"]


def test_membership_as_of(old_grid: BoundarySet, new_grid: BoundarySet) -> None:
    late = {
        "id": "late",
        "kind": "unit",
        "unit_code": "00006",
        "name": "Ô 6",
        "joined": date(2024, 1, 1),
    }
    original = cluster("ward", [("00004", "Ô 4")], more=[late])
    assert {r.member_id for r in migrate_cluster(original, old_grid, new_grid).rows} == {
        "m00004",
        "late",
    }
    early = migrate_cluster(original, old_grid, new_grid, as_of=date(2023, 1, 1))
    assert {r.member_id for r in early.rows} == {"m00004"}
    with pytest.raises(MigrationError, match="no territorial members on 2019-01-01"):
        migrate_cluster(original, old_grid, new_grid, as_of=date(2019, 1, 1))


# -- correspondence path on a register-only grid ------------------------------------------------


def grid_correspondence() -> Correspondence:
    pairs = pd.DataFrame(
        [
            ("00004", "001", "00011", True),
            ("00005", "001", "00011", True),
            ("00005", "001", "00012", False),
            ("00007", "001", "00011", True),
            ("00007", "001", "00014", False),
            ("00006", "002", "00013", True),
            ("00006", "002", "00014", False),
        ],
        columns=["old_code", "old_district_code", "new_code", "is_default"],
    )
    return Correspondence.from_pairs(pairs, aliases={"00006": ("xacu",)}, source="test table")


def test_correspondence_path(register_only_grid: BoundarySet, new_grid: BoundarySet) -> None:
    old = {
        "id": "cu",
        "kind": "unit",
        "name": "Xã Cũ",
        "unit_code": "00098",
        "historical": True,
        "merged_into": "00006",
    }
    other = {
        "id": "khac",
        "kind": "unit",
        "name": "Xã Khác",
        "historical": True,
        "merged_into": "00006",
    }
    original = cluster("ward", [("00004", "Ô 4"), ("00005", "Ô 5")], more=[old, other])
    migration = migrate_cluster(
        original, register_only_grid, new_grid, correspondence=grid_correspondence()
    )
    rows = {(r.member_id, r.new_code): r for r in migration.rows}
    whole = rows[("m00004", "00011")]
    assert (whole.share_of_old, whole.split, whole.default, whole.basis) == (
        1.0,
        False,
        True,
        BASIS_WHOLE,
    )
    # 00005 is one of three old wards of district 001 in A: no estimate; it alone gave B its
    # part of 001, so B's overlap with 001 is that piece.
    into_a, into_b = rows[("m00005", "00011")], rows[("m00005", "00012")]
    assert (into_a.share_of_old, into_a.share_of_new, into_a.basis) == (None, None, BASIS_SPLIT)
    assert into_a.default and not into_a.partial
    # B came almost wholly (500 of 504 km²-units) from 00005: a full successor, not partial.
    assert into_b.basis == BASIS_SOLE and not into_b.partial and into_b.share_of_old is None
    assert into_b.area_km2 == pytest.approx(500 * 2920 / 1e6, rel=1e-6)
    assert into_b.share_of_new == pytest.approx(500 / 504, rel=1e-6)
    # Historical members go through merged_into and get no estimate of their own.
    cu = migration.successors("cu")
    # No share is known for their split: nothing is asserted, neither successor is partial.
    assert [(r.via_code, r.old_code, r.new_code, r.partial) for r in cu] == [
        ("00006", "00098", "00013", False),
        ("00006", "00098", "00014", False),
    ]
    assert all(r.share_of_new is None and r.old_name == "Xã Cũ" for r in cu)
    assert any("Xã Cũ (00098): listed as merged into 00006" in n for n in migration.notes)
    assert any("Xã Khác (old code not given): NOT listed" in n for n in migration.notes)
    assert migration.correspondence_source == "test table"
    assert [(m.code, m.partial) for m in migration.new_members] == [
        ("00011", False),
        ("00012", False),
        ("00013", False),
        ("00014", False),
    ]


def test_correspondence_errors(register_only_grid: BoundarySet, new_grid: BoundarySet) -> None:
    original = cluster("ward", [("00004", "Ô 4"), ("00009", "Ô 9")])
    with pytest.raises(MigrationError, match="no old→new correspondence between grid and grid-new"):
        migrate_cluster(original, register_only_grid, new_grid)
    with pytest.raises(MigrationError, match=r"no successor in test table for m00009 \(00009\)"):
        migrate_cluster(
            original, register_only_grid, new_grid, correspondence=grid_correspondence()
        )
    districts = cluster("district", [("001", "Một")])
    units = grid_units()
    units.loc[units["level"] != "province", "geometry"] = None
    bare = BoundarySet.from_units(OLD_INFO, units)
    with pytest.raises(MigrationError, match=r"no geometry in grid for m001 \(001\)"):
        migrate_cluster(districts, bare, new_grid)


# -- the real sets ------------------------------------------------------------------------------


def test_onflow_is_read_without_importing_the_package() -> None:
    code = (
        "import sys; "
        "from geozone.boundaries.correspondence import load_onflow_correspondence as load; "
        "c = load(); "
        "assert 'onflow_location_platform' not in sys.modules; print(len(c.pairs))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "10597"  # 10,602 pairs less the 5 island districts


def test_onflow_correspondence_facts() -> None:
    corr = load_onflow_correspondence()
    pairs = corr.pairs.set_index(["old_code", "new_code"])
    assert (
        pairs.loc[("00169", "00160"), "is_default"]
        and pairs.loc[("00169", "00160"), "kind"] == "split"
    )
    assert not pairs.loc[("00169", "00166"), "is_default"]
    assert set(corr.pairs.loc[corr.pairs["old_code"] == "00157", "new_code"]) == {
        "00160",
        "00008",
        "00103",
    }
    assert pairs.loc[("00006", "00008"), "kind"] == "whole"
    assert {"xabosao", "xacaodai", "xavietxuan"} <= set(corr.aliases["09097"])
    assert corr.provinces["89"] == "91" and corr.provinces["26"] == "25"
    assert corr.pairs.groupby("old_code")["is_default"].sum().eq(1).all()


@pytest.mark.realdata
def test_hoa_do_phuc_vi_into_2025_wards(legacy: BoundarySet, vn2025: BoundarySet) -> None:
    migration = migrate_cluster(load_clusters()["hoa-do-phuc-vi"], legacy, vn2025)
    assert migration.as_of == date(2024, 12, 31)
    members = {m.code: m for m in migration.new_members}
    assert {"00160", "00008", "00025", "00166"} <= set(members)
    assert members["00160"].full_name == "Phường Nghĩa Đô" and not members["00160"].partial
    assert members["00008"].full_name == "Phường Ngọc Hà" and not members["00008"].partial
    # Giảng Võ takes about half of Cống Vị and Cầu Giấy part of Quan Hoa (Resolution 1656);
    # without old ward polygons their shares are unknown, and an unknown share is not
    # called partial.
    assert members["00025"].full_name == "Phường Giảng Võ" and not members["00025"].partial
    assert members["00166"].full_name == "Phường Cầu Giấy" and not members["00166"].partial
    assert members["00025"].share_of_new is None and members["00166"].share_of_new is None
    # Old Nghĩa Đô (00157) also went partly to Tây Hồ: kept, flagged partial, with the piece
    # estimated from Tây Hồ's overlap with old quận Cầu Giấy (≈0.47 km², ≈4.5% of Tây Hồ).
    assert members["00103"].partial and members["00103"].from_members == ("nghia-do",)
    (tay_ho,) = [r for r in migration.successors("nghia-do") if r.new_code == "00103"]
    assert tay_ho.basis == BASIS_SOLE and 0.3 < (tay_ho.area_km2 or 0) < 0.7
    assert set(members) == {"00160", "00008", "00025", "00166", "00103"}
    (vinh_phuc,) = migration.successors("vinh-phuc")
    assert (vinh_phuc.new_code, vinh_phuc.share_of_old, vinh_phuc.split) == ("00008", 1.0, False)
    quan_hoa = {r.new_code: r for r in migration.successors("quan-hoa")}
    assert quan_hoa["00160"].default and not quan_hoa["00166"].partial
    assert quan_hoa["00166"].share_of_old is None and quan_hoa["00166"].basis == BASIS_SPLIT
    assert migration.touched == () and migration.carry_status() == "lapsed"
    carried = migration.to_cluster()
    validate_cluster(carried, vn2025)
    assert carried.hotspots[0].name == "Cầu T11" and len(carried.lead_rule) == 2


@pytest.mark.realdata
def test_gia_lam_district_shares_sum_to_one(legacy: BoundarySet, vn2025: BoundarySet) -> None:
    migration = migrate_cluster(load_clusters()["gia-lam"], legacy, vn2025)
    frame = migration.to_frame()
    touched = pd.DataFrame([t.__dict__ for t in migration.touched])
    # Each district's official successors take nearly all of it; the rest is slivers the
    # overlay reaches (touched, never members), and together they cover the district.
    successors = frame.groupby("member_id")["share_of_old"].sum()
    slivers = touched.groupby("member_id")["share_of_old"].sum()
    assert len(successors) == 8 and successors.between(0.96, 1.0).all(), successors
    assert (successors + slivers).between(0.98, 1.02).all()
    assert touched["share_of_old"].max() < 0.02
    main = frame[frame["default"]].set_index("member_id")["new_name"]
    assert main["gia-lam"] == "Xã Phù Đổng" and main["long-bien"] == "Phường Long Biên"
    assert main["tu-son"] == "Phường Từ Sơn"
    validate_cluster(migration.to_cluster(), vn2025)


@pytest.mark.realdata
def test_gia_lam_members_follow_the_official_list(legacy: BoundarySet, vn2025: BoundarySet) -> None:
    """Membership is the wards the districts' old wards went into, never an overlay sliver."""
    correspondence = load_onflow_correspondence()
    migration = migrate_cluster(load_clusters()["gia-lam"], legacy, vn2025)
    districts = ["018", "004", "017", "326", "325", "261", "260", "262"]
    official = set(
        correspondence.pairs.loc[
            correspondence.pairs["old_district_code"].isin(districts), "new_code"
        ]
    )
    members = {m.code for m in migration.new_members}
    assert members == official and len(members) == 37
    # The slivers the issue named are touched, not members.
    sliver_names = {"Phường Lĩnh Nam", "Phường Phú Thượng", "Phường Thượng Cát"}
    sliver_names |= {"Phường Đông Ngạc", "Phường Hạp Lĩnh", "Xã Hoàn Long", "Phường Mỹ Hào"}
    touched = {t.new_name for t in migration.touched}
    assert sliver_names <= touched
    assert not sliver_names & {m.full_name for m in migration.new_members}
    # A minor successor on every known share is partial: Mê Linh took ~1 % of its area.
    by_code = {m.code: m for m in migration.new_members}
    assert by_code["09022"].partial and not by_code["00541"].partial
    coast = migrate_cluster(load_clusters()["song-cau-quy-nhon"], legacy, vn2025)
    assert "Xã Tuy An Bắc" not in {m.full_name for m in coast.new_members}
    assert "Xã Tuy An Bắc" in {t.new_name for t in coast.touched}


@pytest.mark.realdata
def test_viet_tri_historical_members_and_company(legacy: BoundarySet, vn2025: BoundarySet) -> None:
    original = load_clusters()["viet-tri-vinh-tuong-lap-thach"]
    migration = migrate_cluster(original, legacy, vn2025)
    assert {r.member_id: r.new_code for r in migration.rows} == {
        "cao-dai": "09106",
        "viet-xuan": "09106",
        "bo-sao": "09106",
        "son-dong": "08866",
        "bach-hac": "07909",
        "thanh-mieu": "07909",
        "ben-got": "07909",
    }
    assert all(r.share_of_old == 1.0 and not r.split for r in migration.rows)
    assert [m.id for m in migration.organisations] == ["cong-ty-vlxd-bo-sao"]
    assert sum("listed as merged into" in n for n in migration.notes) == 4
    carried = migration.to_cluster()
    assert {m.unit_code for m in carried.members if m.kind == "unit"} == {"09106", "08866", "07909"}
    validate_cluster(carried, vn2025)
    # Sông Lô's admission was agreed without a date: planned, never carried as a member.
    assert migration.to_dict()["planned_members"] == ["song-lo"]
    assert migration.carry_status() == "proposed"


@pytest.mark.realdata
def test_provinces_and_districts_across_the_reform(
    legacy: BoundarySet, vn2025: BoundarySet
) -> None:
    clusters = load_clusters()
    provinces = migrate_cluster(clusters["can-tho-an-giang"], legacy, vn2025)
    assert provinces.target_level == "province"
    assert {(r.old_code, r.new_code) for r in provinces.rows} == {("92", "92"), ("89", "91")}
    assert all((r.share_of_old or 0) > 0.99 for r in provinces.rows)
    assert all(r.basis == BASIS_PROVINCE and not r.partial for r in provinces.rows)
    coast = migrate_cluster(clusters["song-cau-quy-nhon"], legacy, vn2025)
    assert {vn2025.get(m.code).province_code for m in coast.new_members} == {"52", "66"}
    for c in (provinces, coast):
        validate_cluster(c.to_cluster(), vn2025)


def test_member_outside_every_new_unit_is_reported(old_grid: BoundarySet) -> None:
    x0, y0 = GRID_ORIGIN
    far = gpd.GeoDataFrame(
        [
            unit_record("00021", "Xa", "Phường", "ward", "01"),
            unit_record("01", "Thử", "Tỉnh", "province", None),
        ],
        geometry=[shapely.box(x0 + 9e3, y0, x0 + 1e4, y0 + 1e3)] * 2,
        crs=32648,
    )
    elsewhere = BoundarySet.from_units(NEW_INFO, far)
    with pytest.raises(MigrationError, match="no unit of grid-new succeeds m00004"):
        migrate_cluster(cluster("ward", [("00004", "Ô 4")]), old_grid, elsewhere)
