"""The per-member table counts as led only what a member leads (SYNTHETIC incidents only).

An incident nobody leads (the decision names no lead unit: a lapsed cluster's
``no_decision``, ``no_member_geometry``, ``outside_every_unit``) is counted on a "no lead
unit" row of its rule, never as led and never as outside the members' territory unless it
lies outside every member's territory; a lead handed to a unit that is no member is not a
member's lead either. The total of ``led`` is the sum of the members'; JSON, CSV and the
HTML total row give the same numbers as the table.
"""

from __future__ import annotations

import dataclasses
import json
import re
from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from geozone.assignment import ClusterTerritory, territories
from geozone.boundaries.sets import BoundarySet
from geozone.context import Context
from geozone.incidents.pipeline import assign_stale
from geozone.report import ClusterReport, cluster_report
from geozone.store import open_store
from tests.fixtures.clusters import T11_CONFIRMED, grid_cluster
from tests.fixtures.grid import GRID_INFO, grid_point, grid_units
from tests.report.test_review import carried_cluster

#: The counted columns compared row by row.
COUNTS = (
    "in_territory",
    "in_zone",
    "detected",
    "led",
    "not_led",
    "solved",
    "solved_ratio",
    "subjects",
)
NO_LEAD_VI, NO_LEAD_EN = "Không có đơn vị chủ trì", "No lead unit"
OUTSIDE = "Ngoài địa bàn các thành viên / Outside the members' territory"


def incident(
    external_id: str, at: str, lon: float, lat: float, by: str, solved: bool
) -> dict[str, Any]:
    """One SYNTHETIC incident (a theft, one subject)."""
    return {
        "external_id": external_id,
        "occurred_at": f"{at}T10:00:00+07:00",
        "lon": lon,
        "lat": lat,
        "category": "theft",
        "detected_by": by,
        "status": "solved" if solved else "open",
        "subjects": 1,
        "synthetic": True,
    }


def check_led_is_the_members(report: ClusterReport, led: int, unknown: int) -> None:
    """Led sums to the members' (``led`` incidents); ``unknown`` are not outside the members.

    Only the columns the table always had (the old table fails here, not on a new column).
    """
    table = report.tables["by_member"]
    members = table["member_code"].notna()
    assert table.loc[members, "led"].sum() == table["led"].sum() == led
    assert not table.loc[~members, "led"].any()
    outside = table["member_name"] == OUTSIDE
    points = report.layers["incidents"]
    assert table.loc[outside, "in_territory"].sum() == int(
        (points["member_code"].isna() & points["rule"].ne("no_member_geometry")).sum()
    )
    no_lead = table["member_name"].str.startswith(f"{NO_LEAD_VI} (")
    assert table.loc[no_lead, "in_territory"].sum() == unknown
    nobody = points.loc[points["lead_unit"].isna(), ["cluster_id", "rule"]]
    assert no_lead.sum() == len(nobody.drop_duplicates())  # one row per form and rule


def rows_of(report: ClusterReport) -> list[tuple[Any, ...]]:
    """The by_member rows as (form, code or kind/rule, counts…), zero member rows left out."""
    table = report.tables["by_member"]
    out = []
    for row in table.to_dict("records"):
        key = row["member_code"] or f"{row['member_kind']}:{row['rule'] or ''}"
        counts = tuple(row[c] for c in COUNTS)
        if row["member_code"] is None or any(row[c] for c in COUNTS if c != "solved_ratio"):
            out.append((row["cluster_id"], key, *counts))
    return out


def html_totals(report: ClusterReport) -> dict[str, str]:
    """The HTML page's total row of the per-member table, by column."""
    from maps.report import DISPLAY_COLUMNS, table_html

    html = table_html("by_member", report.tables["by_member"])
    foot = html[html.index("<tfoot>") :]
    cells = re.findall(r"<td[^>]*>(.*?)</td>", foot, flags=re.S)
    columns = DISPLAY_COLUMNS["by_member"]
    assert len(cells) == len(columns)
    return {c: re.sub(r"<[^>]+>", "", v).strip() for c, v in zip(columns, cells, strict=True)}


def check_renderings(report: ClusterReport, tmp_path: Path) -> None:
    """JSON, CSV and the HTML total row hold the table's numbers; led sums the members'."""
    table = report.tables["by_member"]
    members = table[table["member_kind"].isin(["unit", "organisation"])]
    cases = report.figures["cases"]
    assert table["led"].sum() == members["led"].sum()
    assert (table["led"] + table["not_led"]).sum() == table["in_territory"].sum() == cases
    assert table["solved"].sum() == report.figures["solved"]
    data = json.loads(json.dumps(report.to_json(), ensure_ascii=False))["tables"]["by_member"]
    assert [(r["member_name"], r["led"], r["not_led"], r["rule"]) for r in data["rows"]] == [
        (r["member_name"], r["led"], r["not_led"], r["rule"]) for r in table.to_dict("records")
    ]
    names = {c["name"]: (c["vi"], c["en"]) for c in data["columns"]}
    assert names["not_led"] == ("Không do thành viên chủ trì", "Not led by a member")
    report.write_csv(tmp_path / "csv")
    back = pd.read_csv(tmp_path / "csv" / "by_member.csv", encoding="utf-8-sig")
    assert back["led"].tolist() == table["led"].tolist()
    assert back["not_led"].tolist() == table["not_led"].tolist()
    totals = html_totals(report)
    assert totals["led"] == str(members["led"].sum())
    assert totals["not_led"] == str(table["not_led"].sum())
    assert totals["in_territory"] == str(cases)
    assert totals["solved_ratio"] == f"{report.figures['solved']}/{cases}"


