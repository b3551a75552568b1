"""The cluster review report: figures equal what the store answers for the same filters.

Every table is checked cell by cell against an independent computation: the incidents the
store lists for the cluster and period (``query``), each read back with its decisions one by
one (``get``, not the bulk ``cluster_rows`` the report uses), counted with plain masks; and
the category, status and border-zone counts against ``store.count`` with the same filters.
"""

from __future__ import annotations

import dataclasses
import json
from collections import Counter
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from geozone.assignment import ClusterTerritory, territories
from geozone.boundaries.sets import BoundarySet
from geozone.clusters.model import Cluster
from geozone.context import Context
from geozone.errors import DataNotFoundError, InvalidParameterError, UnknownClusterError
from geozone.incidents.pipeline import assign_stale
from geozone.incidents.schema import CATEGORIES
from geozone.report import (
    SYNTHETIC_LABEL,
    ClusterReport,
    cluster_forms,
    cluster_report,
    ratio,
)
from geozone.store import IncidentQuery, IncidentStore, open_store
from geozone.text import fold
from geozone.vntime import VIETNAM_TZ
from tests.fixtures.clusters import T11_CONFIRMED, grid_cluster
from tests.fixtures.grid import GRID_INFO, grid_point, grid_units
from tests.fixtures.incidents import grid_incidents
from tests.fixtures.snapshot import LEGACY_SNAPSHOT_NOTICE

START, END = date(2021, 1, 1), date(2021, 12, 31)


# -- data ------------------------------------------------------------------------------------


def edge_incidents() -> pd.DataFrame:
    """Incidents at the edges of 2021 in Vietnam time, in the middle of ward 1 (member o1)."""
    lon, lat = grid_point(300, 300)
    times = {
        "in-first": "2021-01-01T00:00:00+07:00",
        "in-last": "2021-12-31T23:59:59+07:00",
        "out-before": "2020-12-31T23:59:59+07:00",
        "out-after": "2022-01-01T00:00:00+07:00",
        "out-utc": "2021-12-31T17:30:00+00:00",  # 00:30 on 1 January 2022 in Vietnam
    }
    return pd.DataFrame(
        {
            "external_id": list(times),
            "occurred_at": list(times.values()),
            "lon": lon,
            "lat": lat,
            "category": "theft",
            "detected_by": "o1",
            "status": "solved",
            "subjects": 1,
            "synthetic": True,
        }
    )


@pytest.fixture
def grid_context(grid: BoundarySet) -> Context:
    territory = ClusterTerritory(grid_cluster(zone_width_m=100), grid)
    return Context([grid], {"grid-centre": territory.cluster}, [territory], {"grid": "test"})


@pytest.fixture
def grid_store(tmp_path: Path, grid_context: Context) -> Iterator[IncidentStore]:
    with open_store(f"sqlite:///{tmp_path / 'store.sqlite'}") as store:
        store.add_incidents(grid_incidents(160, 3, date(2020, 11, 1), date(2022, 1, 31)))
        store.add_incidents(edge_incidents())
        assign_stale(store, grid_context)
        yield store


# -- the independent computation -------------------------------------------------------------


def bounds(start: date, end: date) -> tuple[datetime, datetime]:
    return (
        datetime.combine(start, datetime.min.time(), VIETNAM_TZ),
        datetime.combine(end + timedelta(days=1), datetime.min.time(), VIETNAM_TZ),
    )


def truth(store: IncidentStore, cluster_ids: list[str], start: date, end: date) -> pd.DataFrame:
    """The incidents of the clusters in the period, each read back alone with its decision."""
    begin, finish = bounds(start, end)
    rows = []
    for cluster_id in cluster_ids:
        offset = 0
        while True:
            query = IncidentQuery(
                cluster_id=cluster_id, start=begin, end=finish, limit=500, offset=offset
            )
            page, total = store.query(query)
            for external_id in page["external_id"]:
                record = store.get(external_id)
                assert record is not None
                (decision,) = [c for c in record["clusters"] if c["cluster_id"] == cluster_id]
                rows.append(
                    {k: v for k, v in record.items() if k not in ("clusters", "assignment")}
                    | decision
                )
            offset += len(page)
            if offset >= total or not len(page):
                break
    frame = pd.DataFrame(rows)
    frame["kind"] = frame["category"].map(lambda c: CATEGORIES[c].kind)
    frame["solved"] = frame["status"] == "solved"
    frame["month"] = [t.astimezone(VIETNAM_TZ).strftime("%Y-%m") for t in frame["occurred_at"]]
    return frame


def tally(rows: pd.DataFrame) -> dict[str, Any]:
    return {
        "cases": len(rows),
        "subjects": int(rows["subjects"].sum()),
        "solved": int(rows["solved"].sum()),
        "solved_ratio": f"{int(rows['solved'].sum())}/{len(rows)}",
        "jointly_handled": int(rows["jointly_handled"].sum()),
        "review": int(rows["review"].sum()),
    }


