from __future__ import annotations

from datetime import date
from pathlib import Path

import geopandas as gpd
import pytest
import shapely

from geozone.boundaries.importer import ImportSpec, LevelFields, import_boundary_set
from geozone.boundaries.qa import check
from geozone.boundaries.sets import BoundarySet
from geozone.errors import BoundaryImportError
from geozone.settings import get_settings
from tests.fixtures.grid import grid_units

GADM_LEVELS = (
    LevelFields("ward", "GID_3", "NAME_3", "TYPE_3"),
    LevelFields("district", "GID_2", "NAME_2"),
    LevelFields("province", "GID_1", "NAME_1"),
)
SPEC = ImportSpec(
    levels=GADM_LEVELS,
    set_id="gadm-grid",
    title="GADM-like grid",
    valid_from=date(2019, 1, 1),
    valid_to=date(2025, 6, 30),
    licence="GADM licence",
    attribution="GADM test layer",
)


def write_gadm_like(path: Path, *, epsg: int = 4326) -> Path:
    """The grid's wards as GADM writes them: own ids, names without spaces or diacritics."""
    wards = grid_units().query("level == 'ward'").reset_index(drop=True)
    n = wards["code"].str[-1]
    district = wards["parent_code"].map({"001": ("1", "Mot"), "002": ("2", "Hai")})
    layer = gpd.GeoDataFrame(
        {
            "GID_3": "VNM.1." + district.str[0] + "." + n + "_1",
            "NAME_3": "O" + n,
            "TYPE_3": "Phường",
            "GID_2": "VNM.1." + district.str[0] + "_1",
            "NAME_2": district.str[1],
            "GID_1": "VNM.1_1",
            "NAME_1": "Thu",
        },
        geometry=wards.geometry,
        crs=4326,
    ).to_crs(epsg)
    layer.to_file(path, driver="GPKG", layer="gadm41_VNM_3")
    return path


def test_gadm_like_layer_refines_a_register_only_set(tmp_path: Path) -> None:
    """A ward layer with its own ids and folded names gives a register's wards their polygons."""
    from geozone.boundaries.build import store_set
    from geozone.boundaries.refine import LayerFields as RefineFields
    from geozone.boundaries.refine import refine_set

    units = grid_units()
    register_only = units.assign(
        geometry=[
            g if level != "ward" else None
            for g, level in zip(units.geometry, units["level"], strict=True)
        ]
    )
    info = {
        "id": "grid-register",
        "title": "grid, wards in the register only",
        "valid_from": "2019-01-01",
        "valid_to": "2025-06-30",
        "licence": "CC0",
        "attribution": "grid",
        "attribution_en": "grid",
    }
    cache = tmp_path / "boundaries"
    store_set(
        register_only,
        [],
        cache / "grid-register",
        {"set_id": "grid-register", "sha256": "x", "entry": info},
        1e-4,
    )
    settings = get_settings().model_copy(update={"cache_dir": tmp_path})
    register = BoundarySet.load("grid-register", settings)
    assert register.leaf_level == "district"
    source = write_gadm_like(tmp_path / "gadm.gpkg", epsg=32648)
    fields = RefineFields("GID_3", "NAME_3", "GID_2", "NAME_2", "GID_1", "NAME_1", "TYPE_3")
    report = refine_set(source, fields, register, cache, "gadm", attribution="GADM test layer")
    assert report.wards == 9 and report.matched == {"folded": 9} and report.problems.empty
    refined = BoundarySet.load("grid-register", settings)
    assert refined.leaf_level == "ward" and refined.id == "grid-register"
    assert refined.get("00005").full_name == "Phường Ô 5" and refined.get("00005").has_geometry
    assert [u.code for u in refined.chain("00009")] == ["00009", "002", "01"]
    centre = shapely.get_coordinates(shapely.centroid(refined.geometry("00005")))[0]
    location = refined.locate(*centre)
    assert location.unit is not None and location.unit.code == "00005"
    assert "GADM test layer" in refined.info.attribution
    ward_qa = next(level for level in check(refined).levels if level.level == "ward")
    assert ward_qa.overlaps == [] and ward_qa.gaps == []
    # A new set over the same dates is refused unless it says it supersedes.
    with pytest.raises(BoundaryImportError, match="overlaps grid-register"):
        import_boundary_set(source, SPEC, cache)
    built = import_boundary_set(source, SPEC, cache, supersede=True)
    assert built.warnings and "instead of grid-register" in built.warnings[0]


