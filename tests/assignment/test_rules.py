"""The rule table, and every rule's sentence in both languages from real data, whole.

The sentences below were read and checked by hand against the regulation and the map; a
change of wording must change them here too (and changes the rules version, so stored
decisions are recomputed).
"""

from __future__ import annotations

import re
import string
from datetime import date, datetime
from typing import get_args

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from geozone.assignment import ClusterTerritory, assign, rules, territories
from geozone.assignment.reference import judge
from geozone.boundaries.sets import BoundarySet
from geozone.clusters.files import load_clusters
from geozone.text import format_number
from geozone.vntime import VIETNAM_TZ
from tests.fixtures.clusters import HAND_OVERS, T11_CONFIRMED, HandOver, grid_cluster

#: Words that would betray English inside a Vietnamese sentence.
ENGLISH = re.compile(r"\b(the|and|of|in|by|review|leads?|member|zone|detected)\b", re.I)


def test_the_rule_name_type_lists_the_table_in_order() -> None:
    # The Literal the API documents (OpenAPI enum) is the table's names, in the table's order.
    assert get_args(rules.RuleName) == rules.RULE_NAMES


def test_every_template_uses_named_parameters_only() -> None:
    for rule in rules.RULES:
        assert rule.parameters() <= set(rules.PARAMETERS), rule.name
        for template in (rule.vi, rule.en):
            fields = [f for _, f, spec, _ in string.Formatter().parse(template) if f is not None]
            assert all(f.isidentifier() for f in fields), (rule.name, fields)  # no {0}, no {}


def test_vietnamese_templates_and_clauses_hold_no_english() -> None:
    for rule in rules.RULES:
        text = string.Formatter().vformat(rule.vi, (), dict.fromkeys(rule.parameters(), ""))
        assert not ENGLISH.search(text), (rule.name, ENGLISH.search(text))
        assert rule.label_vi and not ENGLISH.search(rule.label_vi)
    for key, texts in rules.CLAUSES.items():
        assert not ENGLISH.search(texts["vi"].replace("geozone clusters confirm", "")), key


def test_the_rules_version_follows_the_table_content(monkeypatch: pytest.MonkeyPatch) -> None:
    before = rules._content()
    assert all(rule.vi in before and rule.en in before for rule in rules.RULES)
    assert rules.RULES_VERSION.startswith("rules-")
    changed = rules.RULES[0].__class__(**{**rules.RULES[0].__dict__, "vi": "Khác."})
    monkeypatch.setattr(rules, "RULES", (changed, *rules.RULES[1:]))
    assert rules._content() != before


def test_rules_are_tried_in_table_order_on_arrays_and_scalars() -> None:
    facts = rules.Facts(
        lapsed=np.array([False, False, False, False, False, True]),
        unresolved=np.array([True, False, False, False, False, True]),
        held=np.array([False, False, True, True, True, True]),
        in_unit=np.array([True, False, True, True, True, True]),
        boundary=np.array([False, False, False, False, True, True]),
        in_zone=np.array([False, False, False, True, True, True]),
        territorial_detector=np.array([False, True, False, True, False, True]),
        detector_on_line=np.array([False, False, False, False, False, False]),
        organisation_detector=np.array([False, False, False, False, False, False]),
        detector_known=np.array([True, True, True, True, False, True]),
    )
    chosen = [rules.RULE_NAMES[i] for i in rules.choose(facts)]
    assert chosen == [
        "no_member_geometry",
        "outside_every_unit",
        "territory",
        "border_detector",
        "on_boundary",
        "no_decision",  # a lapsed cluster decides nothing, whatever else holds
    ]
    one = rules.Facts(*(np.bool_(v[3]) for v in facts.__dict__.values()))
    assert rules.RULE_NAMES[rules.choose(one)] == "border_detector"


# -- every rule in both languages, from real data --------------------------------------------


@pytest.fixture(scope="module")
def placed(vn2025: BoundarySet, legacy: BoundarySet) -> dict[str, ClusterTerritory]:
    clusters = load_clusters()
    found = territories(
        [clusters["hoa-do-phuc-vi"], clusters["viet-tri-vinh-tuong-lap-thach"]],
        [legacy, vn2025],
        carry_into=vn2025,
        confirmations=T11_CONFIRMED,
    )
    return {t.cluster.id: t for t in found}


