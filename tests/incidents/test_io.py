from __future__ import annotations

import gc
import json
from datetime import datetime
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pyogrio
import pytest
import shapely
from pydantic import ValidationError
from pyproj import CRS, Transformer

from geozone.errors import IncidentFileError
from geozone.incidents.io import (
    INCIDENT_COLUMNS,
    VIETNAM_BBOX,
    ColumnMapping,
    ReadResult,
    iter_incidents,
    read_incidents,
    validate_incidents,
    vn2000_crs_codes,
    write_incidents,
)
from geozone.incidents.schema import Incident
from geozone.vntime import VIETNAM_TZ

DATA = Path(__file__).parents[1] / "data"
BROKEN = DATA / "incidents_broken.csv"


def _rows_accounted(result: ReadResult) -> None:
    assert len(result.incidents) + len(result.rejected_lines) == result.n_rows
    assert not set(result.incidents.index) & set(result.rejected_lines)


# -- CSV with broken rows --------------------------------------------------------------------


def test_broken_csv_gives_exact_rejects() -> None:
    result = read_incidents(BROKEN)
    assert [(r.line, r.field) for r in result.rejects] == [
        (4, "lon"),
        (5, "category"),
        (6, "external_id"),
        (7, "subjects"),
        (8, "occurred_at"),
        (9, "external_id"),
        (10, "detected_at"),
        (11, "coordinates"),
        (12, "lat"),
        (13, "lat"),
        (14, "occurred_at"),
        (14, "lon"),
        (14, "status"),
    ]
    assert result.n_rows == 14
    assert list(result.incidents.index) == [2, 3, 15]
    _rows_accounted(result)
    reasons = {(r.line, r.field): r.reason for r in result.rejects}
    assert reasons[(4, "lon")] == "longitude is not a number: 'abc'"
    assert (
        "'smuggling'" in reasons[(5, "category")]
        and "pavement_encroachment" in reasons[(5, "category")]
    )
    assert reasons[(6, "external_id")] == "missing id"
    assert reasons[(7, "subjects")] == "not a number: 'hai'"
    assert reasons[(9, "external_id")] == "duplicate id 'T11-001' (first on line 2)"
    assert "before occurred_at" in reasons[(10, "detected_at")]
    assert reasons[(11, "coordinates")].startswith("outside Vietnam")
    assert "look swapped" in reasons[(12, "lat")]
    assert reasons[(13, "lat")] == "latitude 95 is outside [-90, 90]"
    by_line = {r.line: r.external_id for r in result.rejects}
    assert by_line[6] is None and by_line[9] == "T11-001"


def test_valid_rows_are_converted() -> None:
    frame = read_incidents(BROKEN).incidents
    assert tuple(frame.columns) == INCIDENT_COLUMNS
    first = frame.loc[2]
    assert first["occurred_at"] == datetime(2024, 5, 1, 21, 30, tzinfo=VIETNAM_TZ)
    assert first["detected_at"] == datetime(2024, 5, 1, 21, 45, tzinfo=VIETNAM_TZ)
    assert first["detected_by"] == "00160"  # leading zeros kept
    assert (first["status"], first["subjects"], first["jointly_handled"]) == ("solved", 2, True)
    second = frame.loc[3]
    assert second["category"] == "pavement_encroachment"  # Vietnamese label
    assert second["occurred_at"].utcoffset().total_seconds() == 7 * 3600
    assert second["detected_by"] is None and pd.isna(second["detected_at"])
    last = frame.loc[15]  # dd/mm/yyyy, decimal commas, Vietnamese status and yes
    assert last["occurred_at"] == datetime(2024, 5, 6, 22, 30, tzinfo=VIETNAM_TZ)
    assert (last["lon"], last["lat"]) == (105.8068, 21.0383)
    assert (last["status"], last["jointly_handled"], last["category"]) == (
        "solved",
        True,
        "gambling",
    )
    assert not frame["synthetic"].any()
    assert str(frame["occurred_at"].dtype.tz) == str(VIETNAM_TZ)