def expected_tables(
    t: pd.DataFrame, context: Context, cluster_id: str
) -> dict[str, list[dict[str, Any]]]:
    """Every table of the report (the counted columns), from plain masks."""
    out: dict[str, list[dict[str, Any]]] = {"by_category": [], "border_zone": [], "by_member": []}
    for code, category in CATEGORIES.items():
        rows = t[t["category"] == code]
        if len(rows):
            zone = rows[rows["in_zone"]]
            out["by_category"].append(
                {
                    "category": code,
                    "label_vi": category.vi,
                    "label_en": category.en,
                    "kind": category.kind,
                    **tally(rows),
                    "in_zone": len(zone),
                    "in_zone_solved": int(zone["solved"].sum()),
                    "in_zone_solved_ratio": f"{int(zone['solved'].sum())}/{len(zone)}",
                }
            )
    for area, flag in (("in_zone", True), ("outside_zone", False)):
        for kind in ("criminal", "administrative", "all"):
            rows = t[(t["in_zone"] == flag) & ((t["kind"] == kind) | (kind == "all"))]
            out["border_zone"].append({"area": area, "kind": kind, **tally(rows)})
    for form in cluster_forms(context, cluster_id):
        rows = t[t["cluster_id"] == form.id]
        codes = {m.territory_code or m.id: m for m in form.cluster.members}
        # A carried member also detects by its original's id or code (its only successor).
        claims = Counter(key for m in form.cluster.members for key in m.successor_of)
        for code, member in codes.items():
            names = [code, member.id, *(k for k in member.successor_of if claims[k] == 1)]
            # ... or by its name, folded, as the decisions read a detector: the member's, or
            # its unit's bare name ("Ô 1" is "o1", the original member's id here).
            bset = form.territory.bset if form.territory is not None else None
            bare = [bset.get(code).name] if bset is not None and code in bset.full_names else []
            folded = {fold(n) for n in [*names, member.name, *bare]}
            held, led = rows[rows["member_code"] == code], rows[rows["lead_unit"] == code]
            out["by_member"].append(
                {
                    "cluster_id": form.id,
                    "member_code": code,
                    "member_kind": member.kind,
                    "rule": None,
                    "in_territory": len(held),
                    "in_zone": int(held["in_zone"].sum()),
                    "detected": int(
                        (
                            rows["detected_by"].isin(names)
                            | rows["detected_by"].map(lambda v: fold(str(v))).isin(folded)
                        ).sum()
                    ),
                    "led": len(led),
                    "not_led": 0,
                    "solved": int(led["solved"].sum()),
                    "solved_ratio": f"{int(led['solved'].sum())}/{len(led)}",
                    "subjects": int(led["subjects"].sum()),
                    "jointly_handled": int(led["jointly_handled"].sum()),
                }
            )
        # Not led by a member: never "led". Outside the members: the points no member holds
        # (unless the members have no geometry: then nobody can tell) and the leads handed
        # to a unit that is no member; no lead unit: one row per rule.
        lead, holder = rows["lead_unit"], rows["member_code"]
        unknown = holder.isna() & (rows["rule"] == "no_member_geometry")
        extra = [
            (
                "outside",
                None,
                ~holder.isin(list(codes)) & ~unknown,
                lead.notna() & ~lead.isin(list(codes)),
            ),
            *(
                (
                    "no_lead",
                    rule,
                    unknown & (rows["rule"] == rule),
                    lead.isna() & (rows["rule"] == rule),
                )
                for rule in dict.fromkeys(rows.loc[lead.isna(), "rule"])
            ),
        ]
        for kind, rule, place, not_led in extra:
            held, mine = rows[place], rows[not_led]
            if len(held) or len(mine):
                out["by_member"].append(
                    {
                        "cluster_id": form.id,
                        "member_code": None,
                        "member_kind": kind,
                        "rule": rule,
                        "in_territory": len(held),
                        "in_zone": int(held["in_zone"].sum()),
                        "detected": 0,
                        "led": 0,
                        "not_led": len(mine),
                        "solved": int(mine["solved"].sum()),
                        "solved_ratio": f"{int(mine['solved'].sum())}/{len(mine)}",
                        "subjects": int(mine["subjects"].sum()),
                        "jointly_handled": int(mine["jointly_handled"].sum()),
                    }
                )
    return out


def check_tables(report: ClusterReport, t: pd.DataFrame, context: Context) -> None:
    """Compare every counted cell of the report with :func:`expected_tables`."""
    expected = expected_tables(t, context, report.cluster_id)
    by_category = report.tables["by_category"].to_dict("records")
    assert [r["category"] for r in by_category] != [] or not len(t)
    assert {r["category"]: r for r in by_category} == {
        r["category"]: r for r in expected["by_category"]
    }
    zone = report.tables["border_zone"].to_dict("records")
    assert [{k: r[k] for k in e} for r, e in zip(zone, expected["border_zone"], strict=True)] == (
        expected["border_zone"]
    )
    members = report.tables["by_member"]
    for want in expected["by_member"]:
        mine = members[
            (members["cluster_id"] == want["cluster_id"])
            & (
                (members["member_kind"] == want["member_kind"])
                & (members["rule"] == want["rule"] if want["rule"] else members["rule"].isna())
                if want["member_code"] is None
                else members["member_code"] == want["member_code"]
            )
        ]
        if want["member_code"] is not None and mine.empty:
            assert want["in_territory"] == want["led"] == want["detected"] == 0
            continue
        (row,) = mine.to_dict("records")
        assert {k: row[k] for k in want} == want
    # Every row of the table was expected (no other "outside" or "no lead" row).
    extra = [r for r in expected["by_member"] if r["member_code"] is None]
    assert int(members["member_code"].isna().sum()) == len(extra)
    # Every month of the period, per kind.
    months = pd.period_range(report.start, report.end, freq="M").astype(str).tolist()
    by_period = report.tables["by_period"]
    assert by_period["month"].tolist() == months
    for row in by_period.to_dict("records"):
        rows = t[t["month"] == row["month"]]
        for kind in ("criminal", "administrative"):
            mine = rows[rows["kind"] == kind]
            assert row[f"{kind}_cases"] == len(mine)
            assert row[f"{kind}_subjects"] == int(mine["subjects"].sum())
            assert row[f"{kind}_solved_ratio"] == f"{int(mine['solved'].sum())}/{len(mine)}"
        assert (row["cases"], row["in_zone"]) == (len(rows), int(rows["in_zone"].sum()))
        assert row["jointly_handled"] == int(rows["jointly_handled"].sum())