def _near_line(
    territory: ClusterTerritory, member: str, side: str, low_m: float, high_m: float
) -> tuple[float, float]:
    """A point of ``member`` on ``side`` of the zone, ``low_m`` to ``high_m`` from its lines."""
    from geozone.crs import project_geometries

    epsg = np.array([territory.epsg])
    sides = territory.sides
    old = sides.polygons[sides.codes.index(side)]
    unit, old_m = project_geometries(
        np.array([territory.bset.geometry(member), old], dtype=object), np.repeat(epsg, 2)
    )
    lines = shapely.union_all(territory.lines.geometry.to_numpy())
    band = shapely.difference(shapely.buffer(lines, high_m), shapely.buffer(lines, low_m))
    spot = shapely.intersection(shapely.intersection(band, unit), old_m)
    point = shapely.point_on_surface(spot)
    lonlat = gpd.GeoSeries([point], crs=territory.epsg).to_crs(4326).iloc[0]
    return float(lonlat.x), float(lonlat.y)


def _judge(
    placed: dict[str, ClusterTerritory],
    sets: list[BoundarySet],
    cluster_id: str,
    day: date,
    lon: float,
    lat: float,
    detected_by: str | None,
) -> pd.Series:
    incidents = pd.DataFrame(
        {
            "external_id": ["x"],
            "occurred_at": [datetime(day.year, day.month, day.day, 21, tzinfo=VIETNAM_TZ)],
            "lon": [lon],
            "lat": [lat],
            "detected_by": [detected_by],
        }
    )
    rows = assign(incidents, sets, list(placed.values())).clusters
    (row,) = rows[rows["cluster_id"] == cluster_id].itertuples(index=False)
    return pd.Series(row._asdict())


AFTER = date(2025, 8, 1)
T11 = "hoa-do-phuc-vi-vn2025"
CONFIRMED_VI = " Cụm chuyển sang các đơn vị hành chính mới đã được xác nhận áp dụng từ 01/07/2025."
CONFIRMED_EN = " The carried cluster was confirmed to apply from 2025-07-01."