def test_line_numbers_survive_blank_lines_and_quoted_line_breaks(tmp_path: Path) -> None:
    path = tmp_path / "multiline.csv"
    path.write_text(
        "id,time,lon,lat,category,description\n"
        'A,2024-01-01 10:00,105.80,21.03,theft,"two\nlines"\n'
        "\n"
        "B,2024-01-01 11:00,105.80,21.03,nonsense,\n"
        "C,2024-01-01 12:00,,21.03,theft,\n",
        encoding="utf-8",
    )
    result = read_incidents(path)
    assert [(r.line, r.field) for r in result.rejects] == [(5, "category"), (6, "lon")]
    assert result.incidents.loc[2, "description"] == "two lines"  # NFC collapses the break
    _rows_accounted(result)


# -- column mapping --------------------------------------------------------------------------


def test_unknown_columns_need_a_mapping() -> None:
    with pytest.raises(IncidentFileError, match="no column for external_id, occurred_at") as info:
        read_incidents(DATA / "incidents_mapped.csv")
    assert "so_hieu" in str(info.value)


@pytest.mark.parametrize(
    "mapping",
    [
        ColumnMapping(
            external_id="so_hieu",
            occurred_at="ngay_gio",
            lon="toa_do_x",
            lat="toa_do_y",
            category="nhom_toi_pham",
        ),
        {
            "external_id": "so_hieu",
            "occurred_at": "ngay_gio",
            "x": "toa_do_x",
            "y": "toa_do_y",
            "category": "nhom_toi_pham",
        },
    ],
)
def test_column_mapping(mapping: Any) -> None:
    result = read_incidents(DATA / "incidents_mapped.csv", mapping=mapping)
    assert result.columns["lon"] == "toa_do_x" and result.columns["description"] == "ghi_chu"
    assert list(result.incidents["external_id"]) == ["CG-2024-001", "CG-2024-002"]
    assert list(result.incidents["category"]) == ["prostitution", "sanitation"]
    assert result.incidents.loc[3, "occurred_at"] == datetime(2024, 7, 2, 7, 45, tzinfo=VIETNAM_TZ)
    assert result.incidents.loc[2, "lon"] == 105.8066
    assert [(r.line, r.field, r.reason) for r in result.rejects] == [(4, "lat", "missing latitude")]


def test_mapping_naming_a_missing_column_is_an_error() -> None:
    with pytest.raises(IncidentFileError, match="kinh_do"):
        read_incidents(BROKEN, mapping={"lon": "kinh_do"})
    with pytest.raises(IncidentFileError, match="unknown field"):
        ColumnMapping.from_dict({"longitude_column": "x"})


# -- CRS -------------------------------------------------------------------------------------


def test_vn2000_codes_are_in_pyproj() -> None:
    codes = vn2000_crs_codes()
    expected = {3405, 3406, 4756, 5896, 5897, 5898, 5899, *range(9205, 9219)}
    assert expected <= set(codes)
    for code in expected - {4756}:
        crs = CRS.from_epsg(code)
        assert crs.is_projected and crs.name.startswith("VN-2000")
        assert codes[code] == crs.name


def test_vn2000_utm_xy_are_converted_with_the_datum_shift() -> None:
    result = read_incidents(DATA / "incidents_vn2000.csv", crs=3405)
    assert result.rejects == [] and len(result.incidents) == 3
    assert result.source_crs == "EPSG:3405"
    assert any("VN-2000 to WGS 84" in note for note in result.notes)
    source = pd.read_csv(DATA / "incidents_vn2000.csv")
    back = Transformer.from_crs(3405, 4326, always_xy=True)
    lon, lat = back.transform(source["x"].to_numpy(), source["y"].to_numpy())
    np.testing.assert_allclose(result.incidents["lon"], lon, rtol=0, atol=1e-10)
    np.testing.assert_allclose(result.incidents["lat"], lat, rtol=0, atol=1e-10)
    # The fixture holds WGS84 points taken to VN-2000 / UTM 48N with pyproj (to the cm).
    original = np.array([[105.8064, 21.0387], [105.8522, 21.0287], [105.43, 21.29]])
    metric = Transformer.from_crs(4326, 32648, always_xy=True)
    x0, y0 = metric.transform(original[:, 0], original[:, 1])
    x1, y1 = metric.transform(
        result.incidents["lon"].to_numpy(), result.incidents["lat"].to_numpy()
    )
    assert np.hypot(x1 - x0, y1 - y0).max() < 0.05
    # Read as plain WGS84 / UTM 48N (no datum shift) the points land 100-300 m away.
    plain = read_incidents(DATA / "incidents_vn2000.csv", crs=32648).incidents
    x2, y2 = metric.transform(plain["lon"].to_numpy(), plain["lat"].to_numpy())
    shift = np.hypot(x2 - x0, y2 - y0)
    assert (shift > 10).all() and (shift < 500).all()


