from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import pytest
import shapely

from geozone.boundaries.build import META_FILE, UNITS_FILE, build_set
from geozone.boundaries.manifest import SourceEntry
from geozone.boundaries.sets import BoundarySet, available_sets
from geozone.errors import ChecksumMismatchError, ConfigurationError, DataNotFoundError
from geozone.settings import Settings
from tests.archives import entry_for, write_dvhcvn_zip, write_vn2025_zip


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    (tmp_path / "data" / "src").mkdir(parents=True)
    return tmp_path / "data"


def test_vn2025_layout_dissolves_provinces_from_wards(data_dir: Path, tmp_path: Path) -> None:
    archive = write_vn2025_zip(data_dir / "src" / "units.zip")
    report = build_set(entry_for(archive, "vn2025"), data_dir, tmp_path / "cache")
    assert report.counts == {"province": 2, "ward": 3}
    units = gpd.read_parquet(tmp_path / "cache" / "test" / UNITS_FILE).set_index("code")
    # Province 01 is the union of its two 0.01° wards, not the 5° square of the province file.
    assert units.at["01", "geometry"].area == pytest.approx(0.0002, rel=1e-6)
    assert units.at["01", "geometry_source"] == "dissolved"
    assert units.at["00010", "parent_code"] == "02"
    assert units.at["00010", "unit_type"] == "Xã"
    assert units.at["00001", "full_name"] == "Phường Một"
    # A 0.01° square at 21° N is about 1.04 km × 1.11 km.
    assert units.at["00001", "area_km2"] == pytest.approx(1.155, rel=0.01)


def test_rebuild_with_same_inputs_does_nothing(data_dir: Path, tmp_path: Path) -> None:
    entry = entry_for(write_vn2025_zip(data_dir / "src" / "units.zip"), "vn2025")
    first = build_set(entry, data_dir, tmp_path / "cache")
    stamp = (tmp_path / "cache" / "test" / META_FILE).stat().st_mtime_ns
    second = build_set(entry, data_dir, tmp_path / "cache")
    assert not first.skipped and second.skipped
    assert (tmp_path / "cache" / "test" / META_FILE).stat().st_mtime_ns == stamp
    assert not build_set(entry, data_dir, tmp_path / "cache", force=True).skipped


