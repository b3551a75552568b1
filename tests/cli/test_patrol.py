"""``geozone patrol export``: stored patrol zones to GeoPackage, GeoJSON and GeoParquet."""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import pyogrio
import pytest
import shapely
from typer.testing import CliRunner

from geozone import cli
from geozone.analysis.patrol import coverage
from geozone.errors import GeozoneError
from geozone.store import open_store
from geozone.store.planner import PlannerStore
from tests.fixtures.clusters import grid_context
from tests.fixtures.patrol import SQUARE, ring

runner = CliRunner()


def missing(value: object) -> bool:
    return value is None or value != value  # GDAL reads a null as None or NaN


def run(*args: str) -> tuple[int, str]:
    result = runner.invoke(cli.app, list(args))
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.output


def test_patrol_zones_export_with_unit_names_coverage_and_attribution(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    context = grid_context()
    monkeypatch.setattr("geozone.context.store_context", lambda *_, **__: context)
    url = f"sqlite:///{tmp_path / 's.sqlite'}"
    drawn = {
        "Tuyến 1": (SQUARE, "grid-centre", ["00001", "00002"]),
        "Ngoài cụm": (ring((2200, 2200), (2800, 2200), (2800, 2800)), "grid-centre", ["00009"]),
        "Cụm cũ": (ring((200, 200), (600, 200), (600, 600)), "gone", ["00001"]),
    }
    with open_store(url) as store:
        planner = PlannerStore(store.engine)
        for name, (coordinates, cluster_id, units) in drawn.items():
            planner.add_zone(
                cluster_id=cluster_id,
                name=name,
                geometry=json.dumps({"type": "Polygon", "coordinates": [coordinates]}),
                units=units,
                notes="đêm",
                created_by="planner-key",
            )
    bset = context.sets[0]
    for suffix in (".gpkg", ".geojson", ".parquet"):
        path = tmp_path / f"zones{suffix}"
        code, output = run("patrol", "export", "-o", str(path), "--store", url, "--json")
        assert code == 0 and json.loads(output)["zones"] == 3, output
        frame = (
            gpd.read_parquet(path)
            if suffix == ".parquet"
            else pyogrio.read_dataframe(
                path, **({"layer": "patrol_zones"} if suffix == ".gpkg" else {})
            )
        )
        assert frame.crs.to_epsg() == 4326 and len(frame) == 3
        rows = {row["name"]: row for row in frame.to_dict("records")}
        square = rows["Tuyến 1"]
        assert square["units"] == "00001; 00002"
        assert square["unit_names"] == f"{bset.full_names['00001']}; {bset.full_names['00002']}"
        assert square["cluster_name"] == "Cụm thử" and square["created_by"] == "planner-key"
        polygon = shapely.Polygon(SQUARE)
        assert shapely.equals_exact(square["geometry"], polygon, tolerance=1e-9)
        measured = coverage(polygon, context.territories[0])
        for name in ("zone_area_km2", "border_zone_km2", "border_zone_share", "cluster_share"):
            assert square[name] == pytest.approx(getattr(measured, name), rel=1e-9), name
        assert 0 < square["border_zone_share"] < 1 and missing(square["coverage_note"])
        assert "covers no part" in rows["Ngoài cụm"]["coverage_note"]
        assert rows["Cụm cũ"]["coverage_note"] == "cluster gone is not placed"
        assert set(frame["attribution"]) == {bset.info.attribution}
    path = tmp_path / "gone.gpkg"  # one cluster's zones, without coverage
    code, output = run(
        "patrol", "export", "-o", str(path), "--cluster", "gone", "--no-coverage", "--store", url
    )
    assert code == 0 and "exported 1 patrol zones" in output
    (row,) = pyogrio.read_dataframe(path, layer="patrol_zones").to_dict("records")
    assert row["name"] == "Cụm cũ" and missing(row["zone_area_km2"])
    assert row["coverage_note"] == "not measured (--no-coverage)"
    with pytest.raises(GeozoneError, match=r"zones\.csv"):
        run("patrol", "export", "-o", str(tmp_path / "zones.csv"), "--store", url)
