from __future__ import annotations

import math
from datetime import date
from pathlib import Path
from typing import Any

import geopandas as gpd
import pytest

from geozone.boundaries.sets import BoundarySet
from geozone.clusters.dates import ReportedDate
from geozone.clusters.files import (
    DEFAULT_CLUSTERS_DIR,
    load_cluster,
    load_clusters,
    validate_cluster,
)
from geozone.clusters.model import DEFAULT_ZONE_WIDTH_M
from geozone.errors import ClusterDefinitionError, MemberNameMismatchError, UnknownMemberError
from geozone.text import nfc
from tests.fixtures.clusters import grid_cluster

COMMITTED = {
    "can-tho-an-giang",
    "gia-lam",
    "hoa-do-phuc-vi",
    "song-cau-quy-nhon",
    "viet-tri-vinh-tuong-lap-thach",
}


def write_cluster(folder: Path, cluster_id: str, body: str) -> Path:
    path = folder / f"{cluster_id}.toml"
    path.write_text(body, encoding="utf-8")
    return path


HEADER = """
id = "{id}"
name = "Cụm thử"
name_en = "Test"
boundary_set = "vn-legacy-districts"
level = "ward"
"""


# -- the model, on the grid --------------------------------------------------------------------


def test_grid_cluster_validates_with_type_words_and_case(grid: BoundarySet) -> None:
    check = validate_cluster(grid_cluster(), grid)
    assert [c.checked_code for c in check.members] == ["00001", "00002", "00004", "00005", None]
    assert check.province_codes == ("01",)
    assert check.substitutions == ()
    assert check.members[-1].kind == "organisation"


def test_members_on_applies_admission_and_period() -> None:
    cluster = grid_cluster()
    assert [m.id for m in cluster.members_on(date(2021, 1, 1))] == ["o1", "o2", "o4", "cty"]
    assert [m.id for m in cluster.members_on(date(2021, 6, 1))] == ["o1", "o2", "o4", "o5", "cty"]
    assert cluster.members_on(date(2019, 12, 31)) == ()
    assert [m.id for m in cluster.territorial_members(date(2022, 1, 1))] == ["o1", "o2", "o4", "o5"]
    assert cluster.territory_codes(date(2022, 1, 1)) == ("00001", "00002", "00004", "00005")


def test_member_leaving_and_period_end() -> None:
    members = [
        {"id": "o1", "kind": "unit", "unit_code": "00001", "name": "Ô 1", "left": date(2021, 1, 1)},
        {"id": "o2", "kind": "unit", "unit_code": "00002", "name": "Ô 2"},
    ]
    cluster = grid_cluster(
        members=members, events=[], period={"start": date(2020, 1, 1), "end": date(2022, 12, 31)}
    )
    assert [m.id for m in cluster.members_on(date(2020, 12, 31))] == ["o1", "o2"]
    assert [m.id for m in cluster.members_on(date(2021, 1, 1))] == ["o2"]
    assert cluster.members_on(date(2023, 1, 1)) == ()


def test_unknown_code_is_rejected_naming_the_member(grid: BoundarySet) -> None:
    members = [
        {"id": "o1", "kind": "unit", "unit_code": "00001", "name": "Ô 1"},
        {"id": "ghost", "kind": "unit", "unit_code": "00010", "name": "Ô 10"},
    ]
    with pytest.raises(
        UnknownMemberError, match=r"'ghost' \(Ô 10\): unit_code 00010 is not in grid"
    ):
        validate_cluster(grid_cluster(members=members, events=[]), grid)


def test_code_of_another_level_is_rejected(grid: BoundarySet) -> None:
    members = [{"id": "d1", "kind": "unit", "unit_code": "001", "name": "Một"}]
    with pytest.raises(UnknownMemberError, match=r"001 is Quận Một, a district, but .* ward level"):
        validate_cluster(grid_cluster(members=members, events=[]), grid)


def test_name_code_mismatch_names_both(grid: BoundarySet) -> None:
    members = [{"id": "o4", "kind": "unit", "unit_code": "00004", "name": "Ô 5"}]
    with pytest.raises(
        MemberNameMismatchError, match=r"'o4': code 00004 is Phường Ô 4 in grid, but .* 'Ô 5'"
    ):
        validate_cluster(grid_cluster(members=members, events=[]), grid)


def test_wrong_boundary_set_is_rejected(grid: BoundarySet) -> None:
    with pytest.raises(
        ClusterDefinitionError, match="defined in boundary set 'vn2025', not 'grid'"
    ):
        validate_cluster(grid_cluster(boundary_set="vn2025"), grid)