def test_geojson_in_vn2000_and_non_point_features(tmp_path: Path) -> None:
    to_vn2000 = Transformer.from_crs(4326, 3405, always_xy=True)
    x, y = to_vn2000.transform([105.8064, 105.8070], [21.0387, 21.0380])
    frame = gpd.GeoDataFrame(
        {
            "id": ["G1", "G2", "G3", "G4"],
            "time": ["2024-05-01T21:30:00+07:00"] * 4,
            "category": ["drugs", "theft", "theft", "theft"],
        },
        geometry=[
            shapely.Point(x[0], y[0]),
            shapely.Point(x[1], y[1]),
            shapely.LineString([(x[0], y[0]), (x[1], y[1])]),
            None,
        ],
        crs=3405,
    )
    path = tmp_path / "vn2000.geojson"
    pyogrio.write_dataframe(frame, path, driver="GeoJSON")
    result = read_incidents(path)  # the file's own CRS wins over the default 4326
    assert result.source_crs == "EPSG:3405"
    assert [(r.line, r.field, r.reason) for r in result.rejects] == [
        (3, "geometry", "not a point (LineString)"),
        (4, "geometry", "no geometry"),
    ]
    assert result.incidents.loc[1, "lon"] == pytest.approx(105.8064, abs=1e-7)
    assert result.incidents.loc[2, "lat"] == pytest.approx(21.0380, abs=1e-7)


def test_unknown_crs_and_suffix_are_errors(tmp_path: Path) -> None:
    with pytest.raises(IncidentFileError, match="unknown coordinate reference system"):
        read_incidents(BROKEN, crs="EPSG:999999")
    other = tmp_path / "incidents.xlsx"
    other.write_bytes(b"")
    with pytest.raises(IncidentFileError, match="unknown incident file type"):
        read_incidents(other)


# -- round trips -----------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".csv", ".geojson", ".gpkg", ".parquet"])
@pytest.mark.parametrize("synthetic", [True, False])
def test_round_trip(tmp_path: Path, suffix: str, synthetic: bool) -> None:
    frame = read_incidents(BROKEN).incidents
    frame["synthetic"] = synthetic
    path = write_incidents(frame, tmp_path / f"incidents{suffix}")
    back = read_incidents(path)
    assert back.rejects == []
    pd.testing.assert_frame_equal(
        back.incidents.reset_index(drop=True), frame.reset_index(drop=True)
    )
    marked = any("marked SYNTHETIC" in note for note in back.notes)
    assert marked == (synthetic and suffix != ".csv")
    if synthetic:
        with pytest.raises(IncidentFileError, match="synthetic"):
            read_incidents(path, synthetic=False)


def test_synthetic_markers_in_file_metadata(tmp_path: Path) -> None:
    frame = read_incidents(BROKEN).incidents
    frame["synthetic"] = True
    parquet = write_incidents(frame, tmp_path / "s.parquet")
    metadata = pq.read_schema(parquet).metadata
    assert metadata[b"geozone:synthetic"] == b"true"
    assert json.loads(metadata[b"geo"])["primary_column"] == "geometry"
    assert gpd.read_parquet(parquet).crs.equals(CRS.from_user_input("OGC:CRS84"))
    gpkg = write_incidents(frame, tmp_path / "s.gpkg")
    info = pyogrio.read_info(gpkg)["layer_metadata"]
    assert info["IDENTIFIER"].startswith("SYNTHETIC") and info["DESCRIPTION"].startswith(
        "SYNTHETIC"
    )
    geojson = write_incidents(frame, tmp_path / "s.geojson")
    assert json.loads(geojson.read_text(encoding="utf-8"))["description"].startswith("SYNTHETIC")
    csv_path = write_incidents(frame, tmp_path / "s.csv")
    header = csv_path.read_text(encoding="utf-8").splitlines()[0]
    assert header == ",".join(INCIDENT_COLUMNS)
    # A GeoPackage marked synthetic keeps its rows synthetic even without the column.
    without = pyogrio.read_dataframe(gpkg).drop(columns=["synthetic"])
    pyogrio.write_dataframe(
        without, tmp_path / "no_column.gpkg", layer_options={"DESCRIPTION": "SYNTHETIC test"}
    )
    assert read_incidents(tmp_path / "no_column.gpkg").incidents["synthetic"].all()