def check_figures(report: ClusterReport, t: pd.DataFrame) -> None:
    f = report.figures
    crim, adm, zone = t["kind"] == "criminal", t["kind"] == "administrative", t["in_zone"]
    assert f["cases"] == len(t) and f["subjects"] == int(t["subjects"].sum())
    assert f["criminal_cases"] == int(crim.sum())
    assert f["criminal_subjects"] == int(t.loc[crim, "subjects"].sum())
    assert f["administrative_cases"] == int(adm.sum())
    assert f["administrative_subjects"] == int(t.loc[adm, "subjects"].sum())
    solved_in_zone = int((crim & zone & t["solved"]).sum())
    assert f["in_zone_criminal_solved_ratio"] == f"{solved_in_zone}/{int((crim & zone).sum())}"
    assert f["jointly_handled"] == int(t["jointly_handled"].sum())
    assert f["review"] == int(t["review"].sum())
    assert f["synthetic_incidents"] == int(t["synthetic"].sum())
    assert f"solved {f['in_zone_criminal_solved_ratio']} criminal cases" in f["headline_en"]
    assert f"{f['criminal_cases']:,} criminal cases" in f["headline_en"]


def check_store_counts(report: ClusterReport, store: IncidentStore) -> None:
    """Category, solved and border-zone counts equal ``store.count`` with the same filters."""
    begin, finish = bounds(report.start, report.end)

    def count(**filters: Any) -> int:
        return sum(
            store.count(IncidentQuery(cluster_id=cid, start=begin, end=finish, **filters))
            for cid in report.cluster_ids
        )

    assert report.figures["cases"] == count()
    assert report.figures["solved"] == count(status="solved")
    assert report.figures["in_zone_cases"] == count(in_border_zone=True)
    for row in report.tables["by_category"].to_dict("records"):
        assert row["cases"] == count(categories=(row["category"],))
        assert row["solved"] == count(categories=(row["category"],), status="solved")
        assert row["in_zone"] == count(categories=(row["category"],), in_border_zone=True)


# -- the grid --------------------------------------------------------------------------------


def test_report_figures_equal_the_store(grid_store: IncidentStore, grid_context: Context) -> None:
    report = cluster_report(grid_store, grid_context, "grid-centre", START, END, hotspots=False)
    t = truth(grid_store, ["grid-centre"], START, END)
    assert len(t) > 60 and t["in_zone"].sum() > 10 and t["member_code"].isna().any()
    check_tables(report, t, grid_context)
    check_figures(report, t)
    check_store_counts(report, grid_store)
    # The period is whole days in Vietnam time.
    ids = set(report.layers["incidents"]["external_id"])
    assert {"in-first", "in-last"} <= ids
    assert not ids & {"out-before", "out-after", "out-utc"}
    # Totals add up: every incident is held by one row and led by a member or not.
    members = report.tables["by_member"]
    cases = report.figures["cases"]
    assert members["in_territory"].sum() == (members["led"] + members["not_led"]).sum() == cases
    # Led is the members' only: the incidents whose lead unit is a member.
    member_rows = members["member_kind"].isin(["unit", "organisation"])
    assert members["led"].sum() == members.loc[member_rows, "led"].sum()
    codes = {m.territory_code or m.id for m in grid_context.clusters["grid-centre"].members}
    assert members["led"].sum() == int(t["lead_unit"].isin(codes).sum()) < cases


def test_solved_ratio_reads_solved_over_cases(
    grid_store: IncidentStore, grid_context: Context
) -> None:
    assert ratio(31, 35) == "31/35"
    assert ratio(pd.Series([0, 3]), pd.Series([0, 4])).tolist() == ["0/0", "3/4"]
    report = cluster_report(grid_store, grid_context, "grid-centre", START, END, hotspots=False)
    for name in ("by_category", "border_zone"):
        table = report.tables[name]
        assert (table["solved_ratio"] == ratio(table["solved"], table["cases"])).all()
    f = report.figures
    assert f["criminal_solved_ratio"] == f"{f['criminal_solved']}/{f['criminal_cases']}"


def test_membership_changes_in_the_period(grid_store: IncidentStore, grid_context: Context) -> None:
    report = cluster_report(grid_store, grid_context, "grid-centre", START, END, hotspots=False)
    changes = report.tables["membership"]
    assert changes[["date", "change", "member_id", "member_code"]].values.tolist() == [
        ["2021-06-01", "joined", "o5", "00005"]
    ]
    assert changes["member_name"].tolist() == ["Phường Ô 5"]  # the unit's full name in the set
    later = cluster_report(
        grid_store, grid_context, "grid-centre", date(2022, 1, 1), date(2022, 3, 1), hotspots=False
    )
    assert later.tables["membership"].empty
    founding = cluster_report(
        grid_store, grid_context, "grid-centre", date(2019, 6, 1), date(2020, 6, 1), hotspots=False
    )
    rows = founding.tables["membership"]
    assert rows["change"].tolist() == ["period_start", "joined", "joined", "joined", "joined"]
    assert set(rows["member_id"].dropna()) == {"o1", "o2", "o4", "cty"}
    # Before o5 joined, incidents in its ward detected by a member are outside the members.
    first_half = cluster_report(
        grid_store, grid_context, "grid-centre", date(2021, 1, 1), date(2021, 5, 31), hotspots=False
    )
    members = first_half.tables["by_member"]
    assert "00005" not in set(members["member_code"].dropna())