def test_historical_member_is_checked_through_merged_into(grid: BoundarySet) -> None:
    members = [
        {"id": "o5", "kind": "unit", "unit_code": "00005", "name": "Ô 5"},
        {
            "id": "old",
            "kind": "unit",
            "name": "Xã Cũ",
            "unit_code": "00099",
            "historical": True,
            "merged_into": "00005",
        },
    ]
    cluster = grid_cluster(members=members, events=[])
    check = validate_cluster(cluster, grid)
    (sub,) = check.substitutions
    assert sub.member_id == "old" and sub.checked_code == "00005" and sub.unit_code == "00099"
    assert "merged into Phường Ô 5 (00005)" in str(sub.note)
    assert cluster.territory_codes(date(2024, 1, 1)) == ("00005",)

    bad = [{"id": "x", "kind": "unit", "name": "Xã Cũ", "historical": True, "merged_into": "00077"}]
    with pytest.raises(UnknownMemberError, match=r"'x' .*merged_into 00077 is not in grid"):
        validate_cluster(grid_cluster(members=bad, events=[]), grid)

    still = [
        {
            "id": "o4",
            "kind": "unit",
            "name": "Ô 4",
            "unit_code": "00004",
            "historical": True,
            "merged_into": "00005",
        }
    ]
    with pytest.raises(
        MemberNameMismatchError, match="marked historical, but 00004 still names Ô 4"
    ):
        validate_cluster(grid_cluster(members=still, events=[]), grid)


