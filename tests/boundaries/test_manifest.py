from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from geozone.boundaries.manifest import load_manifest, snapshot_days
from geozone.errors import ConfigurationError, UnknownBoundarySetError
from geozone.settings import get_settings


def test_committed_manifest_describes_both_sets() -> None:
    manifest = load_manifest(get_settings().manifest_path)
    current, legacy = manifest.get("vn2025"), manifest.get("vn-legacy-districts")
    assert current.expected == {"province": 34, "ward": 3321}
    assert legacy.expected == {"province": 62, "district": 692, "ward": 10047}
    assert current.valid_from == date(2025, 7, 1) and current.valid_to is None
    assert legacy.valid_to == date(2025, 6, 30)
    assert len(current.sha256) == 64 and current.licence == "MIT" and legacy.licence == "GPL-3.0"
    assert [e.id for e in manifest.in_force(date(2025, 7, 1))] == ["vn2025"]
    assert [e.id for e in manifest.in_force(date(2025, 6, 30))] == ["vn-legacy-districts"]
    assert manifest.in_force(date(1990, 1, 1)) == []


def test_unknown_set_lists_known_ones() -> None:
    with pytest.raises(UnknownBoundarySetError, match="vn2025"):
        load_manifest(get_settings().manifest_path).get("vn1990")


def test_broken_manifest_is_reported(tmp_path: Path) -> None:
    bad = tmp_path / "sources.toml"
    bad.write_text("[sets.x]\ntitle = 'no other field'\n")
    with pytest.raises(ConfigurationError, match="invalid"):
        load_manifest(bad)
    bad.write_text("not = [toml")
    with pytest.raises(ConfigurationError, match="not valid TOML"):
        load_manifest(bad)
    with pytest.raises(ConfigurationError, match="not found"):
        load_manifest(tmp_path / "missing.toml")


def test_the_legacy_set_is_a_snapshot_of_february_2023_and_vn2025_is_none() -> None:
    """The pre-2025 set is one snapshot (about 02/2023) used from 2008 to 2025: the manifest
    says so as data; vn2025 shows its units as they took effect, so it has no snapshot time."""
    manifest = load_manifest(get_settings().manifest_path)
    legacy = manifest.get("vn-legacy-districts")
    assert legacy.as_of == "2023-02" == legacy.provenance.exported
    assert legacy.title_vi is not None and legacy.title_vi.startswith("Tỉnh và đơn vị cấp huyện")
    assert manifest.get("vn2025").as_of is None


def test_snapshot_days_of_a_month_and_of_a_day() -> None:
    assert snapshot_days("2023-02") == (date(2023, 2, 1), date(2023, 2, 28))
    assert snapshot_days("2024-02") == (date(2024, 2, 1), date(2024, 2, 29))
    assert snapshot_days("2023-02-15") == (date(2023, 2, 15), date(2023, 2, 15))
    for bad in ("2023", "2023-13", "2023-02-30", "Feb 2023", "2023-2"):
        with pytest.raises(ValueError, match="as_of"):
            snapshot_days(bad)


def test_a_bad_snapshot_time_is_reported_and_a_toml_date_is_taken(tmp_path: Path) -> None:
    source = get_settings().manifest_path.read_text(encoding="utf-8")
    bad = tmp_path / "sources.toml"
    bad.write_text(source.replace('as_of = "2023-02"', 'as_of = "02/2023"'), encoding="utf-8")
    with pytest.raises(ConfigurationError, match="as_of"):
        load_manifest(bad)
    bad.write_text(source.replace('as_of = "2023-02"', "as_of = 2023-02-15"), encoding="utf-8")
    assert load_manifest(bad).get("vn-legacy-districts").as_of == "2023-02-15"