@pytest.mark.realdata
def test_every_rule_worded_whole_in_both_languages(
    placed: dict[str, ClusterTerritory], vn2025: BoundarySet, legacy: BoundarySet
) -> None:
    sets = [legacy, vn2025]
    t11 = placed[T11]

    def judge(cluster: str, day: date, lon: float, lat: float, by: str | None) -> pd.Series:
        return _judge(placed, sets, cluster, day, lon, lat, by)

    seen = set()

    def check(row: pd.Series, rule: str, vi: str, en: str) -> None:
        assert row["rule"] == rule
        assert row["explanation_vi"] == vi
        assert row["explanation_en"] == en
        seen.add(rule)

    sides = t11.sides
    cau_giay, ba_dinh = sides.names[sides.codes.index("005")], sides.names[sides.codes.index("001")]
    assert cau_giay == "Quận Cầu Giấy (Quan Hoa, Nghĩa Đô)"
    assert ba_dinh == "Quận Ba Đình (Cống Vị, Vĩnh Phúc)"
    basis_vi = (
        " Chưa có ranh giới phường, xã cũ: vùng giáp ranh 200 m được suy ra dọc ranh giới cũ "
        f"giữa {cau_giay} và {ba_dinh} trong phạm vi 1.000 m quanh Cầu T11, theo danh sách "
        "chuyển đổi chính thức."
    )
    basis_en = (
        " Old ward boundaries are missing: the 200 m border zone is derived along the old "
        f"boundary between {cau_giay} and {ba_dinh} within 1,000 m of Cầu T11, from the "
        "official correspondence."
    )
    # territory: Ngọc Hà on the old Ba Đình side, 400 to 600 m from the old line
    row = judge(T11, AFTER, *_near_line(t11, "00008", "001", 400, 600), "00025")
    m_vi = format_number(round(row["distance_m"]), "vi")
    m_en = format_number(round(row["distance_m"]), "en")
    check(
        row,
        "territory",
        f"Vụ việc trên địa bàn Phường Ngọc Hà, cách ranh giới cũ giữa {ba_dinh} và {cau_giay} "
        f"{m_vi} m, ngoài vùng giáp ranh 200 m: Phường Ngọc Hà chủ trì theo địa bàn (nguyên tắc "
        "1); các đơn vị khác phối hợp khi được yêu cầu." + basis_vi + CONFIRMED_VI,
        f"In Phường Ngọc Hà, {m_en} m from the old boundary between {ba_dinh} and {cau_giay}, "
        "outside the 200 m border zone: Phường Ngọc Hà leads by territory (rule 1); the other "
        "members assist if asked." + basis_en + CONFIRMED_EN,
    )
    # border_detector: the T11 bridge, detected by Nghĩa Đô, a member on the old line there
    row = judge(T11, AFTER, 105.8064, 21.0387, "00160")
    zone = "Phường Ngọc Hà – Phường Giảng Võ – Phường Nghĩa Đô"
    check(
        row,
        "border_detector",
        f"Vụ việc trên địa bàn Phường Nghĩa Đô, trong vùng giáp ranh 200 m ({zone}), cách ranh "
        f"giới cũ giữa {cau_giay} và {ba_dinh} 4 m; Phường Nghĩa Đô phát hiện trước nên chủ trì "
        "(nguyên tắc 2); Phường Ngọc Hà, Phường Giảng Võ phối hợp." + basis_vi + CONFIRMED_VI,
        f"In Phường Nghĩa Đô, in the 200 m border zone ({zone}), 4 m from the old boundary "
        f"between {cau_giay} and {ba_dinh}; Phường Nghĩa Đô detected it first and leads (rule "
        "2); cooperating: Phường Ngọc Hà, Phường Giảng Võ." + basis_en + CONFIRMED_EN,
    )
    # on_boundary: the same point, no detector: never a stray number at the end
    row = judge(T11, AFTER, 105.8064, 21.0387, None)
    # On the boundary between the two wards the old line runs between there (the new line
    # is 4 m away), not Giảng Võ, 196 m away in the zone, which cooperates.
    on_line = "Phường Ngọc Hà – Phường Nghĩa Đô"
    assert row["zone_kind"] == "pair"  # two sides, the old districts
    check(
        row,
        "on_boundary",
        f"Vụ việc nằm trên ranh giới giữa {on_line} (trong dung sai 10 m); không đơn vị nào "
        "trong số này phát hiện trước nên Phường Nghĩa Đô (gần nhất) tạm chủ trì; Phường Ngọc "
        "Hà, Phường Giảng Võ phối hợp. Cần xem xét lại." + basis_vi + CONFIRMED_VI,
        f"On the boundary between {on_line} (within the 10 m tolerance); none of them detected "
        "it first, so Phường Nghĩa Đô, the nearest, leads for now; cooperating: Phường Ngọc Hà, "
        "Phường Giảng Võ. Review." + basis_en + CONFIRMED_EN,
    )
    # border_unknown_detector and border_non_member_detector: Ngọc Hà, 40 to 80 m from the line
    lon, lat = _near_line(t11, "00008", "001", 40, 80)
    row = judge(T11, AFTER, lon, lat, None)
    m_vi = format_number(round(row["distance_m"]), "vi")
    m_en = format_number(round(row["distance_m"]), "en")
    pair = " – ".join(t11.unit_name(c) for c in row["zone_units"])
    assert set(row["zone_units"]) >= {"00008"} and len(row["zone_units"]) >= 2
    coop_vi = ", ".join(t11.unit_name(c) for c in row["cooperating"])
    check(
        row,
        "border_unknown_detector",
        f"Vụ việc trên địa bàn Phường Ngọc Hà, trong vùng giáp ranh 200 m ({pair}), cách ranh "
        f"giới cũ giữa {ba_dinh} và {cau_giay} {m_vi} m; chưa rõ đơn vị phát hiện trước nên "
        f"Phường Ngọc Hà (nơi xảy ra) tạm chủ trì; {coop_vi} phối hợp. Cần xem xét lại."
        + basis_vi
        + CONFIRMED_VI,
        f"In Phường Ngọc Hà, in the 200 m border zone ({pair}), {m_en} m from the old boundary "
        f"between {ba_dinh} and {cau_giay}; the unit that detected it is unknown, so Phường "
        f"Ngọc Hà, which holds the point, leads until confirmed; cooperating: {coop_vi}. "
        "Review." + basis_en + CONFIRMED_EN,
    )
    row = judge(T11, AFTER, lon, lat, "Công an phường Láng")
    check(
        row,
        "border_non_member_detector",
        f"Vụ việc trên địa bàn Phường Ngọc Hà, trong vùng giáp ranh 200 m ({pair}), cách ranh "
        f"giới cũ giữa {ba_dinh} và {cau_giay} {m_vi} m; «Công an phường Láng» phát hiện nhưng "
        f"không phải thành viên của cụm nên Phường Ngọc Hà (nơi xảy ra) chủ trì; {coop_vi} "
        "phối hợp. Cần xem xét lại." + basis_vi + CONFIRMED_VI,
        f"In Phường Ngọc Hà, in the 200 m border zone ({pair}), {m_en} m from the old boundary "
        f"between {ba_dinh} and {cau_giay}; it was detected by «Công an phường Láng», which is "
        f"not a member, so Phường Ngọc Hà, which holds the point, leads; cooperating: "
        f"{coop_vi}. Review." + basis_en + CONFIRMED_EN,
    )
    # outside_members and outside_every_unit: detected by a member, outside its territory
    row = judge(T11, AFTER, 105.85, 21.00, "00160")
    check(
        row,
        "outside_members",
        "Vụ việc ngoài địa bàn các thành viên, thuộc Phường Bạch Mai (00292); thành viên "
        "Phường Nghĩa Đô phát hiện và bàn giao cho Công an phường Bạch Mai (00292), công an "
        "cấp xã nơi xảy ra. Cần xem xét lại." + CONFIRMED_VI,
        "Outside every member's territory, in Phường Bạch Mai (00292); member Phường Nghĩa Đô "
        "detected it and hands it over to the police of Phường Bạch Mai (00292), the "
        "commune-level police where it occurred. Review." + CONFIRMED_EN,
    )
    row = judge(T11, AFTER, 107.5, 20.0, "00160")
    check(
        row,
        "outside_every_unit",
        "Vụ việc ngoài địa bàn các thành viên và ngoài mọi đơn vị hành chính có ranh giới trong "
        "bộ vn2025 (trên biển, ngoài biên giới hoặc nơi chưa có ranh giới); thành viên Phường "
        "Nghĩa Đô phát hiện, cần xác định đơn vị có thẩm quyền. Cần xem xét lại." + CONFIRMED_VI,
        "Outside every member's territory and outside every unit with boundaries in set vn2025 "
        "(at sea, abroad or where no boundary is known); member Phường Nghĩa Đô detected it; "
        "the competent unit must be found. Review." + CONFIRMED_EN,
    )
    # no_member_geometry: the bridge in 2024, the legacy set has no ward polygons
    row = judge("hoa-do-phuc-vi", date(2024, 5, 1), 105.8064, 21.0387, "00169")
    members = "Phường Quan Hoa, Phường Nghĩa Đô, Phường Cống Vị, Phường Vĩnh Phúc"
    check(
        row,
        "no_member_geometry",
        f"Vụ việc thuộc Quận Cầu Giấy (005); Phường Quan Hoa phát hiện; cụm đang có hiệu lực "
        f"nhưng bộ ranh giới vn-legacy-districts không có ranh giới của {members}, nên chưa xác "
        "định được vụ việc thuộc địa bàn thành viên nào hay thuộc vùng giáp ranh, chưa xác định "
        "được đơn vị chủ trì. Cần nhập lớp ranh giới phường, xã cũ (geozone data import … "
        "--register vn-legacy-districts). Cần xem xét lại.",
        f"In Quận Cầu Giấy (005); detected by Phường Quan Hoa; the cluster is in force but "
        f"boundary set vn-legacy-districts has no boundaries for {members}, so it cannot be "
        "told which member's territory holds the incident or whether it is in the border zone, "
        "and no lead unit can be given. Import a layer of the old wards and communes (geozone "
        "data import … --register vn-legacy-districts). Review.",
    )
    assert row["lead_unit"] is None and row["review"]
    # border_organisation_detector: the company of the Việt Trì cluster, carried (a proposal)
    viet_tri = placed["viet-tri-vinh-tuong-lap-thach-vn2025"]
    vt_sides = viet_tri.sides
    assert vt_sides.basis == "derived" and len(vt_sides.codes) == 3
    city = next(c for c, n in zip(vt_sides.codes, vt_sides.names, strict=True) if "Việt Trì" in n)
    lon, lat = _near_line(viet_tri, "07909", city, 40, 80)
    row = judge(viet_tri.cluster.id, AFTER, lon, lat, "cong-ty-vlxd-bo-sao")
    m_vi = format_number(round(row["distance_m"]), "vi")
    m_en = format_number(round(row["distance_m"]), "en")
    own = vt_sides.names[vt_sides.codes.index(city)]
    names_vi = {viet_tri.unit_name(c) for c in row["zone_units"]}
    assert "Phường Thanh Miếu" in names_vi and len(names_vi) >= 2
    zone_vi = " – ".join(viet_tri.unit_name(c) for c in row["zone_units"])
    coop = ", ".join(viet_tri.unit_name(c) for c in row["cooperating"])
    across = row["explanation_en"].split(f" m from the old boundary between {own} and ")[1]
    across = across.split(";")[0]
    assert across in vt_sides.names and across != own
    company = "Công ty cổ phần VLXD Bồ Sao"
    check(
        row,
        "border_organisation_detector",
        f"Vụ việc trên địa bàn Phường Thanh Miếu, trong vùng giáp ranh 200 m ({zone_vi}), cách "
        f"ranh giới cũ giữa {own} và {across} {m_vi} m; {company} (thành viên không quản lý địa "
        f"bàn) phát hiện nên Phường Thanh Miếu (nơi xảy ra) chủ trì; {coop} phối hợp. Cần xem "
        "xét lại. Quy chế của cụm không quy định đơn vị chủ trì; áp dụng nguyên tắc mặc định. "
        "Chưa có ranh giới phường, xã cũ: vùng giáp ranh 200 m được suy ra dọc ranh giới cũ "
        f"giữa {' và '.join(vt_sides.names)}, theo danh sách chuyển đổi chính thức. Cụm được "
        "chuyển sang các đơn vị hành chính áp dụng từ 01/07/2025 nhưng chưa được xác nhận: "
        "quyết định này là đề xuất, cần xác nhận.",
        f"In Phường Thanh Miếu, in the 200 m border zone ({zone_vi}), {m_en} m from the old "
        f"boundary between {own} and {across}; it was detected by {company}, a member without "
        f"territory, so Phường Thanh Miếu, which holds the point, leads; cooperating: {coop}. "
        "Review. The cluster's regulation states no lead rule; the default rule is applied. Old "
        "ward boundaries are missing: the 200 m border zone is derived along the old boundary "
        f"between {' and '.join(vt_sides.names)}, from the official correspondence. The "
        "cluster was carried into the units in force from 2025-07-01 but is not confirmed: "
        "this decision is a proposal to be confirmed.",
    )
    # no_decision: T11's carried form, unconfirmed, is lapsed (the original ended in 2024):
    # the point at the bridge gets a row that says so, never silence.
    unconfirmed = {
        t.cluster.id: t
        for t in territories(
            [load_clusters()["hoa-do-phuc-vi"]], [legacy, vn2025], carry_into=vn2025
        )
    }
    row = _judge(unconfirmed, sets, T11, AFTER, 105.8064, 21.0387, "00160")
    check(
        row,
        "no_decision",
        "Vụ việc thuộc Phường Nghĩa Đô; Phường Nghĩa Đô phát hiện. Không có quyết định chủ trì: "
        "Cụm liên kết Hoa - Đô - Phúc - Vị đảm bảo an ninh trật tự khu vực giáp ranh cầu T11 "
        "(hoa-do-phuc-vi) kết thúc ngày 31/12/2024 (suy đoán), trước khi sắp xếp đơn vị hành "
        "chính; dạng chuyển sang đơn vị mới (hoa-do-phuc-vi-vn2025) chưa được xác nhận nên "
        "không áp dụng (xác nhận bằng: geozone clusters confirm hoa-do-phuc-vi-vn2025 --from "
        "NGÀY). Cần xem xét lại.",
        "In Phường Nghĩa Đô; detected by Phường Nghĩa Đô. No lead decision: Hoa–Đô–Phúc–Vị "
        "cluster for security and order in the T11 bridge border area (hoa-do-phuc-vi) ended "
        "on 2024-12-31 (inferred), before the reorganisation of units; its carried form "
        "(hoa-do-phuc-vi-vn2025) is not confirmed and does not apply (confirm it with: geozone "
        "clusters confirm hoa-do-phuc-vi-vn2025 --from DATE). Review.",
    )
    assert row["lead_unit"] is None and row["review"] and not row["in_zone"]
    assert row["member_code"] == "00160" and row["cooperating"] == []
    # The same lapsed cluster, a point in China detected by a member: outside every unit.
    abroad = _judge(unconfirmed, sets, T11, AFTER, 105.32, 23.40, "00160")
    assert abroad["rule"] == "no_decision" and abroad["lead_unit"] is None
    assert abroad["explanation_vi"].startswith(
        "Vụ việc ở ngoài mọi đơn vị hành chính của Việt Nam có ranh giới trong bộ vn2025 (trên "
        "biển, ngoài biên giới hoặc nơi chưa có ranh giới); Phường Nghĩa Đô phát hiện. Không "
        "có quyết định chủ trì: Cụm liên kết Hoa - Đô - Phúc - Vị đảm bảo an ninh trật tự khu "
        "vực giáp ranh cầu T11 (hoa-do-phuc-vi) kết thúc ngày 31/12/2024"
    )
    assert abroad["explanation_en"].startswith(
        "Outside every administrative unit of Vietnam with boundaries in set vn2025 (at sea, "
        "abroad or where no boundary is known); detected by Phường Nghĩa Đô. No lead decision"
    )
    assert seen == set(rules.RULE_NAMES)