def test_headlines_write_each_language_s_numbers() -> None:
    from geozone.report.figures import headline_figures

    n, solved = 1_504, 1_222
    frame = pd.DataFrame(
        {
            "kind": ["criminal"] * n,
            "in_zone": [True] * n,
            "solved": [k < solved for k in range(n)],
            "subjects": [1] * n,
            "jointly_handled": [True] * n,
            "rule": ["territory"] * n,
            "review": [False] * n,
            "synthetic": [True] * n,
        }
    )
    f = headline_figures(frame, START, END)
    assert f["in_zone_criminal_solved_ratio"] == "1222/1504"  # the figure: plain digits
    assert "làm rõ 1.222/1.504 vụ phạm pháp hình sự" in f["headline_vi"]
    assert f["headline_vi"].startswith("1.504 vụ phạm pháp hình sự, 1.504 đối tượng")
    assert "solved 1,222/1,504 criminal cases, 1,504 handled jointly;" in f["headline_en"]
    assert f["headline_en"].startswith("1,504 criminal cases, 1,504 subjects")


def test_headline_border_clause_gives_border_figures_and_labels_the_cluster_s() -> None:
    """The border-area clause says the border area's jointly handled cases, not all of them.

    The audit read "ở địa bàn giáp ranh: làm rõ 201/290 vụ…; phối hợp xử lý 436 vụ" as 436
    border-area cases handled jointly, more than the 290 there; 436 was the cluster's.
    """
    from geozone.report.figures import headline_figures

    # 4 criminal in the border area (3 solved, 2 jointly handled); 1,200 elsewhere, all
    # jointly handled: border area 2, all areas 1,202.
    inside, outside = 4, 1_200
    n = inside + outside
    frame = pd.DataFrame(
        {
            "kind": ["criminal"] * n,
            "in_zone": [k < inside for k in range(n)],
            "solved": [k < 3 for k in range(n)],
            "subjects": [1] * n,
            "jointly_handled": [k in (0, 1) or k >= inside for k in range(n)],
            "rule": ["territory"] * n,
            "review": [False] * n,
            "synthetic": [False] * n,
        }
    )
    f = headline_figures(frame, START, END)
    assert (f["in_zone_jointly_handled"], f["jointly_handled"]) == (2, 1_202)
    assert f["headline_vi"].endswith(
        "ở địa bàn giáp ranh: làm rõ 3/4 vụ phạm pháp hình sự, phối hợp xử lý 2 vụ; "
        "mọi địa bàn của cụm: phối hợp xử lý 1.202 vụ."
    )
    assert f["headline_en"].endswith(
        "in the border area: solved 3/4 criminal cases, 2 handled jointly; "
        "all areas of the cluster: 1,202 handled jointly."
    )


@pytest.mark.parametrize(
    ("note_vi", "said_vi"),
    [
        ("Ngày kết thúc được suy ra từ báo cáo.", "Ngày kết thúc được suy ra từ báo cáo"),
        (None, "31/12/2021, suy đoán"),  # no Vietnamese note: the date, never the English
    ],
)
def test_the_end_of_the_period_is_said_in_each_language(
    tmp_path: Path, grid: BoundarySet, note_vi: str | None, said_vi: str
) -> None:
    end = {"year": 2021, "month": 12, "day": 31, "inferred": True}
    period = {"start": date(2020, 1, 1), "end": end, "note": "The end is inferred."}
    cluster = grid_cluster(zone_width_m=100, period={**period, "note_vi": note_vi})
    territory = ClusterTerritory(cluster, grid)
    context = Context([grid], {cluster.id: cluster}, [territory], {"grid": "test"})
    with open_store(f"sqlite:///{tmp_path / 'store.sqlite'}") as store:
        report = cluster_report(store, context, cluster.id, START, END, hotspots=False)
    (row,) = report.tables["membership"].query("change == 'period_end'").to_dict("records")
    assert row["date"] == "2021-12-31"
    assert row["text_vi"] == f"Kết thúc giai đoạn của cụm ({said_vi})."
    assert row["text_en"] == "The cluster's period ends (The end is inferred)."


def test_empty_period_says_no_incidents(grid_store: IncidentStore, grid_context: Context) -> None:
    report = cluster_report(
        grid_store, grid_context, "grid-centre", date(2024, 2, 1), date(2024, 4, 30)
    )
    assert report.empty and report.figures["cases"] == 0
    assert report.figures["headline_en"] == "No incidents of the cluster in the period."
    assert any("No incidents" in note for note in report.notes)
    assert report.tables["by_category"].empty
    assert report.tables["by_period"]["month"].tolist() == ["2024-02", "2024-03", "2024-04"]
    assert report.tables["by_period"]["cases"].tolist() == [0, 0, 0]
    members = report.tables["by_member"]
    assert set(members["member_id"]) == {"o1", "o2", "o4", "o5", "cty"}
    assert (members["in_territory"] == 0).all() and (members["solved_ratio"] == "0/0").all()
    assert report.tables["border_zone"]["solved_ratio"].eq("0/0").all()
    assert not report.synthetic
    json.dumps(report.to_json())


