"""The rule table, and every rule's sentence in both languages from real data, whole.

The sentences below were read and checked by hand against the regulation and the map; a
change of wording must change them here too (and changes the rules version, so stored
decisions are recomputed).
"""

from __future__ import annotations

import re
import string
from datetime import date, datetime

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from geozone import rules
from geozone.assign import ClusterTerritory, assign, territories
from geozone.boundaries import BoundarySet
from geozone.clusters import load_clusters
from geozone.incidents import VIETNAM_TZ
from geozone.text import format_number
from tests.conftest import T11_CONFIRMED

#: Words that would betray English inside a Vietnamese sentence.
ENGLISH = re.compile(r"\b(the|and|of|in|by|review|leads?|member|zone|detected)\b", re.I)


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
        unresolved=np.array([True, False, False, False, False]),
        held=np.array([False, False, True, True, True]),
        in_unit=np.array([True, False, True, True, True]),
        boundary=np.array([False, False, False, False, True]),
        in_zone=np.array([False, False, False, True, True]),
        territorial_detector=np.array([False, True, False, True, False]),
        detector_on_line=np.array([False, False, False, False, False]),
        organisation_detector=np.array([False, False, False, False, False]),
        detector_known=np.array([True, True, True, True, False]),
    )
    chosen = [rules.RULE_NAMES[i] for i in rules.choose(facts)]
    assert chosen == [
        "no_member_geometry",
        "outside_every_unit",
        "territory",
        "border_detector",
        "on_boundary",
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


def _inside(territory: ClusterTerritory, code: str, away_m: float) -> tuple[float, float]:
    """A point of unit ``code`` farther than ``away_m`` from every shared line of the cluster."""
    from geozone.crs import project_geometries

    epsg = territory.epsg
    unit = project_geometries(np.array([territory.bset.geometry(code)]), np.array([epsg]))[0]
    lines = shapely.union_all(territory.lines.geometry.to_numpy())
    core = shapely.difference(unit, shapely.buffer(lines, away_m))
    point = shapely.point_on_surface(core)
    lonlat = gpd.GeoSeries([point], crs=epsg).to_crs(4326).iloc[0]
    return float(lonlat.x), float(lonlat.y)


def _in_pair_zone(territory: ClusterTerritory, code: str, other: str) -> tuple[float, float]:
    """A point of ``code`` about 60 m from its line with ``other``, 300 m from the others."""
    lines = territory.lines
    pair = lines[
        ((lines["code_a"] == code) & (lines["code_b"] == other))
        | ((lines["code_a"] == other) & (lines["code_b"] == code))
    ].geometry.iloc[0]
    rest = shapely.union_all(lines.geometry.to_numpy()[lines.geometry.to_numpy() != pair])
    from geozone.crs import project_geometries

    unit = project_geometries(
        np.array([territory.bset.geometry(code)]), np.array([territory.epsg])
    )[0]
    band = shapely.difference(shapely.buffer(pair, 80), shapely.buffer(pair, 40))
    spot = shapely.difference(shapely.intersection(band, unit), shapely.buffer(rest, 300))
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

    # territory: deep inside Ngọc Hà, 400 m from every member line
    row = judge(T11, AFTER, *_inside(t11, "00008", 400), "00025")
    metres_vi = format_number(round(row["distance_m"]), "vi")
    metres_en = format_number(round(row["distance_m"]), "en")
    across = t11.unit_name(row["boundary_with"])
    check(
        row,
        "territory",
        f"Vụ việc trên địa bàn Phường Ngọc Hà, cách ranh giới với {across} {metres_vi} m, "
        "ngoài vùng giáp ranh 200 m: Phường Ngọc Hà chủ trì theo địa bàn (nguyên tắc 1); các "
        "đơn vị khác phối hợp khi được yêu cầu." + CONFIRMED_VI,
        f"In Phường Ngọc Hà, {metres_en} m from its boundary with {across}, outside the 200 m "
        "border zone: Phường Ngọc Hà leads by territory (rule 1); the other members assist if "
        "asked." + CONFIRMED_EN,
    )
    # border_detector: the T11 bridge, detected by Nghĩa Đô, which is on the line there
    row = judge(T11, AFTER, 105.8064, 21.0387, "00160")
    zone = "Phường Ngọc Hà – Phường Giảng Võ – Phường Nghĩa Đô"
    check(
        row,
        "border_detector",
        f"Vụ việc trên địa bàn Phường Nghĩa Đô, trong vùng giáp ranh 200 m ({zone}), cách ranh "
        "giới với Phường Ngọc Hà 4 m; Phường Nghĩa Đô phát hiện trước nên chủ trì (nguyên tắc "
        "2); Phường Ngọc Hà, Phường Giảng Võ phối hợp." + CONFIRMED_VI,
        f"In Phường Nghĩa Đô, in the 200 m border zone ({zone}), 4 m from its boundary with "
        "Phường Ngọc Hà; Phường Nghĩa Đô detected it first and leads (rule 2); cooperating: "
        "Phường Ngọc Hà, Phường Giảng Võ." + CONFIRMED_EN,
    )
    # on_boundary: the same point, no detector: never a stray number at the end
    row = judge(T11, AFTER, 105.8064, 21.0387, None)
    check(
        row,
        "on_boundary",
        f"Vụ việc nằm trên ranh giới giữa {zone} (trong dung sai 10 m); không đơn vị nào trong "
        "số này phát hiện trước nên Phường Nghĩa Đô (gần nhất) tạm chủ trì; Phường Ngọc Hà, "
        "Phường Giảng Võ phối hợp. Cần xem xét lại." + CONFIRMED_VI,
        f"On the boundary between {zone} (within the 10 m tolerance); none of them detected it "
        "first, so Phường Nghĩa Đô, the nearest, leads for now; cooperating: Phường Ngọc Hà, "
        "Phường Giảng Võ. Review." + CONFIRMED_EN,
    )
    # border_unknown_detector and border_non_member_detector: in the Ngọc Hà – Nghĩa Đô band
    lon, lat = _in_pair_zone(t11, "00008", "00160")
    row = judge(T11, AFTER, lon, lat, None)
    m_vi = format_number(round(row["distance_m"]), "vi")
    pair = "Phường Ngọc Hà – Phường Nghĩa Đô"
    check(
        row,
        "border_unknown_detector",
        f"Vụ việc trên địa bàn Phường Ngọc Hà, trong vùng giáp ranh 200 m ({pair}), cách ranh "
        f"giới với Phường Nghĩa Đô {m_vi} m; chưa rõ đơn vị phát hiện trước nên Phường Ngọc Hà "
        "(nơi xảy ra) tạm chủ trì; Phường Nghĩa Đô phối hợp. Cần xem xét lại." + CONFIRMED_VI,
        f"In Phường Ngọc Hà, in the 200 m border zone ({pair}), {m_vi} m from its boundary with "
        "Phường Nghĩa Đô; the unit that detected it is unknown, so Phường Ngọc Hà, which holds "
        "the point, leads until confirmed; cooperating: Phường Nghĩa Đô. Review." + CONFIRMED_EN,
    )
    row = judge(T11, AFTER, lon, lat, "Công an phường Láng")
    check(
        row,
        "border_non_member_detector",
        f"Vụ việc trên địa bàn Phường Ngọc Hà, trong vùng giáp ranh 200 m ({pair}), cách ranh "
        f"giới với Phường Nghĩa Đô {m_vi} m; «Công an phường Láng» phát hiện nhưng không phải "
        "thành viên của cụm nên Phường Ngọc Hà (nơi xảy ra) chủ trì; Phường Nghĩa Đô phối hợp. "
        "Cần xem xét lại." + CONFIRMED_VI,
        f"In Phường Ngọc Hà, in the 200 m border zone ({pair}), {m_vi} m from its boundary with "
        "Phường Nghĩa Đô; it was detected by «Công an phường Láng», which is not a member, so "
        "Phường Ngọc Hà, which holds the point, leads; cooperating: Phường Nghĩa Đô. Review."
        + CONFIRMED_EN,
    )
    # outside_members and outside_every_unit: detected by a member, outside its territory
    row = judge(T11, AFTER, 105.85, 21.00, "00160")
    check(
        row,
        "outside_members",
        "Vụ việc ngoài địa bàn các thành viên, thuộc Phường Bạch Mai (00292); thành viên "
        "Phường Nghĩa Đô phát hiện và bàn giao cho Phường Bạch Mai (00292). Cần xem xét lại."
        + CONFIRMED_VI,
        "Outside every member's territory, in Phường Bạch Mai (00292); member Phường Nghĩa Đô "
        "detected it and hands it over to Phường Bạch Mai (00292). Review." + CONFIRMED_EN,
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
    lon, lat = _in_pair_zone(viet_tri, "07909", "09106")
    row = judge(viet_tri.cluster.id, AFTER, lon, lat, "cong-ty-vlxd-bo-sao")
    m_vi = format_number(round(row["distance_m"]), "vi")
    pair = "Phường Thanh Miếu – Xã Vĩnh Thành"
    company = "Công ty cổ phần VLXD Bồ Sao"
    check(
        row,
        "border_organisation_detector",
        f"Vụ việc trên địa bàn Phường Thanh Miếu, trong vùng giáp ranh 200 m ({pair}), cách "
        f"ranh giới với Xã Vĩnh Thành {m_vi} m; {company} (thành viên không quản lý địa bàn) "
        "phát hiện nên Phường Thanh Miếu (nơi xảy ra) chủ trì; Xã Vĩnh Thành phối hợp. Cần xem "
        "xét lại. Quy chế của cụm không quy định đơn vị chủ trì; áp dụng nguyên tắc mặc định. "
        "Cụm được chuyển sang các đơn vị hành chính áp dụng từ 01/07/2025 nhưng chưa được xác "
        "nhận: quyết định này là đề xuất, cần xác nhận.",
        f"In Phường Thanh Miếu, in the 200 m border zone ({pair}), {m_vi} m from its boundary "
        f"with Xã Vĩnh Thành; it was detected by {company}, a member without territory, so "
        "Phường Thanh Miếu, which holds the point, leads; cooperating: Xã Vĩnh Thành. Review. "
        "The cluster's regulation states no lead rule; the default rule is applied. The cluster "
        "was carried into the units in force from 2025-07-01 but is not confirmed: this "
        "decision is a proposal to be confirmed.",
    )
    assert seen == set(rules.RULE_NAMES)
    # A lapsed carried cluster (unconfirmed T11) decides nothing; a proposal flags review.
    unconfirmed = {
        t.cluster.id: t
        for t in territories(
            [load_clusters()["hoa-do-phuc-vi"]], [legacy, vn2025], carry_into=vn2025
        )
    }
    incidents = pd.DataFrame(
        {
            "external_id": ["x"],
            "occurred_at": [datetime(2025, 8, 1, tzinfo=VIETNAM_TZ)],
            "lon": [105.8064],
            "lat": [21.0387],
            "detected_by": ["00160"],
        }
    )
    rows = assign(incidents, sets, list(unconfirmed.values())).clusters
    assert T11 not in set(rows["cluster_id"])
