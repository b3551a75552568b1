"""Streamed reading and assignment give the answer of one whole read, row for row."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pytest
import shapely

import geozone.incidents.io._csv as csv_module
from geozone.context import Context
from geozone.incidents.io import _ids, open_incidents, read_incidents, write_incidents
from geozone.incidents.io._ids import IdLedger
from geozone.incidents.stream import (
    AssignedWriter,
    assign_file,
    assigned_schema,
    judge,
    point_wkb,
    write_assigned,
)
from tests.fixtures.clusters import grid_context
from tests.fixtures.incidents import grid_incidents

HEADER = "\ufeffexternal_id,occurred_at,lon,lat,category,description\r\n"


def edge_csv(path: Path) -> Path:
    """A CSV with every edge a piece can cut: BOM, CRLF, quoted line breaks, a blank line,
    a short row, bad UTF-8, ids repeated far apart, rejects all along, a truncated end."""
    rows = []
    for i in range(40):
        ident = f"id{i % 13}" if i % 5 == 0 else f"id{i}"  # id0, id5→id5, id10, id2 (i=15)…
        category = "unicorns" if i % 7 == 0 else "theft"
        text = '"two\nlines ""quoted"""' if i % 3 == 0 else "plain"
        if i == 11:
            rows.append(b"\r\n")
        if i == 17:
            rows.append(b"broken,row\r\n")
        if i == 23:
            rows.append(b"bad,\xff\xfe,1,2,theft,x\r\n")
        line = f"{ident},2024-03-01T10:00:00+07:00,{105.8 + i * 0.001},21.0,{category},{text}\r\n"
        rows.append(line.encode())
    rows.append(b'id99,2024-03-01T10:00:00+07:00,105.9,21.0,theft,"never closed\r\nmore')
    path.write_bytes(HEADER.encode() + b"".join(rows))
    return path


def grid_frame(n: int, seed: int, first: date, last: date, prefix: str = "g") -> pd.DataFrame:
    """Grid incidents with every column a file holds."""
    frame = grid_incidents(n, seed, first, last, prefix)
    frame.insert(2, "detected_at", frame["occurred_at"])
    return frame


def streamed(path: Path, size: int) -> tuple[pd.DataFrame, list[object], int]:
    source = open_incidents(path, stream=True)
    pieces = list(source.pieces(size))
    incidents = pd.concat([read.incidents for _, read in pieces])
    return incidents, [r for _, read in pieces for r in read.rejects], source.n_rows


@pytest.mark.parametrize("block", [16, 97, 1 << 20])
@pytest.mark.parametrize("size", [1, 2, 7, 1000])
def test_streamed_csv_reads_as_the_whole_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, block: int, size: int
) -> None:
    path = edge_csv(tmp_path / "edge.csv")
    whole = read_incidents(path)
    monkeypatch.setattr(csv_module, "BLOCK_BYTES", block)
    incidents, rejects, n_rows = streamed(path, size)
    assert n_rows == whole.n_rows == 43
    pd.testing.assert_frame_equal(incidents, whole.incidents)
    assert rejects == whole.rejects
    by_line = {(r.line, r.field): r.reason for r in rejects}
    # id2 is first on line 5 (i=2); i=15 repeats it on line 23 (after a blank line).
    assert by_line[(23, "external_id")] == "duplicate id 'id2' (first on line 5)"
    # A repeated id whose first row was rejected (id7: a unicorn on line 12) is still repeated.
    assert by_line[(31, "external_id")] == "duplicate id 'id7' (first on line 12)"
    assert by_line[(26, "row")].startswith("2 fields where the header has 6")
    assert by_line[(35, "row")].startswith("invalid UTF-8")
    assert by_line[(max(r.line for r in rejects), "row")].startswith("the file ends inside")


@pytest.mark.parametrize("suffix", [".parquet", ".gpkg", ".geojson", ".csv"])
def test_streamed_formats_read_as_the_whole_file(tmp_path: Path, suffix: str) -> None:
    frame = grid_frame(50, 3, date(2024, 1, 1), date(2024, 12, 31))
    frame.loc[[9, 10, 30], "external_id"] = "g3"  # g3 first on row 4; repeated across pieces
    frame.loc[20, "category"] = "unicorns"
    path = write_incidents(frame, tmp_path / f"in{suffix}")
    whole = read_incidents(path)
    for size in (1, 4, 10, 100):
        incidents, rejects, n_rows = streamed(path, size)
        assert n_rows == whole.n_rows == 50
        pd.testing.assert_frame_equal(incidents, whole.incidents)
        assert rejects == whole.rejects
    shift = 1 if suffix == ".csv" else 0  # a CSV's header is line 1; features count from 1
    assert [(r.line - shift, r.field) for r in whole.rejects] == [
        (10, "external_id"),
        (11, "external_id"),
        (21, "category"),
        (31, "external_id"),
    ]
    assert whole.rejects[0].reason == f"duplicate id 'g3' (first on line {4 + shift})"