# -- the grid: a led incident, one handed over, one abroad, and a lapsed carried form ---------


@pytest.fixture
def lapsed_grid() -> Context:
    """The grid cluster, ended on 2024-12-31; its form carried into "grid2025" lapsed."""
    old = BoundarySet.from_units(
        dataclasses.replace(GRID_INFO, valid_to=date(2025, 6, 30)), grid_units()
    )
    new = BoundarySet.from_units(
        dataclasses.replace(GRID_INFO, id="grid2025", valid_from=date(2025, 7, 1)), grid_units()
    )
    original = grid_cluster(
        zone_width_m=100, period={"start": date(2020, 1, 1), "end": date(2024, 12, 31)}
    )
    carried = carried_cluster().model_copy(update={"carry_status": "lapsed"})
    placed = [ClusterTerritory(original, old), ClusterTerritory(carried, new)]
    return Context([old, new], {"grid-centre": original}, placed, {"grid": "t", "grid2025": "t"})


def test_incidents_nobody_leads_are_not_led_on_the_grid(
    lapsed_grid: Context, tmp_path: Path
) -> None:
    def at(x: float, y: float) -> tuple[float, float]:
        return grid_point(x, y)

    incidents = [
        incident("led-o1", "2024-03-01", *at(300, 300), "o1", True),  # ward 1: o1 leads
        incident("led-o2", "2024-03-02", *at(1300, 300), "o2", False),  # ward 2: o2 leads
        incident("handed-over", "2024-03-03", *at(2500, 2500), "o1", False),  # ward 9
        incident("abroad", "2024-03-04", *at(-5000, 300), "o1", False),  # in no unit
        incident("lapsed-in", "2025-08-01", *at(300, 300), "o1-00001", True),  # ward 1
        incident("lapsed-out", "2025-08-02", *at(2500, 2500), "o1-00001", False),  # ward 9
    ]
    with open_store(f"sqlite:///{tmp_path / 'store.sqlite'}") as store:
        store.add_incidents(pd.DataFrame(incidents))
        assign_stale(store, lapsed_grid)
        report = cluster_report(
            store, lapsed_grid, "grid-centre", date(2024, 1, 1), date(2025, 12, 31), hotspots=False
        )
    rules = report.layers["incidents"].set_index("external_id")[["rule", "lead_unit"]]
    assert rules["rule"].to_dict() == {
        "led-o1": "territory",
        "led-o2": "territory",
        "handed-over": "outside_members",
        "abroad": "outside_every_unit",
        "lapsed-in": "no_decision",
        "lapsed-out": "no_decision",
    }
    assert rules.loc["handed-over", "lead_unit"] == "00009"  # a unit that is no member
    check_led_is_the_members(report, led=2, unknown=0)
    old, new = "grid-centre", "grid-centre-grid2025"
    # form, row, in_territory, in_zone, detected, led, not_led, solved, ratio, subjects
    assert rows_of(report) == [
        (old, "00001", 1, 0, 3, 1, 0, 1, "1/1", 1),
        (old, "00002", 1, 0, 1, 1, 0, 0, "0/1", 1),
        # Handed over to ward 9 and abroad: both outside the members; neither led by one.
        (old, "outside:", 2, 0, 0, 0, 1, 0, "0/1", 1),
        (old, "no_lead:outside_every_unit", 0, 0, 0, 0, 1, 0, "0/1", 1),
        # The lapsed form: in ward 1 (its member's territory) and ward 9, nobody leads.
        (new, "00001", 1, 0, 2, 0, 0, 0, "0/0", 0),
        (new, "outside:", 1, 0, 0, 0, 0, 0, "0/0", 0),
        (new, "no_lead:no_decision", 0, 0, 0, 0, 2, 1, "1/2", 2),
    ]
    table = report.tables["by_member"].set_index(["cluster_id", "rule"])
    assert table.loc[(new, "no_decision"), "member_name"] == (
        f"{NO_LEAD_VI} (Cụm chưa áp dụng – không có quyết định) / "
        f"{NO_LEAD_EN} (Cluster does not apply – no decision)"
    )
    assert table.loc[(new, "no_decision"), "member_kind"] == "no_lead"
    check_renderings(report, tmp_path)


# -- real data: the T11 cluster in 2024 (no member geometry) and 2025 -------------------------

#: The T11 bridge, where the four old wards met (the cluster's named hotspot).
BRIDGE = (105.8064, 21.0387)