@pytest.mark.parametrize(
    ("member", "message"),
    [
        ({"id": "a", "kind": "unit", "name": "Ô 1"}, "give its unit_code"),
        ({"id": "a", "kind": "unit", "name": "Ô 1", "unit_code": 1}, "quoted string"),
        ({"id": "a", "kind": "unit", "name": "Ô 1", "unit_code": "1a"}, "not a GSO code"),
        ({"id": "a", "kind": "organisation", "name": "C", "unit_code": "00001"}, "organisation"),
        ({"id": "a", "kind": "unit", "name": "Ô 1", "historical": True}, "give merged_into"),
        (
            {"id": "a", "kind": "unit", "name": "Ô", "unit_code": "00001", "merged_into": "00002"},
            "not marked historical",
        ),
        ({"id": "A B", "kind": "unit", "name": "Ô 1", "unit_code": "00001"}, "pattern"),
        (
            {
                "id": "a",
                "kind": "unit",
                "name": "Ô 1",
                "unit_code": "00001",
                "joined": date(2021, 1, 1),
                "left": date(2020, 1, 1),
            },
            "leaves",
        ),
    ],
)
def test_member_schema_errors(member: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        grid_cluster(members=[member], events=[])


def test_cluster_level_checks() -> None:
    dup = [
        {"id": "a", "kind": "unit", "name": "Ô 1", "unit_code": "00001"},
        {"id": "a", "kind": "unit", "name": "Ô 2", "unit_code": "00002"},
    ]
    with pytest.raises(ValueError, match="duplicate member ids: a"):
        grid_cluster(members=dup, events=[])
    with pytest.raises(ValueError, match="unknown problems"):
        grid_cluster(problems=["jaywalking"])
    wrong_date = [{"date": date(2021, 7, 1), "kind": "admitted", "text": "x", "members": ["o5"]}]
    with pytest.raises(ValueError, match="lists member 'o5', whose joined is 2021-06-01"):
        grid_cluster(events=wrong_date)
    with pytest.raises(ValueError, match="no member 'zz'"):
        grid_cluster(events=[{"date": "2021", "kind": "review", "text": "x", "members": ["zz"]}])


def test_zone_width_defaults_by_level() -> None:
    assert grid_cluster().effective_zone_width_m == DEFAULT_ZONE_WIDTH_M["ward"] == 200.0
    assert grid_cluster(zone_width_m=350).effective_zone_width_m == 350.0
    assert grid_cluster(level="district").effective_zone_width_m == 1_000.0
    assert grid_cluster(level="province").effective_zone_width_m == 3_000.0


def test_names_are_nfc() -> None:
    decomposed = "Ô 1".replace("Ô", "O\u0302")
    members = [{"id": "a", "kind": "unit", "name": decomposed, "unit_code": "00001"}]
    assert grid_cluster(members=members, events=[]).members[0].name == "Ô 1"


# -- partial dates and hotspots ----------------------------------------------------------------


def test_reported_date_forms() -> None:
    assert ReportedDate.model_validate(date(2018, 1, 24)).exact == date(2018, 1, 24)
    no_year = ReportedDate.model_validate("--06-16")
    assert (no_year.year, no_year.month, no_year.day, no_year.exact) == (None, 6, 16, None)
    assert no_year.earliest is None and str(no_year) == "--06-16 (year unknown)"
    bounded = ReportedDate.model_validate(
        {"month": 6, "day": 16, "not_before": "2008-09-01", "not_after": "2021-03-01"}
    )
    assert bounded.earliest == date(2009, 6, 16)
    assert bounded.latest == date(2020, 6, 16)
    year = ReportedDate.model_validate("2017")
    assert (year.earliest, year.latest) == (date(2017, 1, 1), date(2017, 12, 31))
    assert ReportedDate.model_validate("2024-02").latest == date(2024, 2, 29)
    for bad in ("--02-30", "16/6", "2019-13"):
        with pytest.raises(ValueError):
            ReportedDate.model_validate(bad)
    with pytest.raises(ValueError, match="contradicts"):
        ReportedDate.model_validate({"year": 2005, "not_after": "2004-01-01"})


def test_hotspot_point_and_polygon() -> None:
    point = {"name": "Cầu", "point": [105.8064, 21.0387], "radius_m": 150}
    cluster = grid_cluster(hotspots=[point])
    area = gpd.GeoSeries([cluster.hotspots[0].area()], crs=4326).to_crs(32648).area.iloc[0]
    assert area == pytest.approx(math.pi * 150**2, rel=0.01)
    wkt = "POLYGON ((105.80 21.03, 105.81 21.03, 105.81 21.04, 105.80 21.03))"
    assert grid_cluster(hotspots=[{"name": "Khu", "polygon": wkt}]).hotspots[0].geometry().area > 0
    geojson = {
        "type": "Polygon",
        "coordinates": [[[105.8, 21.03], [105.81, 21.03], [105.81, 21.04], [105.8, 21.03]]],
    }
    assert (
        grid_cluster(hotspots=[{"name": "Khu", "polygon": geojson}]).hotspots[0].geometry().is_valid
    )
    with pytest.raises(ValueError, match="a point needs radius_m"):
        grid_cluster(hotspots=[{"name": "Cầu", "point": [105.8, 21.0]}])
    with pytest.raises(ValueError, match="either point"):
        grid_cluster(
            hotspots=[{"name": "Cầu", "point": [105.8, 21.0], "radius_m": 5, "polygon": wkt}]
        )
    with pytest.raises(ValueError, match="lon/lat"):
        grid_cluster(
            hotspots=[
                {
                    "name": "Khu",
                    "polygon": "POLYGON ((583000 2324000, 584000 2324000, 584000 2325000, "
                    "583000 2324000))",
                }
            ]
        )


# -- files ------------------------------------------------------------------------------------


def test_file_errors_name_file_field_and_member(tmp_path: Path) -> None:
    path = write_cluster(
        tmp_path,
        "bad",
        HEADER.format(id="bad")
        + '[[members]]\nid = "quan-hoa"\nkind = "unit"\nname = "Quan Hoa"\n',
    )
    with pytest.raises(
        ClusterDefinitionError, match=r"bad\.toml: members\[0\] \(id 'quan-hoa'\): .*unit_code"
    ):
        load_cluster(path)
    path = write_cluster(
        tmp_path,
        "num",
        HEADER.format(id="num")
        + '[[members]]\nid = "q"\nkind = "unit"\nname = "Q"\nunit_code = 169\n',
    )
    with pytest.raises(
        ClusterDefinitionError, match=r"members\[0\] \(id 'q'\)\.unit_code: .*quoted string"
    ):
        load_cluster(path)
    misnamed = write_cluster(
        tmp_path,
        "other",
        HEADER.format(id="renamed")
        + '[[members]]\nid = "q"\nkind = "unit"\nname = "Q"\nunit_code = "00169"\n',
    )
    with pytest.raises(ClusterDefinitionError, match=r"must be named renamed\.toml"):
        load_cluster(misnamed)
    broken = write_cluster(tmp_path, "broken", "id = \n")
    with pytest.raises(ClusterDefinitionError, match=r"broken\.toml: not valid TOML"):
        load_cluster(broken)
    with pytest.raises(ClusterDefinitionError, match="does not exist"):
        load_cluster(tmp_path / "none.toml")
    with pytest.raises(ClusterDefinitionError, match="does not exist"):
        load_clusters(tmp_path / "nowhere")


def test_committed_clusters_load_and_match_the_reports() -> None:
    clusters = load_clusters()
    assert set(clusters) == COMMITTED
    assert {p.stem for p in DEFAULT_CLUSTERS_DIR.glob("*.toml")} == COMMITTED
    for cluster in clusters.values():
        assert cluster.boundary_set == "vn-legacy-districts"
        assert cluster.source is not None
        report = Path(__file__).resolve().parents[3] / "shared" / "seeds" / cluster.source.report
        if report.is_file():
            text = nfc(report.read_text(encoding="utf-8"))
            assert cluster.source.quote in text, cluster.id
            for figure in cluster.reported_figures:
                assert figure.quote in text, figure.key

    gia_lam = clusters["gia-lam"]
    assert gia_lam.level == "district" and len(gia_lam.members) == 8
    assert gia_lam.period.start is not None and gia_lam.period.start.year is None
    assert (gia_lam.period.start.month, gia_lam.period.start.day) == (6, 16)
    assert gia_lam.effective_zone_width_m == 1_000.0

    song_cau = clusters["song-cau-quy-nhon"]
    figures = {f.key: f for f in song_cau.reported_figures}
    assert figures["tips_verified_jointly"].value == 100
    assert figures["tips_verified_jointly"].qualifier == "more_than"
    assert (
        figures["border_area_criminal_cases_solved"].value,
        figures["border_area_criminal_cases_solved"].of,
    ) == (31, 35)
    assert (
        figures["criminal_cases_investigated_jointly"].value,
        figures["subjects_arrested"].value,
    ) == (24, 7)
    assert (figures["collectives_commended"].value, figures["individuals_commended"].value) == (
        4,
        10,
    )

    can_tho = clusters["can-tho-an-giang"]
    assert can_tho.level == "province" and can_tho.regulation is not None
    assert str(can_tho.regulation.signed) == "--03-19 (year unknown)"
    assert any("trước khi báo cáo lên cấp trên" in p.vi for p in can_tho.regulation.provisions)

    hoa = clusters["hoa-do-phuc-vi"]
    assert [c.vi.split()[0] for c in hoa.lead_rule] == ["Vụ", "Vụ"]
    assert "phát hiện trước sẽ chủ trì" in hoa.lead_rule[1].vi
    (t11,) = hoa.hotspots
    assert t11.point == (105.8064, 21.0387) and t11.radius_m == 150
    assert hoa.members_on(date(2024, 12, 31)) and hoa.members_on(date(2025, 1, 1)) == ()
    assert set(hoa.problems) == {
        "drugs",
        "prostitution",
        "theft",
        "pavement_encroachment",
        "sanitation",
    }


def test_viet_tri_membership_over_time() -> None:
    cluster = load_clusters()["viet-tri-vinh-tuong-lap-thach"]
    (company,) = cluster.organisations
    assert company.name == "Công ty cổ phần VLXD Bồ Sao" and company.territory_code is None
    before = {m.id for m in cluster.members_on(date(2019, 1, 1))}
    after = {m.id for m in cluster.members_on(date(2019, 6, 1))}
    # The 2019 review agreed to admit Sông Lô, with no date reported: planned, never active.
    assert after == before and "song-lo" not in after
    assert [m.id for m in cluster.planned_members] == ["song-lo"]
    assert [e.kind for e in cluster.events if "song-lo" in e.members] == ["agreed_to_admit"]
    assert "cong-ty-vlxd-bo-sao" in before
    assert cluster.members_on(date(2018, 1, 23)) == ()
    # Cao Đại, Việt Xuân and Bồ Sao all hold the territory of Sao Đại Việt (09097).
    assert cluster.territory_codes(date(2019, 6, 1)) == (
        "09097",
        "08866",
        "07912",
        "07909",
        "07906",
    )
    figures = {f.key: f.value for f in cluster.reported_figures}
    assert figures == {
        "criminal_cases": 15,
        "criminal_subjects": 19,
        "administrative_violations": 46,
        "administrative_violation_subjects": 63,
        "meetings": 24,
        "loudspeaker_broadcasts": 425,
    }


# -- against the real legacy set ----------------------------------------------------------------


@pytest.mark.realdata
def test_committed_clusters_validate_against_legacy(legacy: BoundarySet) -> None:
    for cluster in load_clusters().values():
        check = validate_cluster(cluster, legacy)
        assert len(check.members) == len(cluster.members)


@pytest.mark.realdata
def test_gia_lam_has_eight_district_units_in_three_provinces(legacy: BoundarySet) -> None:
    check = validate_cluster(load_clusters()["gia-lam"], legacy)
    assert sum(c.kind == "unit" for c in check.members) == 8
    assert set(check.province_codes) == {"01", "33", "27"}  # Hà Nội, Hưng Yên, Bắc Ninh
    names = {c.checked_code: c.full_name for c in check.members}
    assert names["261"] == "Thành phố Từ Sơn"  # "thị xã Từ Sơn" in the report
    assert all(c.has_geometry for c in check.members)


@pytest.mark.realdata
def test_viet_tri_substitutes_merged_communes(legacy: BoundarySet) -> None:
    check = validate_cluster(load_clusters()["viet-tri-vinh-tuong-lap-thach"], legacy)
    subs = {c.member_id: (c.checked_code, c.full_name) for c in check.substitutions}
    assert subs == {
        "cao-dai": ("09097", "Xã Sao Đại Việt"),
        "viet-xuan": ("09097", "Xã Sao Đại Việt"),
        "bo-sao": ("09097", "Xã Sao Đại Việt"),
        "ben-got": ("07906", "Phường Thọ Sơn"),
    }
    assert set(check.province_codes) == {"26", "25"}  # Vĩnh Phúc, Phú Thọ
    # The legacy set lists wards in its register only: validation needs no geometry.
    assert len(check.without_geometry) == 8


@pytest.mark.realdata
def test_real_unknown_member_and_mismatch_are_rejected(legacy: BoundarySet, tmp_path: Path) -> None:
    body = HEADER.format(id="real-bad") + (
        '[[members]]\nid = "quan-hoa"\nkind = "unit"\nname = "Quan Hoa"\nunit_code = "00169"\n'
        '[[members]]\nid = "ma"\nkind = "unit"\nname = "Phường Ma"\nunit_code = "99999"\n'
    )
    cluster = load_cluster(write_cluster(tmp_path, "real-bad", body))
    with pytest.raises(
        UnknownMemberError,
        match=r"'ma' \(Phường Ma\): unit_code 99999 is not in vn-legacy-districts",
    ):
        validate_cluster(cluster, legacy)
    # 00160 was old Nghĩa Tân; old Nghĩa Đô is 00157.
    body = HEADER.format(id="real-mismatch") + (
        '[[members]]\nid = "nghia-do"\nkind = "unit"\nname = "Nghĩa Đô"\nunit_code = "00160"\n'
    )
    cluster = load_cluster(write_cluster(tmp_path, "real-mismatch", body))
    with pytest.raises(
        MemberNameMismatchError, match=r"code 00160 is Phường Nghĩa Tân .* 'Nghĩa Đô'"
    ):
        validate_cluster(cluster, legacy)


def test_a_period_says_which_days_its_reported_dates_cannot_place() -> None:
    """A start not known to the day leaves the days it may follow uncertain, not certain."""
    from geozone.clusters.dates import Period

    exact = Period.model_validate(
        {"start": "2023-05-26", "end": {"year": 2024, "month": 12, "day": 31, "inferred": True}}
    )
    assert not any(exact.uncertain_on(d) for d in (date(2023, 5, 26), date(2024, 12, 31)))
    bounded = Period.model_validate(
        {"start": {"month": 6, "day": 16, "not_before": "2008-09-24", "not_after": "2021-06-16"}}
    )
    assert bounded.contains(date(2009, 6, 16)) and not bounded.contains(date(2009, 6, 15))
    assert bounded.uncertain_on(date(2009, 6, 16)) and bounded.uncertain_on(date(2021, 6, 15))
    assert not bounded.uncertain_on(date(2021, 6, 16))
    by = Period.model_validate({"start": {"not_after": "2017-12-31"}})
    assert by.uncertain_on(date(2017, 12, 30)) and not by.uncertain_on(date(2017, 12, 31))
    yearless = Period.model_validate({"start": "--03-19"})
    assert yearless.uncertain_on(date(2030, 1, 1))  # no year: never known to have begun
    ended = Period.model_validate({"start": "2010-01-01", "end": "2020"})
    assert not ended.uncertain_on(date(2019, 12, 31)) and ended.uncertain_on(date(2020, 1, 2))
    assert not Period().uncertain_on(date(2020, 1, 1))  # open both ways: nothing reported
