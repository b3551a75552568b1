"""The event columns and the unlinks on both backends; event_id through the exports."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd
import pyogrio
import pytest
from typer.testing import CliRunner

from geozone import cli
from geozone.boundaries.sets import BoundarySet
from geozone.incidents.events import link_new, unlink_pair
from geozone.report.exports import write_layers
from geozone.store import IncidentQuery, open_store
from geozone.store.events import (
    batch_rows_by_detection,
    lead_detectors,
    reports_at,
    reports_in,
    reports_of,
    unlinks_of,
)
from geozone.vntime import VIETNAM_TZ
from tests.fixtures.grid import grid_point
from tests.fixtures.incidents import T0 as START
from tests.fixtures.incidents import make_incidents

T0 = pd.Timestamp("2022-03-01 21:00", tz=VIETNAM_TZ)


def reports() -> pd.DataFrame:
    """Two members' reports of one event, a repeat at the spot the next day, another kind."""
    rows = []
    for external_id, x, minutes, by, category in (
        ("o1-17", 950, 0, "o1", "drugs"),
        ("o2-4", 960, 20, "o2", "drugs"),
        ("o2-5", 950, 60 * 24, "o2", "drugs"),
        ("o4-1", 955, 5, "o4", "theft"),
    ):
        lon, lat = grid_point(x, 300)
        rows.append(
            {
                "external_id": external_id,
                "occurred_at": T0 + pd.Timedelta(minutes=minutes),
                "lon": lon,
                "lat": lat,
                "category": category,
                "detected_by": by,
                "synthetic": True,
            }
        )
    return pd.DataFrame(rows)