def test_a_new_description_is_written_without_building_again(
    data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A set built before ``as_of`` existed loads with the manifest's snapshot time, and the
    next build writes it (and a new title) into build.json, keeping the layers and build."""
    entry = entry_for(write_vn2025_zip(data_dir / "src" / "units.zip"), "vn2025")
    manifest = tmp_path / "sources.toml"
    settings = Settings(cache_dir=tmp_path / "cache", manifest_path=manifest, data_dir=data_dir)
    cache = settings.boundary_cache
    build_set(entry, data_dir, cache)
    meta_path = cache / "test" / META_FILE
    meta = json.loads(meta_path.read_text())
    for name in ("as_of", "title_vi"):  # as a build.json of before the fields
        del meta["entry"][name]
    meta_path.write_text(json.dumps(meta))
    units_stamp = (cache / "test" / UNITS_FILE).stat().st_mtime_ns
    described = entry.model_copy(update={"as_of": "2023-02", "title": "renamed"})
    manifest.write_text(_toml(described), encoding="utf-8")
    info = BoundarySet.load("test", settings, fresh=True).info
    assert info.as_of == "2023-02" and info.title == "test set"  # only the missing field
    assert [i.as_of for i in available_sets(settings)] == ["2023-02"]
    report = build_set(described, data_dir, cache)
    assert report.skipped
    assert (cache / "test" / UNITS_FILE).stat().st_mtime_ns == units_stamp
    rewritten = json.loads(meta_path.read_text())
    assert rewritten["built_at"] == meta["built_at"]
    assert rewritten["entry"]["as_of"] == "2023-02" and rewritten["entry"]["title"] == "renamed"
    assert BoundarySet.load("test", settings, fresh=True).info.title == "renamed"
    assert build_set(described, data_dir, cache).skipped  # and then it is current
    # A change that shapes the layers still builds again.
    assert not build_set(
        described.model_copy(update={"levels": ("ward",)}), data_dir, cache
    ).skipped


def _toml(entry: SourceEntry) -> str:
    """Write one manifest entry as TOML (the few value types an entry has)."""

    def value(item: object) -> str:
        if isinstance(item, str):
            return json.dumps(item, ensure_ascii=False)
        if isinstance(item, list | tuple):
            return "[" + ", ".join(value(v) for v in item) + "]"
        return str(item)

    data = entry.model_dump(mode="json", exclude_none=True)
    tables = {k: data.pop(k) for k in list(data) if isinstance(data[k], dict)}
    data.pop("id")
    lines = [f"[sets.{entry.id}]", *(f"{k} = {value(v)}" for k, v in data.items())]
    for name, table in tables.items():
        lines += [f"[sets.{entry.id}.{name}]", *(f"{k} = {value(v)}" for k, v in table.items())]
    return "\n".join(lines) + "\n"


def test_invalid_geometry_is_repaired_and_recorded(data_dir: Path, tmp_path: Path) -> None:
    archive = write_vn2025_zip(data_dir / "src" / "units.zip", invalid=True)
    report = build_set(entry_for(archive, "vn2025"), data_dir, tmp_path / "cache")
    assert [repair.code for repair in report.repairs] == ["00002"]
    assert "Self-intersection" in report.repairs[0].reason
    assert report.repairs[0].area_after_m2 > 0
    units = gpd.read_parquet(tmp_path / "cache" / "test" / UNITS_FILE).set_index("code")
    assert shapely.is_valid(units.at["00002", "geometry"])
    assert units.at["00002", "geometry"].geom_type == "MultiPolygon"
    meta = json.loads((tmp_path / "cache" / "test" / META_FILE).read_text())
    assert meta["repairs"][0]["code"] == "00002"


def test_checksum_mismatch_is_refused_and_keeps_previous_build(
    data_dir: Path, tmp_path: Path
) -> None:
    archive = write_vn2025_zip(data_dir / "src" / "units.zip")
    entry = entry_for(archive, "vn2025")
    build_set(entry, data_dir, tmp_path / "cache")
    before = (tmp_path / "cache" / "test" / UNITS_FILE).read_bytes()
    archive.write_bytes(archive.read_bytes() + b"tampered")
    with pytest.raises(ChecksumMismatchError, match="sha256"):
        build_set(entry, data_dir, tmp_path / "cache", force=True)
    assert (tmp_path / "cache" / "test" / UNITS_FILE).read_bytes() == before


def test_failure_while_writing_leaves_previous_build(
    data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    entry = entry_for(write_vn2025_zip(data_dir / "src" / "units.zip"), "vn2025")
    build_set(entry, data_dir, tmp_path / "cache")
    before = (tmp_path / "cache" / "test" / UNITS_FILE).read_bytes()

    def crash(*args: object, **kwargs: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(gpd.GeoDataFrame, "to_parquet", crash)
    with pytest.raises(OSError, match="disk full"):
        build_set(entry, data_dir, tmp_path / "cache", force=True)
    assert (tmp_path / "cache" / "test" / UNITS_FILE).read_bytes() == before


def test_missing_archive_and_missing_data_dir_say_how_to_get_it(tmp_path: Path) -> None:
    archive = write_vn2025_zip(tmp_path / "units.zip")
    entry = entry_for(archive, "vn2025")
    with pytest.raises(DataNotFoundError, match="made by the test"):
        build_set(entry, tmp_path / "elsewhere", tmp_path / "cache")
    with pytest.raises(ConfigurationError, match="GEOZONE_DATA_DIR"):
        build_set(entry, None, tmp_path / "cache")


def test_dvhcvn_layout_keeps_register_and_unregistered_geometry(
    data_dir: Path, tmp_path: Path
) -> None:
    archive = write_dvhcvn_zip(data_dir / "src" / "dvhcvn.zip")
    report = build_set(entry_for(archive, "dvhcvn"), data_dir, tmp_path / "cache")
    assert report.counts == {"district": 2, "province": 1}
    units = gpd.read_parquet(tmp_path / "cache" / "test" / UNITS_FILE).set_index("code")
    assert units.at["00006", "level"] == "ward" and units.at["00006", "parent_code"] == "001"
    assert not units.at["00006", "has_geometry"]
    assert not units.at["002", "has_geometry"]  # registered, no GIS geometry
    assert not units.at["003", "in_register"] and units.at["003", "has_geometry"]
    assert units.at["003", "unit_type"] == "Huyện" and units.at["003", "name"] == "Mỹ Lộc"
    assert units.at["01", "unit_type"] == "Thành phố" and units.at["01", "name"] == "Hà Nội"
    assert units.at["01", "geometry_source"] == "source"