# -- the hand-over level (rule outside_members) ------------------------------------------------


@pytest.fixture(scope="module")
def every_cluster(vn2025: BoundarySet, legacy: BoundarySet) -> dict[str, ClusterTerritory]:
    """The five clusters and their carried forms, T11's confirmed."""
    found = territories(
        list(load_clusters().values()),
        [legacy, vn2025],
        carry_into=vn2025,
        confirmations=T11_CONFIRMED,
    )
    return {t.cluster.id: t for t in found}


@pytest.mark.realdata
@pytest.mark.parametrize("case", HAND_OVERS, ids=lambda c: f"{c.cluster}-{c.day}-{c.unit}")
def test_an_incident_outside_the_members_goes_to_the_unit_at_the_members_level(
    every_cluster: dict[str, ClusterTerritory],
    vn2025: BoundarySet,
    legacy: BoundarySet,
    case: HandOver,
) -> None:
    """An outside audit's case: a point in Kiên Giang just outside both members of the
    Cần Thơ – An Giang cluster (provinces) was handed over to Huyện Giồng Riềng, a district;
    a province's police hands over to the province's. The engine and the plain reference
    agree on each known answer."""
    day = date.fromisoformat(case.day)
    row = _judge(
        every_cluster, [legacy, vn2025], case.cluster, day, case.lon, case.lat, case.detected_by
    )
    assert row["rule"] == case.rule
    assert row["lead_unit"] == case.lead_unit
    territory = every_cluster[case.cluster]
    bset = territory.bset
    location = bset.locate(case.lon, case.lat, tolerance_m=10.0)
    assert location.chain[0].code == case.unit
    reference = judge(territory, location, day, case.detected_by, 10.0)
    assert reference is not None and reference.lead_unit == case.lead_unit
    assert reference.rule == case.rule
    if case.rule != "outside_members":
        return
    assert row["member_code"] is None and row["review"]
    receiver = territory.unit_name(case.lead_unit)
    police = "Công an " + receiver[:1].lower() + receiver[1:]
    assert f"bàn giao cho {police}, công an cấp " in row["explanation_vi"]
    assert f"hands it over to the police of {receiver}, the " in row["explanation_en"]
    # The place is the finest unit holding the point, then its parents up to the receiver.
    place = territory.unit_name(case.unit)
    if case.unit != case.lead_unit:
        place += ", " + receiver
    assert f", thuộc {place}; " in row["explanation_vi"]
    assert f", in {place}; " in row["explanation_en"]