def test_unknown_cluster_is_named(grid_store: IncidentStore, grid_context: Context) -> None:
    with pytest.raises(UnknownClusterError, match="no cluster 'nowhere'; known: grid-centre"):
        cluster_report(grid_store, grid_context, "nowhere", START, END)
    assert issubclass(UnknownClusterError, DataNotFoundError)  # the API answers 404


def test_reversed_or_wrong_dates_are_refused(
    grid_store: IncidentStore, grid_context: Context
) -> None:
    with pytest.raises(InvalidParameterError, match="reversed: start 2021-12-31 is after end"):
        cluster_report(grid_store, grid_context, "grid-centre", END, START)
    with pytest.raises(InvalidParameterError, match="start must be a date"):
        cluster_report(grid_store, grid_context, "grid-centre", datetime(2021, 1, 1), END)
    one_day = cluster_report(grid_store, grid_context, "grid-centre", START, START, hotspots=False)
    assert one_day.figures["days"] == 1


def test_synthetic_data_are_said(grid_store: IncidentStore, grid_context: Context) -> None:
    report = cluster_report(grid_store, grid_context, "grid-centre", START, END, hotspots=False)
    assert report.synthetic
    assert report.notes[0].startswith(SYNTHETIC_LABEL.upper())
    data = report.to_json()
    assert data["synthetic"] is True and data["synthetic_label"] == SYNTHETIC_LABEL


def test_json_and_csv_exports_hold_every_table(
    grid_store: IncidentStore, grid_context: Context, tmp_path: Path
) -> None:
    report = cluster_report(grid_store, grid_context, "grid-centre", START, END, hotspots=False)
    data = json.loads(json.dumps(report.to_json(), ensure_ascii=False))
    assert set(data["tables"]) == set(report.tables)
    by_category = data["tables"]["by_category"]
    assert by_category["title_vi"] == "Vụ việc theo loại"
    assert {"name": "cases", "vi": "Số vụ", "en": "Cases"} in by_category["columns"]
    assert len(by_category["rows"]) == len(report.tables["by_category"])
    assert data["figures"]["cases"] == report.figures["cases"]
    assert data["attribution"] == {"vi": "geozone test grid", "en": "geozone test grid"}

    files = report.write_csv(tmp_path / "csv")
    assert [p.name for p in files] == ["summary.csv", *(f"{name}.csv" for name in report.tables)]
    for name, frame in report.tables.items():
        raw = (tmp_path / "csv" / f"{name}.csv").read_bytes()
        assert raw.startswith(b"\xef\xbb\xbf") and b"\r\n" in raw  # UTF-8 BOM for Excel, CRLF
        back = pd.read_csv(tmp_path / "csv" / f"{name}.csv", encoding="utf-8-sig", dtype=str)
        assert back.columns.tolist() == [*map(str, frame.columns), "synthetic", "attribution"]
        assert len(back) == len(frame)
        assert back["synthetic"].eq("True").all()
        assert back["attribution"].eq("geozone test grid | geozone test grid").all()
    back = pd.read_csv(tmp_path / "csv" / "by_category.csv", encoding="utf-8-sig")
    assert back["cases"].tolist() == report.tables["by_category"]["cases"].tolist()
    assert "Trộm cắp tài sản" in back["label_vi"].tolist()  # diacritics kept
    summary = pd.read_csv(tmp_path / "csv" / "summary.csv", encoding="utf-8-sig")
    values = dict(zip(summary["key"], summary["value"], strict=True))
    assert values["headline_en"] == report.figures["headline_en"]
    assert values["synthetic_label"] == SYNTHETIC_LABEL


# -- a cluster carried into new units --------------------------------------------------------


def carried_cluster() -> Cluster:
    """The grid cluster as carried into the "grid2025" set from 2025-07-01."""
    joined = date(2025, 7, 1)
    return grid_cluster(
        id="grid-centre-grid2025",
        name="Cụm thử (đơn vị 2025)",
        name_en="Test cluster (2025 units)",
        boundary_set="grid2025",
        carried_from="grid-centre",
        period={"start": joined},
        events=[{"date": joined, "kind": "carried", "text": "Chuyển cụm", "text_en": "Carried"}],
        members=[
            {
                "id": f"o{n}-0000{n}",
                "kind": "unit",
                "unit_code": f"0000{n}",
                "name": f"Phường Ô {n}",
                "joined": joined,
                "partial": n == 5,
                "notes": f"From Ô {n} (0000{n})" + (" (a minor part)." if n == 5 else "."),
            }
            for n in (1, 2, 4, 5)
        ],
    )


@pytest.fixture
def carried_context(grid: BoundarySet) -> Context:
    old = BoundarySet.from_units(
        dataclasses.replace(GRID_INFO, valid_to=date(2025, 6, 30)), grid_units()
    )
    new = BoundarySet.from_units(
        dataclasses.replace(GRID_INFO, id="grid2025", valid_from=date(2025, 7, 1)), grid_units()
    )
    original = grid_cluster(zone_width_m=100)
    placed = [ClusterTerritory(original, old), ClusterTerritory(carried_cluster(), new)]
    stamps = {"grid": "test", "grid2025": "test"}
    return Context([old, new], {"grid-centre": original}, placed, stamps)


