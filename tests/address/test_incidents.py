"""Incidents known by address only: jurisdiction at the address's level, no zone decision."""

from __future__ import annotations

from datetime import date

import pandas as pd
import pytest

from geozone.address.gazetteer import Gazetteer
from geozone.address.incidents import (
    ADDRESS_ONLY_RULE,
    ADDRESS_STATUS,
    address_jurisdiction,
    address_only_decisions,
    count_address_only,
)
from geozone.assignment.decide import CLUSTER_COLUMNS
from geozone.assignment.jurisdiction import UNIT_COLUMNS
from geozone.clusters.model import Confirmation
from geozone.context import Context, load_context
from geozone.settings import Settings
from geozone.vntime import VIETNAM_TZ


@pytest.fixture(scope="module")
def context(built_settings: Settings) -> Context:
    # The T11 cluster ended in 2024; its carried form decides once a planner confirms it.
    confirmed = Confirmation("hoa-do-phuc-vi-vn2025", date(2025, 7, 1), "test")
    return load_context(built_settings, confirmations=[confirmed])


@pytest.fixture(scope="module")
def gazetteer(context: Context) -> Gazetteer:
    return Gazetteer.of_sets(context.sets)


def incidents(rows: list[tuple[str, str, str | None, str | None]]) -> pd.DataFrame:
    """(id, Vietnam time, address, detected_by) rows as an incident frame."""
    return pd.DataFrame(
        {
            "external_id": [r[0] for r in rows],
            "occurred_at": pd.to_datetime([r[1] for r in rows]).tz_localize(VIETNAM_TZ),
            "address": [r[2] for r in rows],
            "detected_by": [r[3] for r in rows],
        }
    )


#: Seed cluster members' addresses, old and new forms, misspelt and without diacritics.
ROWS = [
    (
        "old",
        "2024-03-01 10:00",
        "số 5 Hoàng Quốc Việt, phường Nghĩa Đô, quận Cầu Giấy, Hà Nội",
        "00157",
    ),
    ("new", "2025-08-01 10:00", "phuong nghia do, ha noi", None),
    ("split", "2025-08-01 09:00", "P. Quan Hoa, Q. Cầu Giấy, Hà Nội", None),
    ("gia-lam", "2024-03-01 09:00", "xã Đông Dư, huyện Gia Lâm, Hà Nội", None),
    ("province", "2025-08-01 09:00", "Hà Nội", None),
    ("misspelt", "2024-03-01 09:00", "Nghia Dox, Cầu Giấy, Hà Nội", None),
    ("blank", "2025-08-01 09:00", None, None),
    ("long", "2025-08-01 09:00", "x" * 400, None),
]


@pytest.fixture(scope="module")
def judged(context: Context, gazetteer: Gazetteer) -> tuple[pd.DataFrame, pd.DataFrame]:
    frame = incidents(ROWS)
    units = address_jurisdiction(frame, gazetteer)
    return units, address_only_decisions(frame, units, context.territories)


def test_jurisdiction_at_the_level_the_address_gives(
    judged: tuple[pd.DataFrame, pd.DataFrame],
) -> None:
    units, _ = judged
    assert list(units.columns[: len(UNIT_COLUMNS)]) == UNIT_COLUMNS
    by_id = units.set_index("external_id")
    assert (by_id["locate_status"] == ADDRESS_STATUS).all()
    assert by_id["on_boundary"].isna().all()  # an address gives no point
    old = by_id.loc["old"]
    assert (old.set_id, old.unit_code, old.district_code, old.address_level) == (
        "vn-legacy-districts",
        "00157",
        "005",
        "ward",
    )
    new = by_id.loc["new"]
    assert (new.set_id, new.unit_code, new.address_level) == ("vn2025", "00160", "ward")
    # An old ward split in 2025, dated after the reform: its province, and the two wards.
    split = by_id.loc["split"]
    assert (split.unit_code, split.address_level) == ("01", "province")
    assert [c["code"] for c in split.candidates] == ["00160", "00166"]
    assert by_id.loc["province", "address_level"] == "province"
    # A misspelt ward: its district, and the part not read named.
    misspelt = by_id.loc["misspelt"]
    assert (misspelt.unit_code, misspelt.address_level) == ("005", "district")
    assert "no ward 'Nghia Dox'" in misspelt.address_problem
    assert by_id.loc["blank", "address_problem"] == "no address given"
    assert by_id.loc["blank", "unit_code"] is None
    assert "400 characters long; at most 300" in by_id.loc["long", "address_problem"]


def test_every_concerned_cluster_gets_an_explicit_review_decision(
    judged: tuple[pd.DataFrame, pd.DataFrame],
) -> None:
    _, decisions = judged
    assert list(decisions.columns) == CLUSTER_COLUMNS
    assert (decisions["rule"] == ADDRESS_ONLY_RULE).all() and decisions["review"].all()
    assert decisions["lead_unit"].isna().all()  # nobody is named to lead
    assert decisions["distance_m"].isna().all()  # no distance to a line without a point
    pairs = set(zip(decisions["external_id"], decisions["cluster_id"], strict=True))
    assert ("old", "hoa-do-phuc-vi") in pairs
    assert ("new", "hoa-do-phuc-vi-vn2025") in pairs
    assert ("split", "hoa-do-phuc-vi-vn2025") in pairs
    assert ("gia-lam", "gia-lam") in pairs
    # The split ward concerns the T11 cluster only, not Gia Lâm's, also in Hà Nội.
    assert ("split", "gia-lam-vn2025") not in pairs
    assert not {"blank", "long"} & set(decisions["external_id"])
    old = decisions[decisions["external_id"] == "old"].iloc[0]
    assert old.member_code == "00157"
    assert old.explanation_en.startswith(
        "Address only, no coordinates: no border-zone decision. By its address the incident "
        "is in Phường Nghĩa Đô (ward level, set vn-legacy-districts), in the territory of "
        "member Phường Nghĩa Đô; detected by 00157."
    )
    assert "no unit centroid is used as its location" in old.explanation_en
    assert old.explanation_vi.startswith(
        "Chỉ có địa chỉ, không có tọa độ: không quyết định vùng giáp ranh."
    )
    split = decisions[decisions["external_id"] == "split"].iloc[0]
    assert split.member_code is None and split.zone_units == ["00160", "00166"]
    assert "one of the members Phường Nghĩa Đô, Phường Cầu Giấy" in split.explanation_en


