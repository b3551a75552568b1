from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import pyogrio
import pytest
import shapely

from geozone.boundaries.sets import BoundarySet
from geozone.errors import GeozoneError
from geozone.report.exports import write_layers


def test_gpkg_holds_every_layer_with_attribution(grid: BoundarySet, tmp_path: Path) -> None:
    wards = grid.units("ward")[["code", "full_name", "geometry"]]
    points = gpd.GeoDataFrame(
        {"codes": [["00001", "00002"]]}, geometry=[shapely.Point(105.8, 21.0)], crs=4326
    )
    out = tmp_path / "layers.gpkg"
    assert write_layers({"wards": wards, "junctions": points}, out, "© test data") == [
        "wards",
        "junctions",
    ]
    assert sorted(pyogrio.list_layers(out)[:, 0]) == ["junctions", "wards"]
    back = gpd.read_file(out, layer="junctions")
    assert back["codes"].iloc[0] == "00001,00002" and back["attribution"].iloc[0] == "© test data"
    assert gpd.read_file(out, layer="wards")["full_name"].tolist()[0] == "Phường Ô 1"


def test_geojson_takes_one_layer_and_unknown_suffix_is_refused(
    grid: BoundarySet, tmp_path: Path
) -> None:
    wards = grid.units("ward")[["code", "geometry"]]
    write_layers({"wards": wards}, tmp_path / "w.geojson", "x")
    assert len(gpd.read_file(tmp_path / "w.geojson")) == 9
    with pytest.raises(GeozoneError, match="one layer"):
        write_layers({"a": wards, "b": wards}, tmp_path / "two.geojson", "x")
    with pytest.raises(GeozoneError, match=r"\.geojson or \.gpkg"):
        write_layers({"a": wards}, tmp_path / "w.shp", "x")
