"""address_incidents on both backends: stored once, beside the located incidents, counted."""

from __future__ import annotations

import pandas as pd

from geozone.address.incidents import ADDRESS_COLUMNS, ADDRESS_ONLY_RULE, ADDRESS_STATUS
from geozone.address.store import AddressIncidentStore
from geozone.assignment.decide import CLUSTER_COLUMNS
from geozone.assignment.jurisdiction import UNIT_COLUMNS
from geozone.incidents.io import validate_incidents
from geozone.store import IncidentStore
from tests.fixtures.incidents import make_incidents
from tests.store.conftest import backend, postgres, store, store_url  # noqa: F401


def address_rows(ids: list[str]) -> pd.DataFrame:
    frame = pd.DataFrame(
        {
            "external_id": ids,
            "occurred_at": ["2025-08-01 10:00"] * len(ids),
            "category": ["theft"] * len(ids),
            "lon": [None] * len(ids),
            "lat": [None] * len(ids),
            "address": ["Phường Nghĩa Đô, Hà Nội"] * len(ids),
            "synthetic": [True] * len(ids),
        }
    )
    read = validate_incidents(frame)
    assert read.address_only is not None
    return read.address_only


def units_of(incidents: pd.DataFrame, level: str | None = "ward") -> pd.DataFrame:
    unit = {
        "set_id": "vn2025",
        "locate_status": ADDRESS_STATUS,
        "unit_code": "00160" if level else None,
        "ward_code": "00160" if level else None,
        "district_code": None,
        "province_code": "01" if level else None,
        "on_boundary": None,
        "candidates": None,
        "address_level": level,
        "address_problem": None if level else "no address given",
    }
    rows = [{"external_id": i, **unit} for i in incidents["external_id"]]
    return pd.DataFrame(rows, columns=[*UNIT_COLUMNS, *ADDRESS_COLUMNS], dtype=object)


def decisions_of(incidents: pd.DataFrame, cluster_id: str) -> pd.DataFrame:
    rows = [
        {
            "external_id": i,
            "cluster_id": cluster_id,
            "member_code": "00160",
            "in_zone": False,
            "zone_kind": "unknown",
            "zone_units": ["00160"],
            "distance_m": None,
            "boundary_with": None,
            "lead_unit": None,
            "cooperating": [],
            "rule": ADDRESS_ONLY_RULE,
            "review": True,
            "explanation_vi": "Chỉ có địa chỉ, không có tọa độ: không quyết định vùng giáp ranh.",
            "explanation_en": "Address only, no coordinates: no border-zone decision.",
        }
        for i in incidents["external_id"]
    ]
    return pd.DataFrame(rows, columns=CLUSTER_COLUMNS)


def test_stored_once_beside_the_located_incidents_and_counted(store: IncidentStore) -> None:  # noqa: F811
    store.add_incidents(make_incidents(2, prefix="p"))
    kept = AddressIncidentStore(store.engine)
    first = address_rows(["a1", "a2", "p000000"])  # the last id is a located incident's
    assert kept.add(first, units_of(first), decisions_of(first, "t11")) == (2, 1)
    again = address_rows(["a1", "a3"])
    assert kept.add(again, units_of(again, None), decisions_of(again.iloc[:0], "t11")) == (1, 1)
    rows = kept.rows().set_index("external_id")
    assert sorted(rows.index) == ["a1", "a2", "a3"]
    assert rows.loc["a1", "unit_code"] == "00160"  # the first store stays
    assert rows.loc["a1", "decisions"][0]["rule"] == ADDRESS_ONLY_RULE
    assert rows.loc["a1", "occurred_at"].isoformat() == "2025-08-01T10:00:00+07:00"
    assert rows.loc["a3", "address_problem"] == "no address given"
    # Every incident carries an event_id: an address-only one is its own event, never linked.
    assert rows["event_id"].to_dict() == {i: f"ev-{i}" for i in ("a1", "a2", "a3")}
    assert set(rows["event_role"]) == {"single"} and set(rows["event_confidence"]) == {1.0}
    assert kept.counts() == {
        "address_only": 3,
        "ward": 2,
        "district": 0,
        "province": 0,
        "unresolved": 1,
    }
    assert kept.counts(cluster_id="t11")["address_only"] == 2
    assert kept.counts(cluster_id="other")["address_only"] == 0
