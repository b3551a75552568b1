"""The incident store: one suite, run against SQLite and PostgreSQL + PostGIS."""

from __future__ import annotations

import hashlib
import multiprocessing as mp
import os
import re
import signal
import sqlite3
import threading
import time
import unicodedata
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from api.auth_store import define_key_tables
from geozone.address.store import define_address_tables
from geozone.boundaries.sets import BoundarySet
from geozone.errors import (
    ConfigurationError,
    ImportBatchError,
    IncidentDataError,
    InvalidParameterError,
    StoreError,
    UnknownIncidentError,
)
from geozone.incidents.schema import Incident
from geozone.settings import Settings
from geozone.store import (
    CLUSTER_COLUMNS,
    INCIDENT_COLUMNS,
    MAX_QUERY_LIMIT,
    RESULT_COLUMNS,
    UNIT_COLUMNS,
    IncidentQuery,
    IncidentStore,
    assignment_stamp,
    open_store,
)
from geozone.store._query import MAX_BOX_CELLS
from geozone.store._tables import (
    DETECTION_DAYS_SQL,
    PLACE_CELL_SQL,
    PLACE_TIME_INDEX,
    boxes_place_cells,
    count_place_cells,
    place_cells,
)
from geozone.store.planner import define_planner_tables
from geozone.store.sql import SqlIncidentStore, alembic_config, build_metadata
from geozone.text import nfc
from geozone.vntime import VIETNAM_TZ
from tests.fixtures.grid import grid_vertex_lonlat
from tests.fixtures.incidents import T0, make_incidents, real_sample


def engine_of(store: IncidentStore) -> sa.Engine:
    assert isinstance(store, SqlIncidentStore)
    return store.engine


def scalar(store: IncidentStore, sql: str, **params: Any) -> Any:
    with engine_of(store).connect() as connection:
        return connection.execute(sa.text(sql), params).scalar()


def spatial_index_rows(store: IncidentStore) -> int:
    """Rows of the spatial index (SQLite: of place and time, read through it; PostGIS: geoms)."""
    if engine_of(store).dialect.name == "sqlite":
        return int(
            scalar(
                store,
                f"SELECT count(*) FROM incidents INDEXED BY {PLACE_TIME_INDEX} "
                f"WHERE {PLACE_CELL_SQL} >= 0",
            )
        )
    return int(scalar(store, "SELECT count(geom) FROM incidents"))


def stored(store: IncidentStore) -> int:
    return store.count(IncidentQuery())


def ids(frame: pd.DataFrame) -> set[str]:
    return set(frame["external_id"])


# --------------------------------------------------------------------------------------------
# Round trip, dedupe, validation
# --------------------------------------------------------------------------------------------


def test_round_trip_keeps_instants_and_vietnamese_text(store: IncidentStore) -> None:
    nfd = unicodedata.normalize("NFD", "Trộm xe máy gần cầu T11, phường Nghĩa Đô")
    nasty = 'tab\there, newline\nthere, quote " and \\N and \\ and ,comma; Ngọc Hà'
    frame = pd.DataFrame(
        {
            "external_id": [unicodedata.normalize("NFD", "HN-Nghĩa-Đô-1"), "utc-2", "tokyo-3"],
            "occurred_at": [
                datetime(2024, 5, 1, 22, 30, 15, 123456, tzinfo=VIETNAM_TZ),
                datetime(2024, 5, 1, 15, 30, tzinfo=UTC),
                datetime(2024, 5, 2, 1, 0, tzinfo=timezone(timedelta(hours=9))),
            ],
            "detected_at": [
                datetime(2024, 5, 1, 23, 0, tzinfo=VIETNAM_TZ),
                None,
                datetime(2024, 5, 2, 1, 5, tzinfo=timezone(timedelta(hours=9))),
            ],
            "lon": [105.8064, 105.81, 105.82],
            "lat": [21.0387, 21.04, 21.05],
            "category": ["Ma túy", "theft", "Pavement and roadway encroachment"],
            "detected_by": ["00160", None, ""],
            "status": ["solved", "open", "open"],
            "subjects": [2, 0, 7],
            "jointly_handled": [True, False, False],
            "description": [nfd, nasty, ""],
            "synthetic": [False, True, False],
        }
    )
    result = store.add_incidents(frame)
    assert (result.inserted, result.duplicates) == (3, 0)

    first = store.get("HN-Nghĩa-Đô-1")  # NFC key finds the NFD-given id
    assert first is not None
    assert first["external_id"] == unicodedata.normalize("NFC", "HN-Nghĩa-Đô-1")
    assert first["description"] == unicodedata.normalize("NFC", nfd)
    assert unicodedata.is_normalized("NFC", first["description"])
    assert first["occurred_at"] == datetime(2024, 5, 1, 22, 30, 15, 123456, tzinfo=VIETNAM_TZ)
    assert first["occurred_at"].utcoffset() == timedelta(hours=7)
    assert first["detected_at"] == datetime(2024, 5, 1, 16, 0, tzinfo=UTC)
    assert first["category"] == "drugs"
    assert (first["lon"], first["lat"]) == (105.8064, 21.0387)
    assert first["detected_by"] == "00160"
    assert (first["status"], first["subjects"], first["jointly_handled"]) == ("solved", 2, True)
    assert first["synthetic"] is False
    assert first["assignment"] is None
    assert first["clusters"] == []
    # The record is a valid Incident again.
    Incident(**{name: first[name] for name in INCIDENT_COLUMNS})

    second = store.get("utc-2")
    assert second is not None
    assert second["occurred_at"] == datetime(2024, 5, 1, 22, 30, tzinfo=VIETNAM_TZ)
    assert second["detected_at"] is None
    assert second["detected_by"] is None
    # Quotes, backslashes and \\N survive the bulk load; tabs and line breaks become single
    # spaces, as the model and the file reader make them (geozone.text.nfc).
    assert second["description"] == nfc(nasty)
    assert second["description"].startswith("tab here, newline there, quote")
    third = store.get("tokyo-3")
    assert third is not None
    assert third["occurred_at"] == datetime(2024, 5, 1, 23, 0, tzinfo=VIETNAM_TZ)
    assert third["detected_by"] == ""
    assert third["description"] == ""
    assert third["category"] == "pavement_encroachment"
    assert store.get("missing") is None


def test_naive_times_are_vietnam_time(store: IncidentStore) -> None:
    frame = make_incidents(2)
    frame["occurred_at"] = [datetime(2024, 1, 1, 7, 0), "2024-01-01T00:30:00Z"]
    store.add_incidents(frame)
    got = store.get("i000000")
    assert got is not None
    assert got["occurred_at"] == datetime(2024, 1, 1, 0, 0, tzinfo=UTC)
    other = store.get("i000001")
    assert other is not None
    assert other["occurred_at"] == datetime(2024, 1, 1, 7, 30, tzinfo=VIETNAM_TZ)


def test_dedupe_on_external_id_skips_and_never_overwrites(store: IncidentStore) -> None:
    frame = make_incidents(50)
    assert store.add_incidents(frame).inserted == 50
    again = store.add_incidents(frame.assign(description="changed"))
    assert (again.inserted, again.duplicates) == (0, 50)
    got = store.get("i000007")
    assert got is not None
    assert got["description"] == ""
    # New ids mixed with old ones and repeated within the frame.
    mixed = pd.concat([make_incidents(20, start=40), make_incidents(5, start=55)])
    result = store.add_incidents(mixed)
    assert (result.inserted, result.duplicates) == (20 - 10, 10 + 5)
    assert stored(store) == 60
    assert spatial_index_rows(store) == 60


def test_invalid_frames_store_nothing_and_name_the_problem(store: IncidentStore) -> None:
    good = make_incidents(5)
    with pytest.raises(IncidentDataError, match=r"missing column.*category"):
        store.add_incidents(good.drop(columns="category"))
    with pytest.raises(IncidentDataError, match=r"unknown column.*colour"):
        store.add_incidents(good.assign(colour="red"))
    bad = good.copy()
    bad.loc[3, "lat"] = 95.0
    bad.loc[1, "category"] = "jaywalking"
    bad.loc[2, "status"] = "closed"
    with pytest.raises(IncidentDataError) as info:
        store.add_incidents(bad)
    message = str(info.value)
    assert "lat is not a number in [-90, 90] in 1 row(s) (external_id 'i000003')" in message
    assert "unknown category 'jaywalking'" in message
    assert "status is not one of open, solved in 1 row(s) (external_id 'i000002')" in message
    with pytest.raises(IncidentDataError, match="external_id must hold text"):
        store.add_incidents(good.assign(external_id=range(5)))
    late = good.copy()
    late["detected_at"] = late["occurred_at"] - pd.Timedelta(minutes=1)
    with pytest.raises(IncidentDataError, match="detected_at is before occurred_at"):
        store.add_incidents(late)
    assert stored(store) == 0