def test_write_needs_the_synthetic_column(tmp_path: Path) -> None:
    frame = read_incidents(BROKEN).incidents.drop(columns=["synthetic"])
    with pytest.raises(IncidentFileError, match="synthetic"):
        write_incidents(frame, tmp_path / "x.csv")


def test_plain_parquet_with_lon_lat_columns(tmp_path: Path) -> None:
    frame = pd.DataFrame(
        {
            "external_id": ["P1", "P2"],
            "occurred_at": pd.to_datetime(["2024-05-01 21:30", "2024-05-02 08:00"]),
            "lon": [105.8064, 105.8070],
            "lat": [21.0387, 21.0380],
            "category": ["drugs", "unknown"],
            "subjects": [2, 1],
        }
    )
    frame.to_parquet(tmp_path / "plain.parquet")
    result = read_incidents(tmp_path / "plain.parquet")
    assert [(r.line, r.field) for r in result.rejects] == [(2, "category")]
    assert result.incidents.loc[1, "occurred_at"] == datetime(2024, 5, 1, 21, 30, tzinfo=VIETNAM_TZ)
    assert result.incidents.loc[1, "subjects"] == 2


# -- the vectorised rules agree with the model ----------------------------------------------


def _sample_rows(n: int, seed: int) -> list[dict[str, Any]]:
    """Rows in the model's own spellings, good and bad; None means "cell left empty"."""
    rng = np.random.default_rng(seed)
    pools: dict[str, list[Any]] = {
        "external_id": ["", "   ", "x" * 129, " spaced   id "],
        "occurred_at": [
            "2024-05-01 21:30",
            "2024-05-01T21:30:00+07:00",
            "2024-05-01T14:30:00Z",
            "2024-05-01",
            "2024-02-30 10:00",
            "yesterday",
            None,
        ],
        "detected_at": [None, "2024-05-01 23:00", "2024-05-01 20:00", "2024-05-01T15:00:00Z", "?"],
        "lon": [105.8064, "105.81", " 105.79 ", "abc", None, float("nan"), 200.0, 2.35],
        "lat": [21.0387, "21.04", "xyz", 95.0, -95.0, 48.85, None],
        "category": ["theft", "Ma túy", "Drugs", "Lấn chiếm vỉa hè, lòng đường", "smuggling", ""],
        "detected_by": [None, "00160", "nghia-do-00160", "x" * 65],
        "status": [None, "open", "solved", "pending"],
        "subjects": [None, 0, 3, "2", -1, 10_001, "two", 2.5, 2.0],
        "jointly_handled": [None, True, False, "yes", "no", "maybe"],
        "description": [None, "Mô tả ngắn", "x" * 4_001],
    }
    rows = []
    for i in range(n):
        row: dict[str, Any] = {}
        for name, pool in pools.items():
            good = rng.random() < 0.75
            if name == "external_id":
                choice = f"ID-{i}" if good else pool[int(rng.integers(len(pool)))]
                row[name] = f"{choice} {i} " if choice.startswith(" spaced") else choice
            else:
                row[name] = pool[
                    0 if good and name != "occurred_at" else int(rng.integers(len(pool)))
                ]
        rows.append(row)
    return rows


def _faults(data: dict[str, Any]) -> set[str]:
    try:
        Incident.model_validate({key: value for key, value in data.items() if value is not None})
    except ValidationError as error:
        return {str(e["loc"][0]) if e["loc"] else "detected_at" for e in error.errors()}
    return set()


def _model_fields_at_fault(row: dict[str, Any]) -> tuple[Incident | None, set[str]]:
    """The model's verdict on a row, and the fields it faults.

    The model checks detected_at >= occurred_at only once every field passed; the reader
    lists every problem of a row, so the cross-field rule is asked of the model separately
    (the two times with otherwise valid fields).
    """
    fields = _faults(row)
    if not fields:
        given = {key: value for key, value in row.items() if value is not None}
        return Incident.model_validate(given), set()
    times = {key: row[key] for key in ("occurred_at", "detected_at")}
    base = {"external_id": "x", "lon": 105.8, "lat": 21.0, "category": "theft"}
    return None, fields | (_faults({**base, **times}) & {"detected_at"} if times else set())