def test_without_register_source_codes_stay_and_search_still_folds(tmp_path: Path) -> None:
    source = write_gadm_like(tmp_path / "gadm.gpkg")
    import_boundary_set(source, SPEC, tmp_path / "boundaries")
    settings = get_settings().model_copy(update={"cache_dir": tmp_path})
    imported = BoundarySet.load("gadm-grid", settings)
    assert [hit.unit.code for hit in imported.search("o 5")] == ["VNM.1.1.5_1"]
    assert imported.get("VNM.1.1.5_1").full_name == "Phường O5"
    assert imported.get("VNM.1.1.5_1").parent_code == "VNM.1.1_1"


def test_broken_rows_stop_the_import_and_keep_the_previous_set(tmp_path: Path) -> None:
    source = write_gadm_like(tmp_path / "gadm.gpkg")
    import_boundary_set(source, SPEC, tmp_path / "cache")
    before = (tmp_path / "cache" / "gadm-grid" / "units.parquet").read_bytes()
    broken = gpd.read_file(source)
    broken.loc[2, "GID_3"] = None
    broken.loc[4, "geometry"] = None
    broken.loc[6, "GID_3"] = broken.loc[7, "GID_3"]
    broken.to_file(tmp_path / "broken.gpkg", driver="GPKG")
    with pytest.raises(BoundaryImportError) as error:
        import_boundary_set(tmp_path / "broken.gpkg", SPEC, tmp_path / "cache", replace=True)
    message = str(error.value)
    assert "no code (feature 3)" in message
    assert "no geometry (feature 5)" in message
    assert "duplicate GID_3 (feature 7, 8)" in message
    assert (tmp_path / "cache" / "gadm-grid" / "units.parquet").read_bytes() == before


def test_refusals_name_the_problem(tmp_path: Path) -> None:
    source = write_gadm_like(tmp_path / "gadm.gpkg")
    wrong = ImportSpec(
        levels=(LevelFields("ward", "GID_3", "VARNAME_3"),),
        set_id="x",
        title="x",
        valid_from=date(2020, 1, 1),
    )
    with pytest.raises(BoundaryImportError, match=r"no field\(s\) VARNAME_3; the layer has GID_3"):
        import_boundary_set(source, wrong, tmp_path / "cache")
    with pytest.raises(BoundaryImportError, match="bundled source"):
        import_boundary_set(source, SPEC, tmp_path / "cache", protected=frozenset({"gadm-grid"}))
    import_boundary_set(source, SPEC, tmp_path / "cache")
    with pytest.raises(BoundaryImportError, match="exists already"):
        import_boundary_set(source, SPEC, tmp_path / "cache")
    with pytest.raises(BoundaryImportError, match="cannot read"):
        import_boundary_set(tmp_path / "missing.gpkg", SPEC, tmp_path / "cache", replace=True)


def test_invalid_polygon_is_repaired_and_recorded(tmp_path: Path) -> None:
    source = write_gadm_like(tmp_path / "gadm.gpkg")
    layer = gpd.read_file(source)
    x0, y0, x1, y1 = layer.geometry.iloc[0].bounds
    layer.loc[0, "geometry"] = shapely.Polygon([(x0, y0), (x1, y1), (x1, y0), (x0, y1)])
    layer.to_file(tmp_path / "bowtie.gpkg", driver="GPKG")
    report = import_boundary_set(tmp_path / "bowtie.gpkg", SPEC, tmp_path / "cache")
    assert [r.code for r in report.repairs] == ["VNM.1.1.1_1"]
    assert "Self-intersection" in report.repairs[0].reason