def test_an_infinite_count_is_refused_like_any_bad_count(store: IncidentStore) -> None:
    # It used to escape as pandas' IntCastingNaNError before the problems were reported.
    frame = make_incidents(3)
    frame["subjects"] = [1.0, float("inf"), float("-inf")]
    with pytest.raises(
        IncidentDataError, match=r"subjects is not a whole number in \[0, 10000\] in 2 row"
    ):
        store.add_incidents(frame)
    assert stored(store) == 0


# --------------------------------------------------------------------------------------------
# Queries
# --------------------------------------------------------------------------------------------


def test_query_bbox_inside_outside_and_on_the_edge(store: IncidentStore) -> None:
    box = (105.80, 21.00, 105.81, 21.01)
    points = {
        "inside": (105.805, 21.005),
        "corner-sw": (105.80, 21.00),
        "corner-ne": (105.81, 21.01),
        "edge-w": (105.80, 21.005),
        "edge-n": (105.805, 21.01),
        "out-east-by-1e-9": (105.81 + 1e-9, 21.005),  # inside the single-precision index box
        "out-south": (105.805, 20.999),
        "far": (106.70, 10.78),
    }
    frame = make_incidents(len(points))
    frame["external_id"] = list(points)
    frame["lon"] = [p[0] for p in points.values()]
    frame["lat"] = [p[1] for p in points.values()]
    store.add_incidents(frame)
    page, total = store.query(IncidentQuery(bbox=box))
    assert ids(page) == {"inside", "corner-sw", "corner-ne", "edge-w", "edge-n"}
    assert total == 5
    assert page.crs.to_epsg() == 4326
    assert page.geometry.x.tolist() == page["lon"].tolist()
    assert store.count(IncidentQuery(bbox=(106.0, 10.0, 107.0, 11.0))) == 1
    assert store.count(IncidentQuery(bbox=(0.0, 0.0, 1.0, 1.0))) == 0


def test_query_time_range_is_half_open_in_any_zone(store: IncidentStore) -> None:
    store.add_incidents(make_incidents(10))  # T0 + 0..9 minutes
    start, end = T0 + timedelta(minutes=2), T0 + timedelta(minutes=5)
    page, total = store.query(IncidentQuery(start=start, end=end))
    assert page["external_id"].tolist() == ["i000002", "i000003", "i000004"]
    assert total == 3
    in_utc = IncidentQuery(start=start.astimezone(UTC), end=end.astimezone(UTC))
    assert store.count(in_utc) == 3
    naive = IncidentQuery(start=start.replace(tzinfo=None))  # Vietnam time
    assert store.count(naive) == 8
    assert str(page["occurred_at"].dt.tz) == str(pd.Timestamp(T0).tz)
    assert page["occurred_at"].iloc[0] == pd.Timestamp(start)


def test_query_category_status_synthetic(store: IncidentStore) -> None:
    frame = make_incidents(6)
    frame["category"] = ["theft", "drugs", "Ma túy", "fraud", "theft", "gambling"]
    frame["status"] = ["open", "solved", "open", "open", "solved", "open"]
    frame["synthetic"] = [True, True, False, True, True, True]
    store.add_incidents(frame)
    assert store.count(IncidentQuery(categories=("drugs",))) == 2
    assert store.count(IncidentQuery(categories=("Trộm cắp tài sản", "fraud"))) == 3
    assert store.count(IncidentQuery(categories="theft")) == 2  # type: ignore[arg-type]
    assert store.count(IncidentQuery(status="solved")) == 2
    assert store.count(IncidentQuery(synthetic=False)) == 1
    assert store.count(IncidentQuery(categories=("theft",), status="solved")) == 1


def _assign(store: IncidentStore, stamp: str = "stamp-1") -> None:
    """Incidents i000000..i000009 in grid wards; 0-5 in cluster hoa-do, 0-2 in its zone."""
    n = 10
    external = [f"i{i:06d}" for i in range(n)]
    ward = [f"0000{i % 9 + 1}" for i in range(n)]
    units = pd.DataFrame(
        {
            "external_id": external,
            "set_id": "grid",
            "locate_status": "inside",
            "unit_code": ward,
            "ward_code": ward,
            "district_code": ["001" if (i % 9) % 3 < 2 else "002" for i in range(n)],
            "province_code": "01",
            "on_boundary": [i == 0 for i in range(n)],
            "candidates": [["00001", "00002"] if i == 0 else [] for i in range(n)],
        }
    )
    clusters = pd.DataFrame(
        {
            "external_id": external[:6] + external[:1],
            "cluster_id": ["hoa-do"] * 6 + ["other"],
            "member_code": [*ward[:6], ward[0]],
            "in_zone": [True, True, True, False, False, False, False],
            "zone_kind": ["pair"] * 3 + [None] * 4,
            "zone_units": [["00001", "00002"]] * 3 + [[]] * 4,
            "distance_m": [12.5, 40.0, 99.9, None, None, None, None],
            "lead_unit": [*ward[:6], ward[0]],
            "cooperating": [["00002"], ["00001"], ["00001"], [], [], [], []],
            "rule": ["border_first_detector"] * 3 + ["inside_member"] * 4,
            "review": [True, False, False, False, False, False, False],
            "explanation_vi": ["Giáp ranh: đơn vị phát hiện trước chủ trì"] + [""] * 6,
            "explanation_en": ["Border area: the first detector leads"] + [""] * 6,
        }
    )
    assert store.save_assignments(units, clusters, stamp=stamp) == n


def test_query_unit_code_cluster_and_border_zone(store: IncidentStore) -> None:
    store.add_incidents(make_incidents(12))
    _assign(store)
    assert ids(store.query(IncidentQuery(unit_code="00002"))[0]) == {"i000001"}
    assert store.count(IncidentQuery(unit_code="002")) == 3  # wards 3, 6, 9 → 2, 5, 8
    assert store.count(IncidentQuery(unit_code="01")) == 10
    assert store.count(IncidentQuery(unit_code="99999")) == 0
    assert store.count(IncidentQuery(cluster_id="hoa-do")) == 6
    in_zone = store.query(IncidentQuery(cluster_id="hoa-do", in_border_zone=True))[0]
    assert ids(in_zone) == {"i000000", "i000001", "i000002"}
    out_zone = store.query(IncidentQuery(cluster_id="hoa-do", in_border_zone=False))[0]
    assert ids(out_zone) == {"i000003", "i000004", "i000005"}
    assert store.count(IncidentQuery(in_border_zone=True)) == 3
    assert store.count(IncidentQuery(in_border_zone=False)) == 12 - 3
    assert store.count(IncidentQuery(cluster_id="other", in_border_zone=True)) == 0
    assert store.count(IncidentQuery(cluster_id="other")) == 1
    page = store.query(IncidentQuery(unit_code="00001"))[0]
    row = page.set_index("external_id").loc["i000000"]
    assert row["candidates"] == ["00001", "00002"]
    assert bool(row["on_boundary"]) is True
    assert row["assigned_with"] == "stamp-1"


def test_cluster_rows_follow_the_query_page(store: IncidentStore) -> None:
    store.add_incidents(make_incidents(12))
    _assign(store)
    rows = store.cluster_rows(IncidentQuery(limit=100))
    assert len(rows) == 7
    assert rows["external_id"].tolist() == ["i000000"] * 2 + [f"i{i:06d}" for i in range(1, 6)]
    assert rows["cluster_id"].tolist()[:2] == ["hoa-do", "other"]
    first = rows.iloc[0]
    assert (first["in_zone"], first["zone_units"], first["distance_m"]) == (
        True,
        ["00001", "00002"],
        12.5,
    )
    assert first["cooperating"] == ["00002"]
    zoned = store.cluster_rows(IncidentQuery(cluster_id="hoa-do", in_border_zone=True))
    assert zoned["external_id"].tolist() == ["i000000", "i000001", "i000002"]
    assert set(zoned["cluster_id"]) == {"hoa-do"}
    second_page = store.cluster_rows(IncidentQuery(limit=2, offset=1, descending=True))
    assert second_page["external_id"].tolist() == []  # i000010, i000009: not in any cluster
    page = store.cluster_rows(IncidentQuery(limit=3, offset=3))
    assert page["external_id"].tolist() == ["i000003", "i000004", "i000005"]
    assert list(store.cluster_rows(IncidentQuery(unit_code="99999")).columns) == [
        "external_id",
        *CLUSTER_COLUMNS,
    ]