@pytest.mark.realdata
def test_the_kien_giang_hand_over_worded_whole(
    every_cluster: dict[str, ClusterTerritory], vn2025: BoundarySet, legacy: BoundarySet
) -> None:
    row = _judge(
        every_cluster,
        [legacy, vn2025],
        "can-tho-an-giang",
        date(2024, 5, 1),
        105.3881,
        10.0326,
        "CATP Cần Thơ",
    )
    period_vi = (
        " Thời gian áp dụng của cụm chỉ biết là từ ngày 19/03 của một năm không rõ: chưa chắc "
        "cụm đã áp dụng vào ngày này, cần xem xét."
    )
    period_en = (
        " The cluster's period is known only as from 19/03 of an unknown year: it may not have "
        "applied on this day; review."
    )
    assert row["explanation_vi"] == (
        "Vụ việc ngoài địa bàn các thành viên, thuộc Huyện Giồng Riềng (906), Tỉnh Kiên Giang "
        "(91); thành viên Thành phố Cần Thơ phát hiện và bàn giao cho Công an tỉnh Kiên Giang "
        "(91), công an cấp tỉnh nơi xảy ra. Cần xem xét lại." + period_vi
    )
    assert row["explanation_en"] == (
        "Outside every member's territory, in Huyện Giồng Riềng (906), Tỉnh Kiên Giang (91); "
        "member Thành phố Cần Thơ detected it and hands it over to the police of Tỉnh Kiên "
        "Giang (91), the province-level police where it occurred. Review." + period_en
    )
    assert row["lead_unit"] == "91" and row["cooperating"] == ["92"]