def test_a_carried_cluster_is_reported_with_its_original(
    tmp_path: Path, carried_context: Context
) -> None:
    first, last = date(2025, 1, 1), date(2025, 12, 31)
    with open_store(f"sqlite:///{tmp_path / 'store.sqlite'}") as store:
        store.add_incidents(grid_incidents(200, 5, first, last))
        assign_stale(store, carried_context)
        report = cluster_report(store, carried_context, "grid-centre", first, last, hotspots=False)
        ids = ["grid-centre", "grid-centre-grid2025"]
        assert report.cluster_ids == tuple(ids)
        assert report.set_ids == ("grid", "grid2025")
        t = truth(store, ids, first, last)
        assert set(t["cluster_id"]) == set(ids)  # incidents in both halves of the year
        check_tables(report, t, carried_context)
        check_figures(report, t)
        check_store_counts(report, store)
        forms = report.tables["cluster_forms"].set_index("cluster_id")
        assert forms.loc["grid-centre", "applies_to"] == "2025-06-30"
        assert forms.loc["grid-centre-grid2025", "applies_from"] == "2025-07-01"
        assert forms["cases"].sum() == report.figures["cases"]
        # The same code in the two sets stays two rows.
        members = report.tables["by_member"]
        assert len(members[members["member_code"] == "00001"]) == 2
        # The reorganisation is a membership change of the period.
        changes = report.tables["membership"]
        carried = changes[changes["change"] == "carried"]
        assert carried["date"].eq("2025-07-01").all() and len(carried) == 5  # event + 4 members
        partial = carried[carried["member_code"] == "00005"].iloc[0]
        # As the migrator writes a partial member's note, in Vietnamese on the Vietnamese side.
        assert partial["text_vi"] == "Một phần. Kế thừa từ Ô 5 (00005) (một phần nhỏ)."
        assert partial["text_en"] == "Partial member. From Ô 5 (00005) (a minor part)."
        # The carried id names the same family.
        again = cluster_report(
            store, carried_context, "grid-centre-grid2025", first, last, hotspots=False
        )
        assert again.cluster_ids == report.cluster_ids
        assert again.figures["cases"] == report.figures["cases"]
        assert again.cluster_name == "Cụm thử (đơn vị 2025)"
        # A period after the reorganisation uses the new set only.
        late = cluster_report(
            store, carried_context, "grid-centre", date(2025, 8, 1), last, hotspots=False
        )
        assert late.set_ids == ("grid2025",)
        assert set(late.layers["incidents"]["cluster_id"]) == {"grid-centre-grid2025"}


# -- real data: the T11 cluster over a year of synthetic incidents ---------------------------


@pytest.fixture(scope="module")
def t11(
    vn2025: BoundarySet, legacy: BoundarySet, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[IncidentStore, Context]]:
    from geozone.clusters.files import load_clusters
    from geozone.incidents.synthetic import generate_incidents

    cluster = load_clusters()["hoa-do-phuc-vi"]
    placed = territories(
        [cluster], [legacy, vn2025], carry_into=vn2025, confirmations=T11_CONFIRMED
    )
    context = Context([legacy, vn2025], {cluster.id: cluster}, placed, {})
    carried = [t.cluster for t in placed if t.bset.id == vn2025.id]
    incidents = generate_incidents(
        4_000,
        11,
        boundaries=vn2025,
        clusters=carried,
        start=datetime(2025, 1, 1, tzinfo=VIETNAM_TZ),
        end=datetime(2025, 12, 31, 23, 59, tzinfo=VIETNAM_TZ),
        legacy=legacy,
    )
    path = tmp_path_factory.mktemp("t11") / "store.sqlite"
    with open_store(f"sqlite:///{path}") as store:
        store.add_incidents(incidents)
        assign_stale(store, context)
        yield store, context