def test_pages_walk_every_incident_in_key_order_with_its_decisions(
    store: IncidentStore,
) -> None:
    store.add_incidents(make_incidents(25)[::-1])  # stored newest first: the key is not time
    _assign(store)
    pages = list(store.pages(IncidentQuery(), page_rows=4))
    assert [len(p.incidents) for p in pages] == [4] * 6 + [1]
    assert [p.done for p in pages] == [4, 8, 12, 16, 20, 24, 25]
    assert {p.total for p in pages} == {25}
    walked = pd.concat([p.incidents for p in pages], ignore_index=True)
    assert walked["external_id"].tolist() == [f"i{i:06d}" for i in range(24, -1, -1)]
    assert list(walked.columns) == [*RESULT_COLUMNS, "geometry"]
    whole, _ = store.query(IncidentQuery(limit=100))
    by_time = walked.sort_values("occurred_at").reset_index(drop=True)

    def plain(frame: pd.DataFrame) -> list[dict[str, Any]]:
        data = pd.DataFrame(frame.drop(columns="geometry")).astype(object)
        return list(data.where(data.notna(), None).to_dict("records"))

    assert plain(by_time) == plain(whole)
    # each page's decisions are those of its incidents, as cluster_rows returns them
    decisions = pd.concat([p.decisions for p in pages], ignore_index=True)
    expected = store.cluster_rows(IncidentQuery(limit=100))
    assert sorted(map(tuple, decisions[["external_id", "cluster_id"]].to_numpy())) == sorted(
        map(tuple, expected[["external_id", "cluster_id"]].to_numpy())
    )
    for page in pages:
        assert set(page.decisions["external_id"]) <= set(page.incidents["external_id"])
        assert list(page.decisions.columns) == ["external_id", *CLUSTER_COLUMNS]
    first = decisions[decisions["external_id"] == "i000000"]
    assert first["cluster_id"].tolist() == ["hoa-do", "other"]
    assert first.iloc[0]["cooperating"] == ["00002"] and bool(first.iloc[0]["review"])


def test_pages_filter_and_keep_only_the_named_clusters_decisions(store: IncidentStore) -> None:
    store.add_incidents(make_incidents(12))
    _assign(store)
    pages = list(store.pages(IncidentQuery(cluster_id="hoa-do"), page_rows=4))
    assert [p.incidents["external_id"].tolist() for p in pages] == [
        [f"i{i:06d}" for i in range(4)],
        ["i000004", "i000005"],
    ]
    decisions = pd.concat([p.decisions for p in pages], ignore_index=True)
    assert set(decisions["cluster_id"]) == {"hoa-do"}
    assert decisions["external_id"].tolist() == [f"i{i:06d}" for i in range(6)]
    assert list(store.pages(IncidentQuery(unit_code="99999"))) == []
    exact = list(store.pages(IncidentQuery(), page_rows=12))  # a full last page, then none
    assert [len(p.incidents) for p in exact] == [12]
    with pytest.raises(InvalidParameterError, match="page_rows"):
        next(store.pages(IncidentQuery(), page_rows=MAX_QUERY_LIMIT + 1))


@pytest.mark.parametrize(
    "criteria",
    [
        {},
        {"bbox": (105.80, 21.00, 105.805, 21.0)},
        {"cluster_id": "hoa-do"},
        {"cluster_id": "hoa-do", "in_border_zone": True},
        {"cluster_id": "hoa-do", "in_border_zone": False},
        {"in_border_zone": True},
        {"in_border_zone": False},
        {"unit_code": "002"},
        {"units": (("grid", "00001"), ("grid", "00005"))},
        {"start": T0 + timedelta(minutes=3), "end": T0 + timedelta(minutes=9)},
        {"categories": ("theft",), "status": "open", "synthetic": True},
    ],
)
def test_pages_select_what_the_query_selects(
    store: IncidentStore, criteria: dict[str, Any]
) -> None:
    store.add_incidents(make_incidents(12))
    _assign(store)
    query = IncidentQuery(limit=100, **criteria)
    walked = [i for p in store.pages(query, page_rows=2) for i in p.incidents["external_id"]]
    listed, total = store.query(query)
    assert sorted(walked) == sorted(listed["external_id"]) and len(walked) == total
    decided = pd.concat([p.decisions for p in store.pages(query, page_rows=2)] or [pd.DataFrame()])
    expected = store.cluster_rows(query)
    assert sorted(
        map(tuple, decided.get(["external_id", "cluster_id"], pd.DataFrame()).to_numpy())
    ) == sorted(map(tuple, expected[["external_id", "cluster_id"]].to_numpy()))


def test_pages_follow_the_primary_key_on_sqlite_whatever_the_filters(
    store: IncidentStore,
) -> None:
    """SQLite's plan of a page is a primary-key range, never an index scan and a sort."""
    if engine_of(store).dialect.name != "sqlite":
        pytest.skip("PostgreSQL's planner chooses by cost")
    store.add_incidents(make_incidents(30))
    _assign(store)
    sent: list[tuple[str, Any]] = []

    def seen(_c: Any, _cur: Any, statement: str, parameters: Any, *_: Any) -> None:
        sent.append((statement, parameters))

    for query in (
        IncidentQuery(),
        IncidentQuery(cluster_id="hoa-do", bbox=(105.8, 21.0, 105.9, 21.1)),
        IncidentQuery(in_border_zone=False, unit_code="00001", start=T0),
    ):
        sent.clear()
        sa.event.listen(engine_of(store), "before_cursor_execute", seen)
        try:
            assert sum(len(p.incidents) for p in store.pages(query, page_rows=2)) > 0
        finally:
            sa.event.remove(engine_of(store), "before_cursor_execute", seen)
        paged = [(s, p) for s, p in sent if "ORDER BY" in s]
        assert len(paged) >= 2
        with engine_of(store).connect() as connection:
            for statement, parameters in paged:
                plan = " / ".join(
                    row[3]
                    for row in connection.exec_driver_sql(
                        f"EXPLAIN QUERY PLAN {statement}", tuple(parameters)
                    )
                )
                assert "TEMP B-TREE" not in plan and "SCAN incidents USING" not in plan, plan
                assert plan.startswith(
                    ("SEARCH incidents USING INTEGER PRIMARY KEY (rowid>?)",
                     "SCAN incidents",  # the first page: in rowid order from the start
                     "SEARCH incident_clusters USING INDEX sqlite_autoindex")
                ), plan  # fmt: skip