def test_events_round_trip_through_the_store_and_the_exports(
    store_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.fixtures.clusters import grid_context

    # the export names units from the context it judges with: the grid's, not a built set
    monkeypatch.setattr("geozone.context.judging_context", lambda *_: grid_context())
    frame = reports()
    with open_store(store_url) as store:
        store.add_incidents(frame)
        before, _ = store.query(IncidentQuery())
        assert before["event_id"].isna().all()  # not linked yet: NULL, not made up
        outcome = link_new(store, frame["external_id"])
        assert (outcome.linked, outcome.written, outcome.rejudge) == (2, 4, ["o2-4"])
        record = store.get("o2-4")
        assert record is not None
        assert (record["event_id"], record["event_role"]) == ("ev-o1-17", "cooperating")
        assert 0.5 < record["event_confidence"] < 1
        assert lead_detectors(store, ["o2-4", "o1-17"]) == {"o2-4": "o1"}
        stored, _ = store.query(IncidentQuery())
        events = stored.set_index("external_id")["event_id"].to_dict()
        assert events == {
            "o1-17": "ev-o1-17",
            "o2-4": "ev-o1-17",
            "o2-5": "ev-o2-5",
            "o4-1": "ev-o4-1",
        }
        assert stored["event_confidence"].dtype == "float64"
        # Linking again writes nothing: the same answer.
        assert link_new(store, frame["external_id"]).written == 0
        # The bounded read: a box far away holds none of them.
        lon, lat = grid_point(5_000, 5_000)
        far = reports_in(store, [(lon, lat, lon + 0.001, lat + 0.001, T0, T0)])
        assert far.empty
    runner = CliRunner()
    for name in ("all.parquet", "all.csv"):  # GeoPackage and GeoJSON name the real sets
        result = runner.invoke(
            cli.app, ["incidents", "export", "-o", str(tmp_path / name), "--store", store_url]
        )
        assert result.exit_code == 0, result.output
    # The layered formats' writer, as the export uses it.
    write_layers({"incidents": stored}, tmp_path / "all.gpkg", "test")
    for table in (
        gpd.read_parquet(tmp_path / "all.parquet"),
        pd.read_csv(tmp_path / "all.csv"),
        pyogrio.read_dataframe(tmp_path / "all.gpkg"),
    ):
        assert table.set_index("external_id")["event_id"].to_dict() == events
        assert set(table["event_role"]) == {"lead", "cooperating", "single"}
    # Unlinking (as the CLI and the API do): the decision is kept.
    with open_store(store_url) as store:
        fresh, outcome = unlink_pair(store, "o1-17", "o2-4", by="planner")
        assert fresh and outcome.rejudge == ["o2-4"]
        assert unlinks_of(store, ["o2-4"]) == {("o1-17", "o2-4")}
        record = store.get("o2-4")
        assert record is not None and record["event_role"] == "single"
        assert link_new(store, frame["external_id"]).linked == 0
        with pytest.raises(Exception, match="no stored incident 'nope'"):
            unlink_pair(store, "o1-17", "nope")


def test_bounded_reads_find_exactly_the_reports_in_their_boxes(store_url: str) -> None:
    # SYNTHETIC: 400 reports over 60 days on the grid; some detected hours to weeks after
    # they occurred. Boxes of space and detection time, many of them (more than a chunk of
    # the query, which is padded to a power of two), find on both backends exactly the
    # reports a filter of the whole table finds (SQLite through its index of space and
    # detection time, migration 0010), less the rows skipped (held by the caller).
    import numpy as np

    from geozone.store import events as store_events

    rng = np.random.default_rng(5)
    n = 400
    x, y = rng.uniform(0, 2_000, (2, n))
    lon, lat = np.array([grid_point(a, b) for a, b in zip(x, y, strict=True)]).T
    occurred = T0 + pd.to_timedelta(rng.uniform(0, 60 * 24 * 60, n), unit="min")
    delay = pd.to_timedelta(rng.choice([0, 30, 600, 20 * 24 * 60], n), unit="min")
    frame = pd.DataFrame(
        {
            "external_id": [f"SYN-{k}" for k in range(n)],
            "occurred_at": occurred,
            "detected_at": (occurred + delay).where(delay > pd.Timedelta(0)),
            "lon": lon,
            "lat": lat,
            "category": "theft",
            "detected_by": "o1",
            "synthetic": True,
        }
    )
    detected = frame["detected_at"].fillna(frame["occurred_at"])
    lag = pd.Timedelta(days=31)
    boxes = []
    for k in range(3 * 7):  # 3 x 7 boxes; the chunk is 2 here
        west, south = grid_point(rng.uniform(0, 1_500), rng.uniform(0, 1_500))
        east, north = west + 0.01, south + 0.01
        start = T0 + pd.Timedelta(days=float(rng.uniform(0, 60)))
        boxes.append((west, south, east, north, start, start + pd.Timedelta(days=1 + k / 3)))
    with open_store(store_url) as store:
        store.add_incidents(frame)
        original = store_events._BOX_CHUNK
        store_events._BOX_CHUNK = 2
        try:
            found = reports_in(store, boxes, lag.to_pytimedelta())
            # Reports the caller holds (read by row id) are skipped by the read.
            held = reports_of(store, found["external_id"].iloc[::2])
            rest = reports_in(store, boxes, lag.to_pytimedelta(), skip=held.index)
        finally:
            store_events._BOX_CHUNK = original
        again = reports_at(store, held.index.tolist())
        assert again.sort_index().equals(held.sort_index())  # indexed by row id
    assert 0 < len(held) < len(found)
    assert sorted(rest["external_id"]) == sorted(
        set(found["external_id"]) - set(held["external_id"])
    )
    inside = np.zeros(n, dtype=bool)
    for west, south, east, north, start, end in boxes:
        inside |= (
            frame["lon"].between(west, east)
            & frame["lat"].between(south, north)
            & detected.between(start, end)
            & frame["occurred_at"].between(start - lag, end)
        ).to_numpy()
    assert 20 < inside.sum() < n
    assert sorted(found["external_id"]) == sorted(frame.loc[inside, "external_id"])
    assert found["external_id"].is_unique


def test_a_padded_chunk_of_boxes_reads_each_box_s_reports_once(
    store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A chunk of boxes is padded to a power of two by boxes that find nothing: the rows read
    are one per report and box holding it (padding by copies of the last box read its
    reports once more per copy)."""
    from geozone.store import events as store_events

    frame = make_incidents(300)  # a lattice of 0.001 degrees, one a minute from START
    boxes = [
        (105.8005, 21.0, 105.8035, 21.0005, START, START + pd.Timedelta(hours=6)),
        (105.8005, 21.001, 105.8035, 21.0015, START, START + pd.Timedelta(hours=6)),
        (105.79, 20.99, 105.91, 21.01, START, START + pd.Timedelta(hours=6)),  # all 300
    ]
    read: list[int] = []
    in_boxes = store_events._in_boxes

    def counted(*args: Any) -> list[Any]:
        rows = in_boxes(*args)
        read.append(len(rows))
        return rows

    monkeypatch.setattr(store_events, "_in_boxes", counted)
    monkeypatch.setattr(store_events, "_BOX_CHUNK", 3)  # 3 box rows, padded to 4
    with open_store(store_url) as store:
        store.add_incidents(frame)
        found = reports_in(store, boxes)
    assert len(found) == 300
    assert sum(read) == 3 + 3 + 300  # the first two boxes hold 3 reports each


def test_a_batch_s_rows_are_read_in_order_of_detection_then_by_row(store_url: str) -> None:
    """What an import holds until it links: row ids, in order of detection; the rest by id."""
    from geozone.store.events import (
        batch_last_row,
        batch_rows_by_detection,
        reports_at,
    )

    frame = reports()  # occurred at 0, 20, 1440 and 5 minutes
    frame["detected_at"] = [T0 + pd.Timedelta(minutes=30), pd.NaT, pd.NaT, pd.NaT]
    with open_store(store_url) as store:
        store.begin_batch("b", source="x.csv", sha256="ab" * 32, rows_total=8)
        assert batch_last_row(store, "b") == 0
        store.add_incidents(frame.iloc[:2], "b")
        last = batch_last_row(store, "b")
        store.add_incidents(frame.iloc[2:], "b")
        store.add_incidents(frame.assign(external_id=frame["external_id"] + "-x").iloc[:1])
        rows = batch_rows_by_detection(store, "b", 0)
        assert len(rows) == 4  # the batch's only
        # o1-17 is detected at 30 min (it occurred at 0), after o4-1 (5) and o2-4 (20).
        order = ["o4-1", "o2-4", "o1-17", "o2-5"]
        assert sorted(reports_at(store, rows.tolist())["external_id"]) == sorted(order)
        firsts = reports_at(store, [int(rows[0])])
        assert firsts["external_id"].tolist() == ["o4-1"]
        assert [reports_at(store, [int(r)])["external_id"].item() for r in rows] == order
        assert firsts["lon"].item() == pytest.approx(frame["lon"].iloc[3])
        assert firsts["occurred_at"].item() == T0 + pd.Timedelta(minutes=5)
        past = batch_rows_by_detection(store, "b", last)
        assert [reports_at(store, [int(r)])["external_id"].item() for r in past] == [
            "o4-1",
            "o2-5",
        ]


def test_a_batch_s_reports_from_the_rows_in_hand_are_those_read_whole(
    store_url: str, grid: BoundarySet
) -> None:
    """An import's piece: its link fields from the rows it stored, the rest as they stand now.

    The event columns changed by linking and the link cluster (in a border zone first, then
    by id) are the store's; a row of the range the caller does not hold is read whole.
    """
    from geozone import assignment
    from geozone.store.events import batch_last_row, batch_reports

    frame = reports()
    units = assignment.jurisdiction(frame, [grid], 10.0)
    decided = {  # cluster rows (o4-1: none); a link within the one cluster of o1-17 and o2-4
        "o1-17": [("c-a", False), ("c-b", True)],
        "o2-4": [("c-b", True)],
        "o2-5": [("c-b", False), ("c-a", False)],
    }
    clusters = pd.DataFrame(
        [
            {
                "external_id": external_id,
                "cluster_id": cluster_id,
                "member_code": "00001",
                "in_zone": in_zone,
                "zone_units": [],
                "distance_m": None,
                "cooperating": [],
                "rule": "inside",
                "explanation_vi": "x",
            }
            for external_id, rows in decided.items()
            for cluster_id, in_zone in rows
        ]
    )
    with open_store(store_url) as store:
        store.add_incidents(reports().assign(external_id=lambda f: f["external_id"] + "-y"))
        store.begin_batch("b", source="x.csv", sha256="ab" * 32, rows_total=4)
        store.add_judged(frame, units, clusters, "b", stamp="grid", single=True)
        link_new(store, ["o1-17", "o2-4"])  # one event: their event columns change
        last = batch_last_row(store, "b")
        store.add_incidents(frame.assign(external_id=frame["external_id"] + "-z").iloc[:1])
        whole = reports_at(store, batch_rows_by_detection(store, "b", 0).tolist())
        given = frame[frame["external_id"] != "o2-5"]  # read whole
        held = batch_reports(store, "b", 0, last + 1, given)
    assert len(held) == 4  # the batch's rows of the range only
    pd.testing.assert_frame_equal(held.sort_index(), whole.sort_index(), check_exact=True)
    clusters_of = dict(zip(held["external_id"], held["link_cluster"], strict=True))
    assert clusters_of == {"o1-17": "c-b", "o2-4": "c-b", "o2-5": "c-a", "o4-1": None}
    roles = dict(zip(held["external_id"], held["event_role"], strict=True))
    assert roles["o1-17"] in ("lead", "cooperating") and roles["o2-5"] == "single"