@pytest.mark.realdata
def test_a_level_the_set_lacks_there_goes_to_the_unit_above_and_says_so(
    every_cluster: dict[str, ClusterTerritory], vn2025: BoundarySet, legacy: BoundarySet
) -> None:
    """The T11 wards in 2024: the legacy set has no ward geometry, so Quận Hai Bà Trưng's
    police receives an incident in it, never a ward the set cannot place the point in."""
    row = _judge(
        every_cluster,
        [legacy, vn2025],
        "hoa-do-phuc-vi",
        date(2024, 5, 1),
        105.85,
        21.0,
        "00169",
    )
    assert row["lead_unit"] == "007"
    assert row["explanation_vi"] == (
        "Vụ việc ngoài địa bàn các thành viên, thuộc Quận Hai Bà Trưng (007); thành viên "
        "Phường Quan Hoa phát hiện và bàn giao cho Công an quận Hai Bà Trưng (007), công an cấp "
        "huyện nơi xảy ra (bộ ranh giới vn-legacy-districts không có ranh giới phường, xã tại "
        "đây). Cần xem xét lại."
    )
    assert row["explanation_en"] == (
        "Outside every member's territory, in Quận Hai Bà Trưng (007); member Phường Quan Hoa "
        "detected it and hands it over to the police of Quận Hai Bà Trưng (007), the "
        "district-level police where it occurred (boundary set vn-legacy-districts has no "
        "boundaries of wards and communes there). Review."
    )


def test_the_hand_over_level_is_the_detector_s_else_the_territorial_members(
    grid: BoundarySet,
) -> None:
    """A territorial member hands over at its own level; a member without territory (a
    company) and a detector that is no member at the territorial members' level, the
    coarsest when they differ (clusters are validated at one level: a mixed one is made
    here by hand, to pin the rule)."""
    territory = ClusterTerritory(grid_cluster(), grid)
    company = territory.table.index["cty"]
    assert territory.table.organisation[company]
    members = len(territory.table.codes)
    assert [territory.hand_over_level(k) for k in range(members)] == ["ward"] * members
    assert territory.hand_over_level() == "ward"  # no member
    base = grid_cluster()
    district = base.members[0].model_copy(update={"id": "q2", "unit_code": "002"})
    mixed = ClusterTerritory(base.model_copy(update={"members": [*base.members, district]}), grid)
    assert mixed.hand_over_level(mixed.table.index["00001"]) == "ward"
    assert mixed.hand_over_level(mixed.table.index["002"]) == "district"
    assert mixed.hand_over_level(mixed.table.index["cty"]) == "district"
    assert mixed.hand_over_level() == "district"