def test_pages_seek_by_key_instead_of_skipping_rows(store: IncidentStore) -> None:
    """Every page is found through the primary key (``id > last``): no row is skipped over.

    SQLite's compiler always writes ``OFFSET ?``: its value must then be 0.
    """
    store.add_incidents(make_incidents(9))
    sent: list[tuple[str, Any]] = []

    def seen(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        sent.append((statement, parameters))

    engine = engine_of(store)
    sa.event.listen(engine, "before_cursor_execute", seen)
    try:
        assert sum(len(p.incidents) for p in store.pages(IncidentQuery(), page_rows=3)) == 9
    finally:
        sa.event.remove(engine, "before_cursor_execute", seen)
    offsets = []
    for statement, parameters in sent:
        for k in [m.start() for m in re.finditer(r"OFFSET ", statement)]:
            given = statement[k + len("OFFSET ") :].split()[0].strip(")")
            offsets.append(parameters[statement[:k].count("?")] if given == "?" else given)
    assert all(str(v) == "0" for v in offsets), offsets
    pages = [s for s, _ in sent if "FROM incidents" in s and "LIMIT" in s.upper()]
    assert sum("incidents.id >" in s for s in pages) >= 3


def test_paging_limit_offset_total_and_order(store: IncidentStore) -> None:
    store.add_incidents(make_incidents(25)[::-1])
    first, total = store.query(IncidentQuery(limit=10))
    assert total == 25
    assert first["external_id"].tolist() == [f"i{i:06d}" for i in range(10)]
    last, total = store.query(IncidentQuery(limit=10, offset=20))
    assert (total, last["external_id"].tolist()) == (25, [f"i{i:06d}" for i in range(20, 25)])
    newest = store.query(IncidentQuery(limit=3, descending=True))[0]
    assert newest["external_id"].tolist() == ["i000024", "i000023", "i000022"]
    by_id = store.query(IncidentQuery(order="external_id", limit=2, offset=1))[0]
    assert by_id["external_id"].tolist() == ["i000001", "i000002"]
    beyond, total = store.query(IncidentQuery(limit=10, offset=100))
    assert (len(beyond), total) == (0, 25)
    assert list(beyond.columns) == [*RESULT_COLUMNS, "geometry"]
    assert beyond.crs.to_epsg() == 4326


def test_query_frame_types(store: IncidentStore) -> None:
    store.add_incidents(make_incidents(3, subjects=[0, 1, 2]))
    page, _ = store.query(IncidentQuery())
    assert list(page.columns) == [*RESULT_COLUMNS, "geometry"]
    assert page["subjects"].dtype == "int64"
    assert page["synthetic"].dtype == bool
    assert page["lon"].dtype == "float64"
    assert page["occurred_at"].dt.tz is not None
    assert page["occurred_at"].iloc[0] == pd.Timestamp(T0)


def test_query_validation() -> None:
    with pytest.raises(InvalidParameterError, match="limit"):
        IncidentQuery(limit=MAX_QUERY_LIMIT + 1)
    with pytest.raises(InvalidParameterError, match="limit"):
        IncidentQuery(limit=0)
    with pytest.raises(InvalidParameterError, match="offset"):
        IncidentQuery(offset=-1)
    with pytest.raises(InvalidParameterError, match="bbox"):
        IncidentQuery(bbox=(106.0, 21.0, 105.0, 22.0))
    with pytest.raises(InvalidParameterError, match="unknown category"):
        IncidentQuery(categories=("jaywalking",))
    with pytest.raises(InvalidParameterError, match="categories is empty"):
        IncidentQuery(categories=())
    with pytest.raises(InvalidParameterError, match="status"):
        IncidentQuery(status="closed")
    assert IncidentQuery(categories=("Ma túy",)).categories == ("drugs",)


# --------------------------------------------------------------------------------------------
# Assignments
# --------------------------------------------------------------------------------------------


def test_assignments_replace_atomically_and_stale_ids(store: IncidentStore) -> None:
    store.add_incidents(make_incidents(12))
    assert store.stale_ids("stamp-1") == [f"i{i:06d}" for i in range(12)]
    _assign(store, "stamp-1")
    assert store.stale_ids("stamp-1") == ["i000010", "i000011"]
    assert len(store.stale_ids("stamp-2")) == 12
    assert store.stale_ids("stamp-2", limit=3) == ["i000000", "i000001", "i000002"]

    got = store.get("i000000")
    assert got is not None
    assignment = got["assignment"]
    assert assignment["unit_code"] == "00001"
    assert assignment["candidates"] == ["00001", "00002"]
    assert assignment["on_boundary"] is True
    assert assignment["assigned_with"] == "stamp-1"
    assert assignment["assigned_at"].tzinfo is not None
    assert [c["cluster_id"] for c in got["clusters"]] == ["hoa-do", "other"]
    lead = got["clusters"][0]
    assert lead["in_zone"] is True
    assert lead["zone_units"] == ["00001", "00002"]
    assert lead["distance_m"] == 12.5
    assert lead["cooperating"] == ["00002"]
    assert lead["review"] is True
    assert lead["explanation_vi"] == "Giáp ranh: đơn vị phát hiện trước chủ trì"

    # Boundaries changed: i000000 now in ward 00004, only in cluster "new".
    units = pd.DataFrame(
        {
            "external_id": ["i000000"],
            "set_id": "grid-2",
            "locate_status": "inside",
            "unit_code": "00004",
            "ward_code": "00004",
            "district_code": "001",
            "province_code": "01",
            "on_boundary": False,
            "candidates": [[]],
        }
    )
    clusters = pd.DataFrame({"external_id": ["i000000"], "cluster_id": ["new"], "in_zone": [True]})
    store.save_assignments(units, clusters, stamp="stamp-2")
    got = store.get("i000000")
    assert got is not None
    assert got["assignment"]["unit_code"] == "00004"
    assert got["assignment"]["set_id"] == "grid-2"
    assert [c["cluster_id"] for c in got["clusters"]] == ["new"]
    assert store.count(IncidentQuery(cluster_id="hoa-do")) == 5
    assert "i000000" not in store.stale_ids("stamp-2")

    # One unknown incident: nothing of the call is saved.
    units2 = pd.concat([units.assign(unit_code="00009"), units.assign(external_id="nope")])
    with pytest.raises(UnknownIncidentError, match="'nope'"):
        store.save_assignments(units2, clusters.iloc[:0], stamp="stamp-3")
    got = store.get("i000000")
    assert got is not None
    assert got["assignment"]["unit_code"] == "00004"
    assert [c["cluster_id"] for c in got["clusters"]] == ["new"]
    assert store.stale_ids("stamp-3") == [f"i{i:06d}" for i in range(12)]


def test_saves_what_geozone_assign_produces(store: IncidentStore, grid: BoundarySet) -> None:
    # Imported here: it pulls libpysal, which spawned writers need not load.
    from geozone import assignment as assign

    assert list(assign.UNIT_COLUMNS) == ["external_id", *UNIT_COLUMNS]
    assert list(assign.CLUSTER_COLUMNS) == ["external_id", *CLUSTER_COLUMNS]
    frame = make_incidents(4, detected_by=None)
    centre, junction = grid_vertex_lonlat(0.5, 0.5), grid_vertex_lonlat(1, 1)
    frame["lon"] = [centre[0], junction[0], 106.70, centre[0]]
    frame["lat"] = [centre[1], junction[1], 10.78, centre[1]]
    frame.loc[3, "occurred_at"] = pd.Timestamp("1990-01-01", tz=VIETNAM_TZ)  # before the grid
    store.add_incidents(frame)
    units = assign.jurisdiction(frame, [grid], 10.0)
    clusters = pd.DataFrame(
        {
            "external_id": ["i000001"],
            "cluster_id": ["grid-cluster"],
            "member_code": ["00001"],
            "in_zone": [np.True_],
            "zone_kind": ["junction"],
            "zone_units": [np.array(["00001", "00002", "00004", "00005"], dtype=object)],
            "distance_m": [np.float64(0.0)],
            "boundary_with": ["00002"],
            "lead_unit": ["00001"],
            "cooperating": [np.array(["00002"], dtype=object)],
            "rule": ["on_boundary"],
            "review": [np.True_],
            "explanation_vi": ["Trên ranh giới"],
            "explanation_en": ["On the boundary"],
        }
    )[assign.CLUSTER_COLUMNS]
    assert store.save_assignments(units, clusters, stamp="grid") == 4

    def assignment(external_id: str) -> dict[str, Any]:
        got = store.get(external_id)
        assert got is not None
        return dict(got["assignment"])

    inside = assignment("i000000")
    assert (inside["locate_status"], inside["ward_code"], inside["district_code"]) == (
        "inside",
        "00001",
        "001",
    )
    assert inside["on_boundary"] is False
    on_line = assignment("i000001")
    assert on_line["on_boundary"] is True
    assert sorted(on_line["candidates"]) == ["00001", "00002", "00004", "00005"]
    assert assignment("i000002")["locate_status"] == "outside"
    undated = assignment("i000003")
    assert (undated["locate_status"], undated["set_id"]) == ("no_set", None)
    got = store.get("i000001")
    assert got is not None
    assert got["clusters"][0]["boundary_with"] == "00002"
    assert got["clusters"][0]["zone_units"] == ["00001", "00002", "00004", "00005"]
    assert store.count(IncidentQuery(unit_code="001")) == 2


def test_assignment_frames_are_validated(store: IncidentStore) -> None:
    store.add_incidents(make_incidents(2))
    units = pd.DataFrame(
        {"external_id": ["i000000", "i000000"], "set_id": "grid", "locate_status": "inside"}
    )
    with pytest.raises(IncidentDataError, match="external_id repeated"):
        store.save_assignments(
            units, pd.DataFrame(columns=["external_id", "cluster_id", "in_zone"]), stamp="s"
        )
    units = pd.DataFrame({"external_id": ["i000000"], "set_id": "grid", "locate_status": "lost"})
    with pytest.raises(IncidentDataError, match="locate_status"):
        store.save_assignments(
            units, pd.DataFrame(columns=["external_id", "cluster_id", "in_zone"]), stamp="s"
        )
    units = units.assign(locate_status="outside")
    clusters = pd.DataFrame({"external_id": ["i000001"], "cluster_id": ["c"], "in_zone": [True]})
    with pytest.raises(IncidentDataError, match="not in the units frame"):
        store.save_assignments(units, clusters, stamp="s")
    assert len(store.stale_ids("s")) == 2


def test_assignment_stamp_is_stable_and_ordered() -> None:
    a = assignment_stamp(["vn2025", '{"id": "hoa-do"}'])
    assert a == assignment_stamp(["vn2025", '{"id": "hoa-do"}'])
    assert a != assignment_stamp(['{"id": "hoa-do"}', "vn2025"])
    assert a != assignment_stamp(["vn2025", '{"id": "hoa-do", "width_m": 300}'])
    assert a.startswith("a1:") and len(a) == 27


# --------------------------------------------------------------------------------------------
# Import batches
# --------------------------------------------------------------------------------------------


def test_batches_progress_resume_and_finish(store: IncidentStore) -> None:
    assert store.batch("b1") is None
    with pytest.raises(ImportBatchError, match="unknown"):
        store.add_incidents(make_incidents(1), batch_id="b1")
    begun = store.begin_batch("b1", source="a.csv", sha256="aa" * 32, rows_total=100)
    assert (begun["status"], begun["rows_done"], begun["rows_total"]) == ("running", 0, 100)
    store.add_incidents(make_incidents(60), batch_id="b1")
    assert store.batch("b1")["rows_done"] == 60  # type: ignore[index]

    # A chunk that would pass rows_total fails after its rows were inserted: all rolled back.
    with pytest.raises(ImportBatchError, match="rows_total"):
        store.add_incidents(make_incidents(60, start=60), batch_id="b1")
    record = store.batch("b1")
    assert record is not None
    assert (record["rows_done"], record["rows_inserted"]) == (60, 60)
    assert stored(store) == 60
    assert spatial_index_rows(store) == 60

    # Resume: begin again returns the record as it is; the importer continues from rows_done.
    resumed = store.begin_batch("b1", source="moved/a.csv", sha256="aa" * 32, rows_total=100)
    assert resumed["rows_done"] == 60
    with pytest.raises(ImportBatchError, match="another input"):
        store.begin_batch("b1", source="a.csv", sha256="bb" * 32, rows_total=100)
    chunk = make_incidents(38, start=60)
    result = store.add_incidents(chunk, batch_id="b1", source_rows=40)  # 2 rejected rows
    assert (result.inserted, result.duplicates) == (38, 0)
    rejects = [{"row": 98, "error": "lat ngoài phạm vi"}, {"row": 99, "error": "no category"}]
    given = [{**rejects[0], "row": np.int64(98)}, rejects[1]]  # numpy ints from pandas
    done = store.finish_batch("b1", rows_stored=98, rows_rejected=2, rejects=given)
    assert (done["status"], done["rows_done"], done["rows_stored"]) == ("done", 100, 98)
    assert done["rejects"] == rejects
    assert done["finished_at"].tzinfo is not None
    with pytest.raises(ImportBatchError, match="finished"):
        store.add_incidents(make_incidents(1, start=500), batch_id="b1")
    with pytest.raises(ImportBatchError, match="finished"):
        store.finish_batch("b1", 0, 0, [])
    page = store.query(IncidentQuery(limit=1))[0]
    assert page["batch_id"].tolist() == ["b1"]


def test_a_closed_batch_is_kept_not_done_and_reopened_by_its_import(
    store: IncidentStore,
) -> None:
    """close_batch sets an unfinished batch aside (rows kept); begin_batch reopens it."""
    assert isinstance(store, SqlIncidentStore)
    store.begin_batch("b1", source="a.csv", sha256="aa" * 32, rows_total=100)
    store.add_incidents(make_incidents(60), batch_id="b1")
    closed = store.close_batch("b1")
    assert (closed["status"], closed["rows_done"], closed["rows_stored"]) == ("closed", 60, 60)
    assert closed["finished_at"] is not None
    assert stored(store) == 60
    assert [(b["batch_id"], b["status"]) for b in store.batches()] == [("b1", "closed")]
    with pytest.raises(ImportBatchError, match="'b1' is closed"):
        store.close_batch("b1")
    with pytest.raises(ImportBatchError, match="finished"):
        store.add_incidents(make_incidents(1, start=60), batch_id="b1")
    # The same import again: running, resumed where it stopped.
    reopened = store.begin_batch("b1", source="a.csv", sha256="aa" * 32, rows_total=100)
    assert (reopened["status"], reopened["rows_done"], reopened["finished_at"]) == (
        "running",
        60,
        None,
    )
    store.add_incidents(make_incidents(40, start=60), batch_id="b1")
    assert store.finish_batch("b1", 100, 0, [])["status"] == "done"
    with pytest.raises(ImportBatchError, match="'b1' is done"):
        store.close_batch("b1")
    with pytest.raises(ImportBatchError, match="no import batch 'nope'"):
        store.close_batch("nope")


def test_migration_0012_keeps_the_batches_and_their_incidents(store_url: str) -> None:
    """Down to 0011 a closed batch is running again and 'closed' is refused; up, it is allowed."""
    from alembic import command

    with open_store(store_url) as store:
        assert isinstance(store, SqlIncidentStore)
        store.begin_batch("b1", source="a.csv", sha256="aa" * 32, rows_total=10)
        store.add_incidents(make_incidents(5), batch_id="b1")
        store.close_batch("b1")
        with engine_of(store).begin() as connection:
            command.downgrade(alembic_config(connection), "0011")
        assert scalar(store, "SELECT status FROM import_batches") == "running"
        with pytest.raises(sa.exc.IntegrityError), engine_of(store).begin() as connection:
            connection.execute(sa.text("UPDATE import_batches SET status = 'closed'"))
    with open_store(store_url) as store:  # upgraded again
        assert isinstance(store, SqlIncidentStore)
        assert stored(store) == 5
        assert store.close_batch("b1")["status"] == "closed"
        if engine_of(store).dialect.name == "sqlite":
            assert scalar(store, "SELECT count(*) FROM pragma_foreign_key_check") == 0
            with pytest.raises(sa.exc.IntegrityError), engine_of(store).begin() as connection:
                connection.execute(sa.text("DELETE FROM import_batches"))  # referenced


def _poison(store: IncidentStore) -> None:
    """A trigger that makes the database reject the row ``poison`` in mid-statement."""
    engine = engine_of(store)
    with engine.begin() as connection:
        if engine.dialect.name == "sqlite":
            connection.exec_driver_sql(
                "CREATE TRIGGER poison BEFORE INSERT ON incidents "
                "WHEN NEW.external_id = 'poison' BEGIN SELECT RAISE(ABORT, 'poisoned row'); END"
            )
        else:
            connection.exec_driver_sql(
                "CREATE FUNCTION poison() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                "IF NEW.external_id = 'poison' THEN RAISE EXCEPTION 'poisoned row'; END IF; "
                "RETURN NEW; END $$"
            )
            connection.exec_driver_sql(
                "CREATE TRIGGER poison BEFORE INSERT ON incidents "
                "FOR EACH ROW EXECUTE FUNCTION poison()"
            )


def test_failing_batch_leaves_nothing_and_stays_resumable(store: IncidentStore) -> None:
    _poison(store)
    store.begin_batch("b", source="x.csv", sha256="cc" * 32, rows_total=300)
    store.add_incidents(make_incidents(100), batch_id="b")
    chunk = make_incidents(100, start=100)
    chunk.loc[50, "external_id"] = "poison"  # rows before it are inserted, then it fails
    with pytest.raises(StoreError, match="poisoned row"):
        store.add_incidents(chunk, batch_id="b")
    record = store.batch("b")
    assert record is not None
    assert (record["status"], record["rows_done"], record["rows_inserted"]) == ("running", 100, 100)
    assert stored(store) == 100
    assert spatial_index_rows(store) == 100
    assert store.get("i000100") is None
    # The importer fixes the row and resumes from rows_done.
    chunk.loc[50, "external_id"] = "i000150"
    assert store.add_incidents(chunk, batch_id="b").inserted == 100
    assert store.add_incidents(make_incidents(100, start=200), batch_id="b").inserted == 100
    assert store.finish_batch("b", 300, 0, [])["rows_done"] == 300
    assert stored(store) == spatial_index_rows(store) == 300


def _judged(frame: pd.DataFrame, grid: BoundarySet) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The unit assignment of ``frame`` on the grid, and one cluster decision per row."""
    from geozone import assignment as assign

    units = assign.jurisdiction(frame, [grid], 10.0)
    clusters = pd.DataFrame(
        {
            "external_id": frame["external_id"],
            "cluster_id": "grid-cluster",
            "member_code": "00001",
            "in_zone": True,
            "zone_units": [["00001", "00002"]] * len(frame),
            "distance_m": 12.5,
            "cooperating": [["00002"]] * len(frame),
            "rule": "inside",
            "explanation_vi": "Trong vùng biên",
        }
    )
    return units, clusters


def test_add_judged_stores_rows_with_their_decisions_at_once(
    store: IncidentStore, grid: BoundarySet
) -> None:
    assert isinstance(store, SqlIncidentStore)
    centre = grid_vertex_lonlat(0.5, 0.5)
    store.add_incidents(make_incidents(2))  # i000000, i000001: stored before
    frame = make_incidents(5)  # i000000 … i000004
    frame["lon"], frame["lat"] = centre
    store.begin_batch("b", source="x.csv", sha256="dd" * 32, rows_total=5)
    assert store.known_ids(frame["external_id"].tolist()) == {"i000000", "i000001"}
    units, clusters = _judged(frame, grid)
    added, ours = store.add_judged(frame, units, clusters, "b", stamp="grid")
    assert (added.inserted, added.duplicates) == (3, 2)
    assert ours == ["i000002", "i000003", "i000004"]
    record = store.get("i000003")
    assert record is not None and record["batch_id"] == "b"
    assert record["assignment"]["ward_code"] == "00001"
    assert record["assignment"]["assigned_with"] == "grid"
    assert [c["cluster_id"] for c in record["clusters"]] == ["grid-cluster"]
    assert record["clusters"][0]["zone_units"] == ["00001", "00002"]
    assert record["clusters"][0]["distance_m"] == 12.5
    # The same decisions as save_assignments writes (its path: UPDATE, then the clusters).
    one = units["external_id"] == "i000003"
    store.save_assignments(units[one], clusters[clusters["external_id"] == "i000003"], stamp="grid")
    again = store.get("i000003")
    assert again is not None
    for got in (record, again):
        got["assignment"].pop("assigned_at")
    assert again == record
    before = store.get("i000000")  # a stored row is neither overwritten nor judged
    assert before is not None and before["assignment"] is None and before["clusters"] == []
    assert store.stale_ids("grid") == ["i000000", "i000001"]
    batch = store.batch("b")
    assert batch is not None
    assert (batch["rows_done"], batch["rows_inserted"], batch["rows_duplicate"]) == (5, 3, 2)
    # The spatial index holds the new rows, and keeps following later inserts.
    assert spatial_index_rows(store) == stored(store) == 5
    store.add_incidents(make_incidents(2, start=10))
    assert spatial_index_rows(store) == stored(store) == 7
    box = IncidentQuery(
        bbox=(centre[0] - 1e-6, centre[1] - 1e-6, centre[0] + 1e-6, centre[1] + 1e-6)
    )
    assert ids(store.query(box)[0]) == {"i000002", "i000003", "i000004"}
    if engine_of(store).dialect.name == "sqlite":
        # The index of place and detection time (migration 0014) holds them, each in its
        # cell at its detection time (detected_at, else occurred_at) in days since 1970.
        assert scalar(store, "PRAGMA integrity_check") == "ok"
        cell = place_cells(centre[0], centre[1], centre[0], centre[1])
        assert len(cell) == 1
        in_cell = (
            f"SELECT group_concat(external_id, ' ') FROM (SELECT external_id FROM incidents "
            f"INDEXED BY {PLACE_TIME_INDEX} WHERE {PLACE_CELL_SQL} = :cell "
            f"AND {DETECTION_DAYS_SQL} BETWEEN :start AND :end ORDER BY external_id)"
        )
        day = (T0 - datetime(1970, 1, 1, tzinfo=UTC)).total_seconds() / 86_400
        # i000002-i000004 are detected 2-4 minutes after T0 (a minute is 0.000694 days).
        found = scalar(store, in_cell, cell=cell[0], start=day + 0.0013, end=day + 0.0029)
        assert found == "i000002 i000003 i000004"
        assert scalar(store, in_cell, cell=cell[0], start=day + 0.0015, end=day + 0.0025) == (
            "i000003"
        )
        assert scalar(store, in_cell, cell=cell[0] + 1, start=day, end=day + 1) is None
    with pytest.raises(InvalidParameterError, match="lack their assignment"):
        store.add_judged(make_incidents(1, start=20), units.iloc[:0], clusters.iloc[:0], stamp="s")


def _stored_rows(store: IncidentStore, prefix: str) -> list[dict[str, Any]]:
    """Each stored incident of ids ``prefix…`` with its cluster rows, ids without the prefix."""
    incidents = pd.read_sql(
        sa.text("SELECT * FROM incidents WHERE external_id LIKE :p ORDER BY id"),
        engine_of(store),
        params={"p": f"{prefix}%"},
    )
    clusters = pd.read_sql(
        sa.text("SELECT * FROM incident_clusters ORDER BY incident_id, cluster_id"),
        engine_of(store),
    )
    incidents = incidents.astype(object).where(incidents.notna(), None)
    clusters = clusters.astype(object).where(clusters.notna(), None)
    rows = []
    for record in incidents.to_dict("records"):
        decisions = clusters[clusters["incident_id"] == record["id"]].drop(columns="incident_id")
        for name in ("id", "assigned_at", "geom"):
            record.pop(name, None)
        for name in ("external_id", "event_id"):
            record[name] = str(record[name]).replace(prefix, "", 1)
        record["clusters"] = decisions.to_dict("records")
        rows.append(record)
    return rows


def test_checked_rows_are_stored_as_the_checks_store_them(
    store: IncidentStore, built_settings: Settings
) -> None:
    """An import's rows are checked once (by the reader): stored as the checked path would."""
    from geozone.assignment import assign
    from geozone.context import load_context
    from geozone.incidents.io import validate_incidents

    assert isinstance(store, SqlIncidentStore)
    context = load_context(built_settings)
    frame = real_sample(
        context,
        600,
        3,
        datetime(2024, 6, 1, tzinfo=VIETNAM_TZ),
        datetime(2026, 3, 1, tzinfo=VIETNAM_TZ),
    )
    rows = validate_incidents(frame).incidents.reset_index(drop=True)  # as the reader gives
    judged = assign(rows, context.sets, context.territories)
    # The engine's empty values, which the checks turn into the store's: both are met.
    assert judged.units["candidates"].isna().any() and judged.clusters["distance_m"].isna().any()
    for prefix, checked in (("u-", False), ("c-", True)):

        def named(part: pd.DataFrame, prefix: str = prefix) -> pd.DataFrame:
            return part.assign(external_id=prefix + part["external_id"].astype(str))

        added, _ = store.add_judged(
            named(rows),
            named(judged.units),
            named(judged.clusters),
            stamp="s",
            single=True,
            checked=checked,
        )
        assert added.inserted == len(rows)
    checked_rows = _stored_rows(store, "c-")
    assert len(checked_rows) == len(rows)
    assert sum(len(r["clusters"]) for r in checked_rows) == len(judged.clusters) > 0
    assert checked_rows == _stored_rows(store, "u-")


def test_failing_add_judged_leaves_nothing_not_even_decisions(
    store: IncidentStore, grid: BoundarySet
) -> None:
    assert isinstance(store, SqlIncidentStore)
    _poison(store)
    store.begin_batch("b", source="x.csv", sha256="ee" * 32, rows_total=200)
    first = make_incidents(100)
    added, _ = store.add_judged(first, *_judged(first, grid), "b", stamp="grid")
    assert added.inserted == 100
    chunk = make_incidents(100, start=100)
    chunk.loc[50, "external_id"] = "poison"  # rows before it are inserted, then it fails
    with pytest.raises(StoreError, match="poisoned row"):
        store.add_judged(chunk, *_judged(chunk, grid), "b", stamp="grid")
    record = store.batch("b")
    assert record is not None
    assert (record["rows_done"], record["rows_inserted"]) == (100, 100)
    assert stored(store) == spatial_index_rows(store) == 100
    assert store.get("i000100") is None
    assert scalar(store, "SELECT count(*) FROM incident_clusters") == 100
    chunk.loc[50, "external_id"] = "i000150"  # fixed: the piece stores whole
    added, ours = store.add_judged(chunk, *_judged(chunk, grid), "b", stamp="grid")
    assert added.inserted == len(ours) == 100
    assert stored(store) == spatial_index_rows(store) == 200
    assert scalar(store, "SELECT count(*) FROM incident_clusters") == 200


# --------------------------------------------------------------------------------------------
# Processes: concurrent writers, a killed importer
# --------------------------------------------------------------------------------------------


def _writer(url: str, worker: int, barrier: Any, results: Any) -> None:
    """Write 1,000 own incidents in chunks, then 100 of the next worker's (duplicates)."""
    barrier.wait(timeout=120)  # open (and migrate) at the same time, then write
    with open_store(url) as store:
        inserted = duplicates = 0
        for start in range(0, 1_000, 100):
            result = store.add_incidents(make_incidents(100, prefix=f"w{worker}-", start=start))
            inserted, duplicates = inserted + result.inserted, duplicates + result.duplicates
        result = store.add_incidents(make_incidents(100, prefix=f"w{(worker + 1) % 4}-"))
        inserted, duplicates = inserted + result.inserted, duplicates + result.duplicates
    results.put((worker, inserted, duplicates))


def test_four_processes_writing_end_with_exactly_4000_rows(blank_store_url: str) -> None:
    # The database has no schema yet: the four processes also race to migrate it.
    store_url = blank_store_url
    context = mp.get_context("spawn")
    barrier, results = context.Barrier(4), context.Queue()
    workers = [
        context.Process(target=_writer, args=(store_url, w, barrier, results)) for w in range(4)
    ]
    for process in workers:
        process.start()
    outcomes = [results.get(timeout=180) for _ in workers]
    for process in workers:
        process.join(timeout=60)
        assert process.exitcode == 0
    assert sum(o[1] for o in outcomes) == 4_000
    assert sum(o[2] for o in outcomes) == 400
    with open_store(store_url) as store:
        assert stored(store) == 4_000
        assert spatial_index_rows(store) == 4_000
        for worker in range(4):
            assert store.get(f"w{worker}-000000") is not None
            assert store.get(f"w{worker}-000999") is not None


BATCHES, CHUNKS, CHUNK_ROWS = 12, 5, 100


def _sha(batch: int) -> str:
    return hashlib.sha256(f"source-{batch}".encode()).hexdigest()


def _import(url: str) -> None:
    """Import BATCHES batches of CHUNKS chunks, resuming each from its rows_done."""
    with open_store(url) as store:
        for b in range(BATCHES):
            batch_id = f"batch-{b:02d}"
            record = store.begin_batch(batch_id, f"file-{b}.csv", _sha(b), CHUNKS * CHUNK_ROWS)
            if record["status"] == "done":
                continue
            for k in range(record["rows_done"] // CHUNK_ROWS, CHUNKS):
                chunk = make_incidents(CHUNK_ROWS, prefix=f"{batch_id}-", start=k * CHUNK_ROWS)
                store.add_incidents(chunk, batch_id=batch_id)
            store.finish_batch(batch_id, CHUNKS * CHUNK_ROWS, 0, [])


def _check_consistent(store: IncidentStore) -> list[dict[str, Any]]:
    """Every batch's rows are whole chunks and match its progress; the index matches."""
    engine = engine_of(store)
    if engine.dialect.name == "sqlite":
        assert scalar(store, "PRAGMA integrity_check") == "ok"  # its indexes too
    records = [store.batch(f"batch-{b:02d}") for b in range(BATCHES)]
    begun = [r for r in records if r is not None]
    total = 0
    for record in begun:
        rows = int(
            scalar(
                store, "SELECT count(*) FROM incidents WHERE batch_id = :b", b=record["batch_id"]
            )
        )
        assert rows == record["rows_inserted"] == record["rows_done"]
        assert rows % CHUNK_ROWS == 0
        if record["status"] == "done":
            assert rows == record["rows_total"]
        total += rows
    assert stored(store) == total == spatial_index_rows(store)
    return begun


def test_killed_import_leaves_store_consistent_and_resumes(store_url: str) -> None:
    with open_store(store_url) as store:
        context = mp.get_context("spawn")
        process = context.Process(target=_import, args=(store_url,))
        process.start()
        deadline = time.monotonic() + 120
        while stored(store) < 2 * CHUNKS * CHUNK_ROWS and process.is_alive():
            assert time.monotonic() < deadline, "the importer made no progress"
            time.sleep(0.005)
        assert process.pid is not None
        os.kill(process.pid, signal.SIGKILL)
        process.join(timeout=30)
        assert process.exitcode == -signal.SIGKILL, "the importer finished before the kill"

    with open_store(store_url) as store:
        begun = _check_consistent(store)
        assert stored(store) < BATCHES * CHUNKS * CHUNK_ROWS, "killed after the whole import"
        assert any(r["status"] == "running" for r in begun) or len(begun) < BATCHES
    _import(store_url)  # resume from the batch table
    with open_store(store_url) as store:
        begun = _check_consistent(store)
        assert len(begun) == BATCHES
        assert all(r["status"] == "done" for r in begun)
        assert stored(store) == BATCHES * CHUNKS * CHUNK_ROWS


# --------------------------------------------------------------------------------------------
# Opening, migrations, backend specifics
# --------------------------------------------------------------------------------------------


def test_schema_is_at_head_and_matches_the_table_descriptions(store: IncidentStore) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    engine = engine_of(store)
    assert scalar(store, "SELECT version_num FROM alembic_version") == "0014"

    def include(name: str | None, type_: str, *_: Any) -> bool:
        skipped = ("alembic_version", "spatial_ref_sys")
        return not (type_ == "table" and name in skipped)

    described = build_metadata(engine.dialect.name)
    define_planner_tables(described, engine.dialect.name)  # migrations 0002, 0003, 0008
    define_key_tables(described)  # migrations 0002, 0006 and 0009, the web service's
    define_address_tables(described)  # migration 0005
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"include_name": include})
        diff = compare_metadata(context, described)
    assert diff == []