def _outside_vietnam(row: dict[str, Any]) -> bool:
    try:
        lon, lat = float(row["lon"]), float(row["lat"])
    except (TypeError, ValueError):
        return False
    if not (np.isfinite(lon) and np.isfinite(lat) and abs(lon) <= 180 and abs(lat) <= 90):
        return False
    west, south, east, north = VIETNAM_BBOX
    return not (west <= lon <= east and south <= lat <= north)


def test_vectorised_validation_agrees_with_the_model() -> None:
    rows = _sample_rows(400, seed=7)
    frame = pd.DataFrame(rows, dtype=object)
    result = validate_incidents(frame)
    ours: dict[int, set[str]] = {}
    for reject in result.rejects:
        ours.setdefault(reject.line - 1, set()).add(reject.field)
    accepted = dict(zip(result.incidents.index - 1, iter_incidents(result.incidents), strict=True))
    n_model_ok = n_outside = 0
    for i, row in enumerate(rows):
        model, fields = _model_fields_at_fault(row)
        # The reader adds one rule of its own: the point must lie in Vietnam's extent.
        outside = _outside_vietnam(row)
        n_outside += outside
        expected = fields | ({"coordinates"} if outside else set())
        if expected:
            assert ours.get(i) == expected, (i, row)
            continue
        n_model_ok += 1
        assert i in accepted, (i, row, ours.get(i))
        mine = accepted[i]
        assert mine.model_dump(exclude={"detected_by"}) == model.model_dump(
            exclude={"detected_by"}
        ), (i, row)
        assert mine.detected_by == (model.detected_by.strip() if model.detected_by else None)
    assert 30 < n_model_ok < 350 and n_outside > 10  # the sample exercises every outcome


@pytest.mark.parametrize(("max_run", "spill_run"), [(64, 1 << 20), (1 << 21, 1 << 20), (64, 40)])
def test_the_id_ledger_gives_each_ids_first_line_as_a_dict_would(
    max_run: int, spill_run: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    from geozone.incidents.io import _ids

    monkeypatch.setattr(_ids, "MAX_RUN", max_run)  # 64: many runs, merges of every size
    monkeypatch.setattr(_ids, "SPILL_RUN", spill_run)  # 40: most runs in files
    rng = np.random.default_rng(3)
    ledger, first_seen = _ids.IdLedger(), {}
    line = 0
    for _ in range(40):  # pieces with repeats inside and across pieces, some Unicode ids
        ids = np.array(
            [f"id-{k}" if k % 7 else f"vụ-{k}" for k in rng.integers(0, 1_500, 120)], dtype=object
        )
        lines = np.arange(line + 1, line + 1 + len(ids), dtype=np.int64)
        line += len(ids)
        expected = [first_seen.get(i, -1) for i in ids]
        assert ledger.first_lines(ids).tolist() == expected
        ledger.add(ids, lines)
        for i, n in zip(ids, lines, strict=True):
            first_seen.setdefault(i, int(n))
    assert len(ledger) == len(first_seen)
    everyone = np.array(list(first_seen), dtype=object)
    assert ledger.first_lines(everyone).tolist() == list(first_seen.values())
    runs = [r.columns() if isinstance(r, _ids._SpilledRun) else r for r in ledger._runs]
    assert all(bool(np.all(r[0][:-1] <= r[0][1:])) for r in runs)  # every run stays sorted
    spilled = [r for r in ledger._runs if isinstance(r, _ids._SpilledRun)]
    assert bool(spilled) == (spill_run < 1_000)
    with pytest.raises(IncidentFileError, match="split it into parts"):
        ledger.add(np.array(["late"], dtype=object), np.array([_ids.MAX_LINE + 1]))
    if spilled:  # the filters pass the ids a run holds, and few others
        folder = ledger._folder
        assert folder is not None and folder.is_dir()
        strangers = _ids.id_digests(np.array([f"x-{k}" for k in range(20_000)], dtype=object))[0]
        assert all(r.may_hold(np.asarray(r.columns()[0])).all() for r in spilled)
        passed = np.mean([r.may_hold(np.sort(strangers)).mean() for r in spilled])
        assert passed < 0.02
        kinds = [isinstance(r, _ids._SpilledRun) for r in ledger._runs]
        assert kinds == sorted(kinds, reverse=True)  # no run in memory behind a spilled one
        del ledger, runs, spilled
        gc.collect()
        assert not folder.exists()  # the files go with the ledger
