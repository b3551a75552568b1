"""Importing incidents that give an address instead of coordinates."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from geozone import cli
from geozone.address.store import AddressIncidentStore
from geozone.boundaries.sets import BoundarySet
from geozone.clusters.model import Confirmation
from geozone.context import Context, load_context
from geozone.errors import IncidentFileError
from geozone.incidents.io import read_incidents, validate_incidents
from geozone.incidents.pipeline import import_file
from geozone.report import cluster_report
from geozone.settings import Settings, get_settings
from geozone.store import open_store

HEADER = "ma_vu_viec,thoi_gian,loai,kinh_do,vi_do,don_vi_phat_hien,dia_chi\n"
#: Located rows, rows with an address only (old and new forms, misspelt, no diacritics),
#: and rows that have neither a point nor a usable address.
ROWS = [
    "p1,2025-08-01 10:00,theft,105.8064,21.0387,00160,",
    'a-old,2024-03-01 10:00,theft,,,00157,"số 5 Hoàng Quốc Việt, P. Nghĩa Đô, Q. Cầu Giấy, HN"',
    'a-new,2025-08-01 10:00,theft,,,,"phuong nghia do, ha noi"',
    'a-split,2025-08-01 11:00,fraud,,,,"Phường Quan Hoa, quận Cầu Giấy, Hà Nội"',
    'a-typo,2024-03-01 11:00,theft,,,,"Nghia Dox, Cầu Giấy, Hà Nội"',
    "none,2025-08-01 12:00,theft,,,,",
    "long,2025-08-01 12:00,theft,,,," + "x" * 301,
    'both,2025-08-01 13:00,theft,105.8064,21.0387,,"Phường Nghĩa Đô, Hà Nội"',
]


def write(tmp_path: Path, rows: list[str], name: str = "incidents.csv") -> Path:
    path = tmp_path / name
    path.write_text(HEADER + "\n".join(rows) + "\n", encoding="utf-8")
    return path


# -- reading, without the real sets ------------------------------------------------------------


def test_rows_with_an_address_and_no_point_are_read_apart(tmp_path: Path) -> None:
    read = read_incidents(write(tmp_path, ROWS))
    assert read.columns["address"] == "dia_chi"
    assert list(read.incidents["external_id"]) == ["p1", "both"]  # a point wins
    assert read.address_only is not None
    assert list(read.address_only["external_id"]) == ["a-old", "a-new", "a-split", "a-typo"]
    assert read.address_only.loc[3, "address"] == (
        "số 5 Hoàng Quốc Việt, P. Nghĩa Đô, Q. Cầu Giấy, HN"
    )
    assert read.address_only["lon"].isna().all()  # never a centroid
    by_line = {(r.line, r.field): r.reason for r in read.rejects}
    assert (7, "lon") in by_line and (7, "lat") in by_line  # neither point nor address
    assert by_line[(8, "address")] == "301 characters; at most 300 are read"


def test_a_file_without_coordinates_needs_an_address_column(tmp_path: Path) -> None:
    path = tmp_path / "a.csv"
    path.write_text(
        "id,time,category,dia_chi\nx,2025-08-01 10:00,theft,Hà Nội\ny,2025-08-01,theft,\n",
        "utf-8",
    )
    read = read_incidents(path)
    assert list(read.address_only["external_id"]) == ["x"]  # type: ignore[index]
    assert read.incidents.empty
    assert [(r.line, r.field, r.reason) for r in read.rejects] == [
        (3, "coordinates", "no coordinates and no address")
    ]
    path.write_text("id,time,category,place\nx,2025-08-01 10:00,theft,Hà Nội\n", "utf-8")
    with pytest.raises(IncidentFileError, match="no column for lon, lat"):
        read_incidents(path)


def test_without_an_address_column_nothing_changes() -> None:
    frame = pd.DataFrame(
        {"external_id": ["a"], "occurred_at": ["2025-08-01 10:00"], "category": ["theft"]}
        | {"lon": [None], "lat": [None]}
    )
    read = validate_incidents(frame)
    assert read.address_only is None and read.incidents.empty
    assert {r.field for r in read.rejects} == {"lon", "lat"}


def test_an_instance_without_the_two_sets_stores_the_rows_unread(
    tmp_path: Path, grid: BoundarySet
) -> None:
    context = Context([grid], {}, [], {"grid": "test"})
    with open_store(f"sqlite:///{tmp_path / 'g.sqlite'}") as store:
        report = import_file(store, write(tmp_path, ROWS[1:3]), context)
        assert report.address_only == 2
        rows = AddressIncidentStore(store.engine).rows()
    assert rows["unit_code"].isna().all() and rows["decisions"].map(len).eq(0).all()
    assert set(rows["address_problem"]) == {
        "addresses are read in the sets vn-legacy-districts and vn2025; "
        "vn-legacy-districts, vn2025 not loaded (loaded: grid)"
    }


# -- importing, on the real sets ---------------------------------------------------------------


@pytest.fixture(scope="module")
def context(built_settings: Settings) -> Context:
    confirmed = Confirmation("hoa-do-phuc-vi-vn2025", date(2025, 7, 1), "test")
    return load_context(built_settings, confirmations=[confirmed])


def test_import_stores_address_only_incidents_with_their_review_decision(
    tmp_path: Path, context: Context
) -> None:
    path = write(tmp_path, ROWS)
    with open_store(f"sqlite:///{tmp_path / 's.sqlite'}") as store:
        report = import_file(store, path, context)
        assert (report.stored, report.address_only, report.rejected) == (2, 4, 2)
        kept = AddressIncidentStore(store.engine)
        rows = kept.rows().set_index("external_id")
        assert rows.loc["a-old", "unit_code"] == "00157"
        assert rows.loc["a-old", "set_id"] == "vn-legacy-districts"
        assert rows.loc["a-new", "unit_code"] == "00160"
        assert rows.loc["a-split", "address_level"] == "province"
        assert [c["code"] for c in rows.loc["a-split", "candidates"]] == ["00160", "00166"]
        assert rows.loc["a-typo", "address_level"] == "district"
        assert "no ward 'Nghia Dox'" in rows.loc["a-typo", "address_problem"]
        (decision,) = rows.loc["a-new", "decisions"]
        assert decision["cluster_id"] == "hoa-do-phuc-vi-vn2025"
        assert decision["rule"] == "address_only" and decision["review"] is True
        assert decision["lead_unit"] is None
        assert decision["explanation_en"].startswith(
            "Address only, no coordinates: no border-zone decision."
        )
        # Counted apart: by level, and per cluster.
        assert kept.counts() == {
            "address_only": 4,
            "ward": 2,
            "district": 1,
            "province": 1,
            "unresolved": 0,
        }
        assert kept.counts(cluster_id="hoa-do-phuc-vi-vn2025")["address_only"] == 2
        # The cluster's review counts them apart, in its figures and notes.
        review = cluster_report(
            store,
            context,
            "hoa-do-phuc-vi-vn2025",
            date(2025, 7, 1),
            date(2025, 8, 31),
            hotspots=False,
        )
        assert review.figures["address_only"] == 2  # a-new, a-split (a-old is in 2024)
        assert any(
            "2 incidents known by their address only (ward 1, province 1)" in note
            for note in review.notes
        )
        # Located incidents are untouched by the address rows.
        assert store.get("a-new") is None and store.get("p1") is not None
        # The same file again: nothing stored twice.
        again = import_file(store, path, context)
        assert (again.stored, again.address_only) == (0, 0)
        assert kept.counts()["address_only"] == 4


def test_cli_import_says_how_many_were_located_by_address(
    tmp_path: Path, built_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GEOZONE_CACHE_DIR", str(built_settings.cache_dir))
    monkeypatch.setenv("GEOZONE_STORE_URL", f"sqlite:///{tmp_path / 'cli.sqlite'}")
    get_settings.cache_clear()
    try:
        path = write(tmp_path, ROWS[:3])
        result = CliRunner().invoke(cli.app, ["incidents", "import", str(path), "--json"])
        assert result.exit_code == 0, result.output
        assert json.loads(result.output[result.output.index("{") :])["address_only"] == 2
    finally:
        get_settings.cache_clear()