def test_the_place_and_time_index_answers_boxes_and_a_downgrade_fills_the_rtree(
    tmp_path: Any,
) -> None:
    """Migration 0014 replaces SQLite's R*Tree by a B-tree index; both find the same boxes."""
    from alembic import command

    url = f"sqlite:///{tmp_path / 's.sqlite'}"
    box = IncidentQuery(bbox=(105.8005, 21.0, 105.8035, 21.0105))
    expected = {f"i{k:06d}" for k in range(300) if 1 <= k % 100 <= 3 and k // 100 <= 10}
    index = f"SELECT count(*) FROM sqlite_master WHERE name = '{PLACE_TIME_INDEX}'"
    with open_store(url) as store:
        store.add_incidents(make_incidents(300))
        assert ids(store.query(box)[0]) == expected
        with engine_of(store).begin() as connection:
            command.downgrade(alembic_config(connection), "0013")
        assert scalar(store, index) == 0
        assert scalar(store, "SELECT count(*) FROM incidents_rtree_time") == 300
        assert scalar(store, "SELECT rtreecheck('incidents_rtree_time')") == "ok"
        rtree = (
            "SELECT count(*) FROM incidents_rtree_time WHERE minx >= 105.8005 "
            "AND maxx <= 105.8035 AND miny >= 21.0 AND maxy <= 21.0105"
        )
        assert scalar(store, rtree) == len(expected)
    with open_store(url) as store:  # upgraded again
        assert scalar(store, index) == 1
        tables = "SELECT count(*) FROM sqlite_master WHERE name LIKE 'incidents_rtree%'"
        assert scalar(store, tables) == 0
        assert spatial_index_rows(store) == 300
        assert ids(store.query(box)[0]) == expected
        # A box of more cells than MAX_BOX_CELLS reads the table: the same answer.
        wide, near = (100.0, 5.0, 115.0, 25.0), (105.0, 20.5, 106.0, 21.5)
        assert len(place_cells(*wide)) > MAX_BOX_CELLS >= len(place_cells(*near))
        assert store.count(IncidentQuery(bbox=wide)) == store.count(IncidentQuery(bbox=near))
        assert store.count(IncidentQuery(bbox=near)) == 300
        # The whole world: 6.5 million cells, counted and not made, answered from the table.
        world = (-180.0, -90.0, 180.0, 90.0)
        assert count_place_cells(*world) == 3_601 * 1_801
        assert count_place_cells(*near) == len(place_cells(*near))
        assert store.count(IncidentQuery(bbox=world)) == 300


def test_place_cells_hold_every_point_of_a_box_as_sqlite_keys_it() -> None:
    """A point in a box has SQLite's key of its cell among :func:`place_cells` of the box."""
    rng = np.random.default_rng(14)
    lon = np.concatenate([rng.uniform(-180, 180, 2_000), rng.uniform(102, 110, 2_000)])
    lat = np.concatenate([rng.uniform(-90, 90, 2_000), rng.uniform(8, 24, 2_000)])
    lon[:50] = np.round(lon[:50], 1)  # on cell edges
    lat[50:100] = np.round(lat[50:100], 1)
    lon[100], lat[100], lon[101], lat[101] = -180.0, -90.0, 180.0, 90.0
    connection = sqlite3.connect(":memory:")
    connection.execute("CREATE TABLE incidents (lon REAL, lat REAL)")
    connection.executemany("INSERT INTO incidents VALUES (?, ?)", zip(lon, lat, strict=True))
    keys = [k for (k,) in connection.execute(f"SELECT {PLACE_CELL_SQL} FROM incidents")]
    for x, y, key in zip(lon, lat, keys, strict=True):
        edge = (x, y, x, y)  # the point's own box, and boxes with it on an edge
        wide = (x - 0.25, y - 0.25, x, y)
        assert key in place_cells(*edge) and key in place_cells(*wide), (x, y)
    assert len(place_cells(105.8, 21.0, 105.89, 21.09)) == 1
    assert len(place_cells(105.85, 21.05, 106.05, 21.15)) == 3 * 2


def test_the_cells_of_many_boxes_at_once_are_each_box_s_place_cells() -> None:
    """:func:`boxes_place_cells` gives each box's keys in order, as the cells' numbers make them;
    :func:`count_place_cells` counts them."""
    rng = np.random.default_rng(15)
    west, south = rng.uniform(-180, 179, 3_000), rng.uniform(-90, 89, 3_000)
    west[:100], south[100:200] = np.round(west[:100], 1), np.round(south[100:200], 1)
    east = west + rng.choice([0.0, 0.05, 0.1, 0.37, 1.0], 3_000)
    north = south + rng.choice([0.0, 0.1, 0.25, 0.6], 3_000)
    east[200:210] = west[200:210] - 0.3  # empty boxes: no key
    boxes = np.stack([west, south, east, north], axis=1)
    box, keys = boxes_place_cells(west, south, east, north)
    ranges = [  # the cells' numbers as Python's int() makes them of the doubles
        (
            range(int((w + 180) * 10), int((e + 180) * 10) + 1),
            range(int((s + 90) * 10), int((n + 90) * 10) + 1),
        )
        for w, s, e, n in boxes.tolist()
    ]
    expected = [(i, x * 10_000 + y) for i, (xs, ys) in enumerate(ranges) for x in xs for y in ys]
    assert [count_place_cells(*b) for b in boxes] == [len(xs) * len(ys) for xs, ys in ranges]
    assert list(zip(box.tolist(), keys.tolist(), strict=True)) == expected
    assert not set(range(200, 210)) & set(box.tolist())


def test_reopening_is_a_no_op_and_downgrade_removes_everything(store_url: str) -> None:
    from alembic import command

    with open_store(store_url) as store:
        store.add_incidents(make_incidents(3))
    with open_store(store_url) as store:
        assert stored(store) == 3
        engine = engine_of(store)
        with engine.begin() as connection:
            command.downgrade(alembic_config(connection), "base")
        tables = set(sa.inspect(engine).get_table_names()) - {"alembic_version", "spatial_ref_sys"}
        assert tables == set()
    with open_store(store_url) as store:
        assert stored(store) == 0
        assert spatial_index_rows(store) == 0


def test_backend_settings(store: IncidentStore) -> None:
    engine = engine_of(store)
    if engine.dialect.name == "sqlite":
        assert scalar(store, "PRAGMA journal_mode") == "wal"
        assert scalar(store, "PRAGMA foreign_keys") == 1
        assert scalar(store, "PRAGMA busy_timeout") >= 1_000
        triggers = "SELECT count(*) FROM sqlite_master WHERE type = 'trigger'"
        assert scalar(store, triggers) == 0  # no R*Tree to fill (migration 0014)
        # The index spells its expressions as the queries do (unqualified).
        index = scalar(store, f"SELECT sql FROM sqlite_master WHERE name = '{PLACE_TIME_INDEX}'")
        spelled = f"{PLACE_CELL_SQL}, {DETECTION_DAYS_SQL}, lon, lat)"
        assert index.endswith(spelled.replace("incidents.", ""))
        store.add_incidents(make_incidents(2))
        with engine.begin() as connection:
            connection.exec_driver_sql(
                "UPDATE incidents SET lon = 106.5, detected_at = '2026-01-02 12:00:00.000000' "
                "WHERE external_id = 'i000001'"
            )
            connection.exec_driver_sql("DELETE FROM incidents WHERE external_id = 'i000000'")
        # The index of place and detection time follows: days since 1970.
        assert spatial_index_rows(store) == 1
        (cell,) = place_cells(106.5, 21.0, 106.5, 21.0)
        found = scalar(
            store,
            f"SELECT external_id FROM incidents INDEXED BY {PLACE_TIME_INDEX} "
            f"WHERE {PLACE_CELL_SQL} = :cell AND {DETECTION_DAYS_SQL} BETWEEN :a AND :b",
            cell=cell,
            a=20455.49,
            b=20455.51,
        )
        assert found == "i000001"
        assert store.count(IncidentQuery(bbox=(106.4, 20.0, 106.6, 22.0))) == 1
    else:
        assert scalar(store, "SELECT postgis_lib_version()") >= "3"
        index = scalar(
            store,
            "SELECT indexdef FROM pg_indexes WHERE indexname = 'ix_incidents_geom'",
        )
        assert "USING gist (geom)" in index
        store.add_incidents(make_incidents(1))
        assert scalar(store, "SELECT ST_AsText(geom) FROM incidents") == "POINT(105.8 21)"
        assert scalar(store, "SELECT ST_SRID(geom) FROM incidents") == 4326


def test_sqlite_store_opens_while_another_connection_writes_the_file(tmp_path: Any) -> None:
    # Opening switches the file to WAL, which takes its exclusive lock; while another
    # connection writes, SQLite refuses at once (no busy wait). The open waits instead.
    path = tmp_path / "busy.sqlite"
    writer = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    writer.execute("CREATE TABLE other (x)")
    writer.execute("BEGIN IMMEDIATE")
    writer.execute("INSERT INTO other VALUES (1)")
    release = threading.Timer(0.5, writer.execute, args=("COMMIT",))
    release.start()
    started = time.monotonic()
    try:
        with open_store(f"sqlite:///{path}") as store:
            store.add_incidents(make_incidents(2))
            assert stored(store) == 2
        assert time.monotonic() - started >= 0.4  # it waited for the writer
    finally:
        release.join()
        writer.close()


def test_open_store_urls(tmp_path: Any) -> None:
    with pytest.raises(ConfigurationError, match="unsupported database 'mysql'"):
        open_store("mysql://x@localhost/db")
    with pytest.raises(ConfigurationError, match="in-memory"):
        open_store("sqlite://")
    settings = Settings(cache_dir=tmp_path / "cache")
    assert settings.store_url == f"sqlite:///{tmp_path / 'cache' / 'geozone.sqlite'}"
    with open_store(settings=settings) as store:
        store.add_incidents(make_incidents(1))
    assert (tmp_path / "cache" / "geozone.sqlite").is_file()


def test_stored_by_names_the_rows_a_batch_stored(store: IncidentStore) -> None:
    store.add_incidents(make_incidents(3))  # i000000..2, no batch
    store.begin_batch("b1", "f.csv", "0" * 64, 5)
    added = store.add_incidents(make_incidents(5, start=1), "b1")  # i000001..5
    assert (added.inserted, added.duplicates) == (3, 2)
    wanted = ["i000005", "i000000", "i000003", "nope", "i000001", "i000004"]
    assert store.stored_by("b1", wanted) == ["i000005", "i000003", "i000004"]
    assert store.stored_by("b2", wanted) == []


def test_every_write_raises_the_revision_and_a_failed_one_does_not(store: IncidentStore) -> None:
    """The marker of cached answers: raised by each write transaction, events included."""
    from geozone.store.events import add_unlink, save_events

    assert isinstance(store, SqlIncidentStore)
    start = store.revision()
    store.add_incidents(make_incidents(3))
    after_add = store.revision()
    assert after_add == start + 1
    assert store.count(IncidentQuery()) == 3 and store.revision() == after_add  # reads: no
    events = pd.DataFrame(
        {
            "external_id": ["i000000", "i000001"],
            "event_id": ["ev-i000000", "ev-i000000"],
            "event_role": ["lead", "cooperating"],
            "event_confidence": [0.9, 0.9],
        }
    )
    save_events(store, events)  # the count stays: only the revision tells
    assert store.revision() == after_add + 1
    add_unlink(store, "i000000", "i000001")
    assert store.revision() == after_add + 2
    _poison(store)  # the database rejects a row mid-statement, inside the transaction
    poisoned = make_incidents(2).assign(external_id=["fine", "poison"])
    with pytest.raises(StoreError):
        store.add_incidents(poisoned)
    assert store.revision() == after_add + 2 and store.count(IncidentQuery()) == 3