@pytest.mark.realdata
def test_t11_report_of_2025_equals_the_store(t11: tuple[IncidentStore, Context]) -> None:
    store, context = t11
    first, last = date(2025, 1, 1), date(2025, 12, 31)
    report = cluster_report(store, context, "hoa-do-phuc-vi", first, last, hotspots=False)
    assert report.cluster_ids == ("hoa-do-phuc-vi", "hoa-do-phuc-vi-vn2025")
    t = truth(store, list(report.cluster_ids), first, last)
    assert len(t) > 500 and set(t["cluster_id"]) == {"hoa-do-phuc-vi-vn2025"}
    check_tables(report, t, context)
    check_figures(report, t)
    check_store_counts(report, store)
    assert report.synthetic and report.figures["synthetic_incidents"] == len(t)
    # The original's period ended on 2024-12-31 and its form carried into the 2025 units
    # starts on 2025-07-01: the first half of 2025 is said to be outside the cluster's run.
    assert any("did not run" in note and "2025-01-01 – 2025-06-30" in note for note in report.notes)
    # The reorganisation: Ngọc Hà carries Nghĩa Đô, Cống Vị and Vĩnh Phúc.
    carried = report.tables["membership"].query("change == 'carried' and member_code == '00008'")
    assert carried["text_en"].iloc[0].startswith("From Phường Nghĩa Đô (00157), Phường Cống Vị")
    # Tây Hồ carries a minor part of Nghĩa Đô: said in Vietnamese on the Vietnamese side.
    members = report.tables["membership"].query("change == 'carried' and member_code.notna()")
    (partial,) = members[members["member_code"] == "00103"].to_dict("records")
    assert partial["text_vi"] == "Một phần. Kế thừa từ Phường Nghĩa Đô (00157) (một phần nhỏ)."
    assert partial["text_en"] == "Partial member. From Phường Nghĩa Đô (00157) (a minor part)."
    assert not members["text_vi"].str.contains("From|part", regex=True).any()
    assert report.set_ids == ("vn2025",)  # the only form that ran in 2025
    # How the carried zone was derived, with its area and the original lines' (issue 21).
    (zone_note,) = [n for n in report.notes if "Diện tích vùng giáp ranh" in n]
    assert "Chưa có ranh giới phường, xã cũ" in zone_note and "Cầu T11" in zone_note
    assert "theo ranh giới ban đầu" in zone_note and "by the original lines" in zone_note
    assert "sapnhap.bando.com.vn" in report.attribution["vi"]
    assert "Vietnam Administrative Units Reference Map" in report.attribution["en"]
    # The original ended on 2024-12-31: not a change of 2025.
    assert "period_end" not in set(report.tables["membership"]["change"])
    # In 2024 the cluster ran in legacy wards, which have no polygons: said so, and its end.
    earlier = cluster_report(store, context, "hoa-do-phuc-vi", date(2024, 1, 1), date(2024, 12, 31))
    assert any("no ward geometry" in note for note in earlier.notes) and earlier.empty
    (no_geometry,) = [n for n in earlier.notes if "no ward geometry" in n]
    vietnamese = no_geometry.split(" / ")[0]  # wholly Vietnamese: the level too
    assert "không có ranh giới cấp phường, xã của các thành viên;" in vietnamese
    assert "nhập lớp ranh giới phường, xã cũ" in vietnamese
    assert "ward" not in vietnamese and "geometry" not in vietnamese
    assert earlier.tables["membership"]["change"].tolist() == ["period_end"]
    (ended,) = earlier.tables["membership"].to_dict("records")
    assert ended["text_vi"] == (
        "Kết thúc giai đoạn của cụm (Năm ra mắt và ngày kết thúc được suy ra từ "
        "'giai đoạn 2023 - 2024')."
    )
    assert "inferred" in ended["text_en"]
    assert earlier.set_ids == ("vn-legacy-districts",)
    assert "gis.chinhphu.vn" in earlier.attribution["vi"]
    # 2024 on the legacy set, a snapshot of about 02/2023: said as /locate says it; the
    # 2025 review judged on vn2025 alone says nothing of the kind.
    assert LEGACY_SNAPSHOT_NOTICE in earlier.notes
    assert LEGACY_SNAPSHOT_NOTICE in earlier.to_json()["notes"]
    assert LEGACY_SNAPSHOT_NOTICE not in report.notes
    assert not any("(vn-legacy-districts), ranh giới là bản chụp" in note for note in report.notes)


@pytest.mark.realdata
def test_t11_report_while_its_carried_form_is_lapsed(
    vn2025: BoundarySet, legacy: BoundarySet, tmp_path: Path
) -> None:
    # Without a planner's confirmation the carried T11 form lapsed: its incidents are
    # counted, none is said to be in (or out of) the border area, and the notes say why.
    from geozone.clusters.files import load_clusters
    from geozone.incidents.synthetic import generate_incidents

    cluster = load_clusters()["hoa-do-phuc-vi"]
    placed = territories([cluster], [legacy, vn2025], carry_into=vn2025)
    lapsed = Context([legacy, vn2025], {cluster.id: cluster}, placed, {})
    first, last = date(2025, 7, 1), date(2025, 12, 31)
    incidents = generate_incidents(
        1_000,
        12,
        boundaries=vn2025,
        clusters=[t.cluster for t in placed if t.bset.id == vn2025.id],
        start=datetime(2025, 7, 1, tzinfo=VIETNAM_TZ),
        end=datetime(2025, 12, 31, 23, 59, tzinfo=VIETNAM_TZ),
    )
    with open_store(f"sqlite:///{tmp_path / 'lapsed.sqlite'}") as store:
        store.add_incidents(incidents)
        assign_stale(store, lapsed)
        report = cluster_report(store, lapsed, "hoa-do-phuc-vi", first, last, hotspots=False)
        t = truth(store, list(report.cluster_ids), first, last)
    f = report.figures
    assert f["cases"] == len(t) > 300 and set(t["rule"]) == {"no_decision"}
    assert f["zone_unknown"] == f["review"] == len(t) and f["in_zone_cases"] == 0
    assert f["headline_en"].endswith(
        f"For {len(t):,} incidents it cannot be told whether they are in the border area (not "
        "counted above; see the notes)."
    )
    (note,) = [n for n in report.notes if n.startswith("hoa-do-phuc-vi-vn2025: vụ việc")]
    assert "không có đơn vị chủ trì và không xác định vùng giáp ranh" in note
    assert "geozone clusters confirm hoa-do-phuc-vi-vn2025 --from DATE" in note
    assert not any("Diện tích vùng giáp ranh" in n for n in report.notes)  # no zone applies
    # Nobody leads them: none is counted as led (nor outside the members); one row says why.
    members = report.tables["by_member"]
    assert members["led"].sum() == 0 and "outside" not in set(members["member_kind"])
    (row,) = members[members["member_kind"] == "no_lead"].to_dict("records")
    assert (row["rule"], row["not_led"], row["in_territory"]) == ("no_decision", len(t), 0)
    assert members["in_territory"].sum() == len(t)  # each in the member's territory