def test_a_resumed_read_cuts_at_the_resume_row(tmp_path: Path) -> None:
    path = edge_csv(tmp_path / "edge.csv")
    firsts = [first for first, _ in open_incidents(path, stream=True).pieces(10, cut=13)]
    assert firsts == [0, 10, 13, 23, 33]


def test_the_id_ledger_keeps_first_lines() -> None:
    ledger = IdLedger()
    ids = np.array([f"x{i}" for i in range(1000)], dtype=object)
    ledger.add(ids[:600], np.arange(600))
    ledger.add(np.array(["x5", "y", "y"], dtype=object), np.array([9000, 9001, 9002]))
    ledger.add(ids[600:], np.arange(600, 1000))
    found = ledger.first_lines(np.array(["x5", "y", "x999", "z", "X5"], dtype=object))
    assert found.tolist() == [5, 9001, 999, -1, -1]
    assert len(ledger) == 1001


def test_the_id_ledger_finds_ids_in_every_run_when_runs_are_capped(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(_ids, "MAX_RUN", 250)
    ledger = IdLedger()
    ids = np.array([f"x{i}" for i in range(1000)], dtype=object)
    for start in range(0, 1000, 100):
        ledger.add(ids[start : start + 100], np.arange(start, start + 100))
    ledger.add(np.array(["x5", "x950", "new"], dtype=object), np.array([5000, 5001, 5002]))
    assert len(ledger._runs) > 1
    assert all(len(run[0]) <= 250 for run in ledger._runs)
    found = ledger.first_lines(np.array(["x0", "x5", "x499", "x950", "new", "old"], dtype=object))
    assert found.tolist() == [0, 5, 499, 950, 5002, -1]
    assert len(ledger) == 1001


def test_the_id_ledger_tells_apart_ids_whose_first_digests_collide(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real = _ids.id_digests

    def colliding(ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        one, two = real(ids)
        return one % np.uint64(3), two  # three first digests for every id: many collisions

    monkeypatch.setattr(_ids, "id_digests", colliding)
    ledger = IdLedger()
    ids = np.array([f"c{i}" for i in range(40)], dtype=object)
    ledger.add(ids[:25], np.arange(25))
    ledger.add(ids[25:], np.arange(25, 40))
    asked = np.array(["c7", "zz", "c39", "c0", "c25", "nope"], dtype=object)
    assert ledger.first_lines(asked).tolist() == [7, -1, 39, 0, 25, -1]


@pytest.fixture(scope="module")
def context() -> Context:
    return grid_context()


@pytest.fixture(scope="module")
def grid_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    frame = grid_frame(120, 7, date(2023, 1, 1), date(2024, 12, 31))
    frame.loc[[40, 41, 80], "external_id"] = frame.loc[39, "external_id"]  # split by pieces
    frame.loc[[5, 65, 110], "lat"] = 40.0  # rejects in several pieces
    return write_incidents(frame, tmp_path_factory.mktemp("in") / "grid.csv")


def read_output(path: Path) -> pd.DataFrame:
    if path.suffix == ".parquet":
        return gpd.read_parquet(path)
    if path.suffix == ".gpkg":
        return pyogrio.read_dataframe(path)
    return pd.read_csv(path, dtype=str, keep_default_na=False)


@pytest.mark.parametrize("suffix", [".parquet", ".gpkg", ".csv"])
def test_assign_file_equals_the_one_shot_path(
    tmp_path: Path, grid_file: Path, context: Context, suffix: str
) -> None:
    whole = read_incidents(grid_file)
    one_shot = judge(whole, context)
    write_assigned(one_shot, tmp_path / f"one{suffix}")
    expected = read_output(tmp_path / f"one{suffix}")
    assert len(expected) == len(one_shot) > 100
    for size in (1, 2, 39, 40, 1000):
        out = tmp_path / f"streamed{size}{suffix}"
        seen: list[tuple[int, int]] = []
        summary = assign_file(
            grid_file,
            out,
            context,
            chunk_rows=size,
            on_progress=lambda d, t, s=seen: s.append((d, t)),
        )
        pd.testing.assert_frame_equal(read_output(out), expected)
        assert (summary.read, summary.rejected, summary.assigned) == (120, 6, 114)
        assert [r.line for r in summary.rejects] == [r.line for r in whole.rejects]
        assert seen[-1] == (120, 120) and len(seen) == -(-120 // size)
        assert not list(tmp_path.glob("*.partial*"))


def test_assigned_parquet_keeps_the_one_shot_values(tmp_path: Path, context: Context) -> None:
    read = read_incidents(
        write_incidents(grid_frame(60, 1, date(2024, 1, 1), date(2024, 3, 1)), tmp_path / "a.csv")
    )
    table = judge(read, context)
    write_assigned(table, tmp_path / "a.parquet")
    back = gpd.read_parquet(tmp_path / "a.parquet")
    assert list(back.columns) == list(table.columns)
    for column in table.columns:
        if column == "geometry":
            assert back.geometry.geom_equals(table.geometry).all()
            continue
        left, right = back[column].astype(object), table[column].astype(object)
        left, right = left.where(left.notna(), None), right.where(right.notna(), None)
        if column in ("candidates", "zone_units", "cooperating"):
            left = left.map(lambda v: None if v is None else list(v))
        assert left.tolist() == right.tolist(), column


def test_pieces_without_cluster_rows_keep_the_schema(tmp_path: Path, context: Context) -> None:
    far = grid_frame(5, 2, date(2024, 1, 1), date(2024, 1, 2))
    far["lat"] = far["lat"] + 0.5  # outside the grid: no unit, no cluster
    near = grid_frame(5, 2, date(2024, 1, 1), date(2024, 1, 2), prefix="n")
    writer = AssignedWriter(tmp_path / "mixed.parquet", schema=assigned_schema())
    for frame in (far, near):
        path = write_incidents(frame, tmp_path / f"{frame['external_id'][0]}.csv")
        writer.write(judge(read_incidents(path), context))
    writer.close()
    back = gpd.read_parquet(tmp_path / "mixed.parquet")
    assert len(back) >= 10 and back["external_id"].tolist()[:5] == far["external_id"].tolist()
    assert back.crs is not None and back.crs.to_epsg() == 4326


def test_geoarrow_parquet_is_read_whole_and_gives_the_same_pieces(tmp_path: Path) -> None:
    frame = grid_frame(30, 5, date(2024, 1, 1), date(2024, 6, 30))
    table = gpd.GeoDataFrame(
        frame.drop(columns=["lon", "lat"]),
        geometry=gpd.points_from_xy(frame["lon"], frame["lat"]),
        crs=4326,
    )
    path = tmp_path / "geoarrow.parquet"
    table.to_parquet(path, geometry_encoding="geoarrow")
    whole = read_incidents(path)
    incidents, rejects, n_rows = streamed(path, 7)
    assert n_rows == 30 and len(whole.incidents) == 30
    pd.testing.assert_frame_equal(incidents, whole.incidents)
    assert rejects == whole.rejects == []


def test_streamed_geoparquet_points_read_from_wkb_as_the_whole_file(tmp_path: Path) -> None:
    """Streamed points are read from their WKB directly; odd geometries take GEOS's path."""
    frame = grid_frame(12, 5, date(2024, 1, 1), date(2024, 12, 31))
    points = gpd.points_from_xy(frame["lon"], frame["lat"])
    plain = gpd.GeoDataFrame(frame.drop(columns=["lon", "lat"]), geometry=points, crs=4326)
    plain.to_parquet(tmp_path / "points.parquet")
    odd = plain.copy()
    odd.loc[3, "geometry"] = shapely.Point()  # POINT EMPTY: NaN, NaN in WKB
    odd.loc[5, "geometry"] = None
    odd.loc[8, "geometry"] = shapely.LineString([(105.80, 21.03), (105.81, 21.04)])
    odd.to_parquet(tmp_path / "odd.parquet")
    for name in ("points.parquet", "odd.parquet"):
        whole = read_incidents(tmp_path / name)
        for size in (1, 5, 100):
            incidents, rejects, _ = streamed(tmp_path / name, size)
            pd.testing.assert_frame_equal(incidents, whole.incidents)
            assert rejects == whole.rejects
    reasons = {(r.line, r.reason) for r in read_incidents(tmp_path / "odd.parquet").rejects}
    assert reasons == {(4, "no geometry"), (6, "no geometry"), (9, "not a point (LineString)")}
    clean = read_incidents(tmp_path / "points.parquet").incidents
    np.testing.assert_array_equal(clean["lon"].to_numpy(), frame["lon"].to_numpy())


def test_point_wkb_is_the_wkb_geos_writes() -> None:
    rng = np.random.default_rng(11)
    lon, lat = rng.uniform(102, 110, 500), rng.uniform(8, 23, 500)
    ours = point_wkb(lon, lat).to_pylist()
    assert ours == list(shapely.to_wkb(shapely.points(lon, lat)))