def t11_incidents(carried_member: str) -> pd.DataFrame:
    """SYNTHETIC incidents of the T11 cluster: 2024 at the bridge and abroad, 2025 likewise."""
    return pd.DataFrame(
        [
            incident("t11-2024-a", "2024-06-01", *BRIDGE, "quan-hoa", False),
            incident("t11-2024-b", "2024-06-02", 105.8060, 21.0390, "nghia-do", True),
            incident("abroad-2024", "2024-06-03", 103.5, 23.5, "quan-hoa", False),  # Yunnan
            incident("t11-2025-a", "2025-08-01", *BRIDGE, carried_member, True),
            incident("t11-2025-b", "2025-08-02", 105.8040, 21.0400, carried_member, False),
            incident("abroad-2025", "2025-08-03", 103.5, 23.5, carried_member, False),
            incident("hoan-kiem-2025", "2025-08-04", 105.8520, 21.0285, carried_member, False),
        ]
    )


@pytest.mark.realdata
@pytest.mark.parametrize("confirmed", [True, False], ids=["confirmed", "lapsed"])
def test_t11_incidents_nobody_leads_are_not_led(
    vn2025: BoundarySet, legacy: BoundarySet, tmp_path: Path, confirmed: bool
) -> None:
    from geozone.clusters.files import load_clusters

    cluster = load_clusters()["hoa-do-phuc-vi"]
    placed = territories(
        [cluster],
        [legacy, vn2025],
        carry_into=vn2025,
        confirmations=T11_CONFIRMED if confirmed else {},
    )
    context = Context([legacy, vn2025], {cluster.id: cluster}, placed, {})
    (carried,) = [t.cluster for t in placed if t.bset.id == vn2025.id]
    ngoc_ha = carried.members[0]
    assert (ngoc_ha.id, ngoc_ha.territory_code) == ("ngoc-ha-00008", "00008")
    with open_store(f"sqlite:///{tmp_path / 'store.sqlite'}") as store:
        store.add_incidents(t11_incidents(ngoc_ha.id))
        assign_stale(store, context)
        report = cluster_report(
            store, context, "hoa-do-phuc-vi", date(2024, 1, 1), date(2025, 12, 31), hotspots=False
        )
    decided = report.layers["incidents"].set_index("external_id")
    old, new = "hoa-do-phuc-vi", "hoa-do-phuc-vi-vn2025"
    assert decided.loc[["t11-2024-a", "t11-2024-b"], "rule"].eq("no_member_geometry").all()
    assert decided.loc[["t11-2024-a", "t11-2024-b"], "lead_unit"].isna().all()
    assert decided.loc["abroad-2024", "rule"] == "outside_every_unit"
    assert report.figures["zone_unknown"] == (2 if confirmed else 6)
    check_led_is_the_members(report, led=2 if confirmed else 0, unknown=2)
    # 2024: the old wards have no geometry. The two incidents at the bridge are not outside
    # the members (nobody can tell whose they are) and nobody leads them; the one abroad is
    # outside every member's territory, and nobody leads it either.
    in_2024 = [
        (old, "outside:", 1, 0, 0, 0, 0, 0, "0/0", 0),
        (old, "no_lead:no_member_geometry", 2, 0, 0, 0, 2, 1, "1/2", 2),
        (old, "no_lead:outside_every_unit", 0, 0, 0, 0, 1, 0, "0/1", 1),
    ]
    detected_2024 = [
        (old, "00169", 0, 0, 2, 0, 0, 0, "0/0", 0),
        (old, "00157", 0, 0, 1, 0, 0, 0, "0/0", 0),
    ]
    if confirmed:
        assert decided.loc["t11-2025-a", ["rule", "lead_unit"]].tolist() == [
            "border_detector",
            "00008",
        ]
        assert decided.loc["hoan-kiem-2025", "rule"] == "outside_members"
        in_2025 = [
            (new, "00008", 0, 0, 4, 1, 0, 1, "1/1", 1),  # detected first at the bridge: leads
            (new, "00160", 2, 1, 0, 1, 0, 0, "0/1", 1),
            (new, "outside:", 2, 0, 0, 0, 1, 0, "0/1", 1),  # Hoàn Kiếm (handed over), abroad
            (new, "no_lead:outside_every_unit", 0, 0, 0, 0, 1, 0, "0/1", 1),
        ]
    else:
        # Lapsed: every 2025 incident is "no_decision"; the two in Nghĩa Đô stay in its
        # territory, the two elsewhere outside the members; none is led.
        assert decided.loc[decided["cluster_id"] == new, "rule"].eq("no_decision").all()
        in_2025 = [
            (new, "00008", 0, 0, 4, 0, 0, 0, "0/0", 0),
            (new, "00160", 2, 0, 0, 0, 0, 0, "0/0", 0),
            (new, "outside:", 2, 0, 0, 0, 0, 0, "0/0", 0),
            (new, "no_lead:no_decision", 0, 0, 0, 0, 4, 1, "1/4", 4),
        ]
    assert rows_of(report) == [*detected_2024, *in_2024, *in_2025]
    table = report.tables["by_member"]
    assert table["led"].sum() == (2 if confirmed else 0)
    check_renderings(report, tmp_path)