def test_a_cluster_not_running_on_the_date_is_not_concerned(
    context: Context, gazetteer: Gazetteer
) -> None:
    # Nghĩa Đô in 2022: the T11 cluster began on 26 May 2023.
    frame = incidents([("early", "2022-01-05 08:00", "P. Nghĩa Đô, Q. Cầu Giấy, Hà Nội", None)])
    units = address_jurisdiction(frame, gazetteer)
    assert units.loc[0, "unit_code"] == "00157"
    assert address_only_decisions(frame, units, context.territories).empty


def test_address_only_incidents_are_counted_apart(
    judged: tuple[pd.DataFrame, pd.DataFrame],
) -> None:
    units, _ = judged
    assert count_address_only(units) == {
        "address_only": 8,
        "ward": 3,
        "district": 1,
        "province": 2,
        "unresolved": 2,
    }


#: A member of each of the five seed clusters written as an address, old form before the
#: reform and new form after it: (id, time, address, cluster concerned, member holding it).
SEED_MEMBERS = [
    (
        "ct-old",
        "2024-06-30 10:00",
        "phường Cái Khế, quận Ninh Kiều, thành phố Cần Thơ",
        "can-tho-an-giang",
        "92",
    ),
    (
        "ct-new",
        "2025-08-01 10:00",
        "phường Ninh Kiều, thành phố Cần Thơ",
        "can-tho-an-giang-vn2025",
        "92",
    ),
    ("gl-old", "2024-06-30 10:00", "xa dong du, huyen gia lam, ha noi", "gia-lam", "018"),
    ("gl-new", "2025-08-01 10:00", "Xã Bát Tràng, Hà Nội", "gia-lam-vn2025", "00577"),
    ("hd-old", "2024-06-30 10:00", "P. Quan Hoa, Q. Cầu Giấy, HN", "hoa-do-phuc-vi", "00169"),
    ("sc-old", "2024-06-30 10:00", "thị xã Sông Cầu, tỉnh Phú Yên", "song-cau-quy-nhon", "557"),
    (
        "sc-new",
        "2025-08-01 10:00",
        "phường Quy Nhơn, tỉnh Gia Lai",
        "song-cau-quy-nhon-vn2025",
        "21583",
    ),
    (
        "vt-old",
        "2024-06-30 10:00",
        "xã Việt Xuân, huyện Vĩnh Tường, tỉnh Vĩnh Phúc",
        "viet-tri-vinh-tuong-lap-thach",
        "09097",
    ),
]


def test_a_member_of_each_seed_cluster_by_address_in_both_forms(
    context: Context, gazetteer: Gazetteer
) -> None:
    frame = incidents([(i, t, text, None) for i, t, text, _, _ in SEED_MEMBERS])
    units = address_jurisdiction(frame, gazetteer)
    assert units["address_problem"].isna().all()
    decisions = address_only_decisions(frame, units, context.territories)
    got = {(row.external_id, row.cluster_id, row.member_code) for row in decisions.itertuples()}
    assert {(i, cluster, member) for i, _, _, cluster, member in SEED_MEMBERS} <= got


def test_a_lapsed_cluster_says_it_decides_nothing_for_an_address(
    built_settings: Settings, gazetteer: Gazetteer
) -> None:
    # Unconfirmed, the carried T11 cluster lapsed (its original ended in 2024): an address in
    # Nghĩa Đô after the reform gets its row, which says so, rather than no row at all.
    lapsed = load_context(built_settings)
    frame = incidents([("new", "2025-08-01 10:00", "phuong nghia do, ha noi", None)])
    units = address_jurisdiction(frame, gazetteer)
    rows = address_only_decisions(frame, units, lapsed.territories)
    (row,) = rows[rows["cluster_id"] == "hoa-do-phuc-vi-vn2025"].itertuples(index=False)
    assert row.rule == "no_decision" and row.lead_unit is None and row.review
    assert row.member_code == "00160"
    assert row.explanation_vi.startswith("Chỉ có địa chỉ, không có tọa độ")
    assert row.explanation_vi.endswith(
        "Không có quyết định chủ trì: Cụm liên kết Hoa - Đô - Phúc - Vị đảm bảo an ninh trật tự "
        "khu vực giáp ranh cầu T11 (hoa-do-phuc-vi) kết thúc ngày 31/12/2024 (suy đoán), trước "
        "khi sắp xếp đơn vị hành chính; dạng chuyển sang đơn vị mới (hoa-do-phuc-vi-vn2025) "
        "chưa được xác nhận nên không áp dụng (xác nhận bằng: geozone clusters confirm "
        "hoa-do-phuc-vi-vn2025 --from NGÀY)."
    )