@pytest.mark.realdata
def test_t11_report_with_hotspots_and_border_effect(t11: tuple[IncidentStore, Context]) -> None:
    pytest.importorskip("geozone.analysis.hotspots")
    store, context = t11
    report = cluster_report(
        store, context, "hoa-do-phuc-vi-vn2025", date(2025, 7, 1), date(2025, 12, 31)
    )
    effect = report.tables["border_effect"]
    # The carried zone's pair is that of the old districts, named (not "001 – 005").
    (pair,) = effect[effect["scope"] == "pair"].to_dict("records")
    assert pair["pair"] == "001|005"
    assert pair["pair_name"] == (
        "Quận Ba Đình (Cống Vị, Vĩnh Phúc) – Quận Cầu Giấy (Quan Hoa, Nghĩa Đô)"
    )
    cluster_row = effect[effect["scope"] == "cluster"].iloc[0]
    assert cluster_row["n_in_zone"] == report.figures["in_zone_cases"] - int(
        (
            report.layers["incidents"]["member_code"].isna() & report.layers["incidents"]["in_zone"]
        ).sum()
    )
    assert report.figures["hotspot_status"] == "tested"
    # The note says the analysis in each language: Vietnamese, then English.
    (note,) = [n for n in report.notes if n.startswith("Điểm nóng Gi*: ")]
    vietnamese, english = note.split(" / Gi* hotspots: ")
    assert vietnamese.startswith("Điểm nóng Gi*: DỮ LIỆU MÔ PHỎNG: Getis–Ord Gi* trên ")
    assert " ô vuông cỡ 250 m (lân cận chung cạnh hoặc đỉnh)" in vietnamese
    assert "cells" not in vietnamese and "incidents" not in vietnamese
    assert english.startswith("SYNTHETIC data: Getis–Ord Gi* on ") and "mô phỏng" not in english
    assert report.figures["hotspot_message_vi"] in note
    cells = report.tables["hotspots"]
    assert len(cells) and cells["kind"].isin(["hot", "cold"]).all()
    assert report.figures["hotspot_cells_hot"] == int((cells["kind"] == "hot").sum())
    # The T11 bridge draws a hot spot: the hottest cell lies within 500 m of it.
    from geozone.crs import project_xy

    x, y = project_xy(cells["lon"].to_numpy(), cells["lat"].to_numpy(), np.full(len(cells), 32648))
    bx, by = project_xy(np.array([105.8064]), np.array([21.0387]), np.array([32648]))
    assert np.hypot(x[0] - bx[0], y[0] - by[0]) < 500
    assert "named_hotspots" in report.tables and len(report.tables["named_hotspots"]) == 1


def test_the_review_counts_events_and_says_how_many_reports_were_linked(
    tmp_path: Path, grid_context: Context
) -> None:
    from geozone.analysis.study import cluster_study
    from geozone.incidents.events import link_new

    def report(external_id: str, x: float, at: str, by: str) -> dict[str, Any]:
        lon, lat = grid_point(x, 300)
        return {
            "external_id": external_id,
            "occurred_at": f"2021-03-01T{at}:00+07:00",
            "lon": lon,
            "lat": lat,
            "category": "theft",
            "detected_by": by,
            "synthetic": True,
        }

    reports = pd.DataFrame(
        [
            report("o1-1", 950, "21:00", "o1"),
            report("o2-1", 960, "21:20", "o2"),  # the same event, reported by the called member
            report("o2-2", 950, "23:40", "o2"),  # the same spot, later: another event
        ]
    )
    with open_store(f"sqlite:///{tmp_path / 'store.sqlite'}") as store:
        store.add_incidents(reports)
        assign_stale(store, grid_context)
        assert link_new(store, reports["external_id"]).linked == 2
        review = cluster_report(store, grid_context, "grid-centre", START, END, hotspots=True)
        figures = review.figures
        assert (figures["cases"], figures["reports"]) == (2, 3)
        assert (figures["linked_reports"], figures["linked_events"]) == (2, 1)
        assert any("2 reports by two or more members" in note for note in review.notes)
        zone = review.tables["border_zone"].set_index(["area", "kind"])
        assert zone.loc[("in_zone", "all"), "cases"] == 2
        effect = review.tables["border_effect"]
        whole = effect[effect["scope"] == "cluster"]
        assert int(whole["n_incidents"].iloc[0]) == 2
        assert sorted(review.layers["incidents"]["external_id"]) == ["o1-1", "o2-2"]
        study = cluster_study(store, grid_context, "grid-centre", START, END)
        assert study.events == {"reports": 3, "events": 2, "linked_reports": 2, "linked_events": 1}
        assert len(study.located) == 2  # the hotspots' points: one per event


def test_the_notes_name_an_unfinished_import_until_it_is_closed(
    tmp_path: Path, grid_context: Context
) -> None:
    """A stopped import: its reports may count as separate events; the notes say so."""
    from geozone.incidents.pipeline import close_import, unfinished_imports
    from tests.fixtures.imports import FIRST, LAST, stopped_import

    with open_store(f"sqlite:///{tmp_path / 'store.sqlite'}") as store:
        source = stopped_import(store, tmp_path, grid_context)
        report = cluster_report(store, grid_context, "grid-centre", FIRST, LAST, hotspots=False)
        [said] = [n for n in report.notes if n.startswith("Lần nhập chưa xong")]
        assert f"tệp {source}, đã đọc 301/301 dòng" in said
        assert f"Unfinished import (stopped): file {source}, 301 of 301 rows read" in said
        assert said in report.to_json()["notes"]
        assert said in report.summary_frame()["value"].tolist()
        [batch] = unfinished_imports(store)
        close_import(store, grid_context, batch["batch_id"])
        closed = cluster_report(store, grid_context, "grid-centre", FIRST, LAST, hotspots=False)
    assert not [n for n in closed.notes if "Unfinished import" in n]
    assert closed.figures["reports"] == report.figures["reports"]
    assert closed.figures["linked_reports"] >= report.figures["linked_reports"] + 2
