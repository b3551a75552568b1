"""Flat decision columns: one decision exactly, several joined in cluster order, none empty."""

from __future__ import annotations

from typing import Any

import pandas as pd

from geozone.assignment import ClusterTerritory
from geozone.clusters.model import Cluster
from geozone.store import CLUSTER_COLUMNS
from geozone.store.decisions import (
    DECISION_COLUMNS,
    TABLE_COLUMNS,
    decision_table,
    flat_decisions,
    records_frame,
    unit_namer,
)
from tests.fixtures.clusters import east_cluster, grid_context


def decision(external_id: str, cluster_id: str, **values: Any) -> dict[str, Any]:
    row: dict[str, Any] = dict.fromkeys(CLUSTER_COLUMNS)
    row.update(
        external_id=external_id,
        cluster_id=cluster_id,
        in_zone=False,
        zone_units=[],
        cooperating=[],
        review=False,
        explanation_vi="",
        explanation_en="",
    )
    row.update(values)
    return row


def frame(*rows: dict[str, Any]) -> pd.DataFrame:
    return pd.DataFrame.from_records(list(rows), columns=["external_id", *CLUSTER_COLUMNS])


NAMES = {("k1", "A"): "Phường A", ("k1", "B"): "Xã B", ("k2", "A"): "Phường A (k2)"}


def namer(cluster_id: str, code: str) -> str | None:
    return NAMES.get((cluster_id, code))


DECISIONS = frame(
    decision(
        "two", "k2", lead_unit="A", rule="territory", explanation_vi="vi 2",
        explanation_en="en 2",
    ),
    decision(
        "one", "k1", lead_unit="A", cooperating=["B", "C"], rule="border_detector",
        review=True, explanation_vi="Phường A chủ trì", explanation_en="Phường A leads",
    ),
    decision(
        "two", "k1", lead_unit=None, cooperating=["B"], rule="outside_members", review=True,
        explanation_vi="vi 1", explanation_en="en 1",
    ),
    decision("stranger", "k1", lead_unit="B"),
)  # fmt: skip


def test_one_decision_is_carried_exactly_several_are_joined_in_cluster_order() -> None:
    flat = flat_decisions(["one", "two", "none"], DECISIONS, namer)
    assert list(flat.columns) == list(DECISION_COLUMNS)
    one, two, none = flat.to_dict("records")
    assert one == {
        "cluster_id": "k1",
        "lead_unit": "A",
        "lead_unit_name": "Phường A",
        "cooperating_units": "B; C",
        "cooperating_unit_names": "Xã B; C",  # a code no set names stays a code
        "rule": "border_detector",
        "review": True,
        "explanation_vi": "Phường A chủ trì",
        "explanation_en": "Phường A leads",
        "cluster_count": 1,
    }
    assert two == {
        "cluster_id": "k1 | k2",
        "lead_unit": " | A",  # k1 names no lead: an empty place keeps the positions
        "lead_unit_name": " | Phường A (k2)",
        "cooperating_units": "B | ",
        "cooperating_unit_names": "Xã B | ",
        "rule": "outside_members | territory",
        "review": True,  # any decision asks for review
        "explanation_vi": "vi 1 | vi 2",
        "explanation_en": "en 1 | en 2",
        "cluster_count": 2,
    }
    assert none == {**dict.fromkeys(DECISION_COLUMNS), "review": False, "cluster_count": 0}
    assert flat["review"].dtype == bool and flat["cluster_count"].dtype == "int64"


def test_the_decision_table_has_a_row_per_incident_and_cluster() -> None:
    table = decision_table(DECISIONS, namer)
    assert list(table.columns) == list(TABLE_COLUMNS)
    assert len(table) == 4
    row = table[table["external_id"] == "one"].iloc[0]
    assert (row["lead_unit_name"], row["cooperating_units"]) == ("Phường A", "B; C")
    assert bool(row["review"]) and row["rule"] == "border_detector"


def test_a_stored_record_flattens_as_a_page_does() -> None:
    records = [
        {k: v for k, v in row.items() if k != "external_id"}
        for row in DECISIONS[DECISIONS["external_id"] == "two"].to_dict("records")
    ]
    single = flat_decisions(["two"], records_frame("two", records), namer)
    paged = flat_decisions(["one", "two"], DECISIONS, namer).iloc[[1]].reset_index(drop=True)
    pd.testing.assert_frame_equal(single, paged)
    assert flat_decisions(["x"], records_frame("x", []))["cluster_count"].tolist() == [0]


def test_units_are_named_as_the_decisions_sentences_name_them() -> None:
    context = grid_context()
    east = ClusterTerritory(Cluster.model_validate(east_cluster()), context.sets[0])
    context.territories.append(east)
    name = unit_namer(context)
    centre = context.territory("grid-centre")
    for code in ("00001", "00002", "00005", "cty"):
        assert name("grid-centre", code) == centre.table.names[code]
    assert name("grid-centre", "cty") == "Công ty Thử"  # an organisation member
    assert name("grid-east", "00003") == east.table.names["00003"]
    assert name("grid-centre", "00009") == context.sets[0].full_names["00009"]  # not a member
    assert name("gone-cluster", "00009") == context.sets[0].full_names["00009"]
    assert name("grid-centre", "nope") is None
